"""``TrainConfig`` and its sections: everything a training run needs, as pure data from YAML, JSON or code."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from rl8_core.config import FieldError, check_range, config_from_mapping, config_to_dict, parse_scalar
from rl8_core.errors import ConfigError
from rl8_core.training.guards import GuardsConfig
from rl8_core.training.learner import LearnerConfig

__all__ = [
    "QUICKSTART",
    "QUICKSTART_RUN",
    "QUICKSTART_TUNING",
    "CheckSpecs",
    "CheckpointConfig",
    "EvalConfig",
    "MultiAgentConfig",
    "RecordConfig",
    "ScaleConfig",
    "StopConfig",
    "TrackingConfig",
    "TrainConfig",
    "apply_overrides",
    "quickstart_mapping",
    "spec_checks_on",
]

#: When spec checks run during training: the first iteration only, always, or never.
CheckSpecs = Literal["first", "always", "never"]


def spec_checks_on(policy: CheckSpecs, iteration: int) -> bool:
    """Return whether spec checks run in iteration ``iteration`` (0 is the first) under ``policy``.

    ``first`` checks the first iteration only: a mistake shows at once, then
    checks cost nothing.

    Examples:
        >>> [spec_checks_on("first", i) for i in (0, 1)], spec_checks_on("always", 5)
        ([True, False], True)
    """
    return policy == "always" or (policy == "first" and iteration == 0)


@dataclass(frozen=True, kw_only=True)
class StopConfig:
    """When ``Trainer.run`` stops (``stop:``); the first condition met ends the run."""

    return_mean: float | None = None
    """Stop once the mean return of the last ``window`` finished episodes reaches this."""
    eval_return_mean: float | None = None
    """If set, reaching ``return_mean`` triggers a deterministic evaluation and the run stops only
    once that evaluation reaches this too (a sampling policy can look solved before its greedy one is)."""
    window: int = 20
    """Finished episodes averaged for ``episodes/return_mean``."""
    env_steps: int | None = 100_000
    """Stop after this many env steps."""
    wall_time_s: float | None = None
    """Stop after this many seconds of training."""
    plateau_iterations: int | None = None
    """Stop when ``episodes/return_mean`` has not improved by ``plateau_min_delta`` for this many iterations."""
    plateau_min_delta: float = 0.0
    """Improvement that resets the plateau counter."""

    def __post_init__(self) -> None:
        check_range(self, "window", ge=1)
        check_range(self, "env_steps", ge=1)
        check_range(self, "wall_time_s", gt=0)
        check_range(self, "plateau_iterations", ge=1)
        check_range(self, "plateau_min_delta", ge=0)


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """Evaluation after training and with ``rl8 eval`` (``eval:``)."""

    episodes: int = 10
    """Episodes per evaluation."""
    num_envs: int = 10
    """Envs stepped in parallel while evaluating."""
    deterministic: bool = True
    """Act with ``forward_inference`` (deterministic) rather than by sampling."""
    every: int = 0
    """Evaluate every this many iterations during training (0: only at the end)."""
    at_end: bool = True
    """Evaluate once when ``run`` finishes."""

    def __post_init__(self) -> None:
        # Checked at the start: an evaluation runs only after all the training.
        check_range(self, "episodes", ge=1)
        check_range(self, "num_envs", ge=1)
        check_range(self, "every", ge=0)


@dataclass(frozen=True, kw_only=True)
class TrackingConfig:
    """MLflow tracking (``tracking:``)."""

    enabled: bool = True
    """Log params, per-iteration metrics and the final checkpoint to MLflow."""
    uri: str | None = None
    """Tracking URI; ``null`` uses ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db`` in the working directory."""
    experiment: str = "rl8"
    """Experiment name."""
    run_name: str | None = None
    """Run name; ``null`` lets MLflow pick one."""
    artifact_location: str | None = None
    """Artifact root of a new experiment; ``null``: ``mlruns/<experiment>`` beside a sqlite database."""
    flush_every_s: float = 2.0
    """Send buffered metrics at most this often (training never waits on the store)."""
    log_model: bool = True
    """At the end of a run, log the final module as an MLflow model (``model`` under the run)."""
    registered_model_name: str | None = None
    """Also register that model under this name in the MLflow model registry (``models:/<name>/<version>``)."""
    log_curves: bool = True
    """At the end of a run, draw learning curves (PNG): logged to the run and written beside the final checkpoint."""

    def __post_init__(self) -> None:
        # The metric writer waits this long for work: 0, negative or non-finite would kill it silently.
        check_range(self, "flush_every_s", gt=0)


@dataclass(frozen=True, kw_only=True)
class RecordConfig:
    """Video clips of the trained policy (``record:``); ``rl8 record`` takes the same options on the command line."""

    at_end: bool = False
    """Record a clip of the final policy when ``run`` finishes: written beside the checkpoint, logged to the run."""
    episodes: int = 1
    """Episodes played in the clip."""
    fps: int = 30
    """Frames per second of the clip."""
    max_steps: int = 1000
    """Stop the clip after this many steps in all, even mid-episode."""
    deterministic: bool = True
    """Act with ``forward_inference`` rather than by sampling."""
    format: Literal["mp4", "gif"] = "mp4"
    """Video format of the clip logged at the end."""

    def __post_init__(self) -> None:
        check_range(self, "episodes", ge=1)
        check_range(self, "fps", ge=1)
        check_range(self, "max_steps", ge=1)


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    """Checkpoints (``checkpoint:``)."""

    dir: str = "checkpoints"
    """Directory for checkpoints; each run writes into its own subdirectory."""
    every: int = 0
    """Save every this many iterations (0: only at the end)."""
    keep: int = 3
    """Keep at most this many periodic checkpoints, at least 1 (the final one is always kept)."""
    at_end: bool = True
    """Save when ``run`` finishes."""

    def __post_init__(self) -> None:
        check_range(self, "every", ge=0)
        if self.keep < 1:
            # The newest periodic checkpoint is what a killed run resumes from; it is never deleted.
            raise FieldError("keep", f"must be >= 1 (to save only at the end, set every: 0 instead), got {self.keep}")


#: What ``multi_agent.modules.<module id>`` may set for one module.
MODULE_OPTIONS = ("module", "catalog", "model_config", "checkpoint")


@dataclass(frozen=True, kw_only=True)
class MultiAgentConfig:
    """Multi-agent runs (``multi_agent:``): which module each agent acts with, and which modules train.

    Used when the env is a ``MultiAgentBatchedEnv``; ignored otherwise.
    """

    policy_mapping: Mapping[str, str] | str | None = None
    """Agent -> module: ``null`` (one ``default`` module for every agent), ``{agent or glob: module}``,
    a module id pattern (``"{agent}"``: a module per agent), or ``package.module:function``."""
    modules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per module id: ``module``, ``catalog``, ``model_config`` (merged over the top-level one) and
    ``checkpoint`` (a module directory whose weights it starts from, e.g. an older snapshot)."""
    modules_to_train: tuple[str, ...] | None = None
    """Module ids that train; the others act but stay frozen (opponents, snapshots). ``null``: all."""
    shared: tuple[str, ...] = ()
    """Parts every module shares, by attribute name (``pi_encoder`` of the default module)."""
    agent_id_obs: bool = False
    """Add a one-hot of the agent's index to its observation (parameter sharing with agent identity)."""
    minibatches: Literal["joint", "per_module"] = "joint"
    """``joint``: each optimiser step sums every module's loss; ``per_module``: a module's steps after another's."""

    def __post_init__(self) -> None:
        for mid, options in self.modules.items():
            if not isinstance(options, Mapping):
                raise FieldError("modules", f"{mid}: expected a mapping of {', '.join(MODULE_OPTIONS)}")
            unknown = sorted(set(options) - set(MODULE_OPTIONS))
            if unknown:
                raise FieldError("modules", f"{mid}.{unknown[0]}: unknown option; known: {', '.join(MODULE_OPTIONS)}")


