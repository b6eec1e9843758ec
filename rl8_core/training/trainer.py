"""``Trainer``: runs an algorithm on an env with tracking, checkpoints and progress."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rl8_core.checkpoints import run as run_dir
from rl8_core.columns import Metrics
from rl8_core.components.algorithm import Algorithm, AlgorithmGroup, check_train_outputs
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule, RLModuleSpec
from rl8_core.components.multi_env import MultiAgentBatchedEnv
from rl8_core.components.multi_module import MultiRLModule
from rl8_core.envs.make import build_env
from rl8_core.errors import ConfigError, Terminated
from rl8_core.plugins.registry import ComponentInfo, Registry, get_registry
from rl8_core.training.config import TrainConfig, spec_checks_on
from rl8_core.training.counters import RunCounters
from rl8_core.training.distributed import LearnerGroup
from rl8_core.training.env_runners import EnvRunnerGroup
from rl8_core.training.evaluate import evaluate
from rl8_core.training.guards import NonFiniteError, all_finite
from rl8_core.training.learner import Learner
from rl8_core.training.multi_agent import MultiAgentRunner, build_multi_agent, evaluate_multi_agent, wrap_env
from rl8_core.training.plots import CURVES_FILE, MetricHistory, is_plotted, plot_curves, read_run_metrics
from rl8_core.training.progress import ProgressDisplay, banner, final_text
from rl8_core.training.record import record_clip
from rl8_core.training.runner import Runner
from rl8_core.training.setup import resolve_device, resolve_parts, seed_everything, set_num_threads
from rl8_core.training.stopping import EnvSteps, ReturnReached, StopCondition, stop_conditions
from rl8_core.training.tracking import Tracker, run_params
from specs import checking

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Snapshot:
    """What a checkpoint holds, captured at an iteration boundary."""

    iteration: int
    module_state: dict[str, torch.Tensor]
    state: dict[str, Any]
    meta: dict[str, Any]


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Make SIGTERM raise ``Terminated`` inside the block (main thread only), as SIGINT raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        config = TrainConfig.from_mapping(config) if isinstance(config, Mapping) else config or TrainConfig()
        self.config: TrainConfig = config
        self.registry = registry or get_registry()
        parts = resolve_parts(config, self.registry)
        self._previous_threads = set_num_threads(config.num_threads)
        self.device = resolve_device(config.device)
        self.env_device = resolve_device(config.env_device) if config.env_device else self.device
        seed_everything(config.seed)
        self._components: dict[tuple[str, str], ComponentInfo] = {("algorithm", parts.algorithm.name): parts.algorithm}
        remote = config.scale.env_runners > 0
        # With env runners the envs live in their actors: this one only tells the module's specs.
        self.env = self.make_env(num_envs=1 if remote else config.num_envs, seed=config.seed)
        if self.env.device.type == "cpu" and self.device.type != "cpu":
            logger.info("env runs on cpu, module on %s: observations and actions are copied each step", self.device)
        #: Agent id -> module id in a multi-agent run (``multi_agent.policy_mapping``); empty otherwise.
        self.agent_modules: dict[str, str] = {}
        self.module: RLModule | MultiRLModule
        self.algorithm: Algorithm | AlgorithmGroup
        self.runner: Runner | MultiAgentRunner | EnvRunnerGroup
        if isinstance(self.env, MultiAgentBatchedEnv):
            if config.record.at_end:
                raise ConfigError("record.at_end: clips of multi-agent envs are not supported; set it to false")
            self.module, self.algorithm, self.agent_modules = build_multi_agent(
                config, self.env, parts, self.registry, self.device
            )
        else:
            self.algorithm = parts.build_algorithm()
            spec = RLModuleSpec(
                parts.module_class,
                self.env.observation_spec,
                self.env.action_spec,
                config.model_config,
                parts.catalog_class,
                registry=self.registry,
            )
            self.module = spec.build().to(self.device)
            check_train_outputs(self.algorithm, self.module, name=parts.algorithm.name)
        self.learner = Learner(self.module, self.algorithm, config.learner, config.guards)
        #: The other learner processes (``scale.learners``), started by the first ``step`` (after any resume).
        self.learner_group: LearnerGroup | None = None
        options: dict[str, Any] = {
            "horizon": config.horizon,
            "check_specs": config.check_specs,
            "seed": config.seed,
            "autocast": self.learner.autocast,
            "check_finite": config.guards.env,
        }
        if remote:
            self.runner = EnvRunnerGroup(config, self.module, self.agent_modules, device=self.device)
        elif isinstance(self.module, MultiRLModule):
            assert isinstance(self.env, MultiAgentBatchedEnv)
            self.runner = MultiAgentRunner(
                self.env, self.module, self.agent_modules, **options, window=config.stop.window
            )
        else:
            assert isinstance(self.env, BatchedEnv)
            self.runner = Runner(self.env, self.module, **options)
        #: Iterations, env steps, episodes and seconds so far, and the last ``stop.window`` episodes.
        self.counters = RunCounters(window=config.stop.window)
        self._eval_env: BatchedEnv | MultiAgentBatchedEnv | None = None
        self.tracker: Tracker | None = None
        self.run_dir: Path | None = None
        self.last_result: dict[str, float] = {}
        #: The stop conditions that ended the last ``run``.
        self.stopped_by: list[str] = []
        #: The checkpoint this trainer last wrote into ``run_dir`` (not rewritten for the same iteration).
        self._last_written: Path | None = None
        self._resume_run_id: str | None = None
        #: The MLflow run of the last ``run`` (kept after it ends), or ``None``.
        self.run_id: str | None = None
        #: Where ``run`` saved the last completed iteration when it ended early (error, signal), else ``None``.
        self.saved_on_exit: Path | None = None
        #: The plotted metrics this process logged, for the learning curves of a run without MLflow.
        self._curves = MetricHistory(is_plotted)
        #: The MLflow model the last ``run`` logged (``runs:/<run id>/model``), or ``None``.
        self.model_uri: str | None = None

    @property
    def iteration(self) -> int:
        """Iterations run so far."""
        return self.counters.iteration

    @property
    def env_steps(self) -> int:
        """Env steps taken so far."""
        return self.counters.env_steps

    def make_env(self, *, num_envs: int, seed: int | None, render: bool = False) -> BatchedEnv | MultiAgentBatchedEnv:
        """Build an env of this run's kind (used for training, evaluation and, with ``render``, clips)."""
        env, info = build_env(
            self.config.env,
            self.config.env_config,
            num_envs=num_envs,
            seed=seed,
            device=self.env_device,
            registry=self.registry,
            render=render,
        )
        self._components["env", info.name] = info
        return wrap_env(env, self.config.multi_agent)

    def components(self) -> list[dict[str, str | None]]:
        """Describe every resolved component (env, algorithm, module parts) with provenance."""
        return [info.describe() for info in self._components.values()] + self.module.components()

    def step(self) -> dict[str, float]:
        """Run one iteration: collect, postprocess, update. Return its metrics (see ``Metrics``).

        Metric names: ``episodes/*`` (mean return and length of the last
        ``stop.window`` finished episodes), ``losses/*`` and ``stats/*`` from the
        algorithm, ``learner/*``, ``perf/*`` (env steps/s, seconds per phase)
        and ``counters/*`` (iterations, env steps, episodes, training seconds).
        """
        if self.config.scale.learners > 1 and self.learner_group is None:
            self.learner_group = LearnerGroup(self.learner, self.config.scale.learners)
        start = time.perf_counter()
        self.algorithm.on_iteration_start(self.env_steps)
        self.learner.set_env_steps(self.env_steps)
        rollout = self.runner.collect()
        collected = time.perf_counter()
        with checking(spec_checks_on(self.config.check_specs, self.iteration)):
            metrics = self.learner.update(self.algorithm.postprocess(rollout, self.module))  # type: ignore[arg-type]
        end = time.perf_counter()
        steps, finished = self.runner.steps_per_rollout, self.runner.episodes
        self.counters.add(env_steps=steps, seconds=end - start, finished=finished)
        result: dict[str, float] = {
            **metrics,
            **self.algorithm.iteration_metrics(),
            **self.counters.metrics(),
            **self.runner.metrics(),
            Metrics.FINISHED: float(len(finished)),
            Metrics.ENV_STEPS_PER_S: steps / (end - start),
            Metrics.COLLECT_S: collected - start,
            Metrics.UPDATE_S: end - collected,
        }
        self.last_result = result
        if self.tracker is not None:
            self.tracker.log_metrics(result, step=self.env_steps)
        self._curves.add(result, step=self.env_steps)
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
        options: dict[str, Any] = {
            "episodes": episodes,
            "deterministic": cfg.deterministic if deterministic is None else deterministic,
            "seed": self.config.seed + 10_000 + self.iteration,
            "check_specs": self.config.check_specs,
        }
        if isinstance(self.module, MultiRLModule):
            assert isinstance(self._eval_env, MultiAgentBatchedEnv)
            result = evaluate_multi_agent(self.module, self._eval_env, self.agent_modules, **options)
        else:
            assert isinstance(self._eval_env, BatchedEnv)
            result = evaluate(self.module, self._eval_env, **options)
        if self.tracker is not None:
            self.tracker.log_metrics(result, step=self.env_steps)
        self._curves.add(result, step=self.env_steps)
        return result

    def default_stop_conditions(self) -> list[StopCondition]:
        """Return the stop conditions of ``config.stop``."""
        return stop_conditions(self.config.stop)

    def start_tracking(self, run_id: str | None = None) -> None:
        """Start the MLflow run (done by ``run`` when tracking is enabled)."""
        if self.tracker is not None or not self.config.tracking.enabled:
            return
        self.tracker = Tracker(self.config.tracking)
        tags = {"rl8.env": self.config.env, "rl8.algorithm": self.config.algorithm}
        self.run_id = self.tracker.start(run_params(self.config.to_dict(), self.components()), tags, run_id=run_id)
        # If the store fails mid-run, the metrics go beside the checkpoints: into the run directory, or
        # beside the one it will be (creating that directory now would move the checkpoints to "<name>-2").
        if self.run_dir is not None:
            self.tracker.fallback_path = self.run_dir / "metrics.jsonl"
        else:
            future = run_dir.new_run_dir(self.config.checkpoint.dir, self.tracker.run_name)
            self.tracker.fallback_path = future.with_name(f"{future.name}.metrics.jsonl")

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
        self.saved_on_exit = self.model_uri = None
        total = next((c.env_steps for c in conds if isinstance(c, EnvSteps)), None)
        stop, every = self.config.stop, self.config.checkpoint.every
        # Evaluate once training looks solved (by default at the evaluation's own bar).
        gate_at = stop.eval_return_mean if stop.return_mean is None else stop.return_mean
        gate = ReturnReached(gate_at) if stop.eval_return_mean is not None and gate_at is not None else None
        # The state at the last iteration boundary: what is saved when the run ends early.
        boundary: _Snapshot | None = None
        if self.run_dir is not None:
            # A resumed run: remove what a killed process left (temp and half-written or half-deleted directories).
            run_dir.clean_run_dir(self.run_dir)
        try:
            with _signals_raise(), ProgressDisplay(self.config.progress, total_env_steps=total) as progress:
                progress.message(banner(self.device, self.components(), self.tracker))
                # A resumed run that had already stopped adds nothing.
                result = dict(self.last_result)
                self.stopped_by = [repr(c) for c in conds if c(result)] if result else []
                while not self.stopped_by:
                    # Mid-step the live state is half an iteration; after it, the live state is the boundary.
                    boundary = self._snapshot() if self.iteration > 0 else None
                    result = self.step()
                    boundary = None
                    progress.update(result)
                    due = bool(self.config.eval.every) and self.iteration % self.config.eval.every == 0
                    if due or (gate is not None and gate(result)):
                        result.update(self.eval())
                    if every and self.iteration % every == 0:
                        saved = self.save_checkpoint()
                        run_dir.prune(saved.parent, self.config.checkpoint.keep)
                    self.stopped_by = [repr(c) for c in conds if c(result)]
                final = dict(result)
                if self.config.eval.at_end and Metrics.EVAL_RETURN_MEAN not in final:
                    final.update(self.eval())
                path = None
                if self.config.checkpoint.at_end:
                    path = self.save_checkpoint()
                    if self.tracker is not None:
                        self.tracker.log_artifacts(path, artifact_path="checkpoint")
                notes = self._publish(path)
                progress.message(final_text(final, self.stopped_by, self.run_dir))
                for note in notes:
                    progress.message(note)
            status = "FINISHED"
            return final
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "FAILED"
            # Nothing lost: the last completed iteration, exactly as it was at its end.
            self.saved_on_exit = self._save_on_exit(boundary, exc)
            raise
        finally:
            if self.tracker is not None:
                self.tracker.end(status)
                self.tracker = None

    def _publish(self, checkpoint: Path | None) -> list[str]:
        """Leave what a finished run offers besides its checkpoint: the MLflow model, learning curves, a clip.

        Each is optional (``tracking.log_model``, ``tracking.log_curves``,
        ``record.at_end``) and none can fail the finished run: training and its
        checkpoint are done, so a failure here is one warning naming what was
        not written and why. Returns lines for the progress display.
        """
        notes = []
        if self.tracker is not None and self.config.tracking.log_model:
            for name, module, registered in self._models(checkpoint):
                uris = self.tracker.log_model(module, name=name, registered_model_name=registered)
                self.model_uri = self.model_uri or (uris[0] if uris else None)
                if uris:
                    notes.append(f"MLflow model: {' registered as '.join(uris)}")
        if self.tracker is not None and self.config.tracking.log_curves:
            self._publish_file(checkpoint, "tracking.log_curves", "the learning curves", self._draw_curves)
        if self.config.record.at_end:
            clip = self._publish_file(checkpoint, "record.at_end", "the clip", self._record_clip)
            if clip is not None:
                notes.append(f"clip: {clip}")
        return notes

    def _models(self, checkpoint: Path | None) -> list[tuple[str, Any, str | None]]:
        """Return the MLflow models to log: ``(name, module or its directory, registered name)``.

        One, ``model``, for a single module; ``model_<module id>`` for each module of a multi-agent run
        (registered as ``<registered_model_name>_<module id>``), so each policy can be served alone.
        """
        source = run_dir.module_path(checkpoint) if checkpoint is not None else self.module
        registered = self.config.tracking.registered_model_name
        if not isinstance(self.module, MultiRLModule):
            return [("model", source, registered)]
        return [
            (
                f"model_{mid}",
                source / mid if isinstance(source, Path) else self.module[mid],
                f"{registered}_{mid}" if registered else None,
            )
            for mid in self.module
        ]

    def _publish_file(
        self, checkpoint: Path | None, option: str, what: str, write: Callable[[Path], tuple[Path, str]]
    ) -> str | None:
        """Have ``write`` make a file in the run directory (a temporary one without) and log it to the MLflow run.

        ``write(folder)`` returns the file and a line saying what it holds.
        Returns that line with where the file is, or ``None`` if nothing was
        written. Never raises: a failure is one warning naming ``option``.
        """
        folder = checkpoint.parent if checkpoint is not None else self.run_dir
        try:
            with contextlib.ExitStack() as stack:
                if folder is None:
                    if self.tracker is None:
                        logger.warning(
                            "%s: %s was not written: the run saved no checkpoint and tracks no MLflow run, so there "
                            "is nowhere to put it; set checkpoint.at_end or tracking.enabled",
                            option,
                            what,
                        )
                        return None
                    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                path, text = write(folder)
                if self.tracker is not None:
                    self.tracker.log_artifact(path)
                where = "the MLflow run" if checkpoint is None and self.run_dir is None else str(path)
                return f"{where} ({text})"
        except Exception as exc:
            logger.warning(
                "%s: %s was not written: %s: %s; the run and its checkpoint are complete",
                option,
                what,
                type(exc).__name__,
                " ".join(str(exc).split()),
            )
            return None

    def _record_clip(self, folder: Path) -> tuple[Path, str]:
        """Record the final module on a fresh env of one into ``folder / clip.<record.format>``."""
        cfg = self.config.record
        seed = self.config.seed + 20_000
        env = self.make_env(num_envs=1, seed=seed, render=True)
        assert isinstance(env, BatchedEnv)  # multi-agent runs refuse record.at_end in __init__
        assert isinstance(self.module, RLModule)
        try:
            clip = record_clip(
                self.module,
                env,
                folder / f"clip.{cfg.format}",
                episodes=cfg.episodes,
                fps=cfg.fps,
                max_steps=cfg.max_steps,
                deterministic=cfg.deterministic,
                seed=seed,
                check_specs=self.config.check_specs,
            )
        finally:
            env.close()
        return Path(clip["path"]), f"{clip['frames']} frames, {clip['episodes']} episodes"

    def _draw_curves(self, folder: Path) -> tuple[Path, str]:
        """Draw the run's learning curves into ``folder / curves.png``."""
        assert self.tracker is not None
        return plot_curves({self.tracker.run_name: self._curves_frame()}, folder / CURVES_FILE), "learning curves"

    def _snapshot(self) -> _Snapshot:
        """Capture what a checkpoint holds, in memory, at an iteration boundary (tensors cloned)."""
        state = copy.deepcopy(self._trainer_state())
        module_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        return _Snapshot(self.iteration, module_state, state, self._meta())

    def _save_on_exit(self, boundary: _Snapshot | None, exc: BaseException) -> Path | None:
        """Write ``boundary`` (or, between iterations, the live state) when ``run`` ends early; return where.

        Never raises: the original error is what the user must see. What was
        saved, or why nothing was, is added to it as a note.
        """
        snapshot = boundary if boundary is not None else (self._snapshot() if self.iteration > 0 else None)
        if snapshot is None:
            exc.add_note("rl8: nothing was saved: no iteration had completed")
            return None
        try:
            path = self._write(snapshot, None)
        except Exception as error:
            exc.add_note(f"rl8: saving iteration {snapshot.iteration} failed too: {error}")
            return None
        exc.add_note(f"rl8: iteration {snapshot.iteration} (the last completed) is saved in {path}")
        return path

    def _curves_frame(self) -> Any:
        """The metrics to draw: the MLflow run's when tracking (falling back to this process's), else this process's."""
        if self.tracker is not None and self.tracker.run_id is not None:
            self.tracker.flush()
            try:
                frame = read_run_metrics(self.tracker.run_id, self.tracker.uri, keys=is_plotted)
                if not frame.empty:
                    return frame
            except Exception as exc:
                logger.info(
                    "learning curves: reading MLflow run %s failed (%s); drawing this process's metrics",
                    self.tracker.run_id,
                    exc,
                )
        return self._curves.frame()

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Save everything needed to continue (module, optimiser, normalisers, counters, RNG, env).

        The directory is written atomically; a crash mid-save leaves earlier
        checkpoints intact. By default it goes to
        ``<checkpoint.dir>/<run name>/iter_<iteration>`` and the run directory's
        ``latest`` file points at it once it is complete (see
        ``rl8_core.checkpoints.run.save_checkpoint``). An iteration this trainer
        already saved there is not written again.
        """
        return self._write(self._snapshot_live(), path)

    def _trainer_state(self) -> dict[str, Any]:
        return {
            "learner": self.learner.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "runner": self.runner.state_dict(),
            # With env runners, their envs' states are in the runner's.
            "env": None if isinstance(self.runner, EnvRunnerGroup) else self.env.state_dict(),
            "counters": self.counters.state_dict(),
            "rng": run_dir.rng_state(),
        }

    def _meta(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "run_id": None if self.tracker is None else self.tracker.run_id,
            "components": self.components(),
            "last_result": {k: v for k, v in self.last_result.items() if math.isfinite(v)},
        }

    def _snapshot_live(self) -> _Snapshot:
        """The current state, not copied: for writing at once."""
        return _Snapshot(self.iteration, dict(self.module.state_dict()), self._trainer_state(), self._meta())

    def _write(self, snapshot: _Snapshot, path: str | Path | None) -> Path:
        """Write ``snapshot`` to ``path`` or the run directory's ``iter_<n>`` (pointing ``latest`` at it).

        Raises:
            NonFiniteError: If a weight is NaN or inf: such a checkpoint would replace good ones.
        """
        if not all_finite(snapshot.module_state.values()):
            raise NonFiniteError(
                f"not saving iteration {snapshot.iteration}: its weights hold NaN or inf; earlier checkpoints are kept"
            )
        if path is not None:
            target = Path(path)
        else:
            if self.run_dir is None:
                name = self.tracker.run_name if self.tracker is not None else time.strftime("run-%Y%m%d-%H%M%S")
                self.run_dir = run_dir.new_run_dir(self.config.checkpoint.dir, name)
            target = self.run_dir / run_dir.checkpoint_name(snapshot.iteration)
            if target == self._last_written and run_dir.is_complete(target):
                # Already saved at this iteration (the periodic save, then the final one or one on exit):
                # rewriting it would replace a good checkpoint for nothing.
                run_dir.save_latest(target)
                return target
        written = run_dir.save_checkpoint(
            target,
            save_module=lambda p: self.module.save_to_path(p, state=snapshot.module_state),
            state=snapshot.state,
            config_text=self.config.to_yaml(),
            meta=snapshot.meta,
            point_latest=path is None,
        )
        if path is None:
            self._last_written = written
        return written

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by ``save_checkpoint`` into this trainer."""
        ckpt = run_dir.find_checkpoint(path)
        state = run_dir.load_trainer_state(ckpt)
        self.module.set_state(run_dir.module_state(ckpt, map_location=self.device))
        self.learner.load_state_dict(state["learner"])
        self.algorithm.load_state_dict(state["algorithm"])
        if isinstance(self.runner, EnvRunnerGroup):
            restored = self.runner.load_state_dict(state["runner"])
        elif state["env"] is not None:
            self.env.load_state_dict(state["env"])
            self.runner.load_state_dict(state["runner"])
            restored = True
        else:
            # The env cannot restore its state, or the run had env runners (their envs are not this process's).
            restored = False
        if not restored:
            logger.info("%s: the envs start new episodes (their state is not restorable here)", self.config.env)
        self.counters.load_state_dict(state["counters"])
        run_dir.set_rng_state(state["rng"])
        if self.learner_group is not None:  # its processes hold the old state: the next step starts new ones
            self.learner_group.close()
            self.learner_group = None
        self.run_dir = ckpt.parent
        self._last_written = None
        self.last_result = dict(run_dir.read_meta(ckpt).get("last_result", {}))

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, overrides: Sequence[str] = (), registry: Registry | None = None
    ) -> Trainer:
        """Resume a run from a checkpoint (or a run directory's latest checkpoint).

        The config is the checkpoint's, with ``key=value`` ``overrides`` (e.g. a
        larger ``stop.env_steps``). The MLflow run continues when its store has it.
        """
        ckpt = run_dir.find_checkpoint(path)
        trainer = cls(TrainConfig.from_file(run_dir.config_file(ckpt), overrides), registry=registry)
        trainer.load_checkpoint(ckpt)
        trainer._resume_run_id = run_dir.read_meta(ckpt).get("run_id")
        return trainer

    def close(self) -> None:
        """Close envs, env runners and learner processes, end tracking and give torch back its thread count."""
        if isinstance(self.runner, EnvRunnerGroup):
            self.runner.close()
        if self.learner_group is not None:
            self.learner_group.close()
            self.learner_group = None
        self.env.close()
        if self._eval_env is not None:
            self._eval_env.close()
        if self.tracker is not None:
            self.tracker.end("FINISHED")
            self.tracker = None
        set_num_threads(self._previous_threads)
        self._previous_threads = None

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
