"""``GymVectorEnv``: gymnasium's vector envs behind the ``BatchedEnv`` protocol, and its config-level factory."""

from __future__ import annotations

import copy
import functools
import inspect
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import tree
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.wrappers import FilterObservation
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.env import BatchedEnv
from rl8_core.errors import ConfigError
from rl8_core.imports import import_object
from specs import Box, Composite, Spec, TensorSpec, UnsupportedSpaceError, from_gymnasium, from_numpy, to_numpy

__all__ = ["EnvStepTimeout", "GymVectorEnv", "WrapperEntry", "make_gymnasium_env"]


class EnvStepTimeout(RuntimeError):
    """An async gymnasium env's worker did not finish a step within ``step_timeout_s``."""


Vectorization = Literal["sync", "async"]
#: One entry of ``wrappers``: an import path, a ``{wrapper: PATH, option: value}`` mapping, or a callable.
WrapperEntry = str | Mapping[str, Any] | Callable[..., Any]
_ActionLeaf = tuple[tuple[str, ...], torch.dtype, torch.Tensor | None, torch.Tensor | None]
#: A checked wrapper: its index in ``wrappers``, its import path (or the callable) and its options.
_Wrapper = tuple[int, str | Callable[..., Any], dict[str, Any]]

_WRAPPER_EXAMPLE = (
    "e.g. 'gymnasium.wrappers:FlattenObservation' or {wrapper: 'minigrid.wrappers:RGBImgObsWrapper', tile_size: 4}"
)
_SPACE_FIX = "env_config.wrappers (e.g. minigrid.wrappers:ImgObsWrapper or gymnasium.wrappers:FlattenObservation)"
_SUPPORTED = "rl8 supports Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple"
#: Space kinds with a spec; one of them fails only for a value no spec holds (a boolean Box).
_SPEC_KINDS = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def _flat(text: str) -> str:
    """Return ``text`` on one line (error messages from other libraries may span several)."""
    return " ".join(text.split())


def _wrapper_name(ref: str | Callable[..., Any]) -> str:
    """Return how messages name a wrapper: its import path as given, or ``module:qualname``."""
    if isinstance(ref, str):
        return ref
    return f"{getattr(ref, '__module__', '?')}:{getattr(ref, '__qualname__', type(ref).__name__)}"


def _check_wrappers(wrappers: Sequence[WrapperEntry] | None) -> tuple[_Wrapper, ...]:
    """Check ``wrappers`` up front (imports, callables, option names) and return them as plain data.

    The plan keeps import paths as strings, so that the per-env constructor
    pickles to async workers by value and each worker imports the wrapper itself.

    Raises:
        ConfigError: Naming ``env_config.wrappers[i]`` and the fix.
    """
    if wrappers is None:
        return ()
    if isinstance(wrappers, (str, Mapping)) or not isinstance(wrappers, Sequence):
        raise ConfigError(
            f"env_config.wrappers: expected a list of wrappers ({_WRAPPER_EXAMPLE}), got {wrappers!r}; "
            f"write a single wrapper as a one-item list"
        )
    plan: list[_Wrapper] = []
    for i, entry in enumerate(wrappers):
        where = f"env_config.wrappers[{i}]"
        ref: Any
        if isinstance(entry, Mapping):
            options = {str(k): v for k, v in entry.items() if k != "wrapper"}
            ref = entry.get("wrapper")
            if ref is None:
                raise ConfigError(
                    f"{where}: a mapping needs the key 'wrapper' with the wrapper's import path "
                    f"(the other keys are its options), got keys {sorted(map(str, entry))}"
                )
        else:
            ref, options = entry, {}
        if isinstance(ref, str):
            try:
                obj = import_object(ref)
            except ImportError as exc:
                raise ConfigError(
                    f"{where}: {_flat(str(exc))}; give the import path of a gymnasium wrapper ({_WRAPPER_EXAMPLE}) "
                    f"and pip install the package that provides it"
                ) from None
        elif callable(ref):
            obj = ref
        else:
            raise ConfigError(
                f"{where}: expected an import path or a mapping with 'wrapper' ({_WRAPPER_EXAMPLE}), got {ref!r}"
            )
        if not callable(obj):
            raise ConfigError(
                f"{where}: {_wrapper_name(ref)} is not callable (it is a {type(obj).__name__}); "
                f"name a gymnasium wrapper class or a function env -> env ({_WRAPPER_EXAMPLE})"
            )
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):  # no signature to check (some builtins); checked when applied
            signature = None
        if signature is not None:
            try:
                signature.bind(None, **options)
            except TypeError as exc:
                raise ConfigError(
                    f"{where}: {_wrapper_name(ref)} rejects the options {options}: {exc}; "
                    f"its parameters are {signature}"
                ) from None
        plan.append((i, ref, options))
    return tuple(plan)


