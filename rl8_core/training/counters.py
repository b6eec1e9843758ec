"""``RunCounters``: what a run has done so far (iterations, env steps, episodes, seconds, recent returns)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from rl8_core.columns import Metrics
from rl8_core.training.runner import EpisodeStats

__all__ = ["RunCounters"]


class RunCounters:
    """Totals of a run and the returns and lengths of its last ``window`` finished episodes.

    Examples:
        >>> counters = RunCounters(window=2)
        >>> finished = EpisodeStats()
        >>> finished.extend([10.0, 20.0, 30.0], [10, 20, 30])
        >>> counters.add(env_steps=64, seconds=0.5, finished=finished)
        >>> counters.metrics()["episodes/return_mean"], counters.metrics()["counters/episodes"]
        (25.0, 3.0)
    """

    def __init__(self, *, window: int) -> None:
        self.iteration = 0
        self.env_steps = 0
        self.episodes = 0
        self.wall_s = 0.0
        self.returns: deque[float] = deque(maxlen=window)
        self.lengths: deque[int] = deque(maxlen=window)

    def add(self, *, env_steps: int, seconds: float, finished: EpisodeStats) -> None:
        """Count one iteration of ``env_steps`` steps that took ``seconds`` and finished ``finished``."""
        self.iteration += 1
        self.env_steps += env_steps
        self.wall_s += seconds
        self.episodes += len(finished)
        self.returns.extend(finished.returns)
        self.lengths.extend(finished.lengths)

    def metrics(self) -> dict[str, float]:
        """Return ``episodes/return_mean``, ``episodes/length_mean`` (NaN before an episode ends) and ``counters/*``."""
        return {
            Metrics.RETURN_MEAN: float(np.mean(self.returns)) if self.returns else math.nan,
            Metrics.LENGTH_MEAN: float(np.mean(self.lengths)) if self.lengths else math.nan,
            Metrics.ITERATIONS: float(self.iteration),
            Metrics.ENV_STEPS: float(self.env_steps),
            Metrics.EPISODES: float(self.episodes),
            Metrics.WALL_S: self.wall_s,
        }

    def state_dict(self) -> dict[str, Any]:
        """Return the counters for a checkpoint."""
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "wall_s": self.wall_s,
            "returns": list(self.returns),
            "lengths": list(self.lengths),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore counters returned by ``state_dict``."""
        self.iteration = int(state["iteration"])
        self.env_steps = int(state["env_steps"])
        self.episodes = int(state["episodes"])
        self.wall_s = float(state["wall_s"])
        self.returns.extend(state["returns"])
        self.lengths.extend(state["lengths"])
