"""The ``gymnasium`` env: any gymnasium env, vectorized, as a ``BatchedEnv``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from rl8_core import GymVectorEnv, hookimpl, import_object

__all__ = ["make_gymnasium_env", "rl8_envs"]


def make_gymnasium_env(
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    id: str | None = None,
    factory: str | Callable[..., Any] | None = None,
    vectorization: Literal["sync", "async"] = "sync",
    clip_actions: bool = True,
    **make_kwargs: Any,
) -> GymVectorEnv:
    """Build a ``GymVectorEnv`` from a gymnasium id or an env factory.

    Args:
        num_envs: Number of sub-envs.
        seed: Env ``i`` is first reset with ``seed + i``.
        device: Where observations, rewards and flags are put.
        id: A registered gymnasium id, built with ``gymnasium.make(id, **make_kwargs)``.
        factory: Instead of ``id``: a callable returning a ``gymnasium.Env``, or
            its import path (``"package.module:make_env"``); called with
            ``**make_kwargs``.
        vectorization: ``"sync"`` (one process) or ``"async"`` (a subprocess per env).
        clip_actions: Clip ``Box`` actions to the action space before stepping.
        **make_kwargs: Passed to ``gymnasium.make`` (or to ``factory``).

    Raises:
        ValueError: Unless exactly one of ``id`` and ``factory`` is given.
        TypeError: If ``factory`` does not resolve to a callable.

    Examples:
        >>> env = make_gymnasium_env(num_envs=2, seed=0, id="Pendulum-v1", g=9.81)
        >>> env.action_spec
        Box((1,), low=-2.0, high=2.0, dtype=torch.float32)
        >>> env.close()
    """
    if (id is None) == (factory is None):
        raise ValueError(
            f"the gymnasium env needs exactly one of 'id' and 'factory'; got id={id!r}, factory={factory!r}"
        )
    env: str | Callable[..., Any]
    if id is not None:
        env = id
    else:
        resolved = import_object(factory) if isinstance(factory, str) else factory
        if not callable(resolved):
            raise TypeError(f"the gymnasium env's factory {factory!r} is not callable")
        env = resolved
    return GymVectorEnv(
        env,
        num_envs=num_envs,
        seed=seed,
        device=device,
        vectorization=vectorization,
        clip_actions=clip_actions,
        env_kwargs=make_kwargs,
    )


@hookimpl
def rl8_envs() -> dict[str, Callable[..., GymVectorEnv]]:
    """Register ``gymnasium``."""
    return {"gymnasium": make_gymnasium_env}
