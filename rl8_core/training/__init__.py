"""The training engine: config, setup, runner, learner, evaluation, stopping, tracking, progress and ``Trainer``."""

from __future__ import annotations

__all__: list[str] = []
