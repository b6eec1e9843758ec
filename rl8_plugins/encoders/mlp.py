"""The ``mlp`` encoder: flat (or flattened) observations through dense layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rl8_core import Encoder, FlattenObs, build_mlp, hookimpl
from specs import Spec

__all__ = ["MLPEncoder", "rl8_encoders"]


class MLPEncoder(Encoder):
    """Flatten a leaf observation (one-hot for discrete ones) and apply an MLP.

    Args:
        observation_spec: A ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` spec.
        hiddens: Widths of the hidden layers; ``output_dim`` is the last one
            (or the flattened input size when empty).
        activation: Name of the activation (see ``rl8_core.ACTIVATIONS``).

    Examples:
        >>> from specs import Box
        >>> enc = MLPEncoder(Box((4,)), hiddens=(32, 16))
        >>> enc.output_dim, enc(torch.zeros(2, 4)).shape
        (16, torch.Size([2, 16]))
    """

    def __init__(self, observation_spec: Spec, *, hiddens: Sequence[int] = (64, 64), activation: str = "tanh") -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)
        self.net: nn.Module = build_mlp(self.flatten.output_dim, list(hiddens), activation=activation)
        self.output_dim = int(hiddens[-1]) if hiddens else self.flatten.output_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Return features ``[b, output_dim]`` for observations ``[b, *obs_shape]``."""
        out: torch.Tensor = self.net(self.flatten(obs))
        return out


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``mlp``."""
    return {"mlp": MLPEncoder}
