"""Torch-native multi-agent envs: ``gather`` (agents leave at different times) and ``duel`` (zero-sum race).

Both keep every copy's state in tensors laid out ``[agent, copy]``, so one
agent's data is a contiguous row, and step all copies with whole-tensor ops.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import ALL_DONE, Columns, ConfigError, MultiAgentBatchedEnv, hookimpl
from rl8_plugins.envs._physics import check_positive, seeded_generator
from specs import Box, Discrete

__all__ = ["DuelEnv", "GatherEnv", "rl8_envs"]


def _check_int(env: str, name: str, value: Any, minimum: int, why: str) -> int:
    """Return ``value`` if it is an int ``>= minimum``; else raise ``ConfigError`` naming ``env_config.name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"env_config.{name}: {env} needs an int >= {minimum} ({why}), got {value!r}; "
            f"set {name} to {minimum} or more"
        )
    return value


def _stack_actions(actions: TensorDictBase, agents: tuple[str, ...], num_envs: int) -> torch.Tensor:
    """Return the agents' actions as one int64 tensor ``[agent, copy]``.

    Raises:
        TypeError: If ``actions`` is not a TensorDict.
    """
    if not isinstance(actions, TensorDictBase):
        raise TypeError(f"multi-agent envs take a TensorDict of actions per agent, got {type(actions).__name__}")
    return torch.stack([actions.get(agent).reshape(num_envs).to(torch.int64) for agent in agents])


def _result(
    agents: tuple[str, ...], per_agent: dict[str, torch.Tensor], all_done: torch.Tensor, device: torch.device
) -> TensorDictBase:
    """Return the step result: for every agent its row of each ``[agent, copy, ...]`` tensor, and ``__all__``."""
    n = all_done.shape[0]
    out: dict[str, Any] = {agent: {key: value[i] for key, value in per_agent.items()} for i, agent in enumerate(agents)}
    out[ALL_DONE] = all_done
    return TensorDict(out, batch_size=[n], device=device)


