"""The pluggy hook specifications through which packages contribute components.

Each hook takes no arguments and returns a mapping from component names to
classes or factories. Names are lowercase ``snake_case`` without dots or
colons (configs treat a string with ``.`` or ``:`` as an import path); a third
party prefixes them with its package's short name (``acme_flat_tanh``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pluggy

__all__ = ["HOOKS", "HOOK_NAMESPACE", "hookimpl", "hookspec"]

#: The pluggy project name; also the entry-point group plugins register under.
HOOK_NAMESPACE: Final = "rl8"

#: Marker for hook specifications (used by the core only).
hookspec = pluggy.HookspecMarker(HOOK_NAMESPACE)
#: Marker plugin authors put on their hook functions: ``@hookimpl``.
hookimpl = pluggy.HookimplMarker(HOOK_NAMESPACE)


class Hookspecs:
    """The registration hooks; each returns ``{name: class_or_factory}``."""

    @hookspec
    def rl8_encoders(self) -> Mapping[str, Any]:
        """Contribute encoders: ``Encoder`` subclasses or factories returning one.

        A value is called as ``value(observation_spec, **encoder_config)`` and
        must return an ``Encoder`` whose ``forward(obs)`` gives ``[b, output_dim]``.

        Added in 0.1.

        Examples:
            >>> from rl8_core import Encoder, hookimpl
            >>> class Flat(Encoder): ...
            >>> @hookimpl
            ... def rl8_encoders():
            ...     return {"acme_flat": Flat}
        """
        raise NotImplementedError

    @hookspec
    def rl8_distributions(self) -> Mapping[str, Any]:
        """Contribute action distributions: ``Distribution`` subclasses.

        The class is built as ``cls(action_dist_inputs, action_spec, **config)``
        and states ``cls.required_inputs(action_spec, **config)``.

        Added in 0.1.

        Examples:
            >>> from rl8_core import Distribution, hookimpl
            >>> @hookimpl
            ... def rl8_distributions():
            ...     return {"acme_beta": Distribution}  # a real plugin returns its subclass
        """
        raise NotImplementedError

    @hookspec
    def rl8_algorithms(self) -> Mapping[str, Any]:
        """Contribute training algorithms: ``Algorithm`` subclasses.

        An algorithm supplies its config class, loss, postprocessing and default
        module; the core's learner and Trainer run it.

        Added in 0.1.

        Examples:
            >>> from rl8_core import Algorithm, hookimpl
            >>> @hookimpl
            ... def rl8_algorithms():
            ...     return {"acme_a2c": Algorithm}  # a real plugin returns its subclass
        """
        raise NotImplementedError

    @hookspec
    def rl8_envs(self) -> Mapping[str, Any]:
        """Contribute environments: factories returning a ``BatchedEnv`` or a ``MultiAgentBatchedEnv``.

        A value is called as ``value(num_envs=..., seed=..., device=..., **env_config)``.

        Added in 0.1.

        Examples:
            >>> from rl8_core import hookimpl
            >>> def make_acme_grid(*, num_envs, seed=None, device="cpu"): ...
            >>> @hookimpl
            ... def rl8_envs():
            ...     return {"acme_grid": make_acme_grid}
        """
        raise NotImplementedError


#: Registry kind -> hook name. Kinds are singular, one per hook.
HOOKS: Final[dict[str, str]] = {
    "encoder": "rl8_encoders",
    "distribution": "rl8_distributions",
    "algorithm": "rl8_algorithms",
    "env": "rl8_envs",
}
