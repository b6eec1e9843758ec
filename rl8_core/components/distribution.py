"""The ``Distribution`` base class for action distributions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase

from specs import Composite, Discrete, MultiBinary, MultiDiscrete, Spec

__all__ = ["Distribution", "action_value_count", "every_action_value"]

Actions = torch.Tensor | TensorDictBase


class Distribution(ABC):
    """An action distribution built from ``action_dist_inputs`` ``[b, a]``.

    Subclasses say how many inputs they need for an action spec
    (``required_inputs``) so that a catalog can size the policy head without
    knowing the class. Objects are cheap and stateless beyond their inputs:
    build one per forward, never cache one between calls.

    Args:
        inputs: Distribution parameters ``[b, a]``.
        action_spec: The space the actions belong to.
        **config: Options of the concrete class (keyword-only there).

    Examples:
        >>> import torch
        >>> from specs import Discrete
        >>> class Uniform(Distribution):
        ...     @classmethod
        ...     def required_inputs(cls, action_spec, **config):
        ...         return 0
        ...     def sample(self):
        ...         return self.action_spec.rand(self.inputs.shape[:1])
        ...     deterministic_sample = sample
        ...     def logp(self, actions):
        ...         return torch.full(actions.shape, -torch.log(torch.tensor(float(self.action_spec.n))))
        ...     def entropy(self):
        ...         return -self.logp(torch.zeros(self.inputs.shape[:1]))
        ...     def kl(self, other):
        ...         return torch.zeros(self.inputs.shape[:1])
        >>> Uniform(torch.zeros(5, 0), Discrete(4)).entropy().shape
        torch.Size([5])
    """

    #: Whether ``rsample`` gives reparameterised (differentiable) samples.
    has_rsample: ClassVar[bool] = False
    #: When true, a catalog resolves one distribution per leaf of a Composite
    #: action spec and passes them as the ``leaves`` option (dotted path ->
    #: (class, options)).
    takes_leaf_dists: ClassVar[bool] = False

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        if config:
            raise TypeError(f"{type(self).__name__} got unknown options: {', '.join(sorted(config))}")
        #: Distribution parameters ``[b, a]``.
        self.inputs = inputs
        #: The action space.
        self.action_spec = action_spec

    @classmethod
    @abstractmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``a``, the number of ``action_dist_inputs`` per sample for ``action_spec``."""

    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return how many trailing inputs may be free parameters rather than network outputs.

        A diagonal normal returns the number of log-stds: with the catalog's
        ``free_log_std`` option those come from a learned parameter vector.
        """
        return 0

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether this distribution can produce actions of ``action_spec``."""
        return True

    @abstractmethod
    def sample(self) -> Actions:
        """Draw actions ``[b, *action_shape]`` (no gradient)."""

    def rsample(self) -> Actions:
        """Draw reparameterised actions; only where ``has_rsample`` is true."""
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample")

    @abstractmethod
    def deterministic_sample(self) -> Actions:
        """Return the most likely action (argmax, mean) ``[b, *action_shape]``."""

    @abstractmethod
    def logp(self, actions: Actions) -> torch.Tensor:
        """Return the log-probability ``[b]`` of ``actions``."""

    @abstractmethod
    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]``."""

    @abstractmethod
    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``KL(self || other)`` ``[b]`` for a distribution of the same class."""


def action_value_count(spec: Spec) -> int:
    """Return how many rows ``every_action_value`` needs to cover every discrete value of ``spec`` (0: none).

    Examples:
        >>> from specs import Discrete
        >>> action_value_count(Discrete(3))
        3
    """
    if isinstance(spec, Discrete):
        return spec.n
    if isinstance(spec, MultiDiscrete):
        return int(spec.nvec.max())
    if isinstance(spec, MultiBinary):
        return 2
    if isinstance(spec, Composite):
        return max((action_value_count(leaf) for _, leaf in spec.leaves()), default=0)
    return 0


def every_action_value(spec: Spec, rows: int, gen: torch.Generator) -> Any:
    """Return ``rows`` actions where row ``k`` holds value ``k`` (clamped) of each discrete element.

    Float leaves get random values in the spec. A distribution whose inputs
    cover fewer actions than the spec has cannot give every row a finite logp.

    Examples:
        >>> from specs import Discrete
        >>> every_action_value(Discrete(3, start=1), 4, torch.Generator())
        tensor([1, 2, 3, 3])
    """
    k = torch.arange(rows)
    if isinstance(spec, Discrete):
        return (k.clamp(max=spec.n - 1) + spec.start).to(spec.dtype)
    if isinstance(spec, MultiDiscrete):
        k = k.reshape(rows, *([1] * len(spec.shape)))
        return (torch.minimum(k, spec.nvec - 1) + spec.start).to(spec.dtype)
    if isinstance(spec, MultiBinary):
        return k.clamp(max=1).reshape(rows, *([1] * len(spec.shape))).expand(rows, *spec.shape).to(spec.dtype)
    if isinstance(spec, Composite):
        return TensorDict({key: every_action_value(sub, rows, gen) for key, sub in spec.items()}, batch_size=[rows])
    return spec.rand((rows,), generator=gen)
