"""The ``bernoulli`` distribution: independent coin flips for ``MultiBinary`` actions."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rl8_core import Distribution, hookimpl
from specs import MultiBinary, Spec

__all__ = ["Bernoulli", "rl8_distributions"]


def _multi_binary(action_spec: Spec) -> MultiBinary:
    if not isinstance(action_spec, MultiBinary):
        raise TypeError(f"Bernoulli needs a MultiBinary action spec, got {action_spec!r}")
    return action_spec


class Bernoulli(Distribution):
    """Independent Bernoullis over ``MultiBinary(shape)`` from logits ``[b, prod(shape)]``.

    Element ``i`` is 1 with probability ``sigmoid(logits[:, i])``. Actions have
    shape ``[b, *shape]`` and the spec's dtype (``int8`` by default); ``logp``,
    ``entropy`` and ``kl`` are sums over elements. Computes in float32.

    Examples:
        >>> d = Bernoulli(torch.tensor([[3.0, -3.0, 0.5]]), MultiBinary(3))
        >>> d.deterministic_sample().tolist(), d.deterministic_sample().dtype
        ([[1, 0, 1]], torch.int8)
    """

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        spec = _multi_binary(action_spec)
        self.shape = spec.shape
        self.dtype = spec.dtype
        #: Logits ``[b, prod(shape)]`` in float32.
        self.logits = inputs.float()

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``prod(shape)``: one logit per element."""
        return _multi_binary(action_spec).numel

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is ``MultiBinary``."""
        return isinstance(action_spec, MultiBinary)

    @property
    def probs(self) -> torch.Tensor:
        """Probabilities of a 1, ``[b, prod(shape)]``."""
        return self.logits.sigmoid()

    def _to_action(self, ones: torch.Tensor) -> torch.Tensor:
        return ones.reshape(*ones.shape[:-1], *self.shape).to(self.dtype)

    def sample(self) -> torch.Tensor:
        """Draw each element as ``u < sigmoid(logit)`` with ``u`` uniform in ``[0, 1)``."""
        return self._to_action(torch.rand_like(self.logits) < self.probs)

    def deterministic_sample(self) -> torch.Tensor:
        """Return 1 where ``logit > 0`` (the more likely value; 0 on a tie)."""
        return self._to_action(self.logits > 0)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``: minus the binary cross-entropy with logits, summed."""
        target = actions.reshape(*self.logits.shape).float()
        return -F.binary_cross_entropy_with_logits(self.logits, target, reduction="none").sum(-1)

    def entropy(self) -> torch.Tensor:
        """Return ``-sum p log p + (1 - p) log(1 - p)`` ``[b]`` (the cross-entropy of ``p`` with itself)."""
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none").sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``sum p (log p - log q) + (1 - p) (log(1 - p) - log(1 - q))`` ``[b]``.

        Uses ``log p = -softplus(-l)`` and ``log(1 - p) = -softplus(l)``, which
        stay finite for large logits.
        """
        if not isinstance(other, Bernoulli):
            raise TypeError(f"KL between Bernoulli and {type(other).__name__} is not defined")
        p, lp, lq = self.probs, self.logits, other.logits
        out = p * (F.softplus(-lq) - F.softplus(-lp)) + (1 - p) * (F.softplus(lq) - F.softplus(lp))
        return out.sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``bernoulli``."""
    return {"bernoulli": Bernoulli}
