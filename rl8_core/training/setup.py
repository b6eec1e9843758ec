"""Where a ``TrainConfig`` becomes live parts: classes resolved once, options validated, device, threads, seeds.

Everything that reads a config's component names lives here, so the
``Trainer``, ``rl8 train --help`` and config validation agree on which
algorithm, module and catalog a config means.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rl8_core.components.algorithm import Algorithm
from rl8_core.components.module import RLModule
from rl8_core.config import config_from_mapping
from rl8_core.errors import ConfigError
from rl8_core.imports import import_object
from rl8_core.plugins.registry import ComponentInfo, Registry
from rl8_core.training.config import TrainConfig

__all__ = ["TrainParts", "resolve_device", "resolve_parts", "seed_everything", "set_num_threads"]


@dataclass(frozen=True)
class TrainParts:
    """The classes a config names, resolved once, with their option sections validated."""

    #: The algorithm component, with provenance.
    algorithm: ComponentInfo
    #: ``algorithm_config`` validated into the algorithm's ``config_class``.
    algorithm_config: Any
    #: The ``RLModule`` subclass: ``config.module`` or the algorithm's default.
    module_class: type[RLModule]
    #: The catalog class: ``config.catalog``, the algorithm's default, or ``None`` (the module's own default).
    catalog_class: Callable[..., Any] | None

    @property
    def algorithm_class(self) -> type[Algorithm]:
        """The ``Algorithm`` subclass."""
        cls: type[Algorithm] = self.algorithm.obj
        return cls

    def build_algorithm(self) -> Algorithm:
        """Return the algorithm, built from the validated options."""
        return self.algorithm_class(self.algorithm_config)


def resolve_parts(config: TrainConfig, registry: Registry) -> TrainParts:
    """Resolve a config's algorithm, module and catalog, and validate their option sections.

    The module is ``config.module`` if named, else the algorithm's
    ``default_module()``; the catalog is ``config.catalog`` if named, else the
    algorithm's default catalog when the module is the default too, else
    ``None`` (the module class's own ``default_catalog_class``). A typo deep in
    ``algorithm_config`` or ``model_config`` fails here, before any env starts.

    Raises:
        UnknownComponentError: For an unknown algorithm.
        ConfigError: For invalid ``algorithm_config`` or ``model_config`` options, a
            ``module`` that is not an ``RLModule`` subclass, or no ``module`` for an
            algorithm without a ``default_module()``.
        ImportError: For a ``module``/``catalog`` import path that does not import.

    Examples:
        >>> from rl8_core import get_registry
        >>> parts = resolve_parts(TrainConfig(), get_registry())
        >>> parts.algorithm.name, parts.module_class.__name__, parts.algorithm_config.gamma
        ('ppo', 'ActorCriticModule', 0.99)
    """
    algorithm = registry.resolve("algorithm", config.algorithm)
    alg_cls: type[Algorithm] = algorithm.obj
    alg_config = config_from_mapping(alg_cls.config_class, config.algorithm_config, path="algorithm_config")
    catalog_class: Callable[..., Any] | None
    if config.module is None:
        try:
            module_class, catalog_class = alg_cls.default_module()
        except NotImplementedError as exc:
            raise ConfigError(
                f"module: algorithm {config.algorithm!r} ({alg_cls.__name__}) has no default module; name an "
                "RLModule subclass with --set module=package.module:Class (or module: in the config file), "
                "or override default_module() in the algorithm plugin"
            ) from exc
    else:
        module_class, catalog_class = import_object(config.module), None
        if not (isinstance(module_class, type) and issubclass(module_class, RLModule)):
            raise ConfigError(f"module: {config.module!r} is not an RLModule subclass")
    if config.catalog is not None:
        catalog_class = import_object(config.catalog)
    model_config_class = getattr(catalog_class or module_class.default_catalog_class, "config_class", None)
    if model_config_class is not None:
        config_from_mapping(model_config_class, config.model_config, path="model_config")
    return TrainParts(algorithm, alg_config, module_class, catalog_class)


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into ``cuda`` when available, else ``cpu``; pass others through.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_num_threads(num_threads: int | None) -> int | None:
    """Apply ``torch.set_num_threads(num_threads)`` if given; return the previous count to restore, or ``None``."""
    if num_threads is None:
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    return previous
