"""Where a ``TrainConfig`` becomes live parts: classes resolved once, options validated, device, threads, seeds.

Everything that reads a config's component names lives here, so the
``Trainer``, ``rl8 train --help`` and config validation agree on which
algorithm, module and catalog a config means.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator

from rl8_core.components.algorithm import Algorithm
from rl8_core.components.module import RLModule
from rl8_core.config import check_options, config_from_mapping
from rl8_core.envs.make import GYMNASIUM_ID, resolve_env
from rl8_core.errors import ConfigError
from rl8_core.imports import import_object
from rl8_core.plugins.registry import ComponentInfo, Registry
from rl8_core.training.config import TrainConfig

__all__ = ["TrainParts", "default_module_of", "resolve_device", "resolve_parts", "seed_everything", "set_num_threads"]


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
    ``default_module()``, else (``None``) the default algorithm's, which with the
    built-in plugins is the actor-critic module; the catalog is ``config.catalog`` if named, else the
    algorithm's default catalog when the module is the default too, else
    ``None`` (the module class's own ``default_catalog_class``). A typo deep in
    ``algorithm_config`` or ``model_config`` fails here, before any env starts:
    ``model_config`` through the catalog's ``check_model_config`` when it has
    one (options of the components it names), else its ``config_class``.

    Raises:
        UnknownComponentError: For an unknown algorithm.
        ConfigError: For invalid ``algorithm_config`` or ``model_config`` options, a
            ``module`` that is not an ``RLModule`` subclass, or no ``module`` when
            neither the algorithm nor the default algorithm has a default module.
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
        module_class, catalog_class = default_module_of(alg_cls, registry, name=config.algorithm)
    else:
        module_class, catalog_class = import_object(config.module), None
        if not (isinstance(module_class, type) and issubclass(module_class, RLModule)):
            raise ConfigError(f"module: {config.module!r} is not an RLModule subclass")
    _check_env_config(config, registry)
    if config.catalog is not None:
        catalog_class = import_object(config.catalog)
        missing = [m for m in _CATALOG_METHODS if not callable(getattr(catalog_class, m, None))]
        if not isinstance(catalog_class, type) or missing:
            raise ConfigError(
                f"catalog: {config.catalog!r} is not a catalog class (it lacks {', '.join(missing) or 'a class'}); "
                "name a subclass of catalogs.Catalog, or leave catalog unset"
            )
    catalog = catalog_class or module_class.default_catalog_class
    check_model_config = getattr(catalog, "check_model_config", None)
    model_config_class = getattr(catalog, "config_class", None)
    if callable(check_model_config):
        check_model_config(config.model_config, registry=registry)
    elif model_config_class is not None:
        config_from_mapping(model_config_class, config.model_config, path="model_config")
    return TrainParts(algorithm, alg_config, module_class, catalog_class)


def _check_env_config(config: TrainConfig, registry: Registry) -> None:
    """Check ``env_config`` against the env factory's signature, before any env starts.

    For a gymnasium id the options ``make_gymnasium_env`` does not name go to
    ``gymnasium.make``, so they are checked against it and the id's entry point.
    """
    info = resolve_env(config.env, registry)
    if info.plugin != GYMNASIUM_ID:
        what = f"env {info.name!r} of plugin {info.source_text()}"
        check_options(info.obj, config.env_config, path="env_config", what=what, reserved=_ENV_ARGS)
        return
    what = f"gymnasium env {config.env!r}"
    own = inspect.signature(info.obj).parameters
    named = {k: v for k, v in config.env_config.items() if k in own}
    check_options(info.obj, named, path="env_config", what=what, reserved=(*_ENV_ARGS, "id"))
    rest = {k: v for k, v in config.env_config.items() if k not in own}
    if not rest or "factory" in named:
        return
    try:
        spec = gym.spec(config.env.rpartition(":")[2])  # ``module:EnvId``: resolve_env imported the module
        entry_point = spec.entry_point
        creator = entry_point if callable(entry_point) else load_env_creator(str(entry_point))
    except Exception:  # resolved only by gymnasium.make (e.g. a module to import first): it reports there
        return
    # Options ``gymnasium.make`` takes itself, then those of the env it builds.
    make_options = [k for k in inspect.signature(gym.make).parameters if k not in ("id", "kwargs")]
    env_options = {k: v for k, v in rest.items() if k not in make_options}
    known = [k for k in own if k not in (*_ENV_ARGS, "id", "make_kwargs")] + make_options
    check_options(creator, env_options, path="env_config", what=what, reserved=("self",), accepted=known)


#: What the core calls on a catalog (``CatalogProtocol``).
_CATALOG_METHODS = ("get_action_dist_cls", "get_action_dist_config", "get_action_mask_key", "components")

#: What rl8-core passes to every env factory itself.
_ENV_ARGS = ("num_envs", "seed", "device")


def default_module_of(
    alg_cls: type[Algorithm], registry: Registry, *, name: str | None = None
) -> tuple[type[RLModule], Callable[..., Any] | None]:
    """Return ``(module_class, catalog_class)`` for an algorithm whose config names no module.

    The algorithm's ``default_module()``, else the default algorithm's (with the
    built-in plugins, the actor-critic module and catalog).

    Raises:
        ConfigError: If neither has one (e.g. the built-in ``ppo`` is disabled).

    Examples:
        >>> from rl8_core import get_registry
        >>> module, catalog = default_module_of(get_registry().get("algorithm", "ppo"), get_registry())
        >>> module.__name__, catalog.__name__
        ('ActorCriticModule', 'ActorCriticCatalog')
    """
    name = name or alg_cls.__name__
    default = alg_cls.default_module()
    fallback = TrainConfig.algorithm
    if default is None and name != fallback and fallback in registry.names("algorithm"):
        default = registry.get("algorithm", fallback).default_module()
    if default is None:
        raise ConfigError(
            f"module: algorithm {name!r} ({alg_cls.__name__}) has no default module and neither has the "
            f"default algorithm {fallback!r}; name an RLModule subclass with --set module=package.module:Class "
            "(or module: in the config file), or return one from the algorithm's default_module()"
        )
    return default


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into ``cuda`` when available, else ``cpu``; pass others through.

    Raises:
        ConfigError: For a CUDA device this machine does not have.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {str(device)!r} but this machine has no CUDA device torch can use; use auto or cpu")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device: {str(device)!r} but there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...); pick one"
        )
    return resolved


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