@dataclass(frozen=True, kw_only=True)
class ScaleConfig:
    """Beyond one process (``scale:``): env runners on Ray and data-parallel learners on ``torch.distributed``.

    All optional: by default the trainer's process steps the envs and updates the module itself.
    """

    env_runners: int = 0
    """Ray actors that step envs, each with its own env and a CPU copy of the module (0: this process steps them)."""
    num_envs_per_runner: int | None = None
    """Envs per env runner; ``null``: ``num_envs`` split evenly over the runners (the same rollout as one process)."""
    learners: int = 1
    """Data-parallel learner processes (gloo on the CPU; NCCL with one GPU each when ``device`` is CUDA)."""
    ray_address: str = "local"
    """``local`` starts Ray in this process (all CPUs of the machine); ``auto`` or ``host:port`` joins a cluster."""
    runner_resources: Mapping[str, float] = field(default_factory=lambda: {"num_cpus": 1})
    """Ray resources of each env runner: ``num_cpus`` (fractions share a CPU), ``num_gpus``, custom resources."""
    max_restarts: int = 3
    """Restarts of one env runner in a row (a dead process, a crashed env) before the run stops with a checkpoint."""

    def __post_init__(self) -> None:
        check_range(self, "env_runners", ge=0)
        check_range(self, "num_envs_per_runner", ge=1)
        check_range(self, "learners", ge=1)
        check_range(self, "max_restarts", ge=0)
        for key, value in self.runner_resources.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise FieldError("runner_resources", f"{key}: expected a number >= 0, got {value!r}")
        if not self.ray_address:
            raise FieldError("ray_address", "expected local, auto or host:port")


