"""``make_env``: a config's env name (registry name, import path or gymnasium id) becomes a ``BatchedEnv``."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import torch

from rl8_core.components.env import BatchedEnv
from rl8_core.components.multi_env import MultiAgentBatchedEnv
from rl8_core.envs.gym import make_gymnasium_env
from rl8_core.errors import ConfigError, UnknownComponentError
from rl8_core.imports import distribution_of_module, is_import_path
from rl8_core.plugins.registry import ComponentInfo, Registry, get_registry

__all__ = ["GYMNASIUM_ID", "build_env", "make_env", "resolve_env"]

#: The provenance ``plugin`` of an env named by a gymnasium id.
GYMNASIUM_ID = "<gymnasium id>"

#: What an import path's attribute part looks like (``Name`` or ``Outer.Inner``).
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: What a registry name looks like; anything else an unknown ``env`` names is meant as a gymnasium id.
_REGISTRY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EXAMPLE_MODULE_ID = "minigrid:MiniGrid-Empty-5x5-v0"


def _gymnasium_info(name: str, distribution: str | None = None, version: str | None = None) -> ComponentInfo:
    """Return the component of a gymnasium id: ``make_gymnasium_env``, with the package that registered it."""
    if distribution is None:
        distribution, version = "gymnasium", gym.__version__
    return ComponentInfo("env", name, make_gymnasium_env, GYMNASIUM_ID, distribution, version)


def _close_ids(env_id: str) -> str:
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    return f"; close matches: {', '.join(close)}" if close else ""


def _resolve_module_id(name: str) -> ComponentInfo:
    """Resolve gymnasium's ``module:EnvId``: import ``module`` (which registers its envs), then find ``EnvId``.

    Raises:
        UnknownComponentError: In one line: ``module`` does not import (with the
            ``pip install`` hint), or it registers no ``EnvId`` (with close matches).
    """
    module, _, env_id = name.partition(":")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if missing is not None and (module == missing or module.startswith(f"{missing}.")):
            why = (
                f"module {module!r} is not installed; pip install the package that provides it (pip install {missing})"
            )
        else:
            why = f"importing module {module!r} failed: {' '.join(str(exc).split())}"
        raise UnknownComponentError(f"env {name!r} is gymnasium's module:EnvId form, but {why}") from None
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        raise UnknownComponentError(
            f"env {name!r}: importing module {module!r} did not register the gymnasium id {env_id!r} "
            f"({' '.join(str(exc).split())}){_close_ids(env_id)}"
        ) from None
    return _gymnasium_info(name, *distribution_of_module(module))


def _is_module_id(name: str) -> bool:
    """Return whether ``name`` is gymnasium's ``module:EnvId`` rather than an import path.

    An ``EnvId`` with ``-`` or ``/`` (``MiniGrid-Empty-5x5-v0``) can never be a
    Python attribute, so such a name is a gymnasium id without trying to import it.
    """
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr) and not _ATTRIBUTE.match(attr)


def _as_module_id(name: str) -> ComponentInfo | None:
    """Return the gymnasium id an import path-like ``module:Name`` turned out to be, or ``None``.

    Called when importing ``module:Name`` as an object failed: if ``module``
    imports and thereby registers the gymnasium id ``Name`` (an id without a
    version, such as ``Corridor``), the name is gymnasium's ``module:EnvId``.
    """
    module, sep, env_id = name.partition(":")
    if not sep:
        return None
    try:
        importlib.import_module(module)
        gym.spec(env_id)
    except (ImportError, gym.error.Error):
        return None
    return _gymnasium_info(name, *distribution_of_module(module))


def _unknown_hint(name: str) -> str:
    """Return how to name a gymnasium id that only a package's import registers, for an unknown ``name``."""
    if _REGISTRY_NAME.match(name):
        return ""
    prefix = re.split(r"[-_/]", name, maxsplit=1)[0].lower()
    try:
        found = bool(prefix.isidentifier() and importlib.util.find_spec(prefix))
    except (ImportError, ValueError):
        found = False
    if found:
        return f" If the package {prefix!r} registers it, name it as {prefix}:{name} (gymnasium's module:EnvId form)."
    return f" If a package registers it, name it as package:EnvId, e.g. {_EXAMPLE_MODULE_ID}."


