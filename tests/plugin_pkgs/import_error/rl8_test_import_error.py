"""A plugin whose module cannot be imported: it needs a package that is not installed."""

from __future__ import annotations

import rl8_test_missing_dependency  # noqa: F401  (deliberately missing)

from rl8_core import hookimpl


@hookimpl
def rl8_encoders() -> dict[str, object]:
    """Never reached."""
    return {}
