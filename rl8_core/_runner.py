"""The runner: steps a ``BatchedEnv`` with a module into preallocated rollout buffers."""

from __future__ import annotations

from typing import Any, Literal

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core._columns import Columns
from rl8_core._env import BatchedEnv
from rl8_core._module import RLModule
from specs import checking

__all__ = ["EpisodeStats", "Runner", "evaluate"]

CheckSpecs = Literal["first", "always", "never"]


class EpisodeStats:
    """Returns and lengths of finished episodes, in the order they finished."""

    def __init__(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def extend(self, returns: list[float], lengths: list[int]) -> None:
        """Append episodes (already in completion order)."""
        self.returns.extend(returns)
        self.lengths.extend(lengths)

    def __len__(self) -> int:
        return len(self.returns)


class Runner:
    """Collects ``horizon x num_envs`` steps per call into a TensorDict ``[t, n]``.

    Buffers are allocated once, from the first step's structure, and filled
    with in-place copies; there is no Python loop over envs. Episode returns
    and lengths are accumulated as tensors and read back once per rollout, in
    completion order (step-major, then env index).

    The rollout holds ``obs``, everything ``forward_exploration`` returned
    (``actions``, ``action_logp``, ``vf_preds``, ...), and the env's
    ``next_obs``, ``rewards``, ``terminateds`` and ``truncateds``.

    Args:
        env: The batched env to step.
        module: Acts through ``forward_exploration``.
        horizon: Steps per env per rollout.
        check_specs: ``first`` checks the module's specs during the first
            rollout only (a mistake shows at once, then it costs nothing),
            ``always`` or ``never``.

    Examples:
        >>> import torch
        >>> from catalogs import ActorCriticModule
        >>> from rl8_core import get_registry
        >>> env = get_registry().get("env", "cartpole")(num_envs=4, seed=0)
        >>> runner = Runner(env, ActorCriticModule(env.observation_spec, env.action_spec), horizon=8)
        >>> runner.collect().batch_size
        torch.Size([8, 4])
    """

    def __init__(
        self,
        env: BatchedEnv,
        module: RLModule,
        *,
        horizon: int,
        check_specs: CheckSpecs = "first",
        seed: int | None = None,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.env = env
        self.module = module
        self.horizon = horizon
        self.check_specs = check_specs
        self.num_envs = env.num_envs
        self.device = env.device
        self._rollouts = 0
        self._buffer: TensorDict | None = None
        self._obs: torch.Tensor | TensorDictBase = env.reset(seed=seed).get(Columns.OBS)
        self._ep_return = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        self._ep_length = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._done_return = torch.zeros(horizon, self.num_envs, dtype=torch.float64, device=self.device)
        self._done_length = torch.zeros(horizon, self.num_envs, dtype=torch.int64, device=self.device)
        self._done = torch.zeros(horizon, self.num_envs, dtype=torch.bool, device=self.device)
        #: Episodes finished during the last ``collect``.
        self.episodes = EpisodeStats()

    @property
    def steps_per_rollout(self) -> int:
        """Env steps in one rollout (``horizon * num_envs``)."""
        return self.horizon * self.num_envs

    def _allocate(self, step: TensorDictBase) -> TensorDict:
        # The first step fixes keys, dtypes and shapes; expand + clone allocates [t, n, ...].
        buffer = step.unsqueeze(0).expand(self.horizon, *step.batch_size).clone()
        assert isinstance(buffer, TensorDict)  # noqa: S101 - clone of a TensorDict
        return buffer

    def _checks_on(self) -> bool:
        return self.check_specs == "always" or (self.check_specs == "first" and self._rollouts == 0)

    def collect(self) -> TensorDict:
        """Step every env ``horizon`` times and return the rollout ``[t, n]``.

        The returned TensorDict is the runner's buffer: it is overwritten by
        the next ``collect``; clone it to keep it.
        """
        module, env = self.module, self.env
        module.eval()
        batch_size = torch.Size([self.num_envs])
        device = next(module.parameters()).device
        move = device != self.device
        with torch.no_grad(), checking(self._checks_on()):
            for t in range(self.horizon):
                obs = self._obs.to(device) if move else self._obs
                out = module.forward_exploration(TensorDict({Columns.OBS: obs}, batch_size=batch_size))
                actions = out.get(Columns.ACTIONS)
                result = env.step(actions.to(self.device) if move else actions)
                self._track(t, result)
                self._obs = result.get(Columns.OBS)
                if move:
                    result = result.to(device, non_blocking=True)
                step = out.update(
                    {
                        Columns.OBS: obs,
                        Columns.NEXT_OBS: result.get(Columns.NEXT_OBS),
                        Columns.REWARDS: result.get(Columns.REWARDS),
                        Columns.TERMINATEDS: result.get(Columns.TERMINATEDS),
                        Columns.TRUNCATEDS: result.get(Columns.TRUNCATEDS),
                    }
                )
                if self._buffer is None:
                    self._buffer = self._allocate(step)
                self._buffer[t] = step
        self._rollouts += 1
        self._read_episodes()
        assert self._buffer is not None  # noqa: S101 - horizon >= 1 allocates it
        return self._buffer

    def _track(self, t: int, result: TensorDictBase) -> None:
        done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
        self._ep_return += result.get(Columns.REWARDS)
        self._ep_length += 1
        self._done[t] = done
        self._done_return[t] = self._ep_return
        self._done_length[t] = self._ep_length
        keep = ~done
        self._ep_return.mul_(keep)
        self._ep_length.mul_(keep)

    def _read_episodes(self) -> None:
        mask = self._done
        self.episodes = EpisodeStats()
        if bool(mask.any()):
            self.episodes.extend(self._done_return[mask].tolist(), self._done_length[mask].tolist())

    def state_dict(self) -> dict[str, Any]:
        """Return what a resumed run needs: current observations and episode accumulators."""
        return {
            "obs": self._obs,
            "ep_return": self._ep_return.clone(),
            "ep_length": self._ep_length.clone(),
            "rollouts": self._rollouts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``state_dict`` (use with the env's own state)."""
        self._obs = state["obs"].to(self.device)
        self._ep_return.copy_(state["ep_return"])
        self._ep_length.copy_(state["ep_length"])
        self._rollouts = int(state["rollouts"])


def evaluate(
    module: RLModule,
    env: BatchedEnv,
    *,
    episodes: int,
    deterministic: bool = True,
    seed: int | None = None,
    max_steps: int = 1_000_000,
) -> dict[str, float]:
    """Run ``episodes`` full episodes and return ``eval/*`` statistics of their returns.

    Episodes are spread evenly over the envs and only the first ones of each
    env count, so short episodes are not over-represented (as SB3 does).

    Args:
        module: Acts with ``forward_inference`` (deterministic) or ``forward_exploration``.
        env: The env to evaluate on; it is reset first.
        episodes: How many episodes to average.
        deterministic: Use ``forward_inference``.
        seed: Seed for the env's reset.
        max_steps: Guard against envs that never end.

    Raises:
        RuntimeError: If the episodes do not finish within ``max_steps`` steps per env.
    """
    n = env.num_envs
    device = next(module.parameters()).device
    targets = torch.tensor([(episodes + i) // n for i in range(n)], device=env.device)
    counts = torch.zeros(n, dtype=torch.int64, device=env.device)
    ep_return = torch.zeros(n, dtype=torch.float64, device=env.device)
    ep_length = torch.zeros(n, dtype=torch.int64, device=env.device)
    returns: list[float] = []
    lengths: list[int] = []
    forward = module.forward_inference if deterministic else module.forward_exploration
    module.eval()
    obs = env.reset(seed=seed).get(Columns.OBS)
    with torch.no_grad(), checking(False):
        for _ in range(max_steps):
            out = forward(TensorDict({Columns.OBS: obs.to(device)}, batch_size=[n]))
            result = env.step(out.get(Columns.ACTIONS).to(env.device))
            ep_return += result.get(Columns.REWARDS)
            ep_length += 1
            done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
            record = done & (counts < targets)
            if bool(record.any()):
                returns.extend(ep_return[record].tolist())
                lengths.extend(ep_length[record].tolist())
                counts += record.long()
                if bool((counts >= targets).all()):
                    break
            ep_return *= ~done
            ep_length *= ~done
            obs = result.get(Columns.OBS)
        else:
            raise RuntimeError(f"evaluation did not finish {episodes} episodes within {max_steps} steps per env")
    r = torch.tensor(returns, dtype=torch.float64)
    return {
        "eval/return_mean": float(r.mean()),
        "eval/return_std": float(r.std(unbiased=False)),
        "eval/return_min": float(r.min()),
        "eval/return_max": float(r.max()),
        "eval/length_mean": float(torch.tensor(lengths, dtype=torch.float64).mean()),
        "eval/episodes": float(len(returns)),
    }
