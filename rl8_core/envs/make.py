"""``make_env``: a config's env name (registry name, import path or gymnasium id) becomes a ``BatchedEnv``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import torch

from rl8_core.components.env import BatchedEnv
from rl8_core.envs.gym import make_gymnasium_env
from rl8_core.errors import UnknownComponentError
from rl8_core.imports import is_import_path
from rl8_core.plugins.registry import ComponentInfo, Registry, get_registry

__all__ = ["GYMNASIUM_ID", "build_env", "make_env", "resolve_env"]

#: The provenance ``plugin`` of an env named by a gymnasium id.
GYMNASIUM_ID = "<gymnasium id>"


def resolve_env(name: str, registry: Registry) -> ComponentInfo:
    """Return the env factory a config's ``env`` names.

    In this order: a registry name or an import path (``.``/``:``) is looked
    up in the registry; any other name that gymnasium's registry knows
    (``gymnasium.spec(name)``) is built by ``make_gymnasium_env`` with
    ``id=name``. A registered env plugin therefore shadows a gymnasium id
    of the same name.

    Raises:
        UnknownComponentError: Neither a registered env nor a gymnasium id;
            the message lists the registered names and the closest one.
    """
    if is_import_path(name) or name in registry.names("env"):
        return registry.info("env", name)
    try:
        gym.spec(name)
    except gym.error.Error:
        try:
            registry.info("env", name)
        except UnknownComponentError as exc:
            raise UnknownComponentError(f"{exc} It is not a registered gymnasium id either.") from None
        raise
    return ComponentInfo("env", name, make_gymnasium_env, GYMNASIUM_ID, "gymnasium", gym.__version__)


def build_env(
    name: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> tuple[BatchedEnv, ComponentInfo]:
    """Build the env and return it with the component it came from (for provenance).

    Raises:
        TypeError: If the factory does not return a ``BatchedEnv``.
    """
    info = resolve_env(name, registry or get_registry())
    kwargs = dict(env_config or {})
    if info.plugin == GYMNASIUM_ID:
        kwargs = {"id": name, **kwargs}
    env = info.obj(num_envs=num_envs, seed=seed, device=torch.device(device), **kwargs)
    if not isinstance(env, BatchedEnv):
        raise TypeError(f"env {name!r} ({info.source_text()}) returned {type(env).__name__}, not a BatchedEnv")
    return env, info


def make_env(
    name: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> BatchedEnv:
    """Build a ``BatchedEnv`` from a registry name, an import path or a gymnasium id.

    A gymnasium id (``CartPole-v1``) is built with ``make_gymnasium_env``,
    ``env_config`` giving its options (``gymnasium.make`` keywords,
    ``vectorization``, ``clip_actions``); see ``resolve_env`` for the order.

    Examples:
        >>> env = make_env("cartpole", num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 4])
    """
    return build_env(name, env_config, num_envs=num_envs, seed=seed, device=device, registry=registry)[0]
