"""``Trainer``: runs an algorithm on an env with tracking, checkpoints and progress."""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl8_core._algorithm import Algorithm
from rl8_core._columns import Columns
from rl8_core._env import BatchedEnv
from rl8_core._files import atomic_directory, atomic_write_text
from rl8_core._learner import Learner, resolve_device
from rl8_core._module import RLModule, RLModuleSpec
from rl8_core._progress import ProgressDisplay
from rl8_core._registry import ComponentInfo, Registry, get_registry, import_object, is_import_path
from rl8_core._runner import Runner, evaluate
from rl8_core._stopping import EnvSteps, Plateau, ReturnReached, StopCondition, WallTime
from rl8_core._tracking import Tracker
from rl8_core._train_config import TrainConfig
from rl8_core.errors import CheckpointError, UnknownComponentError
from specs import checking

__all__ = ["Trainer", "make_env", "seed_everything"]

logger = logging.getLogger(__name__)

_TRAINER_STATE = "trainer.pt"
_CONFIG_FILE = "config.yaml"
_META_FILE = "meta.json"
_MODULE_DIR = "module"
_LATEST = "latest"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _resolve_env(name: str, env_config: Mapping[str, Any], registry: Registry) -> tuple[ComponentInfo, dict[str, Any]]:
    kwargs = dict(env_config)
    if is_import_path(name) or name in registry.names("env"):
        return registry.info("env", name), kwargs
    import gymnasium as gym

    try:
        gym.spec(name)
    except gym.error.Error:
        try:
            registry.info("env", name)
        except UnknownComponentError as exc:
            raise UnknownComponentError(f"{exc} It is not a registered gymnasium id either.") from None
        raise
    return registry.info("env", "gymnasium"), {"id": name, **kwargs}


