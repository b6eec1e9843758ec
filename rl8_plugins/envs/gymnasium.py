"""The ``gymnasium`` env: any gymnasium env (by ``id`` or ``factory``), vectorized, as a ``BatchedEnv``.

A gymnasium id named directly as a config's ``env`` (``CartPole-v1``, or
``minigrid:MiniGrid-Empty-5x5-v0`` for an id a package registers on import)
needs no plugin: the core builds it with the same factory. This name is for
``factory`` (an env that is not registered with gymnasium) or for naming the
adapter explicitly. Both take ``wrappers`` and ``drop_keys`` in ``env_config``.
"""

from __future__ import annotations

from collections.abc import Callable

from rl8_core import GymVectorEnv, hookimpl, make_gymnasium_env

__all__ = ["rl8_envs"]


@hookimpl
def rl8_envs() -> dict[str, Callable[..., GymVectorEnv]]:
    """Register ``gymnasium``."""
    return {"gymnasium": make_gymnasium_env}