#: The algorithm-independent part of the quickstart: env, rollout size, stop conditions and the algorithm it
#: trains unless ``--set algorithm=...`` names another.
QUICKSTART_RUN: dict[str, Any] = {
    "env": "CartPole-v1",
    "num_envs": 32,
    "horizon": 32,
    "algorithm": "ppo",
    "stop": {"return_mean": 475.0, "eval_return_mean": 475.0, "env_steps": 200_000},
}

#: The quickstart's settings tuned for one algorithm, keyed by the algorithm's registry name; they apply only when
#: the quickstart trains that algorithm, so another algorithm starts from its own defaults.
QUICKSTART_TUNING: dict[str, dict[str, Any]] = {
    "ppo": {
        "algorithm_config": {"gamma": 0.99, "gae_lambda": 0.95, "num_epochs": 4, "minibatch_size": 256},
        "learner": {"lr": 4.0e-3},
    },
    # A2C takes one gradient step per rollout, so it needs short rollouts for many steps (its tuning overrides the
    # quickstart's rollout size), a high learning rate without the global-norm clip (the value loss's gradient
    # would dominate the norm and shrink the policy's) and an entropy bonus against early collapse. Over seeds 0-6
    # on the torch-native cartpole it solves in 36k-121k env steps (tests/rl8_plugins/test_a2c.py runs seed 0).
    "a2c": {
        "num_envs": 16,
        "horizon": 8,
        "algorithm_config": {"gamma": 0.99, "gae_lambda": 1.0, "ent_coef": 0.01},
        "learner": {"lr": 5.0e-3, "max_grad_norm": None},
    },
}