def _check_drop_keys(drop_keys: Sequence[str] | None) -> tuple[str, ...]:
    """Return ``drop_keys`` as a tuple of strings.

    Raises:
        ConfigError: Unless it is a list of strings.
    """
    if drop_keys is None:
        return ()
    if (
        isinstance(drop_keys, str)
        or not isinstance(drop_keys, Sequence)
        or not all(isinstance(k, str) for k in drop_keys)
    ):
        raise ConfigError(
            f"env_config.drop_keys: expected a list of observation keys (e.g. [mission]), got {drop_keys!r}"
        )
    return tuple(drop_keys)


def _apply_wrappers(env: gym.Env[Any, Any], wrappers: tuple[_Wrapper, ...]) -> gym.Env[Any, Any]:
    """Wrap ``env`` in each wrapper in order.

    Raises:
        ConfigError: If a wrapper rejects its options or the env it is given.
    """
    for i, ref, options in wrappers:
        wrapper = import_object(ref) if isinstance(ref, str) else ref
        try:
            env = wrapper(env, **options)
        except (TypeError, ValueError, AssertionError, NotImplementedError) as exc:
            call = f"{_wrapper_name(ref)}(env{''.join(f', {k}={v!r}' for k, v in options.items())})"
            reason = _flat(str(exc)) or type(exc).__name__
            raise ConfigError(
                f"env_config.wrappers[{i}]: {call} failed on the observation {_flat(repr(env.observation_space))}: "
                f"{reason}; fix its options, or put a wrapper before it that turns the observation into one "
                f"it takes (env_config.drop_keys applies after all wrappers)"
            ) from exc
    return env


def _drop_keys(env: gym.Env[Any, Any], keys: tuple[str, ...]) -> gym.Env[Any, Any]:
    """Remove the top-level ``keys`` from a ``Dict`` observation (``FilterObservation`` keeps the others).

    Raises:
        ConfigError: If the observation is not a ``Dict``, lacks one of ``keys``, or would be left empty.
    """
    if not keys:
        return env
    space = env.observation_space
    if not isinstance(space, gym.spaces.Dict):
        raise ConfigError(
            f"env_config.drop_keys: {list(keys)} needs a Dict observation, but it is {_flat(repr(space))}"
        )
    present = list(space.spaces)
    for key in keys:
        if key not in space.spaces:
            raise ConfigError(
                f"env_config.drop_keys: the observation has no key {key!r}; its keys are {', '.join(present)}"
            )
    kept = [k for k in present if k not in keys]
    if not kept:
        raise ConfigError(f"env_config.drop_keys: {list(keys)} drops every key of the observation; keep at least one")
    return FilterObservation(env, filter_keys=kept)


