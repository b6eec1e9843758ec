"""``GymVectorEnv``: gymnasium's vector envs behind the ``BatchedEnv`` protocol, and its config-level factory."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

import gymnasium as gym
import torch
import tree
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.env import BatchedEnv
from rl8_core.imports import import_object
from specs import Box, Composite, Spec, TensorSpec, from_gymnasium, from_numpy, to_numpy

__all__ = ["GymVectorEnv", "make_gymnasium_env"]

Vectorization = Literal["sync", "async"]
_ActionLeaf = tuple[tuple[str, ...], torch.dtype, torch.Tensor | None, torch.Tensor | None]


def _make_env(env: str | Callable[..., gym.Env[Any, Any]], kwargs: Mapping[str, Any]) -> gym.Env[Any, Any]:
    """Build one sub-env (module level, so that async workers can unpickle it)."""
    if isinstance(env, str):
        return gym.make(env, **kwargs)
    return env(**kwargs)


def _write_row(batch: Any, i: int, value: Any) -> None:
    """Write one env's observation ``value`` into row ``i`` of batched numpy data, leaf by leaf.

    dm-tree pairs the leaves of gymnasium's batched ``Dict``/``Tuple`` data
    with those of the single observation (dicts by key, tuples by position).

    Raises:
        ValueError: If ``value`` is not shaped like the observation space.
    """
    try:
        rows = tree.flatten_up_to(batch, value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the final observation of env {i} does not match the observation space: {exc}") from None
    for leaf, row in zip(tree.flatten(batch), rows, strict=True):
        leaf[i] = row


class GymVectorEnv(BatchedEnv):
    """``num_envs`` gymnasium envs in a ``SyncVectorEnv`` or ``AsyncVectorEnv``, as a ``BatchedEnv``.

    Finished envs reset in the same step (gymnasium's
    ``AutoresetMode.SAME_STEP``): ``obs`` holds the reset observation and
    ``next_obs`` the final one, which gymnasium hands over in
    ``info["final_obs"]`` for the envs its mask ``info["_final_obs"]`` marks.
    Observations become tensors (``TensorDict``s for ``Dict``/``Tuple``
    spaces, keyed as ``observation_spec``) on ``device``; rewards are float32,
    ``terminateds`` and ``truncateds`` bool and never merged. Other ``info``
    entries are dropped.

    Args:
        env: A registered gymnasium env id (built with ``gymnasium.make``) or a
            callable returning a ``gymnasium.Env``; with ``async`` vectorization
            the callable is cloudpickled to the worker processes.
        num_envs: Number of sub-envs.
        seed: Seed of the first ``reset`` that is not given one; env ``i`` gets
            ``seed + i`` (gymnasium's rule for an int seed).
        device: Where observations, rewards and flags are put.
        vectorization: ``"sync"`` (one process, envs stepped in turn) or
            ``"async"`` (one subprocess per env).
        clip_actions: Clip ``Box`` actions (leaves of composite actions too) to
            the action space's bounds before stepping. On by default because
            Gaussian policies sample outside any bounds and many envs do not
            clip themselves; the unclipped action stays what the learner sees.
        env_kwargs: Keyword arguments for ``gymnasium.make`` (or the callable).
        vector_kwargs: Extra keyword arguments for ``SyncVectorEnv`` /
            ``AsyncVectorEnv`` (e.g. ``context="spawn"``); ``autoreset_mode``
            is fixed to ``SAME_STEP``.

    Raises:
        ValueError: For an unknown ``vectorization`` or a non-positive ``num_envs``.

    Examples:
        >>> env = GymVectorEnv("CartPole-v1", num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 4])
        >>> out = env.step(torch.tensor([0, 1]))
        >>> out["rewards"].dtype, out["terminateds"].dtype
        (torch.float32, torch.bool)
        >>> env.close()
    """

    def __init__(
        self,
        env: str | Callable[..., gym.Env[Any, Any]],
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        vectorization: Vectorization = "sync",
        clip_actions: bool = True,
        env_kwargs: Mapping[str, Any] | None = None,
        vector_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if vectorization not in ("sync", "async"):
            raise ValueError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")
        vector_kwargs = dict(vector_kwargs or {})
        if vector_kwargs.pop("autoreset_mode", AutoresetMode.SAME_STEP) != AutoresetMode.SAME_STEP:
            raise ValueError("GymVectorEnv needs autoreset_mode=SAME_STEP (BatchedEnv resets within step)")
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.clip_actions = clip_actions
        self._seed = seed
        # Observations are wrapped without a copy where dtypes agree, so on the CPU the
        # vector env must hand out fresh arrays; a transfer to another device copies anyway.
        vector_kwargs.setdefault("copy", self.device.type == "cpu")
        env_fns = [functools.partial(_make_env, env, dict(env_kwargs or {})) for _ in range(self.num_envs)]
        vector_cls = SyncVectorEnv if vectorization == "sync" else AsyncVectorEnv
        #: The wrapped gymnasium vector env.
        self.env: VectorEnv[Any, Any, Any] = vector_cls(
            env_fns, autoreset_mode=AutoresetMode.SAME_STEP, **vector_kwargs
        )
        self._single_observation_space = self.env.single_observation_space
        self.observation_spec = from_gymnasium(self._single_observation_space).to(self.device)
        self.action_spec = from_gymnasium(self.env.single_action_space).to(self.device)
        self._batch_size = torch.Size([self.num_envs])
        self._action_leaves = self._plan_actions(self.action_spec)
        self._needs_reset = True

    def _plan_actions(self, spec: Spec) -> list[_ActionLeaf]:
        """List each action leaf's path, dtype and (when clipping) bounds on ``device``."""
        leaves = spec.leaves() if isinstance(spec, Composite) else [((), spec)]
        plan: list[_ActionLeaf] = []
        for path, leaf in leaves:
            assert isinstance(leaf, TensorSpec)
            low = high = None
            if self.clip_actions and isinstance(leaf, Box):
                low = leaf.low.to(self.device, leaf.dtype)
                high = leaf.high.to(self.device, leaf.dtype)
            plan.append((path, leaf.dtype, low, high))
        return plan

    def _prepare_actions(self, actions: torch.Tensor | TensorDictBase) -> Any:
        """Cast actions to the spec's dtypes, clip ``Box`` leaves, and convert them to numpy."""
        if isinstance(self.action_spec, Composite):
            if not isinstance(actions, TensorDictBase):
                raise TypeError(f"{self.action_spec!r} actions must be a TensorDict, got {type(actions).__name__}")
            out = actions.empty()
            for path, dtype, low, high in self._action_leaves:
                leaf = actions.get(path).to(dtype)
                out.set(path, leaf if low is None else torch.clamp(leaf, low, high))
            return to_numpy(self.action_spec, out)
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"{self.action_spec!r} actions must be a Tensor, got {type(actions).__name__}")
        ((_, dtype, low, high),) = self._action_leaves
        actions = actions.to(dtype)
        if low is not None:
            actions = torch.clamp(actions, low, high)
        return to_numpy(self.action_spec, actions)

    def _to_torch(self, obs: Any, n: int) -> torch.Tensor | TensorDict:
        return from_numpy(self.observation_spec, obs, batch_shape=(n,), device=self.device)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every env and return ``{obs: [n, *obs_shape]}``.

        Args:
            seed: Env ``i`` is reset with ``seed + i``; without one, the first reset
                uses the constructor's ``seed`` and later ones continue each env's
                random stream.
        """
        if seed is None and self._needs_reset:
            seed = self._seed
        obs, _ = self.env.reset(seed=seed)
        self._needs_reset = False
        return TensorDict(
            {Columns.OBS: self._to_torch(obs, self.num_envs)}, batch_size=self._batch_size, device=self.device
        )

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Step every env with ``actions`` ``[n, *action_shape]`` and return the step result.

        Returns:
            ``obs`` (reset observations where an episode ended), ``next_obs`` (the
            final observations there; the very same tensor as ``obs`` when no
            episode ended), ``rewards`` (float32), ``terminateds`` and
            ``truncateds`` (bool), all with batch size ``[n]``.

        Raises:
            RuntimeError: If ``reset`` was never called.
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        obs_np, rewards, terminateds, truncateds, info = self.env.step(self._prepare_actions(actions))
        obs = self._to_torch(obs_np, self.num_envs)
        next_obs = obs
        finished = info.get("_final_obs")
        if finished is not None and finished.any():
            # gymnasium hands final observations over one object per env; only the
            # finished envs' ones are written, into a copy of the batched observations.
            final_np = copy.deepcopy(obs_np)
            final_obs = info["final_obs"]
            for i in finished.nonzero()[0]:
                _write_row(final_np, int(i), final_obs[i])
            next_obs = self._to_torch(final_np, self.num_envs)
        return TensorDict(
            {
                Columns.OBS: obs,
                Columns.NEXT_OBS: next_obs,
                Columns.REWARDS: torch.from_numpy(rewards).to(self.device, torch.float32),
                Columns.TERMINATEDS: torch.from_numpy(terminateds).to(self.device, torch.bool),
                Columns.TRUNCATEDS: torch.from_numpy(truncateds).to(self.device, torch.bool),
            },
            batch_size=self._batch_size,
            device=self.device,
        )

    def close(self) -> None:
        """Close the vector env (and its worker processes)."""
        self.env.close()


def make_gymnasium_env(
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    id: str | None = None,
    factory: str | Callable[..., Any] | None = None,
    vectorization: Vectorization = "sync",
    clip_actions: bool = True,
    **make_kwargs: Any,
) -> GymVectorEnv:
    """Build a ``GymVectorEnv`` from a gymnasium id or an env factory, with config-style options.

    ``make_env`` calls this for a gymnasium id (``env: CartPole-v1``, with
    ``env_config`` as the options); the built-in ``gymnasium`` env plugin
    registers it under that name for ``env: gymnasium`` with ``id`` or
    ``factory`` in ``env_config``.

    Args:
        num_envs: Number of sub-envs.
        seed: Env ``i`` is first reset with ``seed + i``.
        device: Where observations, rewards and flags are put.
        id: A registered gymnasium id, built with ``gymnasium.make(id, **make_kwargs)``.
        factory: Instead of ``id``: a callable returning a ``gymnasium.Env``, or
            its import path (``"package.module:make_env"``); called with
            ``**make_kwargs``.
        vectorization: ``"sync"`` (one process) or ``"async"`` (a subprocess per env).
        clip_actions: Clip ``Box`` actions to the action space before stepping.
        **make_kwargs: Passed to ``gymnasium.make`` (or to ``factory``).

    Raises:
        ValueError: Unless exactly one of ``id`` and ``factory`` is given.
        TypeError: If ``factory`` does not resolve to a callable.

    Examples:
        >>> env = make_gymnasium_env(num_envs=2, seed=0, id="Pendulum-v1", g=9.81)
        >>> env.action_spec
        Box((1,), low=-2.0, high=2.0, dtype=torch.float32)
        >>> env.close()
    """
    if (id is None) == (factory is None):
        raise ValueError(
            f"the gymnasium env needs exactly one of 'id' and 'factory'; got id={id!r}, factory={factory!r}"
        )
    env: str | Callable[..., Any]
    if id is not None:
        env = id
    else:
        resolved = import_object(factory) if isinstance(factory, str) else factory
        if not callable(resolved):
            raise TypeError(f"the gymnasium env's factory {factory!r} is not callable")
        env = resolved
    return GymVectorEnv(
        env,
        num_envs=num_envs,
        seed=seed,
        device=device,
        vectorization=vectorization,
        clip_actions=clip_actions,
        env_kwargs=make_kwargs,
    )
