"""Components that register and build, but whose declared sizes are wrong: what build-time checks must catch.

* encoder ``wrong_width``: declares ``output_dim`` 16, returns 8 features;
* distribution ``few_logits``: a categorical whose ``required_inputs`` is one short of the actions;
* distribution ``many_logits``: a categorical whose ``required_inputs`` is one too many.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rl8_core import Distribution, Encoder, FlattenObs, hookimpl
from specs import Discrete, Spec


class WrongWidth(Encoder):
    """Flatten, then a linear layer to 8 features, while ``output_dim`` says 16."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)
        self.net = nn.Linear(self.flatten.output_dim, 8)
        self.output_dim = 16

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return ``[b, 8]``."""
        return self.net(self.flatten(obs))


class _OffByOne(Distribution):
    """A categorical over however many logits it is given; ``required_inputs`` is ``n + offset``."""

    offset = 0

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        self.dist = torch.distributions.Categorical(logits=inputs, validate_args=False)

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        assert isinstance(action_spec, Discrete)
        return action_spec.n + cls.offset

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        return isinstance(action_spec, Discrete)

    def sample(self) -> torch.Tensor:
        return self.dist.sample()

    def deterministic_sample(self) -> torch.Tensor:
        return self.dist.logits.argmax(-1)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(actions)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy()

    def kl(self, other: Distribution) -> torch.Tensor:
        assert isinstance(other, _OffByOne)
        return torch.distributions.kl_divergence(self.dist, other.dist)


class FewLogits(_OffByOne):
    """One logit short: the last action can never be chosen."""

    offset = -1


class ManyLogits(_OffByOne):
    """One logit too many: the greedy action can be one past the space."""

    offset = 1


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``wrong_width``."""
    return {"wrong_width": WrongWidth}


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``few_logits`` and ``many_logits``."""
    return {"few_logits": FewLogits, "many_logits": ManyLogits}
