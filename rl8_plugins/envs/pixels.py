"""The ``pixels`` env: walk to a goal on a small grid, seen only as a ``uint8`` image."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns, hookimpl
from rl8_plugins.envs import _draw
from rl8_plugins.envs._physics import check_positive, seeded_generator
from specs import Box, Discrete

__all__ = ["PixelsEnv", "rl8_envs"]


class PixelsEnv(BatchedEnv):
    """``num_envs`` grid worlds observed as images, stepped as whole tensors.

    Each env is a ``size x size`` grid holding an agent and a goal on distinct,
    uniformly drawn cells. Actions are ``Discrete(4)``: 0 up, 1 down, 2 left,
    3 right; moving into the border leaves the agent where it is. Reaching the
    goal terminates the episode with reward ``1 - 0.9 * t / max_episode_steps``
    (``t`` the steps taken, as in MiniGrid), every other step pays 0, and an
    episode is truncated after ``max_episode_steps`` steps. A uniformly random
    policy scores about 0.2 with the defaults, the shortest path about 0.85.
    Finished envs reset inside ``step`` (see ``BatchedEnv``).

    Observations are ``uint8`` images ``[n, size * cell_pixels, size * cell_pixels, 3]``
    (channels last, as gymnasium lays images out): channel 0 is 255 on the
    agent's cell, channel 1 on the goal's, channel 2 is always 0. The only way
    to the goal is through the pixels, so the ``cnn`` encoder the catalog picks
    for a rank-3 ``Box`` must learn to read them.

    An image side of 1, 3 or 4 pixels makes the channel axis ambiguous to the
    ``cnn`` encoder's ``channels: auto``; use ``size * cell_pixels >= 5`` or set
    ``encoder_config: {channels: last}``.

    Step results are fresh tensors; the env never writes into a tensor it has
    handed out.

    Args:
        num_envs: Number of envs stepped together.
        seed: Seeds the env's ``torch.Generator`` (on ``device``); ``None`` draws
            a nondeterministic seed. ``reset(seed=...)`` reseeds.
        device: Where the state, observations, rewards and flags live.
        size: Cells per side of the grid (at least 2).
        cell_pixels: Pixels per side of one cell.
        max_episode_steps: Truncation limit; default ``4 * size``.

    Raises:
        ValueError: For a non-positive ``num_envs``, ``cell_pixels`` or
            ``max_episode_steps``, or a ``size`` below 2.

    Examples:
        >>> env = PixelsEnv(num_envs=3, seed=0)
        >>> obs = env.reset()["obs"]
        >>> obs.shape, obs.dtype, env.action_spec
        (torch.Size([3, 5, 5, 3]), torch.uint8, Discrete(4))
        >>> out = env.step(torch.tensor([0, 1, 2]))
        >>> out["rewards"].shape, out["terminateds"].dtype
        (torch.Size([3]), torch.bool)
    """

    #: Row and column change of each action: up, down, left, right.
    MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
    #: Pixels per side of a cell in a ``render`` picture (grid lines included).
    RENDER_CELL = 32
    #: Colours of a ``render`` picture: empty cells, grid lines, the agent, the goal.
    FLOOR_COLOR, LINE_COLOR, AGENT_COLOR, GOAL_COLOR = (40, 40, 40), (90, 90, 90), (230, 60, 60), (60, 200, 90)

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        size: int = 5,
        cell_pixels: int = 1,
        max_episode_steps: int | None = None,
    ) -> None:
        if size < 2:
            raise ValueError(f"size must be >= 2 (the agent and the goal need distinct cells), got {size}")
        if cell_pixels < 1:
            raise ValueError(f"cell_pixels must be >= 1, got {cell_pixels}")
        max_steps = 4 * size if max_episode_steps is None else int(max_episode_steps)
        check_positive(num_envs=num_envs, max_episode_steps=max_steps)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.size = int(size)
        self.cell_pixels = int(cell_pixels)
        self.max_episode_steps = max_steps
        side = self.size * self.cell_pixels
        self.observation_spec = Box((side, side, 3), 0, 255, torch.uint8, device=self.device)
        self.action_spec = Discrete(4, device=self.device)
        self._batch_size = torch.Size([self.num_envs])
        self._moves = torch.tensor(self.MOVES, dtype=torch.int64, device=self.device)
        self._rows = torch.arange(self.num_envs, device=self.device)
        self._generator = seeded_generator(self.device, seed)
        # Drawing nothing here makes ``Env(seed=s).reset()`` equal ``Env().reset(seed=s)``.
        self._agent = torch.zeros((self.num_envs, 2), dtype=torch.int64, device=self.device)
        self._goal = torch.ones((self.num_envs, 2), dtype=torch.int64, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` (agent, goal) cell pairs ``[n, 2]``, uniform over distinct cells."""
        cells = self.size * self.size
        goal = torch.randint(cells, (n,), device=self.device, generator=self._generator)
        # An offset in [1, cells) from the goal's flat index: uniform over the other cells.
        agent = (goal + torch.randint(1, cells, (n,), device=self.device, generator=self._generator)) % cells
        return self._cell(agent), self._cell(goal)

    def _cell(self, flat: torch.Tensor) -> torch.Tensor:
        """Return ``[n, 2]`` (row, column) of flat cell indices ``[n]``."""
        return torch.stack((flat // self.size, flat % self.size), 1)

    def _render(self, agent: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Return images ``[n, side, side, 3]`` (uint8) of agents and goals ``[n, 2]``."""
        grid = torch.zeros((self.num_envs, self.size, self.size, 3), dtype=torch.uint8, device=self.device)
        grid[self._rows, agent[:, 0], agent[:, 1], 0] = 255
        grid[self._rows, goal[:, 0], goal[:, 1], 1] = 255
        if self.cell_pixels > 1:
            grid = grid.repeat_interleave(self.cell_pixels, 1).repeat_interleave(self.cell_pixels, 2)
        return grid

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every env and return ``{obs: [n, side, side, 3]}``; ``seed`` reseeds the generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._agent, self._goal = self._draw(self.num_envs)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        return TensorDict(
            {Columns.OBS: self._render(self._agent, self._goal)}, batch_size=self._batch_size, device=self.device
        )

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Move every agent by ``actions`` ``[n]`` (0 up, 1 down, 2 left, 3 right) and return the step result.

        Returns:
            ``obs`` and ``next_obs`` ``[n, side, side, 3]`` (uint8; they differ only
            where an episode ended: ``obs`` is then the reset observation,
            ``next_obs`` the final one), ``rewards`` ``[n]`` (float32),
            ``terminateds`` (the goal was reached) and ``truncateds`` ``[n]`` (bool).

        Raises:
            TypeError: If ``actions`` is not a tensor.
        """
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"PixelsEnv takes a tensor of actions, got {type(actions).__name__}")
        agent = (self._agent + self._moves[actions.reshape(self.num_envs).long()]).clamp_(0, self.size - 1)
        self._steps = self._steps + 1
        terminated = (agent == self._goal).all(1)
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        rewards = terminated * (1.0 - 0.9 * self._steps / self.max_episode_steps)
        next_obs = self._render(agent, self._goal)
        done = terminated | truncated
        fresh_agent, fresh_goal = self._draw(self.num_envs)
        # Every env draws a reset (keeps ``step`` free of host syncs on any device); ``where`` picks.
        self._agent = torch.where(done.unsqueeze(1), fresh_agent, agent)
        self._goal = torch.where(done.unsqueeze(1), fresh_goal, self._goal)
        self._steps = self._steps.masked_fill(done, 0)
        obs = torch.where(done[:, None, None, None], self._render(self._agent, self._goal), next_obs)
        return TensorDict(
            {
                Columns.OBS: obs,
                Columns.NEXT_OBS: next_obs,
                Columns.REWARDS: rewards.to(torch.float32),
                Columns.TERMINATEDS: terminated,
                Columns.TRUNCATEDS: truncated,
            },
            batch_size=self._batch_size,
            device=self.device,
        )

    def render(self, index: int = 0) -> np.ndarray:
        """Return env ``index``'s grid, each cell ``RENDER_CELL`` pixels wide: ``uint8`` ``[side, side, 3]``.

        ``side = size * RENDER_CELL``. The agent's cell is ``AGENT_COLOR``, the
        goal's ``GOAL_COLOR``, the others ``FLOOR_COLOR``, with a one-pixel
        ``LINE_COLOR`` border on the top and left of every cell (the same
        picture as the observation's channels, larger and easier to tell apart).

        Examples:
            >>> env = PixelsEnv(num_envs=1, seed=0)
            >>> _ = env.reset()
            >>> env.render().shape
            (160, 160, 3)
        """
        (ar, ac), (gr, gc) = self._agent[index].tolist(), self._goal[index].tolist()
        cells = _draw.canvas(self.size, self.size, self.FLOOR_COLOR)
        cells[gr, gc] = self.GOAL_COLOR
        cells[ar, ac] = self.AGENT_COLOR
        picture = _draw.upscale(cells, self.RENDER_CELL)
        picture[:: self.RENDER_CELL, :] = self.LINE_COLOR
        picture[:, :: self.RENDER_CELL] = self.LINE_COLOR
        return picture

    def state_dict(self) -> dict[str, Any]:
        """Return the agent and goal cells ``[n, 2]``, the step counters ``[n]`` and the generator state."""
        return {
            "agent": self._agent.clone(),
            "goal": self._goal.clone(),
            "steps": self._steps.clone(),
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` so that the env continues exactly where it was.

        Raises:
            ValueError: If the state was saved from a different number of envs.
        """
        agent, goal, steps = state["agent"], state["goal"], state["steps"]
        if tuple(agent.shape) != (self.num_envs, 2) or tuple(steps.shape) != (self.num_envs,):
            raise ValueError(
                f"state for {agent.shape[0]} envs cannot be loaded into a PixelsEnv of {self.num_envs} envs"
            )
        self._agent = agent.to(self.device, torch.int64, copy=True)
        self._goal = goal.to(self.device, torch.int64, copy=True)
        self._steps = steps.to(self.device, torch.int64, copy=True)
        self._generator.set_state(state["generator"])


@hookimpl
def rl8_envs() -> dict[str, type[BatchedEnv]]:
    """Register ``pixels``."""
    return {"pixels": PixelsEnv}
