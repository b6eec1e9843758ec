"""The ``Algorithm`` base class: what an algorithm plugin supplies to the learner."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.components.module import RLModule
from rl8_core.components.multi_module import MultiRLModule
from rl8_core.config import config_from_mapping
from rl8_core.errors import ConfigError
from specs import SpecDict, TensorShape, format_path, to_path

__all__ = ["Algorithm", "AlgorithmGroup", "check_train_outputs"]


class Algorithm(ABC):
    """Loss, postprocessing and default module of a training algorithm.

    The learner owns everything algorithm-independent (optimiser, epochs and
    minibatches, gradient clipping and accumulation, AMP); an algorithm says
    how a rollout becomes training data (``postprocess``), what to minimise
    (``loss``) and how many passes to make (``num_epochs``, ``minibatch_size``).
    A second algorithm is a plugin with a subclass of this; the learner does
    not change.

    ``num_epochs`` and ``minibatch_size`` read the fields of the same names
    of ``config_class`` when it has them (``num_epochs >= 1``;
    ``minibatch_size >= 1``, or ``None`` for the whole batch), so
    ``algorithm_config.num_epochs`` works without overriding the properties;
    without those fields they are 1 and ``None``. ``default_module`` may
    return ``None`` (the default): the run then uses the default algorithm's
    module, the actor-critic module of the built-in plugins. ``train_output_specs``
    declares what ``loss`` reads from ``forward_train``; the trainer checks
    the module's output specs against it when the module is built.

    Args:
        config: An instance of ``config_class`` or a mapping validated into one.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True, kw_only=True)
        ... class PGConfig:
        ...     gamma: float = 0.99
        >>> class PG(Algorithm):
        ...     config_class = PGConfig
        ...     def postprocess(self, rollout, module):
        ...         return rollout.reshape(-1)
        ...     def loss(self, module, minibatch):
        ...         out = module.forward_train(minibatch)
        ...         logp = module.make_action_dist(out["action_dist_inputs"]).logp(minibatch["actions"])
        ...         return -(logp * minibatch["rewards"]).mean(), {}
        >>> PG({"gamma": 0.9}).config.gamma
        0.9
        >>> PG().num_epochs, PG().minibatch_size
        (1, None)
    """

    #: Frozen dataclass of the algorithm's options.
    config_class: ClassVar[type[Any]]

    def __init__(self, config: Any = None) -> None:
        if config is None:
            config = self.config_class()
        elif isinstance(config, Mapping):
            config = config_from_mapping(self.config_class, config, path="algorithm_config")
        elif not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__} or a mapping, got {config!r}")
        #: The validated options.
        self.config = config
        self._check_passes()

    def _config_field(self, name: str, default: Any) -> Any:
        """Return the config's field ``name``, or ``default`` when its dataclass has no such field."""
        if dataclasses.is_dataclass(self.config) and name in {f.name for f in dataclasses.fields(self.config)}:
            return getattr(self.config, name)
        return default

    def _check_passes(self) -> None:
        """Reject a ``num_epochs`` or ``minibatch_size`` field the learner cannot use, naming the key."""
        epochs = self._config_field("num_epochs", 1)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"algorithm_config.num_epochs: must be an int >= 1, got {epochs!r}")
        size = self._config_field("minibatch_size", None)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"algorithm_config.minibatch_size: must be an int >= 1 or null, got {size!r}")

    @classmethod
    def default_module(cls) -> tuple[type[RLModule], Callable[..., Any] | None] | None:
        """Return ``(module_class, catalog_class)`` used when the config names no ``module``.

        ``None`` (the default) means the default algorithm's module: with the
        built-in plugins, the actor-critic module PPO trains, whose
        ``forward_train`` returns ``action_dist_inputs`` and ``vf_preds``.
        """
        return None

    def train_output_specs(self) -> Mapping[str, TensorShape]:
        """Return what ``loss`` reads from ``forward_train``'s output: ``{key: TensorShape}``.

        The trainer compares it with the module's ``output_specs_train()`` when
        the module is built, so a module that lacks a key the loss needs fails
        there, naming the module, the key and the algorithm, not deep inside
        ``loss``. Empty by default (nothing is checked).

        Examples:
            >>> from rl8_core import get_registry
            >>> ppo = get_registry().get("algorithm", "ppo")()
            >>> {key: spec.describe() for key, spec in ppo.train_output_specs().items()}
            {'action_dist_inputs': '[b, a]', 'vf_preds': '[b]'}
        """
        return {}

    @property
    def num_epochs(self) -> int:
        """Passes over each postprocessed batch: ``config.num_epochs`` if the config has it, else 1."""
        epochs: int = self._config_field("num_epochs", 1)
        return epochs

    @property
    def minibatch_size(self) -> int | None:
        """Samples per optimiser step: ``config.minibatch_size`` if the config has it, else ``None`` (whole batch)."""
        size: int | None = self._config_field("minibatch_size", None)
        return size

    @abstractmethod
    def postprocess(self, rollout: TensorDictBase, module: RLModule) -> TensorDictBase:
        """Turn a rollout ``[t, n]`` into a flat training batch ``[b]`` (e.g. add GAE advantages)."""

    def prepare_minibatch(self, minibatch: TensorDictBase) -> TensorDictBase:
        """Adjust a whole minibatch before it is split for gradient accumulation (e.g. normalise advantages)."""
        return minibatch

    @abstractmethod
    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the scalar loss to minimise and detached metrics (``losses/...``, ``stats/...``)."""

    def should_stop_epochs(self, metrics: Mapping[str, torch.Tensor]) -> bool:
        """Return whether to stop the remaining passes early (e.g. target KL), given a minibatch's metrics."""
        return False

    def on_iteration_start(self, env_steps: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """Update schedules (entropy coefficient, clip range) from the env steps so far."""

    def iteration_metrics(self) -> dict[str, float]:
        """Return scalar metrics of the last ``postprocess`` (e.g. explained variance)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Return algorithm state to checkpoint (running statistics, schedules)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - stateless by default
        """Restore state returned by ``state_dict``."""


class AlgorithmGroup:
    """One algorithm instance per trained module, driven as one: what the ``Trainer`` and ``Learner`` call.

    Each module's rollout is postprocessed by its own instance (its own
    reward-scaling statistics, schedules and metrics); metrics get the module
    id as a suffix (``stats/explained_variance/<module id>``). The learner
    sums the modules' losses into one optimiser step (see ``Learner``).

    Args:
        algorithms: Module id -> algorithm, for the modules that train.
        minibatches: ``joint``: each optimiser step sums every module's loss on a slice of its
            batch; ``per_module``: one module's minibatches after another's.
    """

    def __init__(self, algorithms: Mapping[str, Algorithm], *, minibatches: str = "joint") -> None:
        if not algorithms:
            raise ConfigError("multi_agent.modules_to_train: no module trains; name at least one")
        #: Module id -> algorithm.
        self.algorithms = dict(algorithms)
        #: How the learner makes minibatches of several modules' batches: ``joint`` or ``per_module``.
        self.minibatches = minibatches
        first = next(iter(self.algorithms.values()))
        #: Passes over each batch and samples per optimiser step (summed over modules): the first algorithm's.
        self.num_epochs: int = first.num_epochs
        self.minibatch_size: int | None = first.minibatch_size

    def on_iteration_start(self, env_steps: int) -> None:
        """Apply every algorithm's schedules."""
        for algorithm in self.algorithms.values():
            algorithm.on_iteration_start(env_steps)

    def postprocess(self, rollout: TensorDictBase, module: MultiRLModule) -> TensorDict:
        """Postprocess each trained module's rollout with its algorithm: ``{module id: batch}``."""
        return TensorDict(
            {mid: alg.postprocess(rollout.get(mid), module[mid]) for mid, alg in self.algorithms.items()},
            batch_size=[],
        )

    def iteration_metrics(self) -> dict[str, float]:
        """Return every algorithm's ``iteration_metrics``, keys suffixed with the module id."""
        return {f"{k}/{mid}": v for mid, alg in self.algorithms.items() for k, v in alg.iteration_metrics().items()}

    def state_dict(self) -> dict[str, Any]:
        """Return each algorithm's state, by module id."""
        return {mid: alg.state_dict() for mid, alg in self.algorithms.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore states returned by ``state_dict``."""
        for mid, alg in self.algorithms.items():
            alg.load_state_dict(state[mid])


def check_train_outputs(algorithm: Algorithm, module: RLModule, *, name: str | None = None) -> None:
    """Check that ``module.forward_train`` declares every output ``algorithm.loss`` reads.

    Compares ``algorithm.train_output_specs()`` with the module's
    ``output_specs_train()``: each key must be declared, with the same number
    of dims and a dtype both accept. A module that declares no train output
    spec is not checked here (its outputs are checked when ``forward_train``
    runs with checks on).

    Raises:
        ConfigError: Naming the module, the key and the algorithm, and the fix.

    """
    required = algorithm.train_output_specs()
    declared = module.io_spec("train", "output")
    if not required or not isinstance(declared, SpecDict):
        return
    who = f"algorithm {name!r} ({type(algorithm).__name__})" if name else type(algorithm).__name__
    mod = type(module).__name__
    for key, want in required.items():
        path = to_path(key)
        text = format_path(path)
        have = declared.get(path)
        if have is None:
            raise ConfigError(
                f"{mod}.forward_train does not return {text!r} {want.describe()}, which {who} reads in its loss; "
                f"return it from _forward_train and declare it in output_specs_train, or leave module unset "
                "to train the default module"
            )
        if not isinstance(have, TensorShape):
            continue
        # A stateful module's forward_train returns sequences: one more (time) dim than the loss names.
        ranks = (len(have.dims), len(want.dims) + (1 if module.is_stateful else 0))
        if Ellipsis not in have.dims and Ellipsis not in want.dims and ranks[0] != ranks[1]:
            seq = " with a time dim after b (the module is stateful)" if module.is_stateful else ""
            raise ConfigError(
                f"{mod}.forward_train declares {text!r} as {have.describe()} but {who} reads it as "
                f"{want.describe()}{seq}; change output_specs_train and _forward_train to match"
            )
        if have.dtype is not None and want.dtype is not None and not set(_dtypes(have)) & set(_dtypes(want)):
            raise ConfigError(
                f"{mod}.forward_train declares {text!r} with dtype {have!r} but {who} needs {want!r}; "
                "return a dtype the algorithm accepts"
            )


def _dtypes(shape: TensorShape) -> tuple[torch.dtype, ...]:
    dtype = shape.dtype
    return dtype if isinstance(dtype, tuple) else (dtype,) if dtype is not None else ()
