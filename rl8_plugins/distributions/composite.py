"""The ``composite`` distribution: one distribution per leaf of a ``Composite`` (Dict or Tuple) action spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import Distribution, hookimpl
from specs import Composite, Spec, TensorSpec

__all__ = ["CompositeDistribution", "LeafDists", "rl8_distributions"]

#: The ``leaves`` option: dotted leaf path -> (distribution class, its options).
LeafDists = Mapping[str, tuple[type[Distribution], Mapping[str, Any]]]


class _Leaf(NamedTuple):
    """One leaf of the action spec with its distribution and input sizes."""

    path: tuple[str, ...]
    name: str
    spec: TensorSpec
    cls: type[Distribution]
    options: Mapping[str, Any]
    #: ``required_inputs`` of the leaf.
    n: int
    #: ``state_independent_inputs`` of the leaf (the last ``free`` of its ``n``).
    free: int


def _leaves(action_spec: Spec, leaves: LeafDists | None) -> list[_Leaf]:
    """Check ``leaves`` against the spec's leaves and return them in ``action_spec.leaves()`` order."""
    if not isinstance(action_spec, Composite):
        raise TypeError(f"CompositeDistribution needs a Composite action spec, got {action_spec!r}")
    paths = [(path, ".".join(path), spec) for path, spec in action_spec.leaves()]
    if not isinstance(leaves, Mapping):
        raise TypeError(
            "CompositeDistribution needs the option leaves: a mapping from each dotted leaf path "
            f"({', '.join(name for _, name, _ in paths)}) to (Distribution class, options); "
            f"got {type(leaves).__name__}"
        )
    known = {name for _, name, _ in paths}
    missing = [name for _, name, _ in paths if name not in leaves]
    unknown = [str(key) for key in leaves if key not in known]
    if missing or unknown:
        raise ValueError(
            f"CompositeDistribution option leaves must name every leaf of {action_spec!r} exactly once: "
            f"missing {missing}, unknown {unknown}"
        )
    out = []
    for path, name, spec in paths:
        entry = leaves[name]
        if not (isinstance(entry, Sequence) and len(entry) == 2):
            raise TypeError(f"leaves[{name!r}] must be a (Distribution class, options) pair, got {entry!r}")
        cls, options = entry
        if not (isinstance(cls, type) and issubclass(cls, Distribution)):
            raise TypeError(f"leaves[{name!r}] must start with a Distribution subclass, got {cls!r}")
        if not isinstance(options, Mapping):
            raise TypeError(f"leaves[{name!r}] options must be a mapping, got {type(options).__name__}")
        if not cls.supports(spec):
            raise ValueError(f"leaves[{name!r}]: {cls.__name__} does not support the leaf's spec {spec!r}")
        try:
            n, free = cls.required_inputs(spec, **options), cls.state_independent_inputs(spec, **options)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"leaves[{name!r}]: {exc}") from exc
        out.append(_Leaf(path, name, spec, cls, options, n, free))
    return out


def _total(values: list[torch.Tensor]) -> torch.Tensor:
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


