"""rl8-core: the framework (RLModule, plugins, registry, runners, learner, Trainer).

The built-in components live in ``rl8_plugins`` and reach the core only
through the ``rl8`` entry-point group and the registry, as a third party's do.

Examples:
    >>> from rl8_core import get_registry
    >>> "categorical" in get_registry().names("distribution")
    True
"""

from __future__ import annotations

from rl8_core.columns import Columns, Metrics
from rl8_core.components.algorithm import Algorithm, AlgorithmGroup, check_train_outputs
from rl8_core.components.distribution import Distribution
from rl8_core.components.encoder import (
    ACTIVATIONS,
    Encoder,
    FlattenObs,
    RecurrentEncoder,
    build_mlp,
    get_activation,
)
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import CatalogProtocol, RLModule, RLModuleSpec
from rl8_core.components.multi_env import ALL_DONE, AgentIdObs, MultiAgentBatchedEnv, check_agent_ids
from rl8_core.components.multi_module import DEFAULT_MODULE_ID, MultiRLModule, MultiRLModuleSpec, load_module
from rl8_core.components.normalizer import ObsNormalizer, RunningMeanStd
from rl8_core.components.returns import compute_gae, next_values, standardize_advantages, training_batch
from rl8_core.components.sequences import cut_sequences, reset_state, valid_steps
from rl8_core.config import (
    FieldError,
    check_options,
    check_range,
    config_from_mapping,
    config_to_dict,
    describe_config,
    field_docs,
)
from rl8_core.envs.gym import GymVectorEnv, make_gymnasium_env
from rl8_core.envs.make import make_env
from rl8_core.errors import (
    CheckpointError,
    ConfigError,
    EnvRunnerError,
    NonFiniteError,
    PluginError,
    Terminated,
    UnknownComponentError,
)
from rl8_core.files import atomic_directory, atomic_write_text
from rl8_core.imports import BUILTIN_DISTRIBUTION, import_object, is_import_path
from rl8_core.plugins.hookspecs import HOOKS, hookimpl
from rl8_core.plugins.registry import (
    ENTRY_POINT_GROUP,
    ComponentInfo,
    PluginInfo,
    Registry,
    get_registry,
    reset_registry,
    set_registry,
    using_registry,
)
from rl8_core.training.config import (
    QUICKSTART,
    CheckpointConfig,
    EvalConfig,
    MultiAgentConfig,
    RecordConfig,
    ScaleConfig,
    StopConfig,
    TrackingConfig,
    TrainConfig,
    apply_overrides,
)
from rl8_core.training.evaluate import evaluate
from rl8_core.training.guards import GuardsConfig
from rl8_core.training.learner import Learner, LearnerConfig
from rl8_core.training.multi_agent import MultiAgentRunner, evaluate_multi_agent, map_agents
from rl8_core.training.record import record_clip
from rl8_core.training.runner import EpisodeStats, Runner
from rl8_core.training.schedule import Schedule
from rl8_core.training.setup import TrainParts, resolve_device, resolve_parts, seed_everything
from rl8_core.training.stopping import EnvSteps, Plateau, ReturnReached, StopCondition, WallTime
from rl8_core.training.tracking import Tracker
from rl8_core.training.trainer import Trainer

__all__ = [
    "ACTIVATIONS",
    "ALL_DONE",
    "BUILTIN_DISTRIBUTION",
    "DEFAULT_MODULE_ID",
    "ENTRY_POINT_GROUP",
    "HOOKS",
    "QUICKSTART",
    "AgentIdObs",
    "Algorithm",
    "AlgorithmGroup",
    "BatchedEnv",
    "CatalogProtocol",
    "CheckpointConfig",
    "CheckpointError",
    "Columns",
    "ComponentInfo",
    "ConfigError",
    "Distribution",
    "Encoder",
    "EnvRunnerError",
    "EnvSteps",
    "EpisodeStats",
    "EvalConfig",
    "FieldError",
    "FlattenObs",
    "GuardsConfig",
    "GymVectorEnv",
    "Learner",
    "LearnerConfig",
    "Metrics",
    "MultiAgentBatchedEnv",
    "MultiAgentConfig",
    "MultiAgentRunner",
    "MultiRLModule",
    "MultiRLModuleSpec",
    "NonFiniteError",
    "ObsNormalizer",
    "Plateau",
    "PluginError",
    "PluginInfo",
    "RLModule",
    "RLModuleSpec",
    "RecordConfig",
    "RecurrentEncoder",
    "Registry",
    "ReturnReached",
    "Runner",
    "RunningMeanStd",
    "ScaleConfig",
    "Schedule",
    "StopCondition",
    "StopConfig",
    "Terminated",
    "Tracker",
    "TrackingConfig",
    "TrainConfig",
    "TrainParts",
    "Trainer",
    "UnknownComponentError",
    "WallTime",
    "apply_overrides",
    "atomic_directory",
    "atomic_write_text",
    "build_mlp",
    "check_agent_ids",
    "check_options",
    "check_range",
    "check_train_outputs",
    "compute_gae",
    "config_from_mapping",
    "config_to_dict",
    "cut_sequences",
    "describe_config",
    "evaluate",
    "evaluate_multi_agent",
    "field_docs",
    "get_activation",
    "get_registry",
    "hookimpl",
    "import_object",
    "is_import_path",
    "load_module",
    "make_env",
    "make_gymnasium_env",
    "map_agents",
    "next_values",
    "record_clip",
    "reset_registry",
    "reset_state",
    "resolve_device",
    "resolve_parts",
    "seed_everything",
    "set_registry",
    "standardize_advantages",
    "training_batch",
    "using_registry",
    "valid_steps",
]
