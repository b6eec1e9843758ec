"""rl8-core: the framework (RLModule, plugins, registry, runners, learner, Trainer).

The built-in components live in ``rl8_plugins`` and reach the core only
through the ``rl8`` entry-point group and the registry, as a third party's do.

Examples:
    >>> from rl8_core import get_registry
    >>> "categorical" in get_registry().names("distribution")
    True
"""

from __future__ import annotations

from rl8_core._algorithm import Algorithm
from rl8_core._columns import Columns
from rl8_core._config import config_from_mapping, config_to_dict, describe_config, field_docs
from rl8_core._distribution import Distribution
from rl8_core._encoder import ACTIVATIONS, Encoder, FlattenObs, build_mlp, get_activation
from rl8_core._env import BatchedEnv
from rl8_core._files import atomic_directory, atomic_write_text
from rl8_core._gym_env import GymVectorEnv
from rl8_core._hookspecs import HOOKS, hookimpl
from rl8_core._learner import Learner, LearnerConfig, resolve_device
from rl8_core._module import CatalogProtocol, RLModule, RLModuleSpec
from rl8_core._normalizer import ObsNormalizer, RunningMeanStd
from rl8_core._registry import (
    BUILTIN_DISTRIBUTION,
    ENTRY_POINT_GROUP,
    ComponentInfo,
    PluginInfo,
    Registry,
    get_registry,
    import_object,
    is_import_path,
    reset_registry,
    set_registry,
    using_registry,
)
from rl8_core._runner import EpisodeStats, Runner, evaluate
from rl8_core._schedule import Schedule
from rl8_core._stopping import EnvSteps, Plateau, ReturnReached, StopCondition, WallTime
from rl8_core._tracking import Tracker
from rl8_core._train_config import (
    QUICKSTART,
    CheckpointConfig,
    EvalConfig,
    StopConfig,
    TrackingConfig,
    TrainConfig,
    apply_overrides,
)
from rl8_core._trainer import Trainer, make_env, seed_everything
from rl8_core.errors import CheckpointError, ConfigError, PluginError, UnknownComponentError

__all__ = [
    "ACTIVATIONS",
    "BUILTIN_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "HOOKS",
    "QUICKSTART",
    "Algorithm",
    "BatchedEnv",
    "CatalogProtocol",
    "CheckpointConfig",
    "CheckpointError",
    "Columns",
    "ComponentInfo",
    "ConfigError",
    "Distribution",
    "Encoder",
    "EnvSteps",
    "EpisodeStats",
    "EvalConfig",
    "FlattenObs",
    "GymVectorEnv",
    "Learner",
    "LearnerConfig",
    "ObsNormalizer",
    "Plateau",
    "PluginError",
    "PluginInfo",
    "RLModule",
    "RLModuleSpec",
    "Registry",
    "ReturnReached",
    "Runner",
    "RunningMeanStd",
    "Schedule",
    "StopCondition",
    "StopConfig",
    "Tracker",
    "TrackingConfig",
    "TrainConfig",
    "Trainer",
    "UnknownComponentError",
    "WallTime",
    "apply_overrides",
    "atomic_directory",
    "atomic_write_text",
    "build_mlp",
    "config_from_mapping",
    "config_to_dict",
    "describe_config",
    "evaluate",
    "field_docs",
    "get_activation",
    "get_registry",
    "hookimpl",
    "import_object",
    "is_import_path",
    "make_env",
    "reset_registry",
    "resolve_device",
    "seed_everything",
    "set_registry",
    "using_registry",
]
