"""A plugin that claims the built-in encoder name ``mlp`` and one name of its own."""

from __future__ import annotations

import torch

from rl8_core import Encoder, FlattenObs, hookimpl
from specs import Spec


class SumEncoder(Encoder):
    """Sum the flattened observation into one feature."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)
        self.output_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return ``[b, 1]``."""
        return self.flatten(obs).sum(-1, keepdim=True)


class ImpostorMLP(SumEncoder):
    """Not the built-in ``mlp``; registered under its name anyway."""


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``mlp`` (taken by rl8-core) and ``duplicate_unique``."""
    return {"mlp": ImpostorMLP, "duplicate_unique": SumEncoder}
