"""Stop conditions for ``Trainer.run``: callables on an iteration's result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["EnvSteps", "Plateau", "ReturnReached", "StopCondition", "WallTime"]

RETURN_KEY = "episodes/return_mean"


@runtime_checkable
class StopCondition(Protocol):
    """Anything that looks at an iteration's result and says whether to stop."""

    def __call__(self, result: Mapping[str, float]) -> bool:
        """Return ``True`` to stop after this iteration."""
        ...


class ReturnReached:
    """Stop once ``episodes/return_mean`` (the mean of the last episodes) reaches a threshold.

    Examples:
        >>> ReturnReached(475.0)({"episodes/return_mean": 480.0})
        True
    """

    def __init__(self, threshold: float, *, key: str = RETURN_KEY) -> None:
        self.threshold = threshold
        self.key = key

    def __call__(self, result: Mapping[str, float]) -> bool:
        value = result.get(self.key, math.nan)
        return not math.isnan(value) and value >= self.threshold

    def __repr__(self) -> str:
        return f"ReturnReached({self.threshold}, key={self.key!r})"


class EnvSteps:
    """Stop after a number of env steps.

    Examples:
        >>> EnvSteps(1000)({"counters/env_steps": 1024})
        True
    """

    def __init__(self, env_steps: int) -> None:
        self.env_steps = env_steps

    def __call__(self, result: Mapping[str, float]) -> bool:
        return result.get("counters/env_steps", 0) >= self.env_steps

    def __repr__(self) -> str:
        return f"EnvSteps({self.env_steps})"


class WallTime:
    """Stop after a number of seconds of training.

    Examples:
        >>> WallTime(60)({"counters/wall_s": 61.0})
        True
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, result: Mapping[str, float]) -> bool:
        return result.get("counters/wall_s", 0.0) >= self.seconds

    def __repr__(self) -> str:
        return f"WallTime({self.seconds})"


class Plateau:
    """Stop when a metric has not improved by ``min_delta`` for ``patience`` iterations.

    Examples:
        >>> p = Plateau(2)
        >>> [p({"episodes/return_mean": v}) for v in (1.0, 5.0, 5.0, 4.0)]
        [False, False, False, True]
    """

    def __init__(self, patience: int, *, min_delta: float = 0.0, key: str = RETURN_KEY) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.key = key
        self._best = -math.inf
        self._since = 0

    def __call__(self, result: Mapping[str, float]) -> bool:
        value = result.get(self.key, math.nan)
        if math.isnan(value):
            return False
        if value > self._best + self.min_delta:
            self._best, self._since = value, 0
            return False
        self._since += 1
        return self._since >= self.patience

    def __repr__(self) -> str:
        return f"Plateau({self.patience}, min_delta={self.min_delta}, key={self.key!r})"
