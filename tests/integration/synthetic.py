"""Synthetic gymnasium envs for the space matrix: any observation space, any action space.

Test modules load this file by path (``tests/`` is not a package and pytest
imports test files with ``--import-mode=importlib``), see ``load`` in
``test_space_matrix.py``.

``SyntheticEnv`` samples its observations from the observation space with a
seeded RNG, pays a reward that depends on the action only (a fixed random
linear score of the flattened action, so there is a learning signal), and
ends episodes after a random 3 to 12 steps, by termination or truncation
with equal odds. ``MaskedEnv`` adds an ``action_mask`` to a ``Dict``
observation and fails loudly when a masked action is taken.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["ACTION_SPACES", "OBSERVATION_SPACES", "MaskedEnv", "SyntheticEnv", "TakenMaskedActionError", "make"]

_IMAGE = spaces.Box(0, 255, (12, 12, 3), np.uint8)

#: One observation space per kind the issue names, nested ones included.
OBSERVATION_SPACES: dict[str, spaces.Space[Any]] = {
    "box": spaces.Box(-1.0, 1.0, (4,), np.float32),
    "image": _IMAGE,
    "discrete": spaces.Discrete(5, start=2),
    "multidiscrete": spaces.MultiDiscrete([3, 4], start=[1, -1]),
    "multibinary": spaces.MultiBinary([2, 3]),
    "dict": spaces.Dict(
        {
            "pos": spaces.Box(-1.0, 1.0, (2,), np.float32),
            "img": _IMAGE,
            "mode": spaces.Discrete(3),
            "bits": spaces.MultiBinary(3),
            "cells": spaces.MultiDiscrete([2, 3]),
            "count": spaces.Box(0, 10, (3,), np.int64),
        }
    ),
    "tuple": spaces.Tuple(
        (spaces.Box(-1.0, 1.0, (2, 3), np.float64), spaces.Discrete(4), spaces.MultiDiscrete([2, 2]))
    ),
    "nested": spaces.Dict(
        {
            "a": spaces.Tuple(
                (
                    spaces.Dict({"x": spaces.Box(-1.0, 1.0, (2,), np.float32), "y": spaces.Discrete(3)}),
                    spaces.MultiBinary(2),
                )
            ),
            "b": spaces.Box(-2.0, 2.0, (), np.float32),
        }
    ),
}

#: One action space per kind the issue names; the composite ones mix kinds and nest.
ACTION_SPACES: dict[str, spaces.Space[Any]] = {
    "discrete": spaces.Discrete(3),
    "box": spaces.Box(-1.0, 1.0, (2,), np.float32),
    "multidiscrete": spaces.MultiDiscrete([3, 2]),
    "multibinary": spaces.MultiBinary(3),
    "dict": spaces.Dict(
        {
            "move": spaces.Box(-1.0, 1.0, (2, 2), np.float32),
            "fire": spaces.Discrete(3),
            "flags": spaces.MultiBinary([2, 2]),
        }
    ),
    "tuple": spaces.Tuple(
        (
            spaces.Discrete(2, start=-1),
            spaces.Dict(
                {
                    "aim": spaces.Box(-1.0, 1.0, (), np.float32),
                    "mode": spaces.MultiDiscrete([2, 3], start=[1, -1]),
                }
            ),
        )
    ),
}


class SyntheticEnv(gym.Env[Any, Any]):
    """Random observations from ``observation_space``; the reward scores the action.

    Args:
        observation_space: What ``reset`` and ``step`` return (sampled at random).
        action_space: What ``step`` accepts; actions outside it raise.
        min_length: Shortest episode.
        max_length: Longest episode.
    """

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        *,
        min_length: int = 3,
        max_length: int = 12,
    ) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.min_length = min_length
        self.max_length = max_length
        flat = spaces.flatten_space(action_space)
        # A fixed score per flattened action element (one-hot for discrete parts): the same for
        # every seed, so that every env of a vector env rewards the same actions.
        self._weights = np.random.default_rng(12345).uniform(-1.0, 1.0, flat.shape).astype(np.float64)
        self._length = 0
        self._t = 0

    def _observe(self) -> Any:
        return self.observation_space.sample()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode of random length; ``seed`` seeds the RNG and the observation space."""
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        self._length = int(self.np_random.integers(self.min_length, self.max_length + 1))
        self._t = 0
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Score ``action``; end the episode (terminated or truncated) at its drawn length.

        Raises:
            ValueError: If ``action`` is not in the action space (``GymVectorEnv`` clips ``Box`` actions,
                so one outside its bounds is a bug).
        """
        with warnings.catch_warnings():
            # gymnasium's SyncVectorEnv hands a scalar Box's action over as a numpy scalar, and
            # Box.contains warns about casting it to an array.
            warnings.filterwarnings("ignore", ".*Casting input x to numpy array", UserWarning)
            contained = self.action_space.contains(action)
        if not contained:
            raise ValueError(f"action {action!r} is not in {self.action_space!r}")
        flat: np.ndarray[Any, Any] = np.asarray(spaces.flatten(self.action_space, action))
        reward = float(np.dot(self._weights, flat))
        self._t += 1
        done = self._t >= self._length
        terminated = done and bool(self.np_random.integers(2))
        truncated = done and not terminated
        return self._observe(), reward, terminated, truncated, {}


class TakenMaskedActionError(AssertionError):
    """An agent took an action its observation's ``action_mask`` forbade."""


