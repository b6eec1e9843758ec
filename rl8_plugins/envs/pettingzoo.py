"""The ``pettingzoo`` env: copies of a PettingZoo ``ParallelEnv`` (or parallelizable ``AECEnv``), stepped in turn.

PettingZoo is imported only when the env is built, so rl8 runs without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import tree
from tensordict import TensorDict, TensorDictBase

from rl8_core import ALL_DONE, Columns, ConfigError, MultiAgentBatchedEnv, check_agent_ids, hookimpl
from rl8_plugins.envs._physics import check_positive
from specs import Box, Composite, Spec, UnsupportedSpaceError, from_gymnasium, from_numpy, to_numpy

__all__ = ["PettingZooEnv", "rl8_envs"]

_INSTALL = "pip install pettingzoo (or pip install rl8-core[pettingzoo])"
_EXAMPLE = "a module such as mpe2.simple_spread_v3 or an import path package.module:factory"


def _flat(text: str) -> str:
    """Return ``text`` on one line."""
    return " ".join(text.split())


def _import_module(name: str, ref: str) -> Any:
    """Import module ``name`` of the config's ``env`` ``ref``.

    Raises:
        ConfigError: In one line: the module is not installed (with a ``pip install``
            hint), its package has no such module, or importing it failed.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        top = name.split(".")[0]
        if missing == top:
            why = f"module {name!r} is not installed; pip install the package that provides it (pip install {top})"
        elif missing is not None and (missing == name or name.startswith(f"{missing}.")):
            why = f"package {top!r} has no module {missing!r}; check the name"
        else:
            hint = f"; pip install {missing.split('.')[0]}" if missing else ""
            why = f"importing module {name!r} failed: {_flat(str(exc))}{hint}"
        raise ConfigError(f"env_config.env: {ref!r}: {why}") from None


def _resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """Return the factory a config's ``env`` names: a module's ``parallel_env`` or ``env``, or ``module:factory``.

    Raises:
        ConfigError: For a module that does not import, or that has neither ``parallel_env`` nor ``env``.
    """
    if callable(ref):
        return ref
    module_name, sep, attr = ref.partition(":")
    module = _import_module(module_name, ref)
    if sep:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if not callable(obj):
            raise ConfigError(f"env_config.env: {ref!r}: module {module_name!r} has no callable {attr!r}")
        return obj  # type: ignore[no-any-return]
    for name in ("parallel_env", "env"):
        factory = getattr(module, name, None)
        if callable(factory):
            return factory  # type: ignore[no-any-return]
    raise ConfigError(
        f"env_config.env: module {ref!r} has neither parallel_env nor env; name a PettingZoo env module "
        f"(such as mpe2.simple_spread_v3) or the factory itself as {module_name}:factory"
    )


def _copy(data: Any) -> Any:
    """Return a copy of one copy's observation (envs may write into the arrays they returned)."""
    return tree.map_structure(np.array, data)


def _row(data: Any, i: int) -> Any:
    """Return copy ``i`` of batched numpy data (arrays, nested dicts and tuples of arrays)."""
    return tree.map_structure(lambda x: x[i], data)