class GatherEnv(MultiAgentBatchedEnv):
    """``num_envs`` copies of a race to private targets, where agents leave the episode at different times.

    Each of ``num_agents`` agents (``agent_0``, ...) walks its own line of
    ``size`` cells towards its own target cell; start and target are drawn
    per episode, uniformly and distinct. Actions are ``Discrete(3)``: left,
    stay, right (clamped at the ends). An agent observes float32 ``[3]`` in
    ``[-1, 1]``: its position and its target scaled to ``[-1, 1]``, and the
    fraction of the episode's ``max_steps`` left.

    Each step costs -0.05 until the agent reaches its target; the step that
    reaches it pays +1 and the agent is ``terminateds`` there and has left
    the episode: until ``__all__`` its actions are ignored, its rewards are 0,
    its flags false and its observation its last one. ``__all__`` comes once
    every agent has reached its target or after ``max_steps`` steps; agents
    still in then are ``truncateds``. Agents start at different distances,
    so they leave at different times.

    Mean per-agent episode return with the defaults (3 agents, 8 cells, 16
    steps; 100,000 episodes): uniformly random actions -0.06 (48% of agents
    reach their target), always stepping towards the target +0.90 (the best
    possible: every agent takes the shortest way).

    Args:
        num_envs: Copies stepped together.
        seed: Seeds the env's ``torch.Generator``; ``None`` draws a nondeterministic
            seed. ``reset(seed=...)`` reseeds.
        device: Where the state, observations, rewards and flags live.
        num_agents: Agents per copy, at least 1.
        size: Cells of each agent's line, at least 2.
        max_steps: Steps before the episode is cut short, at least 1.

    Raises:
        ConfigError: For an option out of range.
        ValueError: For a non-positive ``num_envs``.

    Examples:
        >>> env = GatherEnv(num_envs=2, seed=0, num_agents=2)
        >>> env.agents
        ('agent_0', 'agent_1')
        >>> obs = env.reset()
        >>> obs["agent_0", "obs"].shape, obs["agent_0", "obs"][:, 2].tolist()  # all steps left
        (torch.Size([2, 3]), [1.0, 1.0])
        >>> toward = {a: (obs[a, "obs"][:, 1] > obs[a, "obs"][:, 0]).long() * 2 for a in env.agents}
        >>> out = env.step(TensorDict(toward, [2]))  # right (2) if the target is right, else left (0)
        >>> out["agent_0", "rewards"].shape, out["__all__"].dtype
        (torch.Size([2]), torch.bool)
    """

    def __init__(
        self,
        num_envs: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        num_agents: int = 3,
        size: int = 8,
        max_steps: int = 16,
    ) -> None:
        _check_int("gather", "num_agents", num_agents, 1, "agents per copy")
        _check_int("gather", "size", size, 2, "start and target must differ")
        _check_int("gather", "max_steps", max_steps, 1, "steps per episode")
        check_positive(num_envs=num_envs)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.num_agents, self.size, self.max_steps = num_agents, size, max_steps
        self.agents = tuple(f"agent_{i}" for i in range(num_agents))
        self.observation_specs = {a: Box((3,), -1.0, 1.0, torch.float32, device=self.device) for a in self.agents}
        self.action_specs = {a: Discrete(3, device=self.device) for a in self.agents}
        self._shape = (num_agents, self.num_envs)
        self._generator = seeded_generator(self.device, seed)
        self._step_reward = torch.tensor(-0.05, device=self.device)
        self._goal_reward = torch.tensor(1.0, device=self.device)
        self._no_reward = torch.tensor(0.0, device=self.device)
        # Drawing nothing here makes ``Env(seed=s).reset()`` equal ``Env().reset(seed=s)``.
        zeros = torch.zeros(self._shape, dtype=torch.int64, device=self.device)
        self._pos, self._target, self._clock = zeros, zeros.clone(), zeros.clone()
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._active = torch.ones(self._shape, dtype=torch.bool, device=self.device)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw starts and distinct targets ``[agent, copy]`` (int64), uniformly."""
        start = torch.randint(self.size, self._shape, device=self.device, generator=self._generator)
        offset = torch.randint(1, self.size, self._shape, device=self.device, generator=self._generator)
        return start, (start + offset) % self.size

    def _observe(self, pos: torch.Tensor, target: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """Return observations ``[agent, copy, 3]`` (float32); ``clock`` is the step each agent last saw."""
        scale = 2.0 / (self.size - 1)
        left = (self.max_steps - clock).to(torch.float32) / self.max_steps
        return torch.stack((pos * scale - 1.0, target * scale - 1.0, left), dim=-1).to(torch.float32)

    def _obs_td(self, obs: torch.Tensor) -> TensorDictBase:
        return TensorDict(
            {agent: {Columns.OBS: obs[i]} for i, agent in enumerate(self.agents)},
            batch_size=[self.num_envs],
            device=self.device,
        )

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Start an episode in every copy and return ``{agent: {obs: [n, 3]}}``; ``seed`` reseeds the generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._pos, self._target = self._draw()
        self._clock = torch.zeros(self._shape, dtype=torch.int64, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._active = torch.ones(self._shape, dtype=torch.bool, device=self.device)
        return self._obs_td(self._observe(self._pos, self._target, self._clock))

    def step(self, actions: TensorDictBase) -> TensorDictBase:
        """Move every agent still in by its action ``{agent: [n]}`` (0 left, 1 stay, 2 right); reset ended copies.

        Raises:
            TypeError: If ``actions`` is not a TensorDict.
        """
        active = self._active
        move = (_stack_actions(actions, self.agents, self.num_envs).clamp(0, 2) - 1) * active
        pos = (self._pos + move).clamp(0, self.size - 1)
        target = self._target
        reached = active & (pos == target)
        rewards = torch.where(reached, self._goal_reward, torch.where(active, self._step_reward, self._no_reward)).to(
            torch.float32
        )
        steps = self._steps + 1
        still_in = active & ~reached
        all_done = ~still_in.any(0) | (steps >= self.max_steps)
        truncated = still_in & all_done
        clock = torch.where(active, steps, self._clock)  # agents that left keep their last observation
        next_obs = self._observe(pos, target, clock)
        # Every copy draws a new episode and torch.where picks: no host-device sync in step.
        new_pos, new_target = self._draw()
        self._pos = torch.where(all_done, new_pos, pos)
        self._target = torch.where(all_done, new_target, target)
        self._clock = torch.where(all_done, 0, clock)
        self._steps = torch.where(all_done, 0, steps)
        self._active = all_done | still_in
        per_agent = {
            Columns.OBS: self._observe(self._pos, self._target, self._clock),
            Columns.NEXT_OBS: next_obs,
            Columns.REWARDS: rewards,
            Columns.TERMINATEDS: reached,
            Columns.TRUNCATEDS: truncated,
        }
        return _result(self.agents, per_agent, all_done, self.device)

    def state_dict(self) -> dict[str, Any]:
        """Return positions, targets, clocks and flags ``[agent, copy]``, step counters ``[copy]``, generator state."""
        return {
            "pos": self._pos.clone(),
            "target": self._target.clone(),
            "clock": self._clock.clone(),
            "active": self._active.clone(),
            "steps": self._steps.clone(),
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` so that the env continues exactly where it was.

        Raises:
            ValueError: If the state was saved from a different number of agents or copies.
        """
        if tuple(state["pos"].shape) != self._shape:
            raise ValueError(
                f"state of shape {list(state['pos'].shape)} [agent, copy] cannot be loaded into a GatherEnv of "
                f"{self.num_agents} agents and {self.num_envs} copies"
            )
        self._pos = state["pos"].to(self.device, torch.int64, copy=True)
        self._target = state["target"].to(self.device, torch.int64, copy=True)
        self._clock = state["clock"].to(self.device, torch.int64, copy=True)
        self._active = state["active"].to(self.device, torch.bool, copy=True)
        self._steps = state["steps"].to(self.device, torch.int64, copy=True)
        self._generator.set_state(state["generator"])