class MaskedEnv(SyntheticEnv):
    """A ``Dict`` observation ``{obs, action_mask}`` for ``Discrete`` or ``MultiDiscrete`` actions.

    The mask is a random ``MultiBinary`` with one entry per action (per
    sub-action for ``MultiDiscrete``, laid out as gymnasium and RLlib do),
    with at least one allowed action per sub-action; ``step`` raises
    ``TakenMaskedActionError`` for a masked one. Masked actions score highest,
    so a policy that ignored the mask would drift towards them.
    """

    def __init__(self, action_space: spaces.Discrete | spaces.MultiDiscrete) -> None:
        self._nvec = [int(action_space.n)] if isinstance(action_space, spaces.Discrete) else action_space.nvec.tolist()
        size = sum(self._nvec)
        obs = spaces.Dict({"obs": spaces.Box(-1.0, 1.0, (3,), np.float32), "action_mask": spaces.MultiBinary(size)})
        super().__init__(obs, action_space)
        self._mask = np.ones(size, np.int8)
        self.masked_steps = 0

    def _observe(self) -> Any:
        mask = self.np_random.integers(0, 2, sum(self._nvec)).astype(np.int8)
        start = 0
        for n in self._nvec:
            if not mask[start : start + n].any():
                mask[start + int(self.np_random.integers(n))] = 1
            start += n
        self._mask = mask
        # Masked actions pay most: learning to take them would be the easy way up.
        self._weights = np.where(mask == 0, 1.0, -1.0)
        assert isinstance(self.observation_space, spaces.Dict)
        return {"obs": self.observation_space["obs"].sample(), "action_mask": mask}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Raise if ``action`` is masked; otherwise score it like ``SyntheticEnv``."""
        indices = [int(action)] if np.ndim(action) == 0 else [int(a) for a in np.asarray(action)]
        start = 0
        for n, index in zip(self._nvec, indices, strict=True):
            if not self._mask[start + index]:
                raise TakenMaskedActionError(f"took masked action {action!r} under mask {self._mask.tolist()}")
            start += n
        return super().step(action)


def make(*, obs: str, action: str) -> SyntheticEnv:
    """Build a ``SyntheticEnv`` from the names of its spaces (for configs: ``factory: <module>:make``)."""
    return SyntheticEnv(OBSERVATION_SPACES[obs], ACTION_SPACES[action])
