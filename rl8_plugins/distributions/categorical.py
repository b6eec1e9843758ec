"""The ``categorical`` distribution for ``Discrete`` actions."""

from __future__ import annotations

import functools
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
        #: The unnormalised logits in float32 (enough for sampling and argmax).
        self.raw_logits = inputs.float()

    @functools.cached_property
    def logits(self) -> torch.Tensor:
        """Normalised log-probabilities ``[b, n]``, computed on first use.

        Masked (``-inf``) logits are kept finite so that ``0 * log 0`` terms
        vanish instead of giving NaN.
        """
        return self.raw_logits.log_softmax(-1).clamp(min=torch.finfo(torch.float32).min)

    def _to_action(self, index: torch.Tensor) -> torch.Tensor:
        if self.start:
            index = index + self.start
        return index.to(self.dtype)

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
        """Sample by the Gumbel-max trick: ``argmax(logits + Gumbel noise)`` is distributed as ``p``.

        Works on the raw logits (normalising does not change the argmax);
        cheaper than ``torch.multinomial`` at every batch size we measured.
        """
        # A uniform draw of exactly 0 would give -inf noise and could let a masked
        # (finfo.min) action win when it is the only valid one's draw; clamp it away.
        uniform = torch.rand_like(self.raw_logits).clamp_(min=torch.finfo(torch.float32).tiny)
        # raw + Gumbel = raw - log(-log u); in place on the fresh draw, without temporaries.
        return self._to_action((self.raw_logits - uniform.log_().neg_().log_()).argmax(-1))

    def deterministic_sample(self) -> torch.Tensor:
        """Return the most likely action."""
        return self._to_action(self.raw_logits.argmax(-1))

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``."""
        index = actions.long()
        if self.start:
            index = index - self.start
        return self.logits.gather(-1, index.unsqueeze(-1)).squeeze(-1)

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
