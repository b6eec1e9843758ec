"""Env runners on Ray (``scale.env_runners``): Ray actors that each step their own env with a CPU copy of the module.

Ray is imported only here, and only when a run asks for env runners, so a
run without them neither needs nor loads it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import cloudpickle
import numpy as np
import torch
import tree
from tensordict import TensorDict, TensorDictBase

from rl8_core.components.module import RLModule
from rl8_core.components.multi_module import MultiRLModule
from rl8_core.environ import environ
from rl8_core.envs.make import build_env
from rl8_core.errors import (
    CheckpointError,
    ConfigError,
    EnvRunnerError,
    NonFiniteError,
    PluginError,
    UnknownComponentError,
)
from rl8_core.training.config import TrainConfig
from rl8_core.training.multi_agent import EpisodeWindows, MultiAgentRunner, wrap_env
from rl8_core.training.runner import EpisodeStats, Runner
from specs import SpecError

__all__ = ["OVERHEAD_S", "RESTARTS", "EnvRunnerGroup", "import_ray"]

logger = logging.getLogger(__name__)

#: Metric: env-runner restarts so far in the run.
RESTARTS = "env_runners/restarts"
#: Metric: seconds of the collection not spent stepping in the slowest runner (weights out, rollouts back, merging).
OVERHEAD_S = "perf/env_runner_overhead_s"
#: Errors of the user's making that a restart cannot fix: raised as they are, naming the runner.
_NOT_RETRIED = (
    ConfigError,
    SpecError,
    NonFiniteError,
    CheckpointError,
    PluginError,
    UnknownComponentError,
    ImportError,
)
#: How long a failed env runner may take to come back (Ray starts a new process and the env again).
RESTART_TIMEOUT_S = 300.0
#: How long env runners on a cluster may wait to be placed (an autoscaler may be adding nodes).
PLACEMENT_TIMEOUT_S = 600.0


def import_ray(runners: int) -> Any:
    """Import Ray, or raise a ``ConfigError`` naming the extra that installs it.

    Examples:
        >>> import_ray(2).__name__
        'ray'
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"scale.env_runners: {runners} env runners need Ray, which is not installed; "
            "install it with pip install 'rl8-core[ray]', or set scale.env_runners: 0"
        ) from None
    return ray


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class _EnvRunner:
    """The body of one env-runner actor: its env and a ``Runner`` (or ``MultiAgentRunner``) over a CPU module.

    A setup error is kept and raised by ``ready``, so Ray reports it as a task
    error with its original type rather than as a dead actor.
    """

    def __init__(
        self,
        config: dict[str, Any],
        num_envs: int,
        seed: int,
        module: bytes,
        agent_modules: dict[str, str],
        threads: int,
    ) -> None:
        self.error: Exception | None = None
        try:
            torch.set_num_threads(threads)
            torch.manual_seed(seed)
            cfg = TrainConfig.from_mapping(config)
            env, _ = build_env(cfg.env, cfg.env_config, num_envs=num_envs, seed=seed, device="cpu")
            self.env = wrap_env(env, cfg.multi_agent)
            self.module = cloudpickle.loads(module)
            options: dict[str, Any] = {
                "horizon": cfg.horizon,
                "check_specs": cfg.check_specs,
                "seed": seed,
                "check_finite": cfg.guards.env,
            }
            self.runner: Runner | MultiAgentRunner = (
                MultiAgentRunner(self.env, self.module, agent_modules, **options, window=cfg.stop.window)  # type: ignore[arg-type]
                if agent_modules
                else Runner(self.env, self.module, **options)  # type: ignore[arg-type]
            )
        except Exception as exc:
            self.error = exc

    def ready(self) -> int:
        """Return this actor's process id, or raise the error its setup met."""
        if self.error is not None:
            raise self.error
        return os.getpid()

    def collect(self, weights: dict[str, Any]) -> dict[str, Any]:
        """Load ``weights``, collect one rollout and return it with its finished episodes and the state after it.

        Weights and rollout travel as NumPy arrays, which Ray serialises several times faster than tensors.
        """
        self.module.load_state_dict(_from_numpy(weights))
        start = time.perf_counter()
        collected = self.runner.collect()
        rollout = (
            {mid: _to_numpy(collected.get(mid)) for mid in collected.keys()}  # noqa: SIM118
            if isinstance(self.runner, MultiAgentRunner)
            else _to_numpy(collected)
        )
        seconds = time.perf_counter() - start
        episodes = self.runner.episodes
        windows = self.runner.finished if isinstance(self.runner, MultiAgentRunner) else {}
        return {
            "rollout": rollout,
            "returns": episodes.returns,
            "lengths": episodes.lengths,
            "windows": windows,
            "seconds": seconds,
            "state": self.state_dict(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Return the runner's, the env's and the sampling's state (a resumed run continues their episodes)."""
        return {"runner": self.runner.state_dict(), "env": self.env.state_dict(), "rng": torch.get_rng_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> bool:
        """Restore a ``state_dict``; return whether the env could restore its state."""
        if state["env"] is None:
            return False
        self.env.load_state_dict(state["env"])
        self.runner.load_state_dict(state["runner"])
        torch.set_rng_state(state["rng"])
        return True


class EnvRunnerGroup:
    """Collect rollouts with ``scale.env_runners`` Ray actors; used by the ``Trainer`` in place of a ``Runner``.

    Each actor builds the run's env with ``num_envs_per_runner`` envs (by default
    ``num_envs`` split evenly) seeded ``seed + i * num_envs_per_runner`` (for
    gymnasium envs, which seed env ``j`` with ``seed + j``, the seeds one
    process's ``num_envs`` envs get), seeds its action sampling alike, and
    steps it with a CPU copy of the module through a ``Runner`` (a
    ``MultiAgentRunner`` for a multi-agent env), which keeps stateful modules'
    states. Per iteration the weights go out once through Ray's object store;
    the rollouts come back as TensorDicts and are concatenated along the env
    axis (runner 0's envs first), and finished episodes merge in runner order.

    A runner that fails (its process killed, or its env raising) is restarted
    by Ray and its share collected again; ``env_runners/restarts`` counts it.
    After ``scale.max_restarts`` restarts of one runner in a row,
    ``EnvRunnerError`` ends the run (the ``Trainer`` saves its last completed
    iteration). A config, spec or NaN error inside a runner is raised as it
    is: a restart would meet it again.

    Args:
        config: The run's config (``scale`` says how many runners and their resources).
        module: The module the learner trains; its weights are sent each ``collect``.
        agent_modules: Agent id -> module id for a multi-agent env, else empty.
        device: Where the learner wants the rollout.

    Raises:
        ConfigError: If Ray is missing, the runners do not fit the local Ray's CPUs, or ``num_envs``
            does not split evenly over them.

    Examples:
        >>> from rl8_core.training.config import TrainConfig
        >>> from catalogs import ActorCriticModule
        >>> from specs import Box, Discrete
        >>> config = TrainConfig.from_mapping({"env": "cartpole", "num_envs": 4, "horizon": 8,
        ...                                    "scale": {"env_runners": 2}})
        >>> group = EnvRunnerGroup(config, ActorCriticModule(Box((4,)), Discrete(2)))
        >>> group.collect().batch_size
        torch.Size([8, 4])
        >>> group.close()
    """

    def __init__(
        self,
        config: TrainConfig,
        module: RLModule | MultiRLModule,
        agent_modules: Mapping[str, str] | None = None,
        *,
        device: torch.device | None = None,
    ) -> None:
        scale = config.scale
        runners = scale.env_runners
        self._ray = ray = import_ray(runners)
        per_runner = scale.num_envs_per_runner or config.num_envs // runners
        if scale.num_envs_per_runner is None and config.num_envs % runners:
            raise ConfigError(
                f"scale.env_runners: num_envs ({config.num_envs}) does not split evenly over {runners} env runners; "
                "set num_envs to a multiple of it, or set scale.num_envs_per_runner"
            )
        self.module, self.device, self.horizon = module, device or torch.device("cpu"), config.horizon
        self.num_envs = per_runner * runners
        self.max_restarts = scale.max_restarts
        self._owns_ray = False
        resources = dict(scale.runner_resources)
        num_cpus = float(resources.pop("num_cpus", 1))
        num_gpus = float(resources.pop("num_gpus", 0))
        if not ray.is_initialized():
            self._start_ray(config, math.ceil(runners * num_cpus))
        if scale.ray_address == "local":  # a Ray this process had started before, with fewer CPUs
            available = ray.cluster_resources().get("CPU", 0.0)
            if runners * num_cpus > available:
                raise ConfigError(
                    f"scale.env_runners: {runners} env runners of {num_cpus:g} CPUs each need {runners * num_cpus:g} "
                    f"CPUs, but the local Ray has {available:g}; lower scale.env_runners or "
                    "scale.runner_resources.num_cpus (fractions share a CPU)"
                )
        actor = ray.remote(_EnvRunner).options(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            resources=resources or None,
            max_restarts=-1,  # Ray restarts a dead runner; scale.max_restarts limits restarts in a row here
            max_task_retries=0,
        )
        cpu_module = cloudpickle.dumps(copy.deepcopy(module).cpu())
        threads = max(1, int(num_cpus))
        mapping = dict(agent_modules or {})
        self._actors = [
            actor.remote(config.to_dict(), per_runner, config.seed + i * per_runner, cpu_module, mapping, threads)
            for i in range(runners)
        ]
        self._failures = [0] * runners
        #: Each runner's state after its last rollout (``None`` before the first): what a checkpoint holds.
        self._states: list[dict[str, Any]] | None = None
        self.restarts = 0
        self._overhead = 0.0
        #: Episodes finished during the last ``collect``, runner 0's first.
        self.episodes = EpisodeStats()
        self._windows = EpisodeWindows(config.stop.window) if agent_modules else None
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _start_ray(self, config: TrainConfig, cpus_needed: int) -> None:
        """Start a local Ray (``ray_address: local``) or join a cluster (``auto``, ``host:port``).

        A local Ray gets every CPU of the machine, or as many as the runners ask for if that is
        more: Ray's CPUs are logical, so the runners then share the cores (with a warning).
        """
        ray, address = self._ray, config.scale.ray_address
        if address != "local":
            ray.init(address=address, logging_level=logging.ERROR)
        else:
            cpus = os.cpu_count() or 1
            if cpus_needed > cpus:
                logger.warning(
                    "scale.env_runners: the runners ask for %d CPUs and this machine has %d: they share them",
                    cpus_needed,
                    cpus,
                )
            # The local Ray's workers inherit this environment: give them this process's import path.
            with environ({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}):
                ray.init(num_cpus=max(cpus, cpus_needed), include_dashboard=False, logging_level=logging.ERROR)
        self._owns_ray = True

    def _wait_ready(self) -> None:
        ray = self._ray
        refs = [a.ready.remote() for a in self._actors]
        try:
            #: Each runner's process id: a restarted runner has a new one.
            self._pids: list[int] = ray.get(refs, timeout=PLACEMENT_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise ConfigError(
                f"scale.env_runners: the env runners were not placed within {PLACEMENT_TIMEOUT_S:g} s: the Ray "
                f"cluster lacks the resources of scale.runner_resources; add nodes or lower them"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None

    @property
    def steps_per_rollout(self) -> int:
        """Env steps in one rollout (``horizon * num_envs`` over all runners)."""
        return self.horizon * self.num_envs

    def collect(self) -> TensorDict:
        """Send the weights, collect every runner's rollout and return them as one ``[t, num_envs]`` rollout."""
        ray = self._ray
        start = time.perf_counter()
        weights = ray.put({k: _numpy(v.detach().cpu()) for k, v in self.module.state_dict().items()})
        pending = {actor.collect.remote(weights): i for i, actor in enumerate(self._actors)}
        results: list[dict[str, Any]] = [{} for _ in self._actors]
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ref)
            try:
                results[i] = ray.get(ref)
            except (
                ray.exceptions.RayTaskError,
                ray.exceptions.RayActorError,
                ray.exceptions.ActorUnavailableError,
            ) as exc:
                self._restart(i, exc)
                pending[self._actors[i].collect.remote(weights)] = i
                continue
            self._failures[i] = 0
        rollout = _concat([r["rollout"] for r in results])
        self._states = [r["state"] for r in results]
        self.episodes = EpisodeStats()
        for r in results:
            self.episodes.extend(r["returns"], r["lengths"])
            if self._windows is not None:
                for key, values in r["windows"].items():
                    self._windows.extend(key, values)
        if self.device.type != "cpu":
            rollout = rollout.to(self.device)
        self._overhead = time.perf_counter() - start - max(r["seconds"] for r in results)
        return rollout

    def _restart(self, index: int, exc: Exception) -> None:
        """Count a runner's failure and wait until Ray has started it afresh; raise when a restart cannot help.

        Raises:
            EnvRunnerError: After ``scale.max_restarts`` restarts of the runner in a row, or if it
                does not come back within ``RESTART_TIMEOUT_S``.
        """
        ray = self._ray
        while True:
            cause = _cause(exc) if isinstance(exc, ray.exceptions.RayTaskError) else exc
            if isinstance(cause, _NOT_RETRIED):
                cause.add_note(f"rl8: raised in env runner {index}")
                raise cause from None
            self._failures[index] += 1
            if self._failures[index] > self.max_restarts:
                raise EnvRunnerError(
                    f"env runner {index} failed {self._failures[index]} times in a row (scale.max_restarts: "
                    f"{self.max_restarts}), the last time with {_one_line(cause)}; fix the env, or raise "
                    "scale.max_restarts"
                )
            self.restarts += 1
            logger.warning(
                "env runner %d failed (%s); restarting it to collect its share again", index, _one_line(cause)
            )
            if isinstance(exc, ray.exceptions.RayTaskError):
                # Its env raised: its state is unknown, so Ray replaces the process (and the env) as for a dead one.
                ray.kill(self._actors[index], no_restart=False)
            try:
                self._wait_alive(index)
                return
            except ray.exceptions.RayTaskError as error:  # its setup failed this time
                exc = error

    def _wait_alive(self, index: int) -> None:
        """Wait until Ray has restarted runner ``index`` (a new process) and its setup succeeded."""
        ray = self._ray
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while True:
            try:
                pid = ray.get(self._actors[index].ready.remote(), timeout=RESTART_TIMEOUT_S)
                if pid != self._pids[index]:
                    self._pids[index] = pid
                    return
                time.sleep(0.2)  # the old process, not stopped yet
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError) as exc:
                if time.monotonic() > deadline:
                    raise EnvRunnerError(
                        f"env runner {index} did not come back within {RESTART_TIMEOUT_S:g} s of failing "
                        f"({_one_line(exc)}); check the Ray cluster's nodes"
                    ) from None
                time.sleep(0.2)

    def metrics(self) -> dict[str, float]:
        """Restarts and overhead, plus per-module and per-agent returns for a multi-agent env."""
        out = {RESTARTS: float(self.restarts), OVERHEAD_S: self._overhead}
        if self._windows is not None:
            out |= self._windows.means()
        return out

    def state_dict(self) -> dict[str, Any]:
        """Return every runner's state (runner order), the restarts and the multi-agent windows.

        The runners' states came back with their last rollouts: saving asks nothing of them, so a
        checkpoint is written even while a runner is down.
        """
        if self._states is None:
            self._states = self._ray.get([a.state_dict.remote() for a in self._actors])
        return {
            "env_runners": self._states,
            "restarts": self.restarts,
            "windows": {} if self._windows is None else {k: list(v) for k, v in self._windows.returns.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> bool:
        """Restore a ``state_dict`` of as many runners; return whether their envs continue their episodes."""
        self.restarts = int(state.get("restarts", 0))
        if self._windows is not None:
            for key, values in state.get("windows", {}).items():
                self._windows.extend(key, values)
        runners = state.get("env_runners", [])
        if len(runners) != len(self._actors):
            return False
        return all(self._ray.get([a.load_state_dict.remote(s) for a, s in zip(self._actors, runners, strict=True)]))

    def close(self) -> None:
        """Stop the runner actors, and Ray if this group started it."""
        ray = self._ray
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self._actors = []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False


def _cause(exc: Exception) -> BaseException:
    """The exception a Ray task raised (Ray wraps it in a ``RayTaskError``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _numpy(tensor: torch.Tensor) -> Any:
    """``tensor`` as a NumPy array, or as it is for a dtype NumPy lacks (bfloat16)."""
    return tensor if tensor.dtype == torch.bfloat16 else tensor.numpy()


def _to_numpy(data: TensorDictBase) -> tuple[dict[str, Any], list[int]]:
    """A TensorDict as nested dicts of NumPy arrays and its batch size, for Ray's fast serialisation."""
    return tree.map_structure(_numpy, data.to_dict()), list(data.batch_size)


def _from_numpy(weights: dict[str, Any]) -> dict[str, torch.Tensor]:
    # A copy: arrays Ray hands over may be read-only views of its object store.
    return {k: torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v for k, v in weights.items()}


def _tensordict(data: tuple[dict[str, Any], list[int]]) -> TensorDict:
    """The TensorDict ``_to_numpy`` took apart."""
    leaves, batch_size = data
    return TensorDict(
        tree.map_structure(lambda v: torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v, leaves),
        batch_size=batch_size,
    )


def _concat(rollouts: list[Any]) -> TensorDict:
    """Concatenate runners' rollouts along the env axis: ``[t, n]`` each, or ``{module id: [t, k * n]}``."""
    if isinstance(rollouts[0], tuple):
        return torch.cat([_tensordict(r) for r in rollouts], dim=1)  # type: ignore[return-value]
    modules = {mid: torch.cat([_tensordict(r[mid]) for r in rollouts], dim=1) for mid in rollouts[0]}
    return TensorDict(modules, batch_size=[])
