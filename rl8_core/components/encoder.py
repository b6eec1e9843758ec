"""The ``Encoder`` base class and small network-building helpers for plugins."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from tensordict import TensorDictBase
from torch import nn

from specs import Box, Discrete, MultiBinary, MultiDiscrete, Spec, TensorSpec

__all__ = ["ACTIVATIONS", "Encoder", "FlattenObs", "RecurrentEncoder", "build_mlp", "get_activation"]

#: Activation names accepted by ``get_activation`` and every ``activation`` option.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


#: Activations that can overwrite their input instead of allocating an output.
_INPLACE = frozenset({"relu", "elu", "leaky_relu", "silu"})


def get_activation(name: str, *, inplace: bool = False) -> nn.Module:
    """Return a fresh activation module by name.

    Args:
        name: One of ``ACTIVATIONS``.
        inplace: Overwrite the input where the activation supports it. Safe right
            after a layer whose output nothing else reads (as in ``build_mlp``);
            it saves a pass over memory, which dominates large bf16 batches.

    Raises:
        ValueError: For an unknown name, listing the known ones.

    Examples:
        >>> get_activation("tanh")
        Tanh()
        >>> get_activation("relu", inplace=True)
        ReLU(inplace=True)
    """
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None
    return cls(inplace=True) if inplace and name in _INPLACE else cls()


def build_mlp(
    in_dim: int,
    hiddens: Sequence[int],
    *,
    activation: str = "tanh",
    out_dim: int | None = None,
    out_gain: float = 1.0,
) -> nn.Sequential:
    """Build ``Linear -> activation`` layers, with an optional linear output layer.

    Hidden layers use orthogonal init with gain ``sqrt(2)`` and zero biases;
    the output layer uses ``out_gain`` (0.01 for policy heads, 1 for values), as
    recommended in "The 37 Implementation Details of PPO" (Huang et al., 2022).

    Examples:
        >>> build_mlp(4, [8], out_dim=2)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """
    layers: list[nn.Module] = []
    last = in_dim
    for width in hiddens:
        layers += [_init(nn.Linear(last, width), math.sqrt(2)), get_activation(activation, inplace=True)]
        last = width
    if out_dim is not None:
        layers.append(_init(nn.Linear(last, out_dim), out_gain))
    return nn.Sequential(*layers)


def _init(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class Encoder(nn.Module, ABC):
    """Maps observations ``[b, *obs_shape]`` to features ``[b, output_dim]``.

    Subclasses take the observation spec positionally and options as keywords,
    set ``output_dim`` in ``__init__``, and implement ``forward``.

    Examples:
        >>> from specs import Box
        >>> class Flat(Encoder):
        ...     def __init__(self, observation_spec, *, scale=1.0):
        ...         super().__init__(observation_spec)
        ...         self.output_dim = math.prod(observation_spec.shape)
        ...         self.scale = scale
        ...     def forward(self, obs):
        ...         return obs.flatten(1) * self.scale
        >>> Flat(Box((2, 3)))(torch.zeros(4, 2, 3)).shape
        torch.Size([4, 6])
    """

    #: Width of the features ``forward`` returns.
    output_dim: int
    #: When true, a catalog builds one encoder per top-level key of a ``Composite``
    #: observation spec (recursively, by the rule table or per-leaf overrides) and
    #: passes them as ``encoders: dict[str, Encoder]``.
    takes_sub_encoders: ClassVar[bool] = False
    #: When true, a catalog builds an inner encoder for the same observation (named by the
    #: ``inner`` option, else the rule table's choice, with options ``inner_config``) and passes
    #: it as ``inner: Encoder``; memory encoders (``lstm``, ``gru``, ``attention``) wrap one so.
    takes_inner_encoder: ClassVar[bool] = False

    def __init__(self, observation_spec: Spec, **config: Any) -> None:
        super().__init__()
        if config:
            raise TypeError(f"{type(self).__name__} got unknown options: {', '.join(sorted(config))}")
        #: The spec of the observations this encoder reads.
        self.observation_spec = observation_spec

    @abstractmethod
    def forward(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor:
        """Return features ``[b, output_dim]`` for observations ``[b, *obs_shape]``."""

    def __call__(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor:
        """Run ``forward`` through ``nn.Module``'s hooks, typed: features ``[b, output_dim]``."""
        out: torch.Tensor = super().__call__(obs)
        return out


