"""A plugin that works but takes 1.2 s to import (more than ``SLOW_IMPORT_SECONDS``)."""

from __future__ import annotations

import time

from rl8_core import hookimpl

time.sleep(1.2)


@hookimpl
def rl8_encoders() -> dict[str, object]:
    """Register nothing."""
    return {}
