"""The ``Algorithm`` base class: what an algorithm plugin supplies to the learner."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from tensordict import TensorDictBase

from rl8_core.components.module import RLModule
from rl8_core.config import config_from_mapping
from rl8_core.errors import ConfigError

__all__ = ["Algorithm"]


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
    without those fields they are 1 and ``None``. ``default_module`` has no
    default: without an override, a config must name ``module``.

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
    def default_module(cls) -> tuple[type[RLModule], Callable[..., Any] | None]:
        """Return ``(module_class, catalog_class)`` used when the config names none.

        Override it so a config may leave out ``module``; without an override a
        config must name one, or training stops with a ``ConfigError``.
        """
        raise NotImplementedError(f"{cls.__name__} has no default module; name one in the config")

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
