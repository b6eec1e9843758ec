"""A working plugin that prints to stdout while it imports and while its hook runs."""

from __future__ import annotations

import torch

from rl8_core import Encoder, FlattenObs, hookimpl
from specs import Spec

print("hello from rl8-test-noisy at import")


class NoisySum(Encoder):
    """Sum the flattened observation into one feature."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)
        self.output_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return ``[b, 1]``."""
        return self.flatten(obs).sum(-1, keepdim=True)


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``noisy_sum``, printing as it does."""
    print("hello from the hook of rl8-test-noisy")
    return {"noisy_sum": NoisySum}