class PettingZooEnv(MultiAgentBatchedEnv):
    """``num_envs`` copies of a PettingZoo ``ParallelEnv``, stepped one after another in this process.

    Like gymnasium's ``SyncVectorEnv``, for multi-agent envs. ``env`` names
    the env: a module such as ``mpe2.simple_spread_v3`` (its
    ``parallel_env(**env_kwargs)`` if it has one, else its ``env(**env_kwargs)``)
    or an import path ``package.module:factory``; an ``AECEnv`` is converted
    with PettingZoo's ``aec_to_parallel``, which only simultaneous-move envs
    allow. ``agents`` are the env's ``possible_agents``, specs come from its
    spaces (``specs.from_gymnasium``).

    Observations become tensors of the spec's dtypes on ``device``; actions
    go back to numpy, only for the agents in a copy's ``env.agents``. An agent
    that left before the others gets filler until ``__all__``: its last
    observation, reward 0, flags false (one absent at a reset gets the
    spec's zero observation). An agent that leaves without a flag of its own
    is truncated there. ``__all__`` comes when a copy has no agents left (or
    all of them are terminated or truncated); the copy is then reset: ``obs``
    is the new episode's first, ``next_obs`` the final one. ``infos`` are
    dropped.

    Args:
        num_envs: Copies stepped together.
        seed: The first reset of copy ``i`` gets ``seed + i``; later (auto)resets get no seed.
        device: Where observations, rewards and flags are put.
        env: The env's module or ``package.module:factory`` (or, from Python, a callable).
        **env_kwargs: Keywords of the env's factory (``N=3``, ``max_cycles=25``, ...).

    Raises:
        ConfigError: In one line: PettingZoo is not installed; ``env`` does not
            import, has no factory, returns no PettingZoo env, is a turn-based
            ``AECEnv`` that cannot be stepped in parallel, or has agent ids or
            spaces rl8 cannot hold; or a copy raises on reset.
        ValueError: For a non-positive ``num_envs``.

    Examples:
        >>> env = PettingZooEnv(num_envs=2, seed=0, env="mpe2.simple_spread_v3", N=2, continuous_actions=False)
        >>> env.agents, env.action_specs["agent_0"]
        (('agent_0', 'agent_1'), Discrete(5))
        >>> obs = env.reset()
        >>> obs["agent_0", "obs"].shape
        torch.Size([2, 12])
        >>> out = env.step(TensorDict({a: torch.zeros(2, dtype=torch.long) for a in env.agents}, [2]))
        >>> out["agent_1", "rewards"].dtype, out["__all__"].tolist()
        (torch.float32, [False, False])
        >>> env.close()
    """

    def __init__(
        self,
        num_envs: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        env: str | Callable[..., Any] | None = None,
        **env_kwargs: Any,
    ) -> None:
        check_positive(num_envs=num_envs)
        if env is None or not (callable(env) or (isinstance(env, str) and env)):
            raise ConfigError(f"env_config.env: the pettingzoo env needs env: {_EXAMPLE}, got {env!r}")
        try:
            from pettingzoo import AECEnv, ParallelEnv
            from pettingzoo.utils.conversions import aec_to_parallel
        except ImportError:
            raise ConfigError(f"env 'pettingzoo' needs PettingZoo, which is not installed: {_INSTALL}") from None
        self._ref = env if isinstance(env, str) else getattr(env, "__qualname__", repr(env))
        factory = _resolve(env)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self._envs: list[Any] = []
        for _ in range(self.num_envs):
            try:
                made = factory(**env_kwargs)
            except TypeError as exc:
                if "unexpected keyword argument" in str(exc):
                    raise  # make_env names the option
                raise ConfigError(f"env_config.env: building {self._ref!r} failed: {_flat(str(exc))}") from exc
            except Exception as exc:
                raise ConfigError(
                    f"env_config.env: building {self._ref!r} failed: {type(exc).__name__}: {_flat(str(exc))}"
                ) from exc
            if isinstance(made, AECEnv):
                try:
                    made = aec_to_parallel(made)
                except AssertionError:
                    raise ConfigError(
                        f"env_config.env: {self._ref!r} is an AEC env that is not parallelizable "
                        f"(turn-based, e.g. a board game), so aec_to_parallel cannot step its agents together; "
                        f"name a simultaneous-move env"
                    ) from None
            if not isinstance(made, ParallelEnv):
                raise ConfigError(
                    f"env_config.env: {self._ref!r} returned {type(made).__name__}, not a PettingZoo ParallelEnv "
                    f"or AECEnv; name {_EXAMPLE}"
                )
            self._envs.append(made)
        first = self._envs[0]
        try:
            self.agents = check_agent_ids(first.possible_agents, what=f"env {self._ref!r} possible_agents")
        except (AttributeError, ValueError) as exc:
            raise ConfigError(f"env_config.env: {_flat(str(exc))}; rl8 needs possible_agents with such ids") from None
        self.observation_specs = {a: self._spec(first.observation_space(a), a, "observation") for a in self.agents}
        self.action_specs = {a: self._spec(first.action_space(a), a, "action") for a in self.agents}
        self._zero_obs = {a: to_numpy(spec, spec.zero()) for a, spec in self.observation_specs.items()}
        self._action_bounds = {
            a: (spec.low.to(self.device), spec.high.to(self.device))
            for a, spec in self.action_specs.items()
            if isinstance(spec, Box)
        }
        self._seeds: list[int | None] = [None if seed is None else seed + i for i in range(self.num_envs)]
        #: The last observation of every agent in every copy (numpy, one copy's data).
        self._last: list[dict[str, Any]] = [dict(self._zero_obs) for _ in range(self.num_envs)]
        self._batch_size = torch.Size([self.num_envs])

    def _spec(self, space: Any, agent: str, what: str) -> Spec:
        """Return the spec of an agent's gymnasium ``space``.

        Raises:
            ConfigError: For a space no spec holds.
        """
        try:
            return from_gymnasium(space).to(self.device)
        except UnsupportedSpaceError as exc:
            raise ConfigError(
                f"env_config.env: {self._ref!r}: the {what} space of {agent} is not supported: {_flat(str(exc))}"
            ) from None

    def _reset_copy(self, i: int, seed: int | None) -> dict[str, Any]:
        """Reset copy ``i`` and return its observations, filler for agents absent at the start.

        Raises:
            ConfigError: If the env raises on reset.
        """
        try:
            obs, _ = self._envs[i].reset(seed=seed)
        except Exception as exc:
            raise ConfigError(
                f"env_config.env: {self._ref!r} raised on reset: {type(exc).__name__}: {_flat(str(exc))}"
            ) from exc
        self._last[i] = {a: _copy(obs[a]) if a in obs else self._zero_obs[a] for a in self.agents}
        return self._last[i]

    def _to_torch(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor | TensorDict]:
        """Stack every copy's observations per agent and return them as tensors ``[n, ...]`` on ``device``."""
        return {
            a: from_numpy(
                spec,
                tree.map_structure(lambda *xs: np.stack(xs), *[row[a] for row in rows]),
                batch_shape=self._batch_size,
                device=self.device,
            )
            for a, spec in self.observation_specs.items()
        }

    def _prepare(self, spec: Spec, data: Any, agent: str) -> Any:
        """Cast actions ``[n, ...]`` to the spec's dtypes, clip ``Box`` actions, and return them as numpy."""
        if isinstance(spec, Composite) or not isinstance(data, torch.Tensor):
            return to_numpy(spec, data)
        data = data.to(self.device, spec.dtype)
        bounds = self._action_bounds.get(agent)
        if bounds is not None:
            data = torch.clamp(data, bounds[0].to(data.dtype), bounds[1].to(data.dtype))
        return to_numpy(spec, data)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every copy and return ``{agent: {obs: [n, ...]}}``; copy ``i`` gets ``seed + i`` when given.

        Raises:
            ConfigError: If the env raises on reset.
        """
        if seed is not None:
            self._seeds = [seed + i for i in range(self.num_envs)]
        rows = [self._reset_copy(i, self._seeds[i]) for i in range(self.num_envs)]
        self._seeds = [None] * self.num_envs
        obs = self._to_torch(rows)
        return TensorDict({a: {Columns.OBS: obs[a]} for a in self.agents}, self._batch_size, device=self.device)

    def step(self, actions: TensorDictBase) -> TensorDictBase:
        """Step every copy with ``{agent: actions [n, ...]}`` (agents in its ``env.agents`` only); reset ended ones.

        Raises:
            TypeError: If ``actions`` is not a TensorDict.
            ConfigError: If the env raises on an autoreset.
        """
        if not isinstance(actions, TensorDictBase):
            raise TypeError(f"PettingZooEnv takes a TensorDict of actions per agent, got {type(actions).__name__}")
        k, n = len(self.agents), self.num_envs
        per_agent = {a: self._prepare(self.action_specs[a], actions.get(a), a) for a in self.agents}
        rewards = np.zeros((k, n), dtype=np.float32)
        terminateds = np.zeros((k, n), dtype=bool)
        truncateds = np.zeros((k, n), dtype=bool)
        all_done = np.zeros(n, dtype=bool)
        final_rows, next_rows = [], []
        for i, env in enumerate(self._envs):
            live = list(env.agents)
            obs, rew, term, trunc, _ = env.step({a: _row(per_agent[a], i) for a in live})
            last = self._last[i]
            still = set(env.agents)
            for j, a in enumerate(self.agents):
                if a not in live:
                    continue  # left earlier (or absent): filler
                if a in obs:
                    last[a] = _copy(obs[a])
                rewards[j, i] = rew.get(a, 0.0)
                terminateds[j, i] = bool(term.get(a, False))
                truncateds[j, i] = bool(trunc.get(a, False)) or (a not in still and not terminateds[j, i])
            final_rows.append(dict(last))
            all_done[i] = not still or all(term.get(a, False) or trunc.get(a, False) for a in still)
            next_rows.append(self._reset_copy(i, None) if all_done[i] else final_rows[-1])
        next_obs, obs_now = self._to_torch(final_rows), self._to_torch(next_rows)
        rew_t = torch.from_numpy(rewards).to(self.device)
        term_t = torch.from_numpy(terminateds).to(self.device)
        trunc_t = torch.from_numpy(truncateds).to(self.device)
        out: dict[str, Any] = {
            a: {
                Columns.OBS: obs_now[a],
                Columns.NEXT_OBS: next_obs[a],
                Columns.REWARDS: rew_t[j],
                Columns.TERMINATEDS: term_t[j],
                Columns.TRUNCATEDS: trunc_t[j],
            }
            for j, a in enumerate(self.agents)
        }
        out[ALL_DONE] = torch.from_numpy(all_done).to(self.device)
        return TensorDict(out, self._batch_size, device=self.device)

    def close(self) -> None:
        """Close every copy."""
        for env in self._envs:
            env.close()


@hookimpl
def rl8_envs() -> Mapping[str, Callable[..., MultiAgentBatchedEnv]]:
    """Register ``pettingzoo``."""
    return {"pettingzoo": PettingZooEnv}
