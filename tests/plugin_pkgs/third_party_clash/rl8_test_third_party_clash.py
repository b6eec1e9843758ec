"""Plugins that clash: a component name of another third party, and entry-point names of others."""

from __future__ import annotations

from rl8_core import Encoder, hookimpl


class ClashSum(Encoder):
    """Registered under ``noisy_sum``, the name rl8-test-noisy uses."""

    output_dim = 1


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``noisy_sum`` (rl8-test-noisy's name: a conflict between two third parties)."""
    return {"noisy_sum": ClashSum}


class _SameName:
    @hookimpl
    def rl8_encoders(self) -> dict[str, object]:
        return {}


same_name = _SameName()