def resolve_env(name: str, registry: Registry) -> ComponentInfo:
    """Return the env factory a config's ``env`` names.

    In this order:

    1. gymnasium's ``module:EnvId`` form, whose ``EnvId`` is no Python name
       (``minigrid:MiniGrid-Empty-5x5-v0``): ``module`` is imported, which
       registers its envs, and ``EnvId`` is built as a gymnasium id, as
       ``gymnasium.make`` does;
    2. a registry name or an import path (``.``/``:``) is looked up in the
       registry; an import path ``module:Name`` whose ``Name`` the module does not
       have, but registers as a gymnasium id on import, is that gymnasium id;
    3. any other name that gymnasium's registry knows (``gymnasium.spec(name)``)
       is built by ``make_gymnasium_env`` with ``id=name``. A registered env
       plugin therefore shadows a gymnasium id of the same name.

    Raises:
        UnknownComponentError: Neither a registered env nor a gymnasium id; the
            message lists the registered names and the closest one, and for a
            name shaped like a gymnasium id suggests the ``module:EnvId`` form
            (gymnasium only knows the ids of packages that were imported). For
            ``module:EnvId``: ``module`` does not import, or registers no ``EnvId``.

    Examples:
        >>> resolve_env("CartPole-v1", get_registry()).distribution
        'gymnasium'
    """
    if _is_module_id(name):
        return _resolve_module_id(name)
    if is_import_path(name) or name in registry.names("env"):
        try:
            return registry.info("env", name)
        except ImportError:
            info = _as_module_id(name)
            if info is None:
                raise
            return info
    try:
        gym.spec(name)
    except gym.error.Error:
        try:
            registry.info("env", name)
        except UnknownComponentError as exc:
            raise UnknownComponentError(
                f"{exc} It is not a registered gymnasium id either.{_unknown_hint(name)}"
            ) from None
        raise
    return _gymnasium_info(name)


def _takes_render_mode(factory: Any) -> bool:
    """Return whether ``factory`` names a ``render_mode`` parameter (a ``**kwargs`` catch-all does not count)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "render_mode" in parameters


def build_env(
    name: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
    render: bool = False,
) -> tuple[BatchedEnv | MultiAgentBatchedEnv, ComponentInfo]:
    """Build the env and return it with the component it came from (for provenance).

    A factory may return a ``BatchedEnv`` or a ``MultiAgentBatchedEnv``.

    With ``render``, the env is asked to draw frames (for ``rl8 record``): a
    factory that takes a ``render_mode`` keyword (gymnasium envs) gets
    ``render_mode="rgb_array"`` unless ``env_config`` sets one; other envs
    are built as usual and draw with their own ``render`` method, if any.

    Raises:
        TypeError: If the factory returns neither a ``BatchedEnv`` nor a ``MultiAgentBatchedEnv``.
        ConfigError: If the env rejects an ``env_config`` key it was passed.
    """
    info = resolve_env(name, registry or get_registry())
    kwargs = dict(env_config or {})
    if info.plugin == GYMNASIUM_ID:
        kwargs = {"id": name, **kwargs}
    if render and "render_mode" not in kwargs and _takes_render_mode(info.obj):
        kwargs["render_mode"] = "rgb_array"
    try:
        env = info.obj(num_envs=num_envs, seed=seed, device=torch.device(device), **kwargs)
    except TypeError as exc:
        # Options the factory passes on (``**kwargs``) reach a signature only here.
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigError(f"env_config: env {name!r} ({info.source_text()}) rejects an option: {exc}") from exc
    if not isinstance(env, (BatchedEnv, MultiAgentBatchedEnv)):
        raise TypeError(
            f"env {name!r} ({info.source_text()}) returned {type(env).__name__}, "
            "not a BatchedEnv or MultiAgentBatchedEnv"
        )
    return env, info


def make_env(
    name: str,
    env_config: Mapping[str, Any] | None = None,
    *,
    num_envs: int,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
    render: bool = False,
) -> BatchedEnv | MultiAgentBatchedEnv:
    """Build a ``BatchedEnv`` (or a ``MultiAgentBatchedEnv``) from a registry name, an import path or a gymnasium id.

    A gymnasium id (``CartPole-v1``) is built with ``make_gymnasium_env``,
    ``env_config`` giving its options (``gymnasium.make`` keywords,
    ``vectorization``, ``clip_actions``, ``wrappers``, ``drop_keys``); so is
    gymnasium's ``module:EnvId`` (``minigrid:MiniGrid-Empty-5x5-v0``). See
    ``resolve_env`` for the order. ``render`` asks for an env that draws frames
    (see ``build_env``).

    Examples:
        >>> env = make_env("cartpole", num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 4])
    """
    return build_env(name, env_config, num_envs=num_envs, seed=seed, device=device, registry=registry, render=render)[0]