def _find_unsupported(space: gym.Space[Any], path: str) -> tuple[str, gym.Space[Any], UnsupportedSpaceError] | None:
    """Return the first leaf of ``space`` that no spec holds, as ``(path, leaf, error)``, or ``None``."""
    children: list[tuple[str, gym.Space[Any]]]
    if isinstance(space, gym.spaces.Dict):
        children = [(f"{path}[{k!r}]", v) for k, v in space.spaces.items()]
    elif isinstance(space, gym.spaces.Tuple):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(space.spaces)]
    else:
        try:
            from_gymnasium(space)
        except UnsupportedSpaceError as exc:
            return path, space, exc
        return None
    for child_path, child in children:
        found = _find_unsupported(child, child_path)
        if found is not None:
            return found
    return None


def _space_spec(space: gym.Space[Any], what: Literal["observation", "action"]) -> Spec:
    """Convert an env's observation or action space to a spec.

    Raises:
        ConfigError: For a space no spec holds (``Text``, ``Graph``,
            ``Sequence``, ...), in one line naming its path (``observation['mission']``)
            and the config that fixes it: ``env_config.drop_keys`` for a key of a
            ``Dict`` observation, ``env_config.wrappers`` otherwise.
    """
    try:
        return from_gymnasium(space)
    except UnsupportedSpaceError as exc:
        found = _find_unsupported(space, what)
        where: str = what
        if found is None:  # the Dict or Tuple itself: empty, or a key with '.'
            leaf, reason = space, _flat(str(exc))
        else:
            where, leaf, leaf_exc = found
            if isinstance(leaf, _SPEC_KINDS):  # a kind with a spec, but this one has none (a bool Box)
                reason = _flat(str(leaf_exc)).partition("has no spec: ")[2] or _flat(str(leaf_exc))
            else:
                reason = _SUPPORTED
        fix = f"convert the {what} with {_SPACE_FIX}"
        if what == "action":
            fix = "convert the action with an action wrapper in env_config.wrappers"
        elif isinstance(space, gym.spaces.Dict):
            top = next((k for k in space.spaces if where.startswith(f"{what}[{k!r}]")), None)
            if top is not None:
                fix = f"drop the key with env_config.drop_keys: [{top}], or {fix}"
        raise ConfigError(f"{where}: {_flat(repr(leaf))} is not supported ({reason}); {fix}") from exc