class RecurrentEncoder(Encoder):
    """An encoder with memory: it carries a state from step to step of an episode.

    Subclasses implement ``get_initial_state`` (the state of one env, a
    TensorDict with ``batch_size=[]``) and ``forward_sequence``; ``forward_step``
    (one step per env, what acting uses) defaults to a sequence of one step.
    A module built on one (the actor-critic module is) becomes stateful: its
    ``get_initial_state`` holds the encoder's. ``forward`` (no state) encodes
    observations as the first step of an episode. States are float32 whatever
    autocast computes in, so that a carried state never changes dtype.

    Examples:
        >>> from tensordict import TensorDict
        >>> from specs import Box
        >>> class Sum(RecurrentEncoder):  # features: the running sum of observations
        ...     def __init__(self, observation_spec):
        ...         super().__init__(observation_spec)
        ...         self.output_dim = observation_spec.shape[0]
        ...     def get_initial_state(self):
        ...         return TensorDict({"sum": torch.zeros(self.output_dim)}, batch_size=[])
        ...     def forward_sequence(self, obs, state):
        ...         sums = obs.cumsum(1) + state["sum"].unsqueeze(1)
        ...         return sums, TensorDict({"sum": sums[:, -1]}, batch_size=obs.shape[:1])
        >>> enc = Sum(Box((2,)))
        >>> state = enc.get_initial_state().expand(3).clone()
        >>> features, state = enc.forward_step(torch.ones(3, 2), state)
        >>> features, state = enc.forward_step(torch.ones(3, 2), state)
        >>> features[0].tolist()
        [2.0, 2.0]
    """

    @abstractmethod
    def get_initial_state(self) -> TensorDictBase:
        """Return the state one env starts an episode with (``batch_size=[]``)."""

    @abstractmethod
    def forward_sequence(
        self, obs: torch.Tensor | TensorDictBase, state: TensorDictBase
    ) -> tuple[torch.Tensor, TensorDictBase]:
        """Return features ``[b, t, output_dim]`` of sequences ``obs`` ``[b, t, ...]`` from ``state`` ``[b]``.

        Also returns the state after the sequences' last step.
        """

    def forward_step(
        self, obs: torch.Tensor | TensorDictBase, state: TensorDictBase
    ) -> tuple[torch.Tensor, TensorDictBase]:
        """Return features ``[b, output_dim]`` of one step ``obs`` ``[b, ...]`` from ``state``, and the next state."""
        features, next_state = self.forward_sequence(obs.unsqueeze(1), state)
        return features[:, 0], next_state

    def forward(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor:
        """Return features ``[b, output_dim]`` of ``obs`` ``[b, ...]`` as an episode's first step."""
        batch = obs.shape[0]
        state = self.get_initial_state().expand(batch).clone().to(_device_of(obs))
        return self.forward_step(obs, state)[0]


def _device_of(obs: torch.Tensor | TensorDictBase) -> torch.device:
    leaf = obs if isinstance(obs, torch.Tensor) else next(iter(obs.values(include_nested=True, leaves_only=True)))
    assert leaf.device is not None
    return torch.device(leaf.device)


class FlattenObs(nn.Module):
    """Turn a leaf observation ``[b, *shape]`` into float features ``[b, output_dim]``.

    ``Box`` values are flattened and cast to float (integer boxes keep their
    values; image encoders scale ``uint8`` themselves), ``Discrete`` and
    ``MultiDiscrete`` values are one-hot encoded, ``MultiBinary`` values become
    floats. Encoders for vector-like observations share this so that every
    leaf kind is handled the same way.

    Examples:
        >>> FlattenObs(Discrete(3, start=1))(torch.tensor([1, 3])).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        >>> FlattenObs(MultiDiscrete([2, 3])).output_dim
        5
    """

    offsets: torch.Tensor

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__()
        if not isinstance(observation_spec, TensorSpec):
            raise TypeError(f"FlattenObs needs a leaf spec, got {observation_spec!r}")
        self.spec = observation_spec
        self.kind = type(observation_spec).__name__
        if isinstance(observation_spec, Discrete):
            self.output_dim = observation_spec.n
            self.register_buffer("offsets", torch.tensor([observation_spec.start]), persistent=False)
        elif isinstance(observation_spec, MultiDiscrete):
            nvec = observation_spec.nvec.flatten()
            self.output_dim = int(nvec.sum())
            # Element i's one-hot block starts at sum(nvec[:i]); subtract start first.
            starts = torch.cumsum(nvec, 0) - nvec - observation_spec.start.flatten()
            self.register_buffer("offsets", starts, persistent=False)
        elif isinstance(observation_spec, (Box, MultiBinary)):
            self.output_dim = observation_spec.numel
            self.register_buffer("offsets", torch.zeros(0, dtype=torch.long), persistent=False)
        else:
            raise TypeError(f"FlattenObs does not support {observation_spec!r}")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Return features ``[b, output_dim]`` in the default float dtype."""
        dtype = torch.get_default_dtype()
        if self.kind == "Discrete":
            return nn.functional.one_hot(obs.long() - self.offsets, self.output_dim).to(dtype)
        # ``reshape(b, n)``, not ``flatten(1)``: a scalar ``Box(shape=())`` arrives as ``[b]``.
        if self.kind == "MultiDiscrete":
            idx = obs.long().reshape(obs.shape[0], self.offsets.numel()) + self.offsets
            out = torch.zeros(obs.shape[0], self.output_dim, dtype=dtype, device=obs.device)
            return out.scatter_(1, idx, 1.0)
        return obs.reshape(obs.shape[0], self.output_dim).to(dtype)
