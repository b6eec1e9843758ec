"""A plugin that registers the built-in encoder name ``mlp`` (and one name of its own)."""

from __future__ import annotations

from rl8_core import Encoder, hookimpl


class NotTheMLP(Encoder):
    """Not the built-in ``mlp``; registered under its name anyway."""

    output_dim = 1


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``mlp`` (reserved for rl8-core) and ``reserved_own``."""
    return {"mlp": NotTheMLP, "reserved_own": NotTheMLP}