def _make_env(
    env: str | Callable[..., gym.Env[Any, Any]],
    kwargs: Mapping[str, Any],
    wrappers: tuple[_Wrapper, ...] = (),
    drop_keys: tuple[str, ...] = (),
) -> gym.Env[Any, Any]:
    """Build one sub-env, wrap it and check its spaces (module level, so that async workers can unpickle it).

    ``AsyncVectorEnv`` builds one env in the parent process first, so a
    ``ConfigError`` from here reaches the caller in both vectorizations.
    """
    sub_env = gym.make(env, **kwargs) if isinstance(env, str) else env(**kwargs)
    sub_env = _drop_keys(_apply_wrappers(sub_env, wrappers), drop_keys)
    _space_spec(sub_env.observation_space, "observation")
    _space_spec(sub_env.action_space, "action")
    return sub_env


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
        wrappers: Gymnasium wrappers applied to each sub-env in order, before
            vectorization: import paths (``"gymnasium.wrappers:FlattenObservation"``),
            ``{"wrapper": PATH, option: value, ...}`` mappings (the options are
            keyword arguments) or callables ``env -> env``.
        drop_keys: Top-level keys removed from a ``Dict`` observation after the
            wrappers (e.g. MiniGrid's text ``mission``).
        step_timeout_s: With ``async`` vectorization, the longest a step may
            take: a worker that hangs past it is terminated and ``step`` raises
            ``EnvStepTimeout``. ``None`` waits for ever.
        vector_kwargs: Extra keyword arguments for ``SyncVectorEnv`` /
            ``AsyncVectorEnv`` (e.g. ``context="spawn"``); ``autoreset_mode``
            is fixed to ``SAME_STEP``.

    Raises:
        ValueError: For an unknown ``vectorization`` or a non-positive ``num_envs``.
        ConfigError: For a wrapper that does not import or rejects its options,
            a key of ``drop_keys`` the observation lacks, or a space no spec holds.

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
        wrappers: Sequence[WrapperEntry] | None = None,
        drop_keys: Sequence[str] | None = None,
        step_timeout_s: float | None = None,
        vector_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if step_timeout_s is not None and not (math.isfinite(step_timeout_s) and step_timeout_s > 0):
            raise ConfigError(f"env_config.step_timeout_s: must be a number > 0, got {step_timeout_s!r}")
        if step_timeout_s is not None and vectorization != "async":
            raise ConfigError(
                "env_config.step_timeout_s: needs vectorization: async (a sync env steps in this process and "
                "cannot be timed out)"
            )
        self._step_timeout_s = step_timeout_s
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
        # Plain data (import paths, option dicts, key names): the constructor pickles to async workers.
        make_one = functools.partial(
            _make_env, env, dict(env_kwargs or {}), _check_wrappers(wrappers), _check_drop_keys(drop_keys)
        )
        env_fns = [make_one] * self.num_envs
        vector_cls = SyncVectorEnv if vectorization == "sync" else AsyncVectorEnv
        #: The wrapped gymnasium vector env.
        self.env: VectorEnv[Any, Any, Any] = vector_cls(
            env_fns, autoreset_mode=AutoresetMode.SAME_STEP, **vector_kwargs
        )
        self._single_observation_space = self.env.single_observation_space
        self.observation_spec = _space_spec(self._single_observation_space, "observation").to(self.device)
        self.action_spec = _space_spec(self.env.single_action_space, "action").to(self.device)
        self._batch_size = torch.Size([self.num_envs])
        self._action_leaves = self._plan_actions(self.action_spec)
        self._name = env if isinstance(env, str) else getattr(env, "__qualname__", repr(env))
        self._closed = False
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
        obs_np, rewards, terminateds, truncateds, info = self._step_vector(self._prepare_actions(actions))
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

    def render(self, index: int = 0) -> np.ndarray:
        """Return sub-env ``index``'s picture, ``uint8`` ``[height, width, 3]`` (``BatchedEnv``'s optional ``render``).

        The sub-envs must have been made with ``render_mode="rgb_array"``
        (``make_gymnasium_env(render_mode=...)``, ``env_config.render_mode``).

        Raises:
            ConfigError: If they were made with another render mode, or the frame is not an RGB array.
            IndexError: For an ``index`` outside ``[0, num_envs)``.
        """
        if not 0 <= index < self.num_envs:
            raise IndexError(f"env index {index} out of range for {self.num_envs} envs")
        mode = self.env.render_mode
        if mode != "rgb_array":
            raise ConfigError(
                f"env {self._name!r} was made with render_mode={mode!r}, so it cannot hand out frames; "
                f"make it with render_mode='rgb_array' (env_config.render_mode: rgb_array)"
            )
        vec = self.env
        if isinstance(vec, SyncVectorEnv):
            frame = vec.envs[index].render()
        else:
            assert isinstance(vec, AsyncVectorEnv)
            frame = vec.call("render")[index]
        if not isinstance(frame, np.ndarray):
            raise ConfigError(f"env {self._name!r}: render() returned {type(frame).__name__}, not an RGB array")
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def _step_vector(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        vec = self.env
        if self._step_timeout_s is None or not isinstance(vec, AsyncVectorEnv):
            return vec.step(actions)
        vec.step_async(actions)
        try:
            result: tuple[Any, Any, Any, Any, dict[str, Any]] = vec.step_wait(timeout=self._step_timeout_s)
            return result
        except multiprocessing.TimeoutError:
            # gymnasium has reset its state to idle: a plain close would wait on the hung worker.
            self._closed = True
            vec.close_extras(terminate=True)
            vec.closed = True
            raise EnvStepTimeout(
                f"a worker of {self._name!r} did not finish a step within {self._step_timeout_s:g} s "
                "(env_config.step_timeout_s); the workers were stopped"
            ) from None

    def close(self) -> None:
        """Close the vector env (and its worker processes).

        Workers still busy with a step (it timed out, or Ctrl-C arrived while
        waiting) are terminated rather than waited for, so closing never hangs.
        """
        if self._closed:
            return
        self._closed = True
        vec = self.env
        if isinstance(vec, AsyncVectorEnv) and vec._state != AsyncState.DEFAULT:
            vec.close_extras(terminate=True)
            vec.closed = True
        else:
            vec.close()


def make_gymnasium_env(
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    id: str | None = None,
    factory: str | Callable[..., Any] | None = None,
    vectorization: Vectorization = "sync",
    clip_actions: bool = True,
    wrappers: Sequence[WrapperEntry] | None = None,
    drop_keys: Sequence[str] | None = None,
    step_timeout_s: float | None = None,
    render_mode: str | None = None,
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
        id: A registered gymnasium id, built with ``gymnasium.make(id, **make_kwargs)``;
            gymnasium's ``"module:EnvId"`` form imports ``module`` first (in each
            async worker too), for ids a package registers on import.
        factory: Instead of ``id``: a callable returning a ``gymnasium.Env``, or
            its import path (``"package.module:make_env"``); called with
            ``**make_kwargs``.
        vectorization: ``"sync"`` (one process) or ``"async"`` (a subprocess per env).
        clip_actions: Clip ``Box`` actions to the action space before stepping.
        wrappers: Gymnasium wrappers applied to each sub-env in order, before
            vectorization (``env_config.wrappers``): import paths or
            ``{"wrapper": PATH, option: value}`` mappings; see ``GymVectorEnv``.
        drop_keys: Top-level keys removed from a ``Dict`` observation after the
            wrappers (``env_config.drop_keys``), e.g. MiniGrid's text ``mission``.
        step_timeout_s: With ``vectorization: async``, stop a worker that takes
            longer than this for one step (``EnvStepTimeout``) instead of waiting for ever.
        render_mode: gymnasium's ``render_mode`` for every sub-env (passed to
            ``gymnasium.make`` or ``factory`` when given): ``"rgb_array"`` lets
            ``GymVectorEnv.render`` hand out frames (``rl8 record`` asks for it).
        **make_kwargs: Passed to ``gymnasium.make`` (or to ``factory``).

    Raises:
        ValueError: Unless exactly one of ``id`` and ``factory`` is given.
        TypeError: If ``factory`` does not resolve to a callable.
        ConfigError: For a bad entry of ``wrappers`` or ``drop_keys``, or a space
            no spec holds (the message names the fix).

    Examples:
        >>> env = make_gymnasium_env(num_envs=2, seed=0, id="Pendulum-v1", g=9.81)
        >>> env.action_spec
        Box((1,), low=-2.0, high=2.0, dtype=torch.float32)
        >>> env.close()

        Wrappers (a mapping passes options) and dropped keys, as ``env_config`` gives them:

        >>> env = make_gymnasium_env(
        ...     num_envs=2,
        ...     id="CartPole-v1",
        ...     wrappers=[{"wrapper": "gymnasium.wrappers:TimeAwareObservation", "flatten": False}],
        ...     drop_keys=["time"],
        ... )
        >>> env.observation_spec
        Composite({'obs': Box((4,), dtype=torch.float32)})
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
    if render_mode is not None:
        make_kwargs["render_mode"] = render_mode
    if render_mode == "rgb_array":
        # Off-screen frames need no display: without this, SDL (gymnasium's classic-control renderer runs on
        # pygame) probes for one and prints "error: XDG_RUNTIME_DIR is invalid" on a headless machine.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return GymVectorEnv(
        env,
        num_envs=num_envs,
        seed=seed,
        device=device,
        vectorization=vectorization,
        clip_actions=clip_actions,
        env_kwargs=make_kwargs,
        wrappers=wrappers,
        drop_keys=drop_keys,
        step_timeout_s=step_timeout_s,
    )
