"""Multi-agent training: agents mapped to modules, the multi-agent runner, per-module algorithms and evaluation.

Agents mapped to the same module are stacked into one batch for that module:
a module with ``k`` agents acting in ``n`` env copies sees ``[k * n]``
observations per step (agent-major: the first agent's ``n`` copies, then the
next agent's), and its rollout is ``[t, k * n]``. Every row is then one
agent in one copy, and the single-agent machinery (GAE, PPO's loss, sequences
of stateful modules) applies to it unchanged. A step an agent did not act in
(it had left its copy's episode) has ``loss_mask`` false, no reward and a
termination, so it ends no return early and weighs nothing in the loss.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.checkpoints import module as module_dir
from rl8_core.columns import Columns, Metrics
from rl8_core.components.algorithm import AlgorithmGroup, check_train_outputs
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModuleSpec
from rl8_core.components.multi_env import ALL_DONE, AgentIdObs, MultiAgentBatchedEnv, check_agent_ids
from rl8_core.components.multi_module import DEFAULT_MODULE_ID, MultiRLModule, MultiRLModuleSpec
from rl8_core.components.sequences import reset_state
from rl8_core.errors import ConfigError
from rl8_core.imports import import_object, is_import_path
from rl8_core.plugins.registry import Registry
from rl8_core.training.config import CheckSpecs, MultiAgentConfig, TrainConfig, spec_checks_on
from rl8_core.training.guards import NonFiniteError, all_finite, describe_nonfinite
from rl8_core.training.runner import EpisodeStats
from rl8_core.training.setup import TrainParts
from specs import checking

__all__ = ["MultiAgentRunner", "build_multi_agent", "evaluate_multi_agent", "map_agents", "module_agents", "wrap_env"]


def wrap_env(env: BatchedEnv | MultiAgentBatchedEnv, config: MultiAgentConfig) -> BatchedEnv | MultiAgentBatchedEnv:
    """Return ``env`` as a run with ``config`` sees it: with the agent-id one-hot when ``agent_id_obs`` asks."""
    if isinstance(env, MultiAgentBatchedEnv) and config.agent_id_obs:
        return AgentIdObs(env)
    return env


def map_agents(agents: Sequence[str], policy_mapping: Mapping[str, str] | str | None) -> dict[str, str]:
    """Return agent id -> module id for ``agents``, from a config's ``multi_agent.policy_mapping``.

    * ``None``: every agent acts with one module, ``default`` (parameter sharing);
    * a mapping of agent ids or glob patterns (``adversary_*``) to module ids
      (an exact agent id wins over patterns; patterns are tried in order);
    * an import path ``package.module:function``: ``function(agent_id)`` returns the module id;
    * any other string names the module of every agent, with ``{agent}`` and
      ``{index}`` filled in: ``"{agent}"`` gives each agent a module of its own.

    Raises:
        ConfigError: An agent no entry maps, a key that is neither an agent nor a pattern
            matching one, or a module id that is not a simple name.

    Examples:
        >>> map_agents(["adversary_0", "agent_0", "agent_1"], {"adversary_*": "red", "agent_*": "blue"})
        {'adversary_0': 'red', 'agent_0': 'blue', 'agent_1': 'blue'}
        >>> map_agents(["a", "b"], "{agent}")
        {'a': 'a', 'b': 'b'}
    """
    agents = list(agents)
    mapping: dict[str, str]
    if policy_mapping is None:
        mapping = dict.fromkeys(agents, DEFAULT_MODULE_ID)
    elif isinstance(policy_mapping, Mapping):
        for key in policy_mapping:
            if key not in agents and not fnmatch.filter(agents, key):
                raise ConfigError(
                    f"multi_agent.policy_mapping: {key!r} matches no agent of the env; its agents are {agents}"
                )
        mapping = {}
        for agent in agents:
            if agent in policy_mapping:
                mapping[agent] = policy_mapping[agent]
                continue
            matched = next((mid for key, mid in policy_mapping.items() if fnmatch.fnmatchcase(agent, key)), None)
            if matched is None:
                raise ConfigError(
                    f"multi_agent.policy_mapping: agent {agent!r} is mapped to no module; add it (or a pattern "
                    "matching it, such as '*') to the mapping"
                )
            mapping[agent] = matched
    elif is_import_path(policy_mapping) and ":" in policy_mapping:
        function = import_object(policy_mapping)
        if not callable(function):
            raise ConfigError(f"multi_agent.policy_mapping: {policy_mapping!r} is not a function of the agent id")
        mapping = {agent: function(agent) for agent in agents}
    else:
        try:
            mapping = {agent: policy_mapping.format(agent=agent, index=i) for i, agent in enumerate(agents)}
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"multi_agent.policy_mapping: {policy_mapping!r} is not a module id pattern ({exc}); "
                "use {agent} and {index} only"
            ) from None
    try:
        check_agent_ids(dict.fromkeys(mapping.values()), what="multi_agent.policy_mapping: module ids")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return mapping


def module_agents(agent_modules: Mapping[str, str]) -> dict[str, list[str]]:
    """Invert agent -> module into module -> its agents (both in first-seen order).

    Examples:
        >>> module_agents({"a": "x", "b": "y", "c": "x"})
        {'x': ['a', 'c'], 'y': ['b']}
    """
    out: dict[str, list[str]] = {}
    for agent, mid in agent_modules.items():
        out.setdefault(mid, []).append(agent)
    return out


def _stack_agents(data: TensorDictBase, agents: Sequence[str], key: str) -> Any:
    """Concatenate ``data[agent][key]`` ``[n, ...]`` over ``agents`` into ``[k * n, ...]`` (agent-major)."""
    parts = [data.get((agent, key)) for agent in agents]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _module_inputs(module: MultiRLModule, obs: Mapping[str, Any], state: Mapping[str, TensorDictBase]) -> TensorDict:
    """Return a ``MultiRLModule`` forward's input: ``{module id: {obs, state_in}}``, each of batch ``[k * n]``."""
    entries = {}
    for mid, o in obs.items():
        data = {Columns.OBS: o}
        if module[mid].is_stateful:
            data[Columns.STATE_IN] = state[mid]
        entries[mid] = TensorDict(data, batch_size=[o.shape[0]])
    return TensorDict(entries, batch_size=[])


