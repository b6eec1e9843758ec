"""Stop conditions for ``Trainer.run``: callables on an iteration's result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from rl8_core.columns import Metrics
from rl8_core.training.config import StopConfig

__all__ = ["EnvSteps", "Plateau", "ReturnReached", "StopCondition", "WallTime", "stop_conditions"]


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

    def __init__(self, threshold: float, *, key: str = Metrics.RETURN_MEAN) -> None:
        self.threshold = threshold
        self.key = key

    def __call__(self, result: Mapping[str, float]) -> bool:
        """Return whether the metric has reached the threshold (never for a missing or NaN value)."""
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
        """Return whether ``counters/env_steps`` has reached the budget."""
        return result.get(Metrics.ENV_STEPS, 0) >= self.env_steps

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
        """Return whether ``counters/wall_s`` has reached the budget."""
        return result.get(Metrics.WALL_S, 0.0) >= self.seconds

    def __repr__(self) -> str:
        return f"WallTime({self.seconds})"


class Plateau:
    """Stop when a metric has not improved by ``min_delta`` for ``patience`` iterations.

    Examples:
        >>> p = Plateau(2)
        >>> [p({"episodes/return_mean": v}) for v in (1.0, 5.0, 5.0, 4.0)]
        [False, False, False, True]
    """

    def __init__(self, patience: int, *, min_delta: float = 0.0, key: str = Metrics.RETURN_MEAN) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.key = key
        self._best = -math.inf
        self._since = 0

    def __call__(self, result: Mapping[str, float]) -> bool:
        """Count iterations without improvement; return whether there were ``patience`` in a row."""
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


def stop_conditions(stop: StopConfig) -> list[StopCondition]:
    """Return the stop conditions a ``stop:`` config section asks for.

    With ``eval_return_mean`` set, the return condition looks at
    ``eval/return_mean`` (``Trainer.run`` evaluates once the training return
    reaches ``return_mean``).

    Examples:
        >>> stop_conditions(StopConfig(return_mean=475.0, env_steps=10_000))
        [ReturnReached(475.0, key='episodes/return_mean'), EnvSteps(10000)]
    """
    conds: list[StopCondition] = []
    if stop.eval_return_mean is not None:
        conds.append(ReturnReached(stop.eval_return_mean, key=Metrics.EVAL_RETURN_MEAN))
    elif stop.return_mean is not None:
        conds.append(ReturnReached(stop.return_mean))
    if stop.env_steps is not None:
        conds.append(EnvSteps(stop.env_steps))
    if stop.wall_time_s is not None:
        conds.append(WallTime(stop.wall_time_s))
    if stop.plateau_iterations is not None:
        conds.append(Plateau(stop.plateau_iterations, min_delta=stop.plateau_min_delta))
    return conds
