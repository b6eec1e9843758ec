"""acme-rl8: the encoder ``acme_flat_tanh`` and the distribution ``acme_tempered_categorical``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from rl8_core import Distribution, Encoder, hookimpl
from specs import Box, Discrete, Spec

__all__ = ["FlatTanh", "TemperedCategorical", "rl8_distributions", "rl8_encoders"]


class FlatTanh(Encoder):
    """Flatten a ``Box`` observation ``[b, *shape]`` and squash it through one tanh layer: ``[b, width]``."""

    def __init__(self, observation_spec: Spec, *, width: int = 64) -> None:
        if not isinstance(observation_spec, Box):
            raise TypeError(f"FlatTanh needs a Box observation spec, got {observation_spec!r}")
        super().__init__(observation_spec)
        self.output_dim = width
        self.proj = nn.Linear(math.prod(observation_spec.shape), width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Map observations ``[b, *shape]`` to features ``[b, width]``."""
        return torch.tanh(self.proj(obs.flatten(start_dim=1).float()))


class TemperedCategorical(Distribution):
    """A categorical over ``Discrete(n, start)`` whose logits ``[b, n]`` are divided by a temperature."""

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, *, temperature: float = 1.0) -> None:
        super().__init__(inputs, action_spec)
        if not isinstance(action_spec, Discrete):
            raise TypeError(f"TemperedCategorical needs a Discrete action spec, got {action_spec!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.start = action_spec.start
        self.dist = torch.distributions.Categorical(logits=inputs.float() / temperature)

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``n``: one logit per action."""
        if not isinstance(action_spec, Discrete):
            raise TypeError(f"TemperedCategorical needs a Discrete action spec, got {action_spec!r}")
        return action_spec.n

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is ``Discrete``."""
        return isinstance(action_spec, Discrete)

    def sample(self) -> torch.Tensor:
        """Draw actions ``[b]``."""
        return self.dist.sample() + self.start

    def deterministic_sample(self) -> torch.Tensor:
        """Return the most likely actions ``[b]``."""
        return self.dist.logits.argmax(-1) + self.start

    def logp(self, actions: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return ``log p(actions)`` ``[b]``."""
        return self.dist.log_prob(actions.long() - self.start)

    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]``."""
        return self.dist.entropy()

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``KL(self || other)`` ``[b]``."""
        if not isinstance(other, TemperedCategorical):
            raise TypeError(f"KL between TemperedCategorical and {type(other).__name__} is not defined")
        return torch.distributions.kl_divergence(self.dist, other.dist)


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``acme_flat_tanh``."""
    return {"acme_flat_tanh": FlatTanh}


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``acme_tempered_categorical``."""
    return {"acme_tempered_categorical": TemperedCategorical}
