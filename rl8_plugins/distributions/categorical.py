"""The ``categorical`` distribution for ``Discrete`` actions."""

from __future__ import annotations

from typing import Any

import torch

from rl8_core import Distribution, hookimpl
from specs import Discrete, Spec

__all__ = ["Categorical", "rl8_distributions"]


class Categorical(Distribution):
    """A categorical over ``Discrete(n, start)`` from logits ``[b, n]``.

    Computes in float32 even when the logits come from autocast. Actions are
    values in ``[start, start + n)`` of the spec's dtype (``int64`` by default).

    Examples:
        >>> d = Categorical(torch.tensor([[0.0, 10.0]]), Discrete(2, start=1))
        >>> d.deterministic_sample().tolist()
        [2]
    """

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        if not isinstance(action_spec, Discrete):
            raise TypeError(f"Categorical needs a Discrete action spec, got {action_spec!r}")
        self.start = action_spec.start
        self.dtype = action_spec.dtype
        # Normalised log-probabilities; -inf logits (masked actions) are kept finite so
        # that 0 * log(0) terms vanish instead of giving NaN.
        logits = inputs.float()
        self.logits = (logits - logits.logsumexp(-1, keepdim=True)).clamp(min=torch.finfo(torch.float32).min)

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``n``: one logit per action."""
        if not isinstance(action_spec, Discrete):
            raise TypeError(f"Categorical needs a Discrete action spec, got {action_spec!r}")
        return action_spec.n

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is ``Discrete``."""
        return isinstance(action_spec, Discrete)

    @property
    def probs(self) -> torch.Tensor:
        """Action probabilities ``[b, n]``."""
        return self.logits.exp()

    def sample(self) -> torch.Tensor:
        """Sample with the exponential race: ``argmin(E_i / p_i)`` is distributed as ``p``."""
        noise = torch.empty_like(self.logits).exponential_()
        return ((self.logits - noise.log()).argmax(-1) + self.start).to(self.dtype)

    def deterministic_sample(self) -> torch.Tensor:
        """Return the most likely action."""
        return (self.logits.argmax(-1) + self.start).to(self.dtype)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``."""
        index = (actions.long() - self.start).unsqueeze(-1)
        return self.logits.gather(-1, index).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """Return ``-sum p log p`` ``[b]``."""
        return -(self.probs * self.logits).sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``sum p (log p - log q)`` ``[b]``."""
        if not isinstance(other, Categorical):
            raise TypeError(f"KL between Categorical and {type(other).__name__} is not defined")
        return (self.probs * (self.logits - other.logits)).sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``categorical``."""
    return {"categorical": Categorical}
