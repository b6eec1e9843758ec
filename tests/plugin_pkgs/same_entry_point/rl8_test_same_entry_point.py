"""A plugin under the entry-point name ``test_same_name``, which another distribution uses too."""

from __future__ import annotations

from rl8_core import hookimpl


@hookimpl
def rl8_encoders() -> dict[str, object]:
    """Register nothing (never called: the entry-point name clashes)."""
    return {}
