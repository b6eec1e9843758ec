"""A plugin whose registration hook raises ``SystemExit`` (a ``BaseException``, not an ``Exception``)."""

from __future__ import annotations

import sys

from rl8_core import hookimpl


@hookimpl
def rl8_encoders() -> dict[str, object]:
    """Exit the way a plugin that calls ``sys.exit`` in its registration code does."""
    sys.exit("exit from the hook of rl8-test-system-exit")
