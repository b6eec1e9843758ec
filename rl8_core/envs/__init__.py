"""Environments: the gymnasium adapter and ``make_env``, which turns a config's env name into a ``BatchedEnv``."""

from __future__ import annotations

__all__: list[str] = []