def quickstart_mapping(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Return the quickstart as plain data with ``key=value`` overrides applied.

    The tuning of ``QUICKSTART_TUNING`` for the algorithm the overrides leave
    in place is applied first, then the overrides, so ``--set`` always wins.

    Examples:
        >>> quickstart_mapping(["algorithm=acme_a2c"]).get("algorithm_config")
        >>> quickstart_mapping(["algorithm_config.num_epochs=2"])["algorithm_config"]["num_epochs"]
        2
    """
    algorithm = apply_overrides(QUICKSTART_RUN, overrides).get("algorithm")
    tuning = QUICKSTART_TUNING.get(algorithm, {}) if isinstance(algorithm, str) else {}
    return apply_overrides({**QUICKSTART_RUN, **copy.deepcopy(tuning)}, overrides)


#: The run ``rl8 train`` does with no config (``TrainConfig.quickstart``); see ``examples/cartpole.yaml``.
#: Tuned for wall time to solve on a CPU: 32 envs x 32 steps per rollout, four
#: minibatches of 256 for 4 epochs and a high learning rate; over seeds 0-5 it solves
#: gymnasium's CartPole-v1 in 34k-44k env steps (see benchmarks/cartpole_solve.py).
#: It is ``QUICKSTART_RUN`` with the PPO part of ``QUICKSTART_TUNING``.
QUICKSTART: dict[str, Any] = {**QUICKSTART_RUN, **QUICKSTART_TUNING["ppo"]}


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run: env, algorithm, module, learner, stopping, tracking and checkpoints.

    Components are named by registry name or import path. ``from_file`` reads
    YAML or JSON; unknown keys and wrong types are rejected with the dotted key.

    Examples:
        >>> cfg = TrainConfig.from_mapping({"env": "CartPole-v1", "learner": {"lr": 1e-3}})
        >>> cfg.learner.lr, cfg.algorithm
        (0.001, 'ppo')
        >>> TrainConfig.from_mapping({"lerner": {}})
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: config: unknown key 'lerner' (did you mean 'learner'?); known keys: ...
    """

    env: str = "CartPole-v1"
    """Env: a registry name (``cartpole``), an import path, or a gymnasium id (``CartPole-v1``)."""
    env_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for the env factory (for gymnasium ids: ``gymnasium.make`` kwargs, ``vectorization``)."""
    num_envs: int = 8
    """Envs stepped together."""
    horizon: int = 32
    """Steps per env per iteration (a rollout is ``horizon x num_envs`` steps)."""
    algorithm: str = "ppo"
    """Algorithm by registry name or import path."""
    algorithm_config: Mapping[str, Any] = field(default_factory=dict)
    """Options of the algorithm, validated by its config class."""
    module: str | None = None
    """RLModule class by import path; ``null`` uses the algorithm's default."""
    catalog: str | None = None
    """Catalog class by import path; ``null`` uses the algorithm's default."""
    model_config: Mapping[str, Any] = field(default_factory=dict)
    """Options of the module and catalog (``encoder``, ``encoder_config``, ``normalize_obs``, ...)."""
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    """Optimiser and update options."""
    stop: StopConfig = field(default_factory=StopConfig)
    """Stop conditions of ``run``."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation options."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """MLflow options."""
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    """Checkpoint options."""
    record: RecordConfig = field(default_factory=RecordConfig)
    """Video clip of the final policy."""
    guards: GuardsConfig = field(default_factory=GuardsConfig)
    """Finite checks of env data, optimiser steps and weights."""
    multi_agent: MultiAgentConfig = field(default_factory=MultiAgentConfig)
    """Agents to modules and which modules train (multi-agent envs)."""
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    """Env runners on Ray and data-parallel learners."""
    seed: int = 0
    """Seed of torch, the envs and everything else random."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    env_device: str | None = None
    """Device of torch-native envs; ``null`` uses ``device``."""
    check_specs: CheckSpecs = "first"
    """Spec checks: during the first iteration only, always, or never."""
    progress: Literal["auto", "rich", "plain", "none"] = "auto"
    """Progress display: a live bar on a terminal, periodic lines otherwise."""
    num_threads: int | None = None
    """``torch.set_num_threads`` for the run; ``null`` keeps torch's default."""

    def __post_init__(self) -> None:
        check_range(self, "num_envs", ge=1)
        check_range(self, "horizon", ge=1)
        check_range(self, "num_threads", ge=1)
        for name in ("device", "env_device"):
            value = getattr(self, name)
            if value is None or value == "auto":
                continue
            try:
                torch.device(value)
            except (RuntimeError, ValueError):
                expected = "expected auto, cpu, cuda, cuda:<index> or another torch device"
                raise FieldError(name, f"{expected}, got {value!r}") from None

    @classmethod
    def quickstart(cls, overrides: Sequence[str] = ()) -> TrainConfig:
        """Return what ``rl8 train`` runs without a config: PPO tuned to solve CartPole-v1 fast.

        Same as ``examples/cartpole.yaml``. It stops once the last 20 episodes
        average 475 (or after 200k env steps) and evaluates 10 episodes.
        ``key=value`` overrides apply as ``--set`` does; the PPO tuning
        (``QUICKSTART_TUNING``) applies only while the algorithm is ``ppo``.

        Raises:
            ConfigError: For overrides with unknown keys or wrong types; the message says it is the quickstart.

        Examples:
            >>> TrainConfig.quickstart().env
            'CartPole-v1'
            >>> TrainConfig.quickstart(["algorithm=acme_a2c"]).algorithm_config
            {}
        """
        try:
            return cls.from_mapping(quickstart_mapping(overrides), path="quickstart")
        except ConfigError as exc:
            raise ConfigError(
                f"{exc} (quickstart: the config rl8 train runs without a config file, with --set applied)"
            ) from exc

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: str = "config") -> TrainConfig:
        """Validate a plain mapping (parsed YAML/JSON) into a ``TrainConfig``."""
        return config_from_mapping(cls, data, path=path)

    @classmethod
    def from_file(cls, path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
        """Read a YAML (``.yaml``/``.yml``) or JSON file, apply ``key=value`` overrides, validate.

        Raises:
            ConfigError: For unreadable files, unknown keys and wrong types.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"cannot read config {path}: it is not UTF-8 text (byte {exc.start}); give a YAML or JSON file"
            ) from None
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys) if path.suffix == ".json" else _load_yaml(text)
        except (json.JSONDecodeError, yaml.YAMLError, _DuplicateKey) as exc:
            raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of options, got {type(data).__name__}")
        return cls.from_mapping(apply_overrides(data, overrides), path=path.name)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain data (what ``to_yaml`` writes)."""
        return config_to_dict(self)

    def to_yaml(self) -> str:
        """Return the config as YAML that ``from_file`` reads back."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a validated copy with top-level fields replaced (sections may be given as mappings).

        Examples:
            >>> TrainConfig().replace(seed=3, eval={"at_end": False}).eval.at_end
            False
        """
        return self.from_mapping({**self.to_dict(), **changes}, path="replace")


class _DuplicateKey(ValueError):
    """A config file sets one key twice (YAML and JSON both keep the last silently)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise _DuplicateKey(f"duplicate key {key!r} on line {line} (the file sets it twice)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r} (the file sets it twice)")
        out[key] = value
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return ``data`` with ``key.sub=value`` overrides applied (values read by ``parse_scalar``).

    Examples:
        >>> apply_overrides({"learner": {"lr": 1.0}}, ["learner.lr=3e-4", "seed=2"])
        {'learner': {'lr': 0.0003}, 'seed': 2}
    """
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. learner.lr=3e-4)")
        target = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a mapping")
            target = nxt
        target[parts[-1]] = parse_scalar(value)
    return out
