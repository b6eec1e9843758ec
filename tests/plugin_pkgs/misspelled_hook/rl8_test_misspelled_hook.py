"""A plugin whose hook name is misspelled: ``rl8_encoder`` instead of ``rl8_encoders``."""

from __future__ import annotations

import torch

from rl8_core import Encoder, hookimpl


class Never(Encoder):
    """Would be registered if the hook were spelled right."""

    output_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return zeros ``[b, 1]``."""
        return torch.zeros(obs.shape[0], 1)


@hookimpl
def rl8_encoder() -> dict[str, type[Encoder]]:
    """Misspelled: pluggy has no hookspec of this name."""
    return {"misspelled_never": Never}
