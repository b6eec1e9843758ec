"""The ``memory_cue`` env: recall a cue shown at the start of the episode, a test of a policy's memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns, ConfigError, hookimpl
from rl8_plugins.envs import _draw
from rl8_plugins.envs._physics import check_positive, seeded_generator
from specs import Box, Discrete

__all__ = ["MemoryCueEnv", "rl8_envs"]


class MemoryCueEnv(BatchedEnv):
    """``num_envs`` cue-recall tasks, stepped as whole tensors: the answer needs memory.

    Every episode draws a cue, uniform among ``num_cues``, and lasts exactly
    ``delay + 2`` steps (actions):

    * step 0, the cue step: the observation shows the cue as a one-hot;
    * steps 1 to ``delay``: blank observations (all zeros);
    * step ``delay + 1``, the query step: the query flag is set, and the action
      is the answer. It pays 1.0 if it equals the cue and 0 otherwise, and the
      episode terminates (never truncates).

    Every other action is ignored and pays 0. Observations are float32
    ``[n, num_cues + 1]``: the cue's one-hot (zeros after the cue step), then
    the query flag. The final observation of an episode (``next_obs`` of the
    query step) is blank. Actions are ``Discrete(num_cues)`` ``[n]``.

    The query observation is the same whatever the cue, so a feed-forward
    policy's expected return is at most ``1 / num_cues``; a policy that
    remembers the cue for ``delay + 1`` steps earns 1.0 every episode.
    Finished envs reset inside ``step`` (see ``BatchedEnv``); all envs start
    together at ``reset``, so with a fixed length their episodes stay in step.

    Step results are fresh tensors; the env never writes into a tensor it has
    handed out.

    Args:
        num_envs: Number of envs stepped together.
        seed: Seeds the env's ``torch.Generator`` (on ``device``); ``None`` draws
            a nondeterministic seed. ``reset(seed=...)`` reseeds.
        device: Where the state, observations, rewards and flags live.
        num_cues: Number of distinct cues (and actions), at least 2.
        delay: Blank steps between the cue and the query, at least 0.

    Raises:
        ConfigError: For ``num_cues`` below 2 or a negative ``delay``.
        ValueError: For a non-positive ``num_envs``.

    Examples:
        >>> env = MemoryCueEnv(num_envs=2, seed=0, num_cues=3, delay=1)
        >>> cue_obs = env.reset()["obs"]
        >>> cue_obs.shape, cue_obs[:, 3].tolist()  # one-hot cue, query flag 0
        (torch.Size([2, 4]), [0.0, 0.0])
        >>> cue = cue_obs[:, :3].argmax(1)
        >>> env.step(torch.zeros(2, dtype=torch.long))["obs"].tolist()  # blank
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
        >>> env.step(torch.zeros(2, dtype=torch.long))["obs"][:, 3].tolist()  # query
        [1.0, 1.0]
        >>> out = env.step(cue)  # the remembered cue answers the query
        >>> out["rewards"].tolist(), out["terminateds"].tolist()
        ([1.0, 1.0], [True, True])
    """

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        num_cues: int = 2,
        delay: int = 8,
    ) -> None:
        if isinstance(num_cues, bool) or not isinstance(num_cues, int) or num_cues < 2:
            raise ConfigError(
                f"env_config.num_cues: memory_cue needs an int >= 2 (one cue needs no memory), got {num_cues!r}; "
                f"set num_cues to 2 or more"
            )
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise ConfigError(
                f"env_config.delay: memory_cue needs an int >= 0 (the blank steps between cue and query), "
                f"got {delay!r}; set delay to 0 or more"
            )
        check_positive(num_envs=num_envs)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.num_cues = num_cues
        self.delay = delay
        #: Steps (actions) per episode: the cue step, ``delay`` blank steps, the query step.
        self.episode_length = delay + 2
        self.observation_spec = Box((num_cues + 1,), 0.0, 1.0, torch.float32, device=self.device)
        self.action_spec = Discrete(num_cues, device=self.device)
        self._batch_size = torch.Size([self.num_envs])
        self._cue_ids = torch.arange(num_cues, device=self.device)
        self._query_step = torch.tensor(delay + 1, device=self.device)
        self._generator = seeded_generator(self.device, seed)
        # Drawing nothing here makes ``Env(seed=s).reset()`` equal ``Env().reset(seed=s)``.
        self._cue = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    def _draw(self) -> torch.Tensor:
        """Draw a cue ``[n]`` (int64) for every env from the env's generator."""
        return torch.randint(self.num_cues, (self.num_envs,), device=self.device, generator=self._generator)

    def _observe(self, cue: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Return the observations ``[n, num_cues + 1]`` (float32) of cues and step counters ``[n]``."""
        one_hot = (cue.unsqueeze(1) == self._cue_ids) & (steps == 0).unsqueeze(1)
        query = (steps == self._query_step).unsqueeze(1)
        return torch.cat((one_hot, query), dim=1).to(torch.float32)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Start an episode in every env and return ``{obs: [n, num_cues + 1]}`` showing the cues.

        Args:
            seed: Reseeds the env's generator when given.
        """
        if seed is not None:
            self._generator.manual_seed(seed)
        self._cue = self._draw()
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        return TensorDict(
            {Columns.OBS: self._observe(self._cue, self._steps)}, batch_size=self._batch_size, device=self.device
        )

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Take ``actions`` ``[n]`` (answers, read at the query step only) and return the step result.

        Returns:
            ``obs`` and ``next_obs`` ``[n, num_cues + 1]`` (float32; they differ
            only where an episode ended: ``obs`` then shows the new episode's cue,
            ``next_obs`` is blank), ``rewards`` ``[n]`` (float32, 1.0 for a right
            answer at the query step, else 0), ``terminateds`` (the query was
            answered) and ``truncateds`` (always false) ``[n]`` (bool).

        Raises:
            TypeError: If ``actions`` is not a tensor.
        """
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"MemoryCueEnv takes a tensor of actions, got {type(actions).__name__}")
        cue, steps = self._cue, self._steps
        terminated = steps == self._query_step
        rewards = (terminated & (actions.reshape(self.num_envs) == cue)).to(torch.float32)
        next_steps = steps + 1
        final_obs = self._observe(cue, next_steps)  # past the query: blank
        # Every env draws a cue and torch.where picks: no host-device sync in step.
        cue = torch.where(terminated, self._draw(), cue)
        steps = torch.where(terminated, torch.zeros_like(next_steps), next_steps)
        self._cue, self._steps = cue, steps
        return TensorDict(
            {
                Columns.OBS: self._observe(cue, steps),
                Columns.NEXT_OBS: final_obs,
                Columns.REWARDS: rewards,
                Columns.TERMINATEDS: terminated,
                Columns.TRUNCATEDS: torch.zeros(self.num_envs, dtype=torch.bool, device=self.device),
            },
            batch_size=self._batch_size,
            device=self.device,
        )

    def render(self, index: int = 0) -> np.ndarray:
        """Return what env ``index`` observes as a row of squares: ``uint8`` ``[32, 32 * (num_cues + 1), 3]``.

        The cue's square is white on the cue step, the last square (the
        query flag) yellow on the query step; the rest are dark.
        """
        obs = self._observe(self._cue[index : index + 1], self._steps[index : index + 1])[0].tolist()
        row = _draw.canvas(1, self.num_cues + 1, (40, 40, 40))
        for i, lit in enumerate(obs[:-1]):
            if lit:
                row[0, i] = (255, 255, 255)
        if obs[-1]:
            row[0, -1] = (240, 200, 40)
        return _draw.upscale(row, 32)

    def state_dict(self) -> dict[str, Any]:
        """Return the cues ``[n]``, the step counters ``[n]`` and the generator state."""
        return {"cue": self._cue.clone(), "steps": self._steps.clone(), "generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` so that the env continues exactly where it was.

        Raises:
            ValueError: If the state was saved from a different number of envs.
        """
        cue, steps = state["cue"], state["steps"]
        if tuple(cue.shape) != (self.num_envs,) or tuple(steps.shape) != (self.num_envs,):
            raise ValueError(
                f"state for {cue.shape[0]} envs cannot be loaded into a MemoryCueEnv of {self.num_envs} envs"
            )
        self._cue = cue.to(self.device, torch.int64, copy=True)
        self._steps = steps.to(self.device, torch.int64, copy=True)
        self._generator.set_state(state["generator"])


@hookimpl
def rl8_envs() -> dict[str, type[BatchedEnv]]:
    """Register ``memory_cue``."""
    return {"memory_cue": MemoryCueEnv}