def make_env(
    name: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> BatchedEnv:
    """Build a ``BatchedEnv`` from a registry name, an import path or a gymnasium id.

    A gymnasium id (``CartPole-v1``) goes through the registry's ``gymnasium``
    env plugin, with ``env_config`` as its options.

    Examples:
        >>> env = make_env("cartpole", num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 4])
    """
    return _build_env(name, env_config, num_envs=num_envs, seed=seed, device=device, registry=registry)[0]


def _build_env(
    name: str,
    env_config: Mapping[str, Any] | None,
    *,
    num_envs: int,
    seed: int | None,
    device: str | torch.device,
    registry: Registry | None,
) -> tuple[BatchedEnv, ComponentInfo]:
    """Build the env and return it with the component it came from (for provenance)."""
    info, kwargs = _resolve_env(name, env_config or {}, registry or get_registry())
    env = info.obj(num_envs=num_envs, seed=seed, device=torch.device(device), **kwargs)
    if not isinstance(env, BatchedEnv):
        raise TypeError(f"env {name!r} ({info.source_text()}) returned {type(env).__name__}, not a BatchedEnv")
    return env, info


def _rng_state() -> dict[str, Any]:
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


def _find_checkpoint(path: Path) -> Path:
    """Accept a checkpoint directory or a run directory holding a ``latest`` pointer."""
    if (path / _TRAINER_STATE).is_file():
        return path
    latest = path / _LATEST
    if latest.is_file():
        return path / latest.read_text().strip()
    raise CheckpointError(f"{path} is neither a training checkpoint nor a run directory with a '{_LATEST}' file")


class Trainer:
    """Train a module with an algorithm on an env; track, checkpoint and evaluate.

    ``step()`` runs one iteration (collect a rollout, postprocess, update) and
    returns its metrics; ``run()`` repeats it until a stop condition holds, with
    MLflow tracking, a progress display, checkpoints and a final evaluation;
    ``eval()`` runs deterministic episodes.

    Args:
        config: A ``TrainConfig`` or a mapping validated into one (default: CartPole-v1).
        registry: Where components come from; defaults to ``get_registry()``.

    Examples:
        >>> trainer = Trainer({"env": "cartpole", "num_envs": 4, "horizon": 16,
        ...                    "tracking": {"enabled": False}, "progress": "none"})
        >>> result = trainer.step()
        >>> result["counters/env_steps"]
        64.0
    """

    def __init__(
        self, config: TrainConfig | Mapping[str, Any] | None = None, *, registry: Registry | None = None
    ) -> None:
        if config is None:
            config = TrainConfig()
        elif isinstance(config, Mapping):
            config = TrainConfig.from_mapping(config)
        self.config: TrainConfig = config
        self.registry = registry or get_registry()
        config.validate_components(self.registry)
        self._previous_threads: int | None = None
        if config.num_threads is not None:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(config.num_threads)
        self.device = resolve_device(config.device)
        self.env_device = resolve_device(config.env_device) if config.env_device else self.device
        seed_everything(config.seed)
        self._components: dict[tuple[str, str], ComponentInfo] = {}
        self.env = self.make_env(num_envs=config.num_envs, seed=config.seed)
        if self.env.device.type == "cpu" and self.device.type != "cpu":
            logger.info("env runs on cpu, module on %s: observations and actions are copied each step", self.device)
        alg_info = self.registry.resolve("algorithm", config.algorithm)
        self._components["algorithm", alg_info.name] = alg_info
        self.algorithm: Algorithm = alg_info.obj(config.algorithm_config)
        module_class, catalog_class = self._module_classes()
        self.module: RLModule = (
            RLModuleSpec(
                module_class,
                self.env.observation_spec,
                self.env.action_spec,
                config.model_config,
                catalog_class,
                registry=self.registry,
            )
            .build()
            .to(self.device)
        )
        self.learner = Learner(self.module, self.algorithm, config.learner)
        self.runner = Runner(
            self.env,
            self.module,
            horizon=config.horizon,
            check_specs=config.check_specs,
            seed=config.seed,
            autocast=self.learner.autocast,
        )
        self.iteration = 0
        self.env_steps = 0
        self.episodes = 0
        self.wall_s = 0.0
        self._returns: deque[float] = deque(maxlen=config.stop.window)
        self._lengths: deque[int] = deque(maxlen=config.stop.window)
        self._eval_env: BatchedEnv | None = None
        self.tracker: Tracker | None = None
        self.run_dir: Path | None = None
        self.last_result: dict[str, float] = {}
        #: The stop conditions that ended the last ``run``.
        self.stopped_by: list[str] = []
        self._periodic: list[Path] = []
        self._resume_run_id: str | None = None
        #: The MLflow run of the last ``run`` (kept after it ends), or ``None``.
        self.run_id: str | None = None

    def make_env(self, *, num_envs: int, seed: int | None) -> BatchedEnv:
        """Build an env of this run's kind (used for training and evaluation)."""
        env, info = _build_env(
            self.config.env,
            self.config.env_config,
            num_envs=num_envs,
            seed=seed,
            device=self.env_device,
            registry=self.registry,
        )
        self._components["env", info.name] = info
        return env

    def _module_classes(self) -> tuple[type[RLModule], Any]:
        default_module, default_catalog = self.algorithm.default_module()
        module_class = import_object(self.config.module) if self.config.module else default_module
        if self.config.catalog:
            catalog_class = import_object(self.config.catalog)
        elif self.config.module:
            catalog_class = None
        else:
            catalog_class = default_catalog
        return module_class, catalog_class

    def components(self) -> list[dict[str, str | None]]:
        """Describe every resolved component (env, algorithm, module parts) with provenance."""
        return [info.describe() for info in self._components.values()] + self.module.components()

    def step(self) -> dict[str, float]:
        """Run one iteration: collect, postprocess, update. Return its metrics.

        Metric names: ``episodes/*`` (mean return and length of the last
        ``stop.window`` finished episodes), ``losses/*`` and ``stats/*`` from the
        algorithm, ``learner/*``, ``perf/*`` (env steps/s, seconds per phase)
        and ``counters/*`` (iterations, env steps, episodes, training seconds).
        """
        start = time.perf_counter()
        self.algorithm.on_iteration_start(self.env_steps)
        self.learner.set_env_steps(self.env_steps)
        rollout = self.runner.collect()
        collected = time.perf_counter()
        checks = self.config.check_specs == "always" or (self.config.check_specs == "first" and self.iteration == 0)
        with checking(checks):
            batch = self.algorithm.postprocess(rollout, self.module)
            metrics = self.learner.update(batch)
        if self.module.obs_normalizer is not None:
            # After the update, so the update saw the statistics the rollout was collected with.
            self.module.obs_normalizer.update(rollout.get(Columns.OBS))
        end = time.perf_counter()
        self.iteration += 1
        steps = self.runner.steps_per_rollout
        self.env_steps += steps
        self.wall_s += end - start
        finished = self.runner.episodes
        self.episodes += len(finished)
        self._returns.extend(finished.returns)
        self._lengths.extend(finished.lengths)
        result: dict[str, float] = {
            **metrics,
            **self.algorithm.iteration_metrics(),
            "episodes/return_mean": float(np.mean(self._returns)) if self._returns else math.nan,
            "episodes/length_mean": float(np.mean(self._lengths)) if self._lengths else math.nan,
            "episodes/finished": float(len(finished)),
            "perf/env_steps_per_s": steps / (end - start),
            "perf/collect_s": collected - start,
            "perf/update_s": end - collected,
            "counters/iterations": float(self.iteration),
            "counters/env_steps": float(self.env_steps),
            "counters/episodes": float(self.episodes),
            "counters/wall_s": self.wall_s,
        }
        self.last_result = result
        if self.tracker is not None:
            self.tracker.log_metrics(result, step=self.env_steps)
        return result

    def eval(self, episodes: int | None = None, deterministic: bool | None = None) -> dict[str, float]:
        """Run evaluation episodes on a separate env and return ``eval/*`` statistics.

        Args:
            episodes: How many episodes (default ``eval.episodes``).
            deterministic: Act with ``forward_inference`` (default ``eval.deterministic``).
        """
        cfg = self.config.eval
        episodes = episodes or cfg.episodes
        if self._eval_env is None or self._eval_env.num_envs > episodes:
            if self._eval_env is not None:
                self._eval_env.close()
            self._eval_env = self.make_env(num_envs=min(cfg.num_envs, episodes), seed=self.config.seed + 10_000)
        result = evaluate(
            self.module,
            self._eval_env,
            episodes=episodes,
            deterministic=cfg.deterministic if deterministic is None else deterministic,
            seed=self.config.seed + 10_000 + self.iteration,
        )
        if self.tracker is not None:
            self.tracker.log_metrics(result, step=self.env_steps)
        return result

    def default_stop_conditions(self) -> list[StopCondition]:
        """Return the stop conditions of ``config.stop``."""
        stop = self.config.stop
        conds: list[StopCondition] = []
        if stop.eval_return_mean is not None:
            # ``run`` evaluates whenever the training return reaches ``return_mean``.
            conds.append(ReturnReached(stop.eval_return_mean, key="eval/return_mean"))
        elif stop.return_mean is not None:
            conds.append(ReturnReached(stop.return_mean))
        if stop.env_steps is not None:
            conds.append(EnvSteps(stop.env_steps))
        if stop.wall_time_s is not None:
            conds.append(WallTime(stop.wall_time_s))
        if stop.plateau_iterations is not None:
            conds.append(Plateau(stop.plateau_iterations, min_delta=stop.plateau_min_delta))
        return conds

    def start_tracking(self, run_id: str | None = None) -> None:
        """Start the MLflow run (done by ``run`` when tracking is enabled)."""
        if self.tracker is not None or not self.config.tracking.enabled:
            return
        self.tracker = Tracker(self.config.tracking)
        params: dict[str, Any] = dict(self.config.to_dict())
        params["components"] = {
            f"{c['kind']}.{c['name']}": f"{c['distribution']} {c['version']} (plugin {c['plugin']}, {c['object']})"
            for c in self.components()
        }
        self.run_id = self.tracker.start(
            params, tags={"rl8.env": self.config.env, "rl8.algorithm": self.config.algorithm}, run_id=run_id
        )

    def run(self, stop_conditions: Sequence[StopCondition] | None = None) -> dict[str, float]:
        """Train until a stop condition holds; track, checkpoint and evaluate.

        Args:
            stop_conditions: Callables on each iteration's result; default from ``config.stop``.

        Returns:
            The last iteration's metrics, plus ``eval/*`` when evaluating at the end.
            ``stopped_by`` names the conditions that held.
        """
        conds = list(stop_conditions) if stop_conditions is not None else self.default_stop_conditions()
        if not conds:
            raise ValueError("no stop condition: set stop.env_steps, stop.return_mean or stop.wall_time_s")
        self.start_tracking(self._resume_run_id)
        status = "FAILED"
        total = next((c.env_steps for c in conds if isinstance(c, EnvSteps)), None)
        try:
            with ProgressDisplay(self.config.progress, total_env_steps=total) as progress:
                progress.message(self._banner())
                stop = self.config.stop
                gate = None
                if stop.eval_return_mean is not None:
                    # Evaluate once training looks solved (by default at the evaluation's own bar).
                    gate = ReturnReached(stop.eval_return_mean if stop.return_mean is None else stop.return_mean)
                while True:
                    result = self.step()
                    progress.update(result)
                    due = bool(self.config.eval.every) and self.iteration % self.config.eval.every == 0
                    if due or (gate is not None and gate(result)):
                        result.update(self.eval())
                    if self.config.checkpoint.every and self.iteration % self.config.checkpoint.every == 0:
                        self._periodic.append(self.save_checkpoint())
                        self._prune()
                    self.stopped_by = [repr(c) for c in conds if c(result)]
                    if self.stopped_by:
                        break
                final = dict(result)
                if self.config.eval.at_end and "eval/return_mean" not in final:
                    final.update(self.eval())
                if self.config.checkpoint.at_end:
                    path = self.save_checkpoint()
                    if self.tracker is not None:
                        self.tracker.log_artifacts(path, artifact_path="checkpoint")
                progress.message(self._final_text(final))
            status = "FINISHED"
            return final
        except KeyboardInterrupt:
            status = "KILLED"
            # Nothing lost: the last completed iteration is saved before leaving.
            self.save_checkpoint()
            raise
        finally:
            if self.tracker is not None:
                self.tracker.end(status)
                self.tracker = None

    def _banner(self) -> str:
        parts = [f"{c['kind']} {c['name']} ({c['distribution']} {c['version']})" for c in self.components()]
        where = f"MLflow {self.tracker.uri} run {self.tracker.run_id}" if self.tracker else "tracking off"
        return f"rl8: training on {self.device} with " + ", ".join(parts) + f"; {where}"

    def _final_text(self, result: Mapping[str, float]) -> str:
        text = (
            f"done after {self.iteration} iterations, {self.env_steps:,} env steps, {self.wall_s:.1f} s "
            f"(stopped by {', '.join(self.stopped_by)}); "
            f"training return {result.get('episodes/return_mean', math.nan):.1f}"
        )
        if "eval/return_mean" in result:
            text += f"; eval return {result['eval/return_mean']:.1f} over {int(result['eval/episodes'])} episodes"
        if self.run_dir is not None:
            text += f"; checkpoints in {self.run_dir}"
        return text

    def _run_dir(self) -> Path:
        if self.run_dir is None:
            name = self.tracker.run_name if self.tracker is not None else time.strftime("run-%Y%m%d-%H%M%S")
            base = Path(self.config.checkpoint.dir)
            path, n = base / name, 1
            # A new run never writes into another run's directory: a reused ``run_name``, or two
            # untracked runs started in the same second, get a numbered suffix.
            while path.exists():
                n += 1
                path = base / f"{name}-{n}"
            self.run_dir = path
        return self.run_dir

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Save everything needed to continue (module, optimiser, normalisers, counters, RNG, env).

        The directory is written atomically; a crash mid-save leaves earlier
        checkpoints intact. By default it goes to
        ``<checkpoint.dir>/<run name>/iter_<iteration>`` and the run directory's
        ``latest`` file points at it.
        """
        auto = path is None
        target = self._run_dir() / f"iter_{self.iteration:06d}" if path is None else Path(path)
        state = {
            "learner": self.learner.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "runner": self.runner.state_dict(),
            "env": self.env.state_dict(),
            "counters": {
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "episodes": self.episodes,
                "wall_s": self.wall_s,
                "returns": list(self._returns),
                "lengths": list(self._lengths),
            },
            "rng": _rng_state(),
        }
        meta = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "run_id": None if self.tracker is None else self.tracker.run_id,
            "components": self.components(),
            "last_result": {k: v for k, v in self.last_result.items() if math.isfinite(v)},
        }
        with atomic_directory(target) as tmp:
            self.module.save_to_path(tmp / _MODULE_DIR)
            torch.save(state, tmp / _TRAINER_STATE)
            (tmp / _CONFIG_FILE).write_text(self.config.to_yaml())
            (tmp / _META_FILE).write_text(json.dumps(meta, indent=2))
        if auto:
            atomic_write_text(target.parent / _LATEST, target.name + "\n")
        return target

    def _prune(self) -> None:
        while len(self._periodic) > self.config.checkpoint.keep:
            shutil.rmtree(self._periodic.pop(0), ignore_errors=True)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by ``save_checkpoint`` into this trainer."""
        path = _find_checkpoint(Path(path))
        state = torch.load(path / _TRAINER_STATE, map_location="cpu", weights_only=True)
        module_state = torch.load(path / _MODULE_DIR / "state.pt", map_location=self.device, weights_only=True)
        self.module.set_state(module_state)
        self.learner.load_state_dict(state["learner"])
        self.algorithm.load_state_dict(state["algorithm"])
        if state["env"] is not None:
            self.env.load_state_dict(state["env"])
            self.runner.load_state_dict(state["runner"])
        else:
            logger.info("%s cannot restore its state; its envs start new episodes", type(self.env).__name__)
        counters = state["counters"]
        self.iteration = int(counters["iteration"])
        self.env_steps = int(counters["env_steps"])
        self.episodes = int(counters["episodes"])
        self.wall_s = float(counters["wall_s"])
        self._returns.extend(counters["returns"])
        self._lengths.extend(counters["lengths"])
        _set_rng_state(state["rng"])
        self.run_dir = path.parent

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, overrides: Sequence[str] = (), registry: Registry | None = None
    ) -> Trainer:
        """Resume a run from a checkpoint (or a run directory's latest checkpoint).

        The config is the checkpoint's, with ``key=value`` ``overrides`` (e.g. a
        larger ``stop.env_steps``). The MLflow run continues when its store has it.
        """
        ckpt = _find_checkpoint(Path(path))
        config = TrainConfig.from_file(ckpt / _CONFIG_FILE, overrides)
        trainer = cls(config, registry=registry)
        trainer.load_checkpoint(ckpt)
        meta = json.loads((ckpt / _META_FILE).read_text())
        trainer._resume_run_id = meta.get("run_id")
        return trainer

    def close(self) -> None:
        """Close envs, end tracking and give torch back the thread count it had."""
        self.env.close()
        if self._eval_env is not None:
            self._eval_env.close()
        if self.tracker is not None:
            self.tracker.end("FINISHED")
            self.tracker = None
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