class CompositeDistribution(Distribution):
    """Independent distributions over the leaves of a ``Composite`` action spec (Dict or Tuple, nested).

    The option ``leaves`` maps every leaf's dotted path (``".".join(path)`` for
    ``path, _ in action_spec.leaves()``; tuple entries are ``"0"``, ``"1"``, ...)
    to ``(Distribution class, options)``. A catalog builds it for distributions
    with ``takes_leaf_dists``; it can also be given by hand.

    Inputs ``[b, a]`` hold each leaf's ``required_inputs`` in ``leaves()``
    order, except that every leaf's state-independent inputs (a normal's
    log-stds) are moved to the end, again in leaf order, so that they form the
    trailing ``state_independent_inputs`` a catalog may make free parameters.
    Without such inputs (categoricals, Bernoullis) this is the plain
    concatenation. Actions are a ``TensorDict`` with batch size ``[b]`` nested
    like the spec; ``logp``, ``entropy`` and ``kl`` are sums over leaves.

    ``rsample`` works when every leaf has one; ``has_rsample`` stays ``False``
    because it is a class attribute and the leaves are known only per instance.

    Args:
        inputs: Distribution parameters ``[b, a]``.
        action_spec: A ``Composite``.
        leaves: The per-leaf distributions, see above.
        **config: Rejected (no other options).

    Examples:
        >>> from specs import Box, Discrete
        >>> from rl8_plugins.distributions.categorical import Categorical
        >>> from rl8_plugins.distributions.normal import Normal
        >>> spec = Composite({"move": Box((2,)), "fire": Discrete(3)})
        >>> leaves = {"move": (Normal, {}), "fire": (Categorical, {})}
        >>> CompositeDistribution.required_inputs(spec, leaves=leaves)
        7
        >>> d = CompositeDistribution(torch.zeros(5, 7), spec, leaves=leaves)
        >>> spec.contains(d.sample()), d.logp(d.sample()).shape
        (True, torch.Size([5]))
    """

    takes_leaf_dists = True

    def __init__(
        self, inputs: torch.Tensor, action_spec: Spec, *, leaves: LeafDists | None = None, **config: Any
    ) -> None:
        super().__init__(inputs, action_spec, **config)
        self.leaves = _leaves(action_spec, leaves)
        dependent = [leaf.n - leaf.free for leaf in self.leaves]
        free = [leaf.free for leaf in self.leaves]
        parts = torch.split(inputs, dependent + (free if any(free) else []), dim=-1)
        k = len(self.leaves)
        #: The distribution of each leaf, in ``leaves()`` order.
        self.dists = [
            leaf.cls(
                torch.cat([parts[i], parts[k + i]], dim=-1) if leaf.free else parts[i],
                leaf.spec,
                **leaf.options,
            )
            for i, leaf in enumerate(self.leaves)
        ]
        self.batch_size = inputs.shape[:-1]

    @classmethod
    def required_inputs(cls, action_spec: Spec, *, leaves: LeafDists | None = None, **config: Any) -> int:
        """Return the sum of the leaves' ``required_inputs``."""
        return sum(leaf.n for leaf in _leaves(action_spec, leaves))

    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, *, leaves: LeafDists | None = None, **config: Any) -> int:
        """Return the sum of the leaves' ``state_independent_inputs`` (moved to the end of the inputs)."""
        return sum(leaf.free for leaf in _leaves(action_spec, leaves))

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is a ``Composite``."""
        return isinstance(action_spec, Composite)

    def _actions(self, values: list[torch.Tensor | TensorDictBase]) -> TensorDict:
        nested: dict[str, Any] = {}
        for leaf, value in zip(self.leaves, values, strict=True):
            node = nested
            for key in leaf.path[:-1]:
                node = node.setdefault(key, {})
            node[leaf.path[-1]] = value
        return TensorDict(nested, batch_size=self.batch_size)

    def sample(self) -> TensorDict:
        """Draw actions: a ``TensorDict`` ``[b]`` shaped like the spec."""
        return self._actions([dist.sample() for dist in self.dists])

    def rsample(self) -> TensorDict:
        """Draw reparameterised actions; every leaf distribution must have ``rsample``.

        Raises:
            NotImplementedError: Naming the leaves whose distribution has none.
        """
        lacking = [leaf.name for leaf in self.leaves if not leaf.cls.has_rsample]
        if lacking:
            raise NotImplementedError(f"CompositeDistribution has no reparameterised sample for leaves {lacking}")
        return self._actions([dist.rsample() for dist in self.dists])

    def deterministic_sample(self) -> TensorDict:
        """Return every leaf's deterministic sample."""
        return self._actions([dist.deterministic_sample() for dist in self.dists])

    def logp(self, actions: torch.Tensor | TensorDictBase) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``: the sum of the leaves' ``logp``."""
        if not isinstance(actions, TensorDictBase):
            raise TypeError(f"CompositeDistribution.logp needs a TensorDict of actions, got {type(actions).__name__}")
        return _total([dist.logp(actions.get(leaf.path)) for leaf, dist in zip(self.leaves, self.dists, strict=True)])

    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]``: the sum of the leaves' entropies (they are independent)."""
        return _total([dist.entropy() for dist in self.dists])

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``KL(self || other)`` ``[b]``: the sum of the leaves' KLs."""
        if not isinstance(other, CompositeDistribution):
            raise TypeError(f"KL between CompositeDistribution and {type(other).__name__} is not defined")
        if [leaf.name for leaf in other.leaves] != [leaf.name for leaf in self.leaves]:
            raise ValueError("KL between CompositeDistributions over different leaves is not defined")
        return _total([mine.kl(theirs) for mine, theirs in zip(self.dists, other.dists, strict=True)])


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``composite``."""
    return {"composite": CompositeDistribution}
