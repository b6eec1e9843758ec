"""Piecewise-linear schedules over env steps (learning rate, entropy coefficient, clip range)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

__all__ = ["Schedule"]


class Schedule:
    """A value interpolated linearly between ``(env_steps, value)`` points.

    Before the first point the first value holds, after the last point the
    last value holds. ``None`` or an empty list of points means the constant
    ``default``.

    Args:
        points: ``[[env_steps, value], ...]`` with increasing env steps.
        default: The value when there are no points.

    Examples:
        >>> s = Schedule([[0, 1e-3], [1000, 0.0]], default=3e-4)
        >>> s(0), s(500), s(5000)
        (0.001, 0.0005, 0.0)
        >>> Schedule(None, default=0.2)(123)
        0.2
    """

    def __init__(self, points: Sequence[Sequence[float]] | None, *, default: float) -> None:
        pts = [(float(p[0]), float(p[1])) for p in (points or [])]
        for p in points or []:
            if len(p) != 2:
                raise ValueError(f"schedule points are [env_steps, value] pairs, got {list(p)!r}")
        if any(b[0] <= a[0] for a, b in itertools.pairwise(pts)):
            raise ValueError(f"schedule env steps must increase, got {[p[0] for p in pts]}")
        self._steps = [p[0] for p in pts]
        self._values = [p[1] for p in pts]
        self.default = float(default)

    def __call__(self, env_steps: float) -> float:
        """Return the value after ``env_steps`` env steps."""
        if not self._steps:
            return self.default
        i = bisect.bisect_right(self._steps, env_steps)
        if i == 0:
            return self._values[0]
        if i == len(self._steps):
            return self._values[-1]
        s0, s1 = self._steps[i - 1], self._steps[i]
        v0, v1 = self._values[i - 1], self._values[i]
        return v0 + (v1 - v0) * (env_steps - s0) / (s1 - s0)
