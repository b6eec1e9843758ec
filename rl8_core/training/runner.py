"""The runner: steps a ``BatchedEnv`` with a module into preallocated rollout buffers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule
from rl8_core.components.sequences import reset_state
from rl8_core.training.config import CheckSpecs, spec_checks_on
from rl8_core.training.guards import NonFiniteError, all_finite, describe_nonfinite
from specs import checking

__all__ = ["EpisodeStats", "Runner"]


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

    For a stateful module (``RLModule.is_stateful``) the runner carries each
    env's state from step to step: it passes ``state_in`` and keeps the
    ``state_out`` returned, replaced by the initial state for an env whose
    episode ended (terminated or truncated). The rollout holds both at each
    step: ``state_in`` is what sequences start from in training,
    ``state_out`` what a truncated episode's final value is computed from.

    Args:
        env: The batched env to step.
        module: Acts through ``forward_exploration``.
        horizon: Steps per env per rollout.
        check_specs: ``first`` checks the module's specs, its actions against
            the action spec and the env's outputs against the env contract
            (``BatchedEnv.check_output``) during the first rollout only (a
            mistake shows at once, then it costs nothing), ``always`` or ``never``.
        seed: Seed of the env's first reset.
        autocast: Returns the context the acting forwards run in (e.g. bf16
            autocast); by default none.
        check_finite: Check each rollout's rewards and float observations with
            one fused ``isfinite``: a NaN or inf raises ``NonFiniteError``
            naming the key, the step and the env.

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
        autocast: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        check_finite: bool = True,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.env = env
        self.module = module
        self.horizon = horizon
        self.check_specs = check_specs
        #: Whether each rollout's rewards and float observations must be finite (``guards.env``).
        self.check_finite = check_finite
        #: Context for the acting forwards (the learner's autocast, so both use one precision).
        self.autocast = autocast
        self.num_envs = env.num_envs
        self.device = env.device
        self._rollouts = 0
        self._buffer: TensorDict | None = None
        first = env.reset(seed=seed)
        if check_specs != "never":
            env.check_output(first, method="reset")
        self._obs: torch.Tensor | TensorDictBase = first.get(Columns.OBS)
        self._ep_return = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        self._ep_length = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        module_device = next(module.parameters()).device
        #: The initial state of every env (``[n]``; empty for a module without state).
        self._initial = module.initial_state(self.num_envs, module_device)
        #: Each env's current state, carried between steps and rollouts.
        self._state: TensorDictBase = self._initial.clone()
        self._leaf_keys: list[str | tuple[str, ...]] = []
        #: Episodes finished during the last ``collect``.
        self.episodes = EpisodeStats()

    @property
    def steps_per_rollout(self) -> int:
        """Env steps in one rollout (``horizon * num_envs``)."""
        return self.horizon * self.num_envs

    def _allocate(self, step: TensorDictBase) -> TensorDict:
        # The first step fixes keys, dtypes and shapes; expand + clone allocates [t, n, ...].
        buffer = step.unsqueeze(0).expand(self.horizon, *step.batch_size).clone()
        assert isinstance(buffer, TensorDict)
        self._leaf_keys = list(buffer.keys(include_nested=True, leaves_only=True))
        return buffer

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
        steps: list[TensorDictBase] = []
        checks = spec_checks_on(self.check_specs, self._rollouts)
        stateful = module.is_stateful
        with torch.no_grad(), checking(checks), self.autocast():
            for _ in range(self.horizon):
                obs = self._obs.to(device) if move else self._obs
                inputs = TensorDict({Columns.OBS: obs}, batch_size=batch_size)
                if stateful:
                    inputs.set(Columns.STATE_IN, self._state)
                out = module.forward_exploration(inputs)
                actions = out.get(Columns.ACTIONS)
                if checks:  # before the env sees them: dtype, shape and discrete ranges of the action spec
                    module.check_actions("exploration", actions)
                result = env.step(actions.to(self.device) if move else actions)
                if checks:  # the env's side of the contract, before its data is used
                    env.check_output(result)
                self._obs = result.get(Columns.OBS)
                if move:
                    result = result.to(device, non_blocking=True)
                if stateful:
                    out.set(Columns.STATE_IN, self._state)
                    done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
                    self._state = reset_state(out.get(Columns.STATE_OUT), self._initial, done)
                steps.append(
                    out.update(
                        {
                            Columns.OBS: obs,
                            Columns.NEXT_OBS: result.get(Columns.NEXT_OBS),
                            Columns.REWARDS: result.get(Columns.REWARDS),
                            Columns.TERMINATEDS: result.get(Columns.TERMINATEDS),
                            Columns.TRUNCATEDS: result.get(Columns.TRUNCATEDS),
                        }
                    )
                )
        # No grad: a module may return views of its parameters, which autograd would track.
        with torch.no_grad():
            if self._buffer is None:
                self._buffer = self._allocate(steps[0])
            buffer = self._buffer
            # One stack per key into the preallocated buffer instead of a copy per key and step:
            # at small batches the per-step writes cost more than the policy's forward pass.
            for key in self._leaf_keys:
                torch.stack([step.get(key) for step in steps], out=buffer.get(key))
        self._rollouts += 1
        if self.check_finite:
            self._check_finite(buffer)
        self._count_episodes(buffer)
        return buffer

    def _check_finite(self, rollout: TensorDict) -> None:
        """Raise ``NonFiniteError`` naming the first NaN or inf the env returned in ``rollout`` ``[t, n]``."""
        keys = [Columns.REWARDS, Columns.OBS, Columns.NEXT_OBS]
        leaves = {
            ".".join(key) if isinstance(key, tuple) else key: rollout.get(key)
            for key in self._leaf_keys
            if (key[0] if isinstance(key, tuple) else key) in keys
        }
        if all_finite(leaves.values()):
            return
        # Slow path, once: say where. Indices are [step of the rollout, env].
        first = describe_nonfinite(dict(sorted(leaves.items(), key=lambda kv: kv[0].split(".")[0] != Columns.REWARDS)))
        raise NonFiniteError(
            f"{type(self.env).__name__} returned NaN or inf: {first} (index: [step of the rollout, env, ...]); "
            "fix the env, or set guards.env: false to train on it anyway"
        )

    def _count_episodes(self, rollout: TensorDictBase) -> None:
        """Find the episodes that ended in ``rollout`` with a few whole-rollout tensor ops.

        Running sums over time give each step's return since the rollout began;
        subtracting the sum at the previous episode end of the same env gives
        the return of the episode that step belongs to.
        """
        rewards = rollout.get(Columns.REWARDS).to(self._ep_return.device, torch.float64)
        done = (rollout.get(Columns.TERMINATEDS) | rollout.get(Columns.TRUNCATEDS)).to(rewards.device)
        steps = torch.arange(rewards.shape[0], device=rewards.device).unsqueeze(1).expand_as(done)
        cum_return = rewards.cumsum(0) + self._ep_return
        cum_length = steps + 1 + self._ep_length
        # Index of the last episode end strictly before each step (-1: none this rollout).
        last_end = torch.where(done, steps, -1).cummax(0).values
        before = torch.cat([torch.full_like(last_end[:1], -1), last_end[:-1]])
        index = before.clamp(min=0)
        started = before >= 0
        returns = cum_return - torch.where(started, cum_return.gather(0, index), 0.0)
        lengths = cum_length - torch.where(started, cum_length.gather(0, index), 0)
        self._ep_return = torch.where(done[-1], 0.0, returns[-1])
        self._ep_length = torch.where(done[-1], 0, lengths[-1])
        self.episodes = EpisodeStats()
        if bool(done.any()):
            # Boolean indexing of [t, n] is step-major, then env index: completion order.
            self.episodes.extend(returns[done].tolist(), lengths[done].tolist())

    def metrics(self) -> dict[str, float]:
        """Return the runner's own metrics for the iteration (none: the trainer counts episodes)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Return what a resumed run needs: current observations, module states and episode accumulators."""
        return {
            "obs": self._obs,
            "state": self._state.clone(),
            "ep_return": self._ep_return.clone(),
            "ep_length": self._ep_length.clone(),
            "rollouts": self._rollouts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``state_dict`` (use with the env's own state)."""
        self._obs = state["obs"].to(self.device)
        if "state" in state:
            self._state = state["state"].to(self._initial.device)
        self._ep_return = state["ep_return"].to(self._ep_return.device)
        self._ep_length = state["ep_length"].to(self._ep_length.device)
        self._rollouts = int(state["rollouts"])
