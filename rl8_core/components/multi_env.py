"""``MultiAgentBatchedEnv``: copies of a multi-agent env stepped together, one set of tensors per agent."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.errors import ConfigError
from specs import FLOAT_DTYPES, Box, Composite, Spec, SpecDict, SpecError, TensorShape, check
from specs.errors import Mismatch

__all__ = ["ALL_DONE", "AgentIdObs", "MultiAgentBatchedEnv", "check_agent_ids"]

#: Key of the step result that says an env copy's episode ended for every agent (and it was reset).
ALL_DONE = "__all__"

_AGENT_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def check_agent_ids(ids: Any, *, what: str) -> tuple[str, ...]:
    """Return ``ids`` as a tuple of agent or module ids, checked to be non-empty, unique, simple names.

    Ids become keys of TensorDicts and state dicts and parts of metric names,
    so they may hold letters, digits, ``_`` and ``-`` only.

    Raises:
        ValueError: Naming ``what`` and the offending id.
    """
    out = tuple(ids)
    if not out:
        raise ValueError(f"{what}: no ids")
    for name in out:
        if not isinstance(name, str) or not _AGENT_ID.match(name) or name == ALL_DONE:
            raise ValueError(f"{what}: {name!r} is not a valid id (letters, digits, '_' and '-' only)")
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: ids repeat: {list(out)}")
    return out


class MultiAgentBatchedEnv(ABC):
    """``num_envs`` copies of a multi-agent env, reset and stepped together; every agent's data is a tensor ``[n]``.

    ``agents`` names every agent that can take part, in a fixed order, each
    with its own ``observation_specs[agent]`` and ``action_specs[agent]``.
    ``reset`` returns ``{agent: {obs: [n, ...]}}``. ``step`` takes
    ``{agent: actions [n, ...]}`` and returns, for every agent, what a
    ``BatchedEnv`` step returns (``obs``, ``next_obs``, ``rewards``,
    ``terminateds``, ``truncateds``), plus ``__all__`` ``[n]`` (bool): the
    copy's episode ended for everyone and the copy was reset, so every
    agent's ``obs`` there is the new episode's first.

    **Agents that leave early.** An agent whose ``terminateds`` or
    ``truncateds`` is true while ``__all__`` is not has left that copy's
    episode: until ``__all__``, the env ignores its actions and may return
    anything that fits its specs for it (zeros, its last observation); the
    runner gives those steps no weight. An agent still in the episode when
    ``__all__`` comes without a flag of its own is truncated there (its value
    bootstraps from ``next_obs``). ``__all__`` must be true once every agent
    has left.

    Tensors returned belong to the caller (allocate new ones each step);
    copies reset themselves inside ``step``, as ``BatchedEnv`` copies do.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from specs import Box, Discrete
        >>> class Echo(MultiAgentBatchedEnv):
        ...     def __init__(self, num_envs):
        ...         self.agents = ("a", "b")
        ...         self.observation_specs = {a: Box((1,)) for a in self.agents}
        ...         self.action_specs = {a: Discrete(2) for a in self.agents}
        ...         self.num_envs, self.device = num_envs, torch.device("cpu")
        ...     def reset(self, *, seed=None):
        ...         return TensorDict({a: {"obs": torch.zeros(self.num_envs, 1)} for a in self.agents}, [self.num_envs])
        ...     def step(self, actions):
        ...         n, done = self.num_envs, torch.ones(self.num_envs, dtype=torch.bool)
        ...         per = {a: {"obs": torch.zeros(n, 1), "next_obs": actions[a].float()[:, None],
        ...                    "rewards": actions[a].float(), "terminateds": done, "truncateds": ~done}
        ...                for a in self.agents}
        ...         return TensorDict({**per, "__all__": done}, [n])
        >>> env = Echo(2)
        >>> out = env.step(TensorDict({"a": torch.tensor([0, 1]), "b": torch.tensor([1, 1])}, [2]))
        >>> out["b", "rewards"].tolist(), out["__all__"].tolist()
        ([1.0, 1.0], [True, True])
    """

    #: Every agent that can take part, in a fixed order.
    agents: tuple[str, ...]
    #: Spec of one copy's observation, per agent.
    observation_specs: Mapping[str, Spec]
    #: Spec of one copy's action, per agent.
    action_specs: Mapping[str, Spec]
    #: Copies stepped together.
    num_envs: int
    #: Where observations, rewards and flags live.
    device: torch.device

    @abstractmethod
    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every copy and return ``{agent: {obs: [n, ...]}}`` (batch ``[n]``)."""

    @abstractmethod
    def step(self, actions: TensorDictBase) -> TensorDictBase:
        """Apply ``{agent: actions [n, ...]}`` and return the per-agent results and ``__all__`` (batch ``[n]``)."""

    def check_output(self, result: Any, *, method: str = "step") -> None:
        """Check what ``reset``/``step`` returned: per agent, the ``BatchedEnv`` keys, shapes and dtypes; ``__all__``.

        Raises:
            SpecError: Naming the env, the method, the agent and key, and expected versus actual.
        """
        context = f"{type(self).__name__}.{method} output"
        if not isinstance(result, TensorDictBase):
            raise SpecError(
                [Mismatch("", "type", f"expected a TensorDict, got {type(result).__module__}.{type(result).__name__}")],
                context=context,
            )
        keys: dict[Any, Any] = {}
        for agent in self.agents:
            obs = self.observation_specs[agent].as_io_spec(("b",))
            keys[agent, Columns.OBS] = obs
            if method == "step":
                keys[agent, Columns.NEXT_OBS] = obs
                keys[agent, Columns.REWARDS] = TensorShape("b", dtype=FLOAT_DTYPES)
                keys[agent, Columns.TERMINATEDS] = TensorShape("b", dtype=torch.bool)
                keys[agent, Columns.TRUNCATEDS] = TensorShape("b", dtype=torch.bool)
        if method == "step":
            keys[ALL_DONE] = TensorShape("b", dtype=torch.bool)
        check(SpecDict(keys), result, context=context, bindings={"b": (self.num_envs, "num_envs")})
        unknown = [key for key in result.keys() if key not in self.agents and key != ALL_DONE]  # noqa: SIM118
        if unknown:
            raise SpecError(
                [Mismatch(str(unknown[0]), "extra", f"not one of the env's agents {list(self.agents)}")],
                context=context,
            )

    def close(self) -> None:  # noqa: B027 - most envs hold nothing to release
        """Release resources; a no-op by default."""

    def state_dict(self) -> dict[str, Any] | None:
        """Return everything needed to continue exactly where the env is, or ``None`` (then resumes reset it)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``state_dict``."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore its state")


class AgentIdObs(MultiAgentBatchedEnv):
    """Wrap a multi-agent env so that each agent also observes a one-hot of its index among ``agents``.

    With parameter sharing (one module for all agents) this lets the module
    tell agents apart. A float 1-D ``Box`` observation gets the one-hot
    appended (``Box((d + k,))``); a ``Composite`` gets an ``agent_id`` entry.

    Raises:
        ConfigError: For another kind of observation spec (name the agent and spec).

    Examples:
        >>> env = AgentIdObs(_TwoAgents())
        >>> tuple(env.observation_specs["b"].shape)
        (3,)
        >>> env.reset()["b", "obs"][0].tolist()
        [0.0, 0.0, 1.0]
    """

    def __init__(self, env: MultiAgentBatchedEnv) -> None:
        self.env = env
        self.agents, self.action_specs = env.agents, env.action_specs
        self.num_envs, self.device = env.num_envs, env.device
        k = len(env.agents)
        self._one_hot = torch.eye(k, device=env.device)
        self.observation_specs = {agent: self._spec(agent, env.observation_specs[agent], k) for agent in env.agents}

    @staticmethod
    def _spec(agent: str, spec: Spec, k: int) -> Spec:
        if isinstance(spec, Composite):
            return Composite({**dict(spec.items()), "agent_id": Box((k,), low=0.0, high=1.0)})
        if isinstance(spec, Box) and spec.dtype.is_floating_point and len(spec.shape) == 1:
            low = torch.cat([spec.low.double(), torch.zeros(k, dtype=torch.float64)])
            high = torch.cat([spec.high.double(), torch.ones(k, dtype=torch.float64)])
            return Box((spec.shape[0] + k,), low=low, high=high, dtype=spec.dtype)
        raise ConfigError(
            f"multi_agent.agent_id_obs: agent {agent!r} observes {spec!r}; the agent id can be added to a float "
            "1-D Box (appended) or a Composite (an 'agent_id' entry) only"
        )

    def _add_ids(self, data: TensorDictBase, key: str) -> None:
        n = self.num_envs
        for i, agent in enumerate(self.agents):
            obs = data.get((agent, key))
            one_hot = self._one_hot[i].expand(n, -1)
            if isinstance(obs, TensorDictBase):
                obs = obs.clone(False)
                obs.set("agent_id", one_hot.clone())
            else:
                obs = torch.cat([obs, one_hot.to(obs.dtype)], dim=-1)
            data.set((agent, key), obs)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset the wrapped env; observations carry the agent id."""
        out = self.env.reset(seed=seed)
        self._add_ids(out, Columns.OBS)
        return out

    def step(self, actions: TensorDictBase) -> TensorDictBase:
        """Step the wrapped env; observations carry the agent id."""
        out = self.env.step(actions)
        self._add_ids(out, Columns.OBS)
        self._add_ids(out, Columns.NEXT_OBS)
        return out

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()

    def state_dict(self) -> dict[str, Any] | None:
        """The wrapped env's state."""
        return self.env.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped env's state."""
        self.env.load_state_dict(state)


class _TwoAgents(MultiAgentBatchedEnv):
    """Two agents observing zeros, for examples."""

    def __init__(self) -> None:
        self.agents = ("a", "b")
        self.observation_specs = {a: Box((1,)) for a in self.agents}
        self.action_specs = {a: Box((1,)) for a in self.agents}
        self.num_envs, self.device = 2, torch.device("cpu")

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        return TensorDict({a: {Columns.OBS: torch.zeros(2, 1)} for a in self.agents}, [2])

    def step(self, actions: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError
