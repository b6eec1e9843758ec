"""The ``multi_categorical`` distribution: independent categoricals for ``MultiDiscrete`` actions."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch

from rl8_core import Distribution, hookimpl
from specs import MultiDiscrete, Spec

__all__ = ["MultiCategorical", "rl8_distributions"]

_FLOAT32_MIN = torch.finfo(torch.float32).min
_FLOAT32_TINY = torch.finfo(torch.float32).tiny


def _multi_discrete(action_spec: Spec) -> MultiDiscrete:
    if not isinstance(action_spec, MultiDiscrete):
        raise TypeError(f"MultiCategorical needs a MultiDiscrete action spec, got {action_spec!r}")
    return action_spec


class _Layout(NamedTuple):
    """How the concatenated logits ``[b, sum(nvec)]`` become a padded block ``[b, k, m]``."""

    #: Number of components ``k`` (``nvec.numel()``).
    k: int
    #: Width ``m = max(nvec)`` of the padded block.
    m: int
    #: Per padded slot, the input column it reads, or ``sum(nvec)`` (an extra ``-inf``
    #: column) for padding; ``None`` when every component has ``m`` choices.
    gather: torch.Tensor | None
    #: Column ``[k]`` of each component's first logit in the inputs.
    offsets: torch.Tensor
    #: Component ``[sum(nvec)]`` of each input column.
    component: torch.Tensor
    #: ``start`` ``[k]``, or ``None`` when it is all zeros.
    start: torch.Tensor | None


@functools.lru_cache(maxsize=64)
def _layout(nvec: tuple[int, ...], start: tuple[int, ...], device: torch.device) -> _Layout:
    """Build (once per spec and device) the index tensors, so that a forward pays no host-to-device copy."""
    k, m, total = len(nvec), max(nvec), sum(nvec)
    offsets = torch.tensor((0, *nvec[:-1])).cumsum(0)
    gather = None
    if any(n != m for n in nvec):
        slot = torch.arange(m)
        valid = slot < torch.tensor(nvec).unsqueeze(-1)
        gather = torch.where(valid, offsets.unsqueeze(-1) + slot, total).flatten().to(device)
    starts = torch.tensor(start, device=device) if any(start) else None
    component = torch.repeat_interleave(torch.arange(k), torch.tensor(nvec)).to(device)
    return _Layout(k, m, gather, offsets.to(device), component, starts)


def _argmax(x: torch.Tensor) -> torch.Tensor:
    """Return the index of the first maximum along the last dim (as ``argmax``; ~1.5x faster on CPU)."""
    return x.max(-1).indices


class MultiCategorical(Distribution):
    """Independent categoricals over ``MultiDiscrete(nvec, start)`` from concatenated logits ``[b, sum(nvec)]``.

    ``nvec`` may have any shape; its components are taken in flattened (row
    major) order, component ``i`` reading the next ``nvec[i]`` logits. Actions
    have shape ``[b, *nvec.shape]`` and the spec's dtype, component ``i`` in
    ``[start[i], start[i] + nvec[i])``. ``logp``, ``entropy`` and ``kl`` are sums
    over components. Computes in float32.

    No Python loop over the ``k`` components: the per-component reductions
    (normaliser, Gumbel-max sample, mode) run on one ``[b, k, m]`` block padded
    to ``m = max(nvec)`` with ``-inf``; ``logp``'s gather, ``entropy`` and ``kl``
    run on the unpadded ``[b, sum(nvec)]`` logits. The kernel count does not
    grow with ``k`` (what matters on GPUs and at small batches); on CPU at
    large batches, very uneven ``nvec`` (e.g. ``[2, 50]``) pay for the padding.
    Masked logits (``-inf`` or float32's ``finfo.min``) behave as in
    ``categorical``: never sampled, never the mode, no NaN, no entropy.

    Examples:
        >>> spec = MultiDiscrete([2, 3], start=[1, 0])
        >>> d = MultiCategorical(torch.tensor([[0.0, 9.0, 0.0, 0.0, 9.0]]), spec)
        >>> d.deterministic_sample().tolist(), d.logp(torch.tensor([[2, 2]])).shape
        ([[2, 2]], torch.Size([1]))
    """

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        spec = _multi_discrete(action_spec)
        self.shape = spec.shape
        self.dtype = spec.dtype
        self.layout = _layout(tuple(spec.nvec.flatten().tolist()), tuple(spec.start.flatten().tolist()), inputs.device)
        #: The concatenated logits ``[b, sum(nvec)]`` in float32.
        self.flat_logits = inputs.float()

    def _pad(self, flat: torch.Tensor) -> torch.Tensor:
        """Return ``[b, sum(nvec)]`` values as the block ``[b, k, m]``, padded with ``-inf``."""
        if self.layout.gather is not None:
            pad = flat.new_full((*flat.shape[:-1], 1), -torch.inf)
            flat = torch.cat([flat, pad], dim=-1).index_select(-1, self.layout.gather)
        return flat.reshape(*flat.shape[:-1], self.layout.k, self.layout.m)

    @functools.cached_property
    def raw_logits(self) -> torch.Tensor:
        """The unnormalised logits as a block ``[b, k, m]``, padded with ``-inf``."""
        return self._pad(self.flat_logits)

    @functools.cached_property
    def _log_norm(self) -> torch.Tensor:
        """``logsumexp`` ``[b, k]`` of every component's logits."""
        return self.raw_logits.logsumexp(-1)

    @functools.cached_property
    def logits(self) -> torch.Tensor:
        """Normalised log-probabilities ``[b, sum(nvec)]`` (laid out like the inputs), computed on first use.

        Masked entries are kept finite (float32's ``finfo.min``) so that
        ``0 * log 0`` terms vanish instead of giving NaN.
        """
        log_norm = self._log_norm.index_select(-1, self.layout.component)
        return (self.flat_logits - log_norm).clamp(min=_FLOAT32_MIN)

    @property
    def probs(self) -> torch.Tensor:
        """Probabilities ``[b, sum(nvec)]``; each component's probabilities sum to 1."""
        return self.logits.exp()

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``sum(nvec)``: one logit per choice of every component."""
        return int(_multi_discrete(action_spec).nvec.sum())

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is ``MultiDiscrete``."""
        return isinstance(action_spec, MultiDiscrete)

    def _to_action(self, index: torch.Tensor) -> torch.Tensor:
        if self.layout.start is not None:
            index = index + self.layout.start
        return index.reshape(*index.shape[:-1], *self.shape).to(self.dtype)

    def sample(self) -> torch.Tensor:
        """Sample every component by the Gumbel-max trick (as ``categorical``).

        The uniform draw is clamped away from 0 (to float32's ``tiny``): an
        exact 0 would give ``-inf`` noise and let a ``finfo.min``-masked choice
        win; the clamp bounds the noise below by about -4.5 and changes the
        distribution by less than ``2**-24`` per draw.
        """
        # The noise goes on the unpadded logits: fewer random numbers than the block.
        u = torch.rand_like(self.flat_logits).clamp_(min=_FLOAT32_TINY)
        return self._to_action(_argmax(self._pad(self.flat_logits - (-u.log()).log())))

    def deterministic_sample(self) -> torch.Tensor:
        """Return the most likely choice of every component."""
        return self._to_action(_argmax(self.raw_logits))

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``, summed over components."""
        index = actions.reshape(*actions.shape[: actions.ndim - len(self.shape)], self.layout.k).long()
        if self.layout.start is not None:
            index = index - self.layout.start
        # Read the chosen logits from the unpadded inputs; only the normaliser needs the block.
        chosen = self.flat_logits.gather(-1, index + self.layout.offsets)
        return (chosen - self._log_norm).clamp(min=_FLOAT32_MIN).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Return ``-sum p log p`` ``[b]``, summed over components."""
        return -(self.probs * self.logits).sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``sum p (log p - log q)`` ``[b]``, summed over components."""
        if not isinstance(other, MultiCategorical):
            raise TypeError(f"KL between MultiCategorical and {type(other).__name__} is not defined")
        return (self.probs * (self.logits - other.logits)).sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``multi_categorical``."""
    return {"multi_categorical": MultiCategorical}
