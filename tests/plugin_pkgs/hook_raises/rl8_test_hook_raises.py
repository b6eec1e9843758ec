"""A plugin that imports fine but whose registration hook raises."""

from __future__ import annotations

from rl8_core import hookimpl


@hookimpl
def rl8_encoders() -> dict[str, object]:
    """Fail the way a plugin with a bug in its registration code does."""
    raise RuntimeError("boom from rl8-test-hook-raises")