class DuelEnv(MultiAgentBatchedEnv):
    """``num_envs`` copies of a two-player race, zero-sum: a learned policy beats a random one clearly.

    ``player_0`` and ``player_1`` start at cell 0 of a track ``0..length``.
    Actions are ``Discrete(3)``: 0 forward, 1 back (not below 0), 2 block:
    the blocker stays put, and the opponent's forward this step does not
    move it. The first to reach cell ``length`` gets +1 and the other -1;
    both are ``terminateds`` and ``__all__`` comes. Reaching it on the same
    step is a draw, 0 each, also terminated (the game is over: nothing to
    bootstrap). After ``max_steps`` steps without a winner both get 0 and are
    ``truncateds``. Other steps pay 0, so rewards always sum to zero. Each
    player observes float32 ``[3]`` in ``[-1, 1]``: its own and its
    opponent's position scaled to ``[-1, 1]``, and the fraction of
    ``max_steps`` left.

    Measured with the defaults (length 5, 20 steps; 100,000 games): uniformly
    random against uniformly random, each side wins 7.7% (the rest time
    out, 84.5%, or draw, 0.1%); always forward against random wins 96.9%,
    draws 3.1% and never loses (a random player moves forward only when the
    forward player does).

    The game has no randomness: ``seed`` is accepted, as every env factory
    takes one, and has no effect; ``state_dict`` holds positions and step
    counters only.

    Args:
        num_envs: Copies stepped together.
        seed: Unused (the game is deterministic).
        device: Where the state, observations, rewards and flags live.
        length: Cells from the start to the end, at least 1.
        max_steps: Steps before the game is cut short, at least 1.

    Raises:
        ConfigError: For an option out of range.
        ValueError: For a non-positive ``num_envs``.

    Examples:
        >>> env = DuelEnv(num_envs=1, length=2)
        >>> _ = env.reset()
        >>> go = TensorDict({"player_0": torch.tensor([0]), "player_1": torch.tensor([2])}, [1])
        >>> env.step(go)["player_0", "next_obs"].tolist()  # player_1 blocked player_0's forward
        [[-1.0, -1.0, 0.949999988079071]]
        >>> go["player_1"] = torch.tensor([1])  # back, at 0: stays
        >>> out = env.step(go)
        >>> out["player_0", "rewards"].item(), out["__all__"].item()
        (0.0, False)
        >>> out = env.step(go)
        >>> out["player_0", "rewards"].item(), out["player_1", "rewards"].item(), out["__all__"].item()
        (1.0, -1.0, True)
    """

    agents = ("player_0", "player_1")

    def __init__(
        self,
        num_envs: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        length: int = 5,
        max_steps: int = 20,
    ) -> None:
        del seed  # the game has no randomness
        _check_int("duel", "length", length, 1, "cells to the end")
        _check_int("duel", "max_steps", max_steps, 1, "steps per game")
        check_positive(num_envs=num_envs)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.length, self.max_steps = length, max_steps
        self.observation_specs = {a: Box((3,), -1.0, 1.0, torch.float32, device=self.device) for a in self.agents}
        self.action_specs = {a: Discrete(3, device=self.device) for a in self.agents}
        self._pos = torch.zeros((2, self.num_envs), dtype=torch.int64, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    def _observe(self, pos: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Return observations ``[player, copy, 3]`` (float32): own and opponent position, steps left."""
        scaled = pos.to(torch.float32) * (2.0 / self.length) - 1.0
        left = ((self.max_steps - steps).to(torch.float32) / self.max_steps).expand(2, -1)
        return torch.stack((scaled, scaled.flip(0), left), dim=-1)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Put both players at the start in every copy and return ``{player: {obs: [n, 3]}}``; ``seed`` is unused."""
        self._pos = torch.zeros((2, self.num_envs), dtype=torch.int64, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        obs = self._observe(self._pos, self._steps)
        return TensorDict(
            {agent: {Columns.OBS: obs[i]} for i, agent in enumerate(self.agents)},
            batch_size=[self.num_envs],
            device=self.device,
        )

    def step(self, actions: TensorDictBase) -> TensorDictBase:
        """Apply ``{player: [n]}`` (0 forward, 1 back, 2 block) in every copy; reset finished games.

        Raises:
            TypeError: If ``actions`` is not a TensorDict.
        """
        act = _stack_actions(actions, self.agents, self.num_envs)
        forward = (act == 0) & (act.flip(0) != 2)  # the opponent's block stops a forward
        pos = (self._pos + forward.to(torch.int64) - (act == 1).to(torch.int64)).clamp(0, self.length)
        steps = self._steps + 1
        at_end = pos == self.length
        wins = at_end & ~at_end.flip(0)
        over = at_end.any(0)
        timeout = ~over & (steps >= self.max_steps)
        all_done = over | timeout
        next_obs = self._observe(pos, steps)
        self._pos = torch.where(all_done, 0, pos)
        self._steps = torch.where(all_done, 0, steps)
        per_agent = {
            Columns.OBS: self._observe(self._pos, self._steps),
            Columns.NEXT_OBS: next_obs,
            Columns.REWARDS: wins.to(torch.float32) - wins.flip(0).to(torch.float32),
            Columns.TERMINATEDS: over.expand(2, -1).clone(),
            Columns.TRUNCATEDS: timeout.expand(2, -1).clone(),
        }
        return _result(self.agents, per_agent, all_done, self.device)

    def state_dict(self) -> dict[str, Any]:
        """Return the positions ``[player, copy]`` and the step counters ``[copy]``."""
        return {"pos": self._pos.clone(), "steps": self._steps.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` so that the env continues exactly where it was.

        Raises:
            ValueError: If the state was saved from a different number of copies.
        """
        if tuple(state["pos"].shape) != (2, self.num_envs):
            raise ValueError(
                f"state of {state['pos'].shape[-1]} copies cannot be loaded into a DuelEnv of {self.num_envs} copies"
            )
        self._pos = state["pos"].to(self.device, torch.int64, copy=True)
        self._steps = state["steps"].to(self.device, torch.int64, copy=True)


@hookimpl
def rl8_envs() -> dict[str, type[MultiAgentBatchedEnv]]:
    """Register ``gather`` and ``duel``."""
    return {"gather": GatherEnv, "duel": DuelEnv}