class EpisodeWindows:
    """The last ``window`` episode returns per module and per agent, for ``episodes/return_mean/<module id>``."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.returns: dict[str, deque[float]] = {}

    def extend(self, key: str, values: list[float]) -> None:
        self.returns.setdefault(key, deque(maxlen=self.window)).extend(values)

    def means(self) -> dict[str, float]:
        return {key: sum(v) / len(v) for key, v in self.returns.items() if v}


class MultiAgentRunner:
    """Collects ``horizon`` steps of every env copy into one rollout per module, ``{module id: [t, k * n]}``.

    Each step, every module acts once, through ``MultiRLModule.forward_exploration``,
    on the stacked observations of its agents; their actions go back to the env
    per agent. Per row the rollout holds what ``Runner`` collects (``obs``,
    the module's outputs, ``next_obs``, ``rewards``, ``terminateds``,
    ``truncateds``) and ``loss_mask``, false where the agent had left the
    episode. An agent's flags there are set for the learner: its own
    termination; a truncation where its copy's episode ended (``__all__``)
    with the agent still in it; a termination at every step it did not act in.

    A stateful module's state is carried per row and reset where the row's
    episode ended, as ``Runner`` does. Episode statistics: ``episodes`` holds
    the team returns (the sum over agents) and lengths of finished episodes;
    ``metrics()`` the mean return per module (the sum over its agents) and
    per agent over the last ``window`` episodes.

    Args:
        env: The multi-agent env.
        module: The ``MultiRLModule``; it must have a module for every module id in ``agent_modules``.
        agent_modules: Agent id -> module id (``map_agents``).
        horizon: Steps per copy per rollout.
        check_specs: As for ``Runner``.
        seed: Seed of the env's first reset.
        autocast: Context of the acting forwards.
        check_finite: Check each rollout's rewards and float observations.
        window: Episodes the per-module and per-agent means cover.
    """

    def __init__(
        self,
        env: MultiAgentBatchedEnv,
        module: MultiRLModule,
        agent_modules: Mapping[str, str],
        *,
        horizon: int,
        check_specs: CheckSpecs = "first",
        seed: int | None = None,
        autocast: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        check_finite: bool = True,
        window: int = 100,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        missing = sorted(set(agent_modules.values()) - set(module.keys()))
        if missing:
            raise ConfigError(f"multi_agent: no module {missing[0]!r} for the agents mapped to it; add it to modules")
        self.env, self.module, self.horizon = env, module, horizon
        self.check_specs, self.autocast, self.check_finite = check_specs, autocast, check_finite
        self.agent_modules = dict(agent_modules)
        #: Module id -> its agents, in the env's agent order.
        self.groups = module_agents({a: self.agent_modules[a] for a in env.agents})
        self.num_envs, self.device = env.num_envs, env.device
        self._rollouts = 0
        first = env.reset(seed=seed)
        if check_specs != "never":
            env.check_output(first, method="reset")
        self._obs: TensorDictBase = first
        agents = len(env.agents)
        #: Whether each agent is still in its copy's episode: ``[agents, n]``.
        self._alive = torch.ones(agents, self.num_envs, dtype=torch.bool, device=self.device)
        self._ep_return = torch.zeros(agents, self.num_envs, dtype=torch.float64, device=self.device)
        self._ep_length = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        module_device = next(module.parameters()).device
        self._initial = {
            mid: module[mid].initial_state(len(group) * self.num_envs, module_device)
            for mid, group in self.groups.items()
        }
        self._state = {mid: state.clone() for mid, state in self._initial.items()}
        self._buffers: dict[str, TensorDict] = {}
        self.episodes = EpisodeStats()
        #: The returns of the last ``collect``'s finished episodes, by metric (per module and per agent).
        self.finished: dict[str, list[float]] = {}
        self._windows = EpisodeWindows(window)

    @property
    def steps_per_rollout(self) -> int:
        """Env steps in one rollout (``horizon * num_envs``; each step moves every agent of a copy)."""
        return self.horizon * self.num_envs

    def collect(self) -> TensorDict:
        """Step every copy ``horizon`` times and return ``{module id: rollout [t, k * n]}`` (the runner's buffers)."""
        env, module, n = self.env, self.module, self.num_envs
        module.eval()
        device = next(module.parameters()).device
        move = device != self.device
        checks = spec_checks_on(self.check_specs, self._rollouts)
        index = {agent: i for i, agent in enumerate(env.agents)}
        steps: dict[str, list[TensorDictBase]] = {mid: [] for mid in self.groups}
        finished_returns, finished_lengths, all_dones = [], [], []
        with torch.no_grad(), checking(checks), self.autocast():
            for _ in range(self.horizon):
                obs = {mid: _stack_agents(self._obs, group, Columns.OBS) for mid, group in self.groups.items()}
                inputs = _module_inputs(module, {m: o.to(device) if move else o for m, o in obs.items()}, self._state)
                out = module.forward_exploration(inputs)
                actions: dict[str, Any] = {}
                for mid, group in self.groups.items():
                    acts = out.get((mid, Columns.ACTIONS))
                    if checks:
                        module[mid].check_actions("exploration", acts)
                    acts = acts.to(self.device) if move else acts
                    for j, agent in enumerate(group):
                        actions[agent] = acts[j * n : (j + 1) * n]
                result = env.step(TensorDict(actions, batch_size=[n]))
                if checks:
                    env.check_output(result)
                all_done = result.get(ALL_DONE)
                alive = self._alive
                ended = torch.stack(
                    [result.get((a, Columns.TERMINATEDS)) | result.get((a, Columns.TRUNCATEDS)) for a in env.agents]
                )
                rewards = torch.stack([result.get((a, Columns.REWARDS)) for a in env.agents]).double() * alive
                self._ep_return += rewards
                self._ep_length += 1
                finished_returns.append(torch.where(all_done, self._ep_return, 0.0))
                finished_lengths.append(self._ep_length.clone())
                all_dones.append(all_done)
                self._ep_return = torch.where(all_done, 0.0, self._ep_return)
                self._ep_length = torch.where(all_done, 0, self._ep_length)
                for mid, group in self.groups.items():
                    rows = torch.stack([alive[index[a]] for a in group]).reshape(-1)
                    term = _stack_agents(result, group, Columns.TERMINATEDS) & rows
                    trunc = (_stack_agents(result, group, Columns.TRUNCATEDS) | all_done.repeat(len(group))) & rows
                    step = out.get(mid)
                    if module[mid].is_stateful:
                        step.set(Columns.STATE_IN, self._state[mid])
                        done = (term | trunc | ~rows).to(device)
                        self._state[mid] = reset_state(step.get(Columns.STATE_OUT), self._initial[mid], done)
                    data = {
                        Columns.OBS: obs[mid],
                        Columns.NEXT_OBS: _stack_agents(result, group, Columns.NEXT_OBS),
                        Columns.REWARDS: _stack_agents(result, group, Columns.REWARDS) * rows,
                        Columns.TERMINATEDS: term | ~rows,
                        Columns.TRUNCATEDS: trunc & ~term,
                        Columns.LOSS_MASK: rows,
                    }
                    if move:
                        data = {k: v.to(device, non_blocking=True) for k, v in data.items()}
                    steps[mid].append(step.update(data))
                self._alive = torch.where(all_done, True, alive & ~ended)
                self._obs = result
        with torch.no_grad():
            for mid, group_steps in steps.items():
                buffer = self._buffers.get(mid)
                if buffer is None:
                    first = group_steps[0]
                    buffer = first.unsqueeze(0).expand(self.horizon, *first.batch_size).clone()
                    assert isinstance(buffer, TensorDict)
                    self._buffers[mid] = buffer
                for key in buffer.keys(include_nested=True, leaves_only=True):
                    torch.stack([s.get(key) for s in group_steps], out=buffer.get(key))
        self._rollouts += 1
        rollout = TensorDict(dict(self._buffers), batch_size=[])
        if self.check_finite:
            self._check_finite(rollout)
        self._count_episodes(torch.stack(finished_returns), torch.stack(finished_lengths), torch.stack(all_dones))
        return rollout

    def _check_finite(self, rollout: TensorDictBase) -> None:
        """Raise ``NonFiniteError`` naming the module and the first NaN or inf in its rewards or observations."""
        for mid in self.groups:
            data = rollout.get(mid)
            leaves = {
                ".".join(key) if isinstance(key, tuple) else key: data.get(key)
                for key in data.keys(include_nested=True, leaves_only=True)
                if (key[0] if isinstance(key, tuple) else key) in (Columns.REWARDS, Columns.OBS, Columns.NEXT_OBS)
            }
            if not all_finite(leaves.values()):
                first = describe_nonfinite(leaves)
                raise NonFiniteError(
                    f"{type(self.env).__name__} returned NaN or inf to the agents of module {mid!r} "
                    f"({', '.join(self.groups[mid])}): {first} (index: [step of the rollout, agent * num_envs + env, "
                    "...]); fix the env, or set guards.env: false to train on it anyway"
                )

    def _count_episodes(self, returns: torch.Tensor, lengths: torch.Tensor, done: torch.Tensor) -> None:
        """Record the episodes that ended: ``returns`` ``[t, agents, n]``, ``lengths`` and ``done`` ``[t, n]``."""
        self.episodes = EpisodeStats()
        self.finished = {}
        if not bool(done.any()):
            return
        per_agent = returns.transpose(1, 2)[done]  # [episodes, agents], in completion order
        self.episodes.extend(per_agent.sum(1).tolist(), lengths[done].tolist())
        index = {agent: i for i, agent in enumerate(self.env.agents)}
        for mid, group in self.groups.items():
            self.finished[f"{Metrics.RETURN_MEAN}/{mid}"] = per_agent[:, [index[a] for a in group]].sum(1).tolist()
        for agent, i in index.items():
            self.finished[f"agents/return_mean/{agent}"] = per_agent[:, i].tolist()
        for key, values in self.finished.items():
            self._windows.extend(key, values)

    def metrics(self) -> dict[str, float]:
        """Return the mean return per module (``episodes/return_mean/<module id>``) and per agent (``agents/...``)."""
        return self._windows.means()

    def state_dict(self) -> dict[str, Any]:
        """Return what a resumed run needs: observations, who is in the episode, states and accumulators."""
        return {
            "obs": self._obs.clone(),
            "alive": self._alive.clone(),
            "state": {mid: s.clone() for mid, s in self._state.items()},
            "ep_return": self._ep_return.clone(),
            "ep_length": self._ep_length.clone(),
            "rollouts": self._rollouts,
            "windows": {key: list(v) for key, v in self._windows.returns.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state returned by ``state_dict`` (use with the env's own state)."""
        self._obs = state["obs"].to(self.device)
        self._alive = state["alive"].to(self.device)
        self._state = {mid: s.to(self._initial[mid].device) for mid, s in state["state"].items()}
        self._ep_return = state["ep_return"].to(self.device)
        self._ep_length = state["ep_length"].to(self.device)
        self._rollouts = int(state["rollouts"])
        for key, values in state["windows"].items():
            self._windows.extend(key, values)


def evaluate_multi_agent(
    module: MultiRLModule,
    env: MultiAgentBatchedEnv,
    agent_modules: Mapping[str, str],
    *,
    episodes: int,
    deterministic: bool = True,
    seed: int | None = None,
    max_steps: int = 1_000_000,
    check_specs: CheckSpecs = "first",
) -> dict[str, float]:
    """Run ``episodes`` full episodes and return ``eval/*`` statistics: team return, and per module and agent.

    ``eval/return_mean`` is the team return (the sum over agents);
    ``eval/return_mean/<module id>`` the sum over a module's agents;
    ``eval/agents/return_mean/<agent id>`` each agent's. As in ``evaluate``,
    episodes are spread evenly over the copies.

    Raises:
        RuntimeError: If the episodes do not finish within ``max_steps`` steps per copy.
    """
    n = env.num_envs
    groups = module_agents({a: agent_modules[a] for a in env.agents})
    targets = torch.tensor([(episodes + i) // n for i in range(n)], device=env.device)
    counts = torch.zeros(n, dtype=torch.int64, device=env.device)
    alive = torch.ones(len(env.agents), n, dtype=torch.bool, device=env.device)
    ep_return = torch.zeros(len(env.agents), n, dtype=torch.float64, device=env.device)
    ep_length = torch.zeros(n, dtype=torch.int64, device=env.device)
    returns: list[torch.Tensor] = []
    lengths: list[int] = []
    device = next(module.parameters()).device
    module.eval()
    state = {mid: module[mid].initial_state(len(g) * n, device) for mid, g in groups.items()}
    initial = {mid: s.clone() for mid, s in state.items()}
    mode = "inference" if deterministic else "exploration"
    obs = env.reset(seed=seed)
    with torch.no_grad():
        for step in range(max_steps):
            stacked = {mid: _stack_agents(obs, g, Columns.OBS).to(device) for mid, g in groups.items()}
            inputs = _module_inputs(module, stacked, state)
            with checking(spec_checks_on(check_specs, step)):
                out = getattr(module, f"forward_{mode}")(inputs)
            actions: dict[str, Any] = {}
            for mid, g in groups.items():
                acts = out.get((mid, Columns.ACTIONS)).to(env.device)
                actions |= {agent: acts[j * n : (j + 1) * n] for j, agent in enumerate(g)}
            result = env.step(TensorDict(actions, batch_size=[n]))
            all_done = result.get(ALL_DONE)
            ep_return += torch.stack([result.get((a, Columns.REWARDS)) for a in env.agents]).double() * alive
            ep_length += 1
            ended = torch.stack(
                [result.get((a, Columns.TERMINATEDS)) | result.get((a, Columns.TRUNCATEDS)) for a in env.agents]
            )
            for mid, g in groups.items():
                if module[mid].is_stateful:
                    rows = torch.cat([ended[env.agents.index(a)] | all_done for a in g]).to(device)
                    state[mid] = reset_state(out.get((mid, Columns.STATE_OUT)), initial[mid], rows)
            alive = torch.where(all_done, True, alive & ~ended)
            record = all_done & (counts < targets)
            if bool(record.any()):
                returns.append(ep_return[:, record].T)
                lengths.extend(ep_length[record].tolist())
                counts += record.long()
                if bool((counts >= targets).all()):
                    break
            ep_return = torch.where(all_done, 0.0, ep_return)
            ep_length = torch.where(all_done, 0, ep_length)
            obs = result
        else:
            raise RuntimeError(f"evaluation did not finish {episodes} episodes within {max_steps} steps per copy")
    per_agent = torch.cat(returns)  # [episodes, agents]
    team = per_agent.sum(1)
    out_metrics = {
        Metrics.EVAL_RETURN_MEAN: float(team.mean()),
        Metrics.EVAL_RETURN_STD: float(team.std(unbiased=False)),
        Metrics.EVAL_RETURN_MIN: float(team.min()),
        Metrics.EVAL_RETURN_MAX: float(team.max()),
        Metrics.EVAL_LENGTH_MEAN: float(torch.tensor(lengths, dtype=torch.float64).mean()),
        Metrics.EVAL_EPISODES: float(len(lengths)),
    }
    for mid, g in groups.items():
        cols = [env.agents.index(a) for a in g]
        out_metrics[f"{Metrics.EVAL_RETURN_MEAN}/{mid}"] = float(per_agent[:, cols].sum(1).mean())
    for i, agent in enumerate(env.agents):
        out_metrics[f"eval/agents/return_mean/{agent}"] = float(per_agent[:, i].mean())
    return out_metrics


def build_multi_agent(
    config: TrainConfig, env: MultiAgentBatchedEnv, parts: TrainParts, registry: Registry, device: torch.device
) -> tuple[MultiRLModule, AlgorithmGroup, dict[str, str]]:
    """Build a multi-agent run's module, algorithms and agent mapping from its config (``multi_agent:``).

    Every module id the mapping names gets a module for the specs of its
    agents (which must agree), built from the top-level ``module``,
    ``catalog`` and ``model_config`` with the options of
    ``multi_agent.modules.<module id>`` over them; ``checkpoint`` there
    loads a module directory's weights. Each module in ``modules_to_train``
    (default: all) gets its own instance of the algorithm.

    Raises:
        ConfigError: Naming the option, the module id and the agents concerned.
    """
    ma = config.multi_agent
    mapping = map_agents(env.agents, ma.policy_mapping)
    groups = module_agents(mapping)
    for mid in ma.modules:
        if mid not in groups:
            raise ConfigError(
                f"multi_agent.modules.{mid}: no agent is mapped to module {mid!r}; the modules are {list(groups)}"
            )
    specs: dict[str, RLModuleSpec] = {}
    for mid, agents in groups.items():
        for kind, of in (("observation", env.observation_specs), ("action", env.action_specs)):
            different = [a for a in agents if of[a] != of[agents[0]]]
            if different:
                raise ConfigError(
                    f"multi_agent.policy_mapping: agents {agents[0]!r} and {different[0]!r} share module {mid!r} "
                    f"but have different {kind} specs ({of[agents[0]]!r} and {of[different[0]]!r}); "
                    "map them to different modules"
                )
        options = ma.modules.get(mid, {})
        module_class: Any = import_object(options["module"]) if options.get("module") else parts.module_class
        catalog_class = options.get("catalog") or (None if options.get("module") else parts.catalog_class)
        model_config = {**config.model_config, **(options.get("model_config") or {})}
        specs[mid] = RLModuleSpec(
            module_class,
            env.observation_specs[agents[0]],
            env.action_specs[agents[0]],
            model_config,
            catalog_class,
            registry=registry,
        )
    module = MultiRLModuleSpec(specs, shared=ma.shared).build().to(device)
    for mid, options in ma.modules.items():
        if options.get("checkpoint"):
            path = Path(options["checkpoint"])
            try:
                module[mid].set_state(module_dir.load_state(path, map_location=device))
            except (OSError, RuntimeError) as exc:
                raise ConfigError(
                    f"multi_agent.modules.{mid}.checkpoint: cannot load {path} into module {mid!r}: "
                    f"{' '.join(str(exc).split())[:300]}; name a module directory of a module built alike"
                ) from None
    train = list(ma.modules_to_train) if ma.modules_to_train is not None else list(groups)
    for mid in train:
        if mid not in groups:
            raise ConfigError(f"multi_agent.modules_to_train: no module {mid!r}; the modules are {list(groups)}")
    algorithms = {}
    for mid in train:
        algorithm = parts.build_algorithm()
        try:
            check_train_outputs(algorithm, module[mid], name=parts.algorithm.name)
        except ConfigError as exc:
            raise ConfigError(f"module {mid!r}: {exc}") from None
        algorithms[mid] = algorithm
    return module, AlgorithmGroup(algorithms, minibatches=ma.minibatches), mapping
