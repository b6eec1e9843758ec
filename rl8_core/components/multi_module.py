"""``MultiRLModule``: named RLModules acting and training together (multi-agent), with parts they share."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl8_core.checkpoints import module as module_dir
from rl8_core.components.module import RLModule, RLModuleSpec
from rl8_core.components.multi_env import check_agent_ids
from rl8_core.errors import CheckpointError, ConfigError
from rl8_core.files import atomic_directory
from specs import SpecError
from specs.errors import Mismatch

__all__ = ["DEFAULT_MODULE_ID", "MultiRLModule", "MultiRLModuleSpec", "is_multi_module_dir", "load_module"]

#: The module id of a single module wrapped by ``RLModule.as_multi_agent`` and of parameter sharing.
DEFAULT_MODULE_ID = "default"

#: What marks a module directory as a ``MultiRLModule``'s in its metadata.
_KIND = "multi_rl_module"


class MultiRLModule(nn.Module):
    """Several ``RLModule``s under module ids, whose forwards take and return TensorDicts keyed by module id.

    Each sub-module keeps its own observation and action spec, catalog and
    model config, and checks its own specs; a mismatch names the module id
    (``module 'adversary': ActorCriticModule.forward_train input ...``).
    Parts named in ``shared`` (attribute names of the sub-modules, such as
    ``pi_encoder``) are one object used by every sub-module: the first
    module's part replaces the others', so the shared weights appear once in
    ``parameters()`` (one optimiser entry) and receive the sum of the
    gradients of every module that uses them.

    ``save_to_path`` writes a module directory holding the whole (what
    ``from_checkpoint`` and ``load_module`` restore) and, under ``<module
    id>/``, each sub-module as an ``RLModule`` directory of its own, so one
    policy can be loaded or exported alone.

    Args:
        modules: Module id -> ``RLModule``.
        shared: Attribute names of parts every sub-module shares.

    Examples:
        >>> import torch
        >>> from catalogs import ActorCriticModule
        >>> from specs import Box, Discrete
        >>> multi = MultiRLModule({"a": ActorCriticModule(Box((4,)), Discrete(2)),
        ...                        "b": ActorCriticModule(Box((4,)), Discrete(2))}, shared=["pi_encoder"])
        >>> multi["a"].pi_encoder is multi["b"].pi_encoder
        True
        >>> out = multi.forward_inference(TensorDict({"a": {"obs": torch.zeros(3, 4)}}, []))
        >>> out["a", "actions"].shape
        torch.Size([3])
    """

    def __init__(self, modules: Mapping[str, RLModule], *, shared: Sequence[str] = ()) -> None:
        super().__init__()
        try:
            ids = check_agent_ids(modules, what="module ids")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        for mid, module in modules.items():
            if not isinstance(module, RLModule):
                raise TypeError(f"module {mid!r}: expected an RLModule, got {type(module).__name__}")
        #: The sub-modules, by module id.
        self.rl_modules = nn.ModuleDict({mid: modules[mid] for mid in ids})
        #: Attribute names of the parts every sub-module shares.
        self.shared: tuple[str, ...] = tuple(shared)
        for name in self.shared:
            self._tie(name)

    def _tie(self, name: str) -> None:
        """Make every sub-module use the first one's ``name`` part, after checking they are alike."""
        first_id, first = next(iter(self.items()))
        part = getattr(first, name, None)
        if not isinstance(part, nn.Module):
            children = ", ".join(n for n, _ in first.named_children()) or "none"
            raise ConfigError(
                f"multi_agent.shared: module {first_id!r} ({type(first).__name__}) has no part {name!r}; "
                f"its parts are: {children}"
            )
        want = {k: tuple(v.shape) for k, v in part.state_dict().items()}
        for mid, module in self.items():
            other = getattr(module, name, None)
            have = {k: tuple(v.shape) for k, v in other.state_dict().items()} if isinstance(other, nn.Module) else None
            if type(other) is not type(part) or have != want:
                why = "has no such part" if other is None else "has one of another type or other shapes"
                raise ConfigError(
                    f"multi_agent.shared: modules {first_id!r} and {mid!r} cannot share {name!r}: {mid!r} {why}; "
                    "give them the same observation spec and the same encoder options"
                )
            setattr(module, name, part)

    def __getitem__(self, module_id: str) -> RLModule:
        module = self.rl_modules[module_id]
        assert isinstance(module, RLModule)
        return module

    def __contains__(self, module_id: object) -> bool:
        return isinstance(module_id, str) and module_id in self.rl_modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.rl_modules)

    def keys(self) -> list[str]:
        """Return the module ids, in order."""
        return list(self.rl_modules.keys())

    def items(self) -> Iterator[tuple[str, RLModule]]:
        """Iterate ``(module id, module)`` pairs, in order."""
        for mid in self.rl_modules:
            yield mid, self[mid]

    @property
    def is_stateful(self) -> bool:
        """Whether any sub-module carries a state between steps."""
        return any(module.is_stateful for _, module in self.items())

    def _forward(self, mode: str, batch: TensorDictBase) -> TensorDict:
        out: dict[str, TensorDictBase] = {}
        for mid in batch.keys():  # noqa: SIM118 - iterating a TensorDict gives its rows
            if mid not in self.rl_modules:
                raise SpecError(
                    [Mismatch(str(mid), "extra", f"no module {mid!r}; the modules are {self.keys()}")],
                    context=f"{type(self).__name__}.forward_{mode} input",
                )
            try:
                out[mid] = getattr(self[mid], f"forward_{mode}")(batch.get(mid))
            except SpecError as exc:
                raise SpecError(exc.mismatches, context=f"module {mid!r}: {exc.context or 'data'}") from None
        return TensorDict(out, batch_size=[])

    def forward_train(self, batch: TensorDictBase) -> TensorDict:
        """Run each sub-module's ``forward_train`` on its entry of ``batch`` (keyed by module id)."""
        return self._forward("train", batch)

    def forward_exploration(self, batch: TensorDictBase) -> TensorDict:
        """Run each sub-module's ``forward_exploration`` on its entry of ``batch`` (keyed by module id)."""
        return self._forward("exploration", batch)

    def forward_inference(self, batch: TensorDictBase) -> TensorDict:
        """Run each sub-module's ``forward_inference`` on its entry of ``batch`` (keyed by module id)."""
        return self._forward("inference", batch)

    def components(self) -> list[dict[str, str | None]]:
        """Describe the registry components of every sub-module (each entry names its ``module``)."""
        seen: list[dict[str, str | None]] = []
        for mid, module in self.items():
            seen += [{**record, "module": mid} for record in module.components()]
        return seen

    def get_state(self) -> dict[str, Any]:
        """Return the weights and buffers of every sub-module (keys ``rl_modules.<module id>.<name>``)."""
        return dict(self.state_dict())

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a state returned by ``get_state`` (strict)."""
        self.load_state_dict(state, strict=True)

    def _sub_state(self, state: Mapping[str, torch.Tensor], mid: str) -> dict[str, torch.Tensor]:
        prefix = f"rl_modules.{mid}."
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    def save_to_path(self, path: str | Path, *, state: Mapping[str, torch.Tensor] | None = None) -> Path:
        """Save the whole (and each sub-module as an ``RLModule`` directory ``<module id>/``) to ``path``, atomically.

        ``state`` saves those weights instead of the current ones (a snapshot from ``get_state``).
        """
        weights = dict(self.state_dict()) if state is None else dict(state)
        metadata = {
            "kind": _KIND,
            "module_class": f"{type(self).__module__}:{type(self).__qualname__}",
            "module_ids": self.keys(),
            "shared": list(self.shared),
            "components": self.components(),
            "classes": [],
        }
        with atomic_directory(path) as tmp:
            for mid, module in self.items():
                module.save_to_path(tmp / mid, state=self._sub_state(weights, mid))
            module_dir.save_module_dir(
                tmp / ".whole",
                constructor={"kind": _KIND, "module_ids": self.keys(), "shared": list(self.shared)},
                metadata=metadata,
                state=weights,
            )
            for name in module_dir.FILES:
                (tmp / ".whole" / name).rename(tmp / name)
            (tmp / ".whole").rmdir()
        return Path(path)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, registry: object | None = None, map_location: str | torch.device = "cpu"
    ) -> MultiRLModule:
        """Restore a ``MultiRLModule`` saved by ``save_to_path``; shared parts are shared again.

        Raises:
            CheckpointError: If ``path`` holds no ``MultiRLModule``, or a sub-module cannot be restored.
        """
        path = Path(path)
        ctor, _ = module_dir.read_constructor(path)
        if ctor.get("kind") != _KIND:
            raise CheckpointError(f"{path} holds a single RLModule, not a MultiRLModule; load it with load_module")
        modules = {
            mid: RLModule.from_checkpoint(path / mid, registry=registry, map_location=map_location)
            for mid in ctor["module_ids"]
        }
        multi = cls(modules, shared=ctor["shared"])
        multi.set_state(module_dir.load_state(path, map_location=map_location))
        return multi


RLModule.multi_module_class = MultiRLModule


def load_module(
    path: str | Path, *, registry: object | None = None, map_location: str | torch.device = "cpu"
) -> RLModule | MultiRLModule:
    """Restore the module of a module directory, single or multi.

    Examples:
        >>> import tempfile
        >>> from catalogs import ActorCriticModule
        >>> from specs import Box, Discrete
        >>> path = ActorCriticModule(Box((4,)), Discrete(2)).as_multi_agent().save_to_path(tempfile.mkdtemp() + "/m")
        >>> type(load_module(path)).__name__, type(load_module(path / "default")).__name__
        ('MultiRLModule', 'ActorCriticModule')
    """
    if is_multi_module_dir(path):
        return MultiRLModule.from_checkpoint(path, registry=registry, map_location=map_location)
    return RLModule.from_checkpoint(path, registry=registry, map_location=map_location)


def is_multi_module_dir(path: str | Path) -> bool:
    """Return whether the module directory ``path`` holds a ``MultiRLModule`` (reads its metadata only)."""
    meta_file = Path(path) / module_dir.META_FILE
    return meta_file.is_file() and json.loads(meta_file.read_text()).get("kind") == _KIND


@dataclass(frozen=True)
class MultiRLModuleSpec:
    """Everything needed to build a ``MultiRLModule``: an ``RLModuleSpec`` per module id and the shared parts.

    Examples:
        >>> from catalogs import ActorCriticModule
        >>> from specs import Box, Discrete
        >>> spec = MultiRLModuleSpec({"hunter": RLModuleSpec(ActorCriticModule, Box((4,)), Discrete(2)),
        ...                           "prey": RLModuleSpec(ActorCriticModule, Box((6,)), Discrete(3))})
        >>> spec.build().keys()
        ['hunter', 'prey']
    """

    #: Module id -> how to build it.
    module_specs: Mapping[str, RLModuleSpec]
    #: Attribute names of parts every module shares (see ``MultiRLModule``).
    shared: Sequence[str] = field(default=())

    def build(self) -> MultiRLModule:
        """Build every module, then share the named parts."""
        modules: dict[str, RLModule] = {}
        for mid, spec in self.module_specs.items():
            try:
                modules[mid] = spec.build()
            except ConfigError as exc:
                raise ConfigError(f"module {mid!r}: {exc}") from None
        return MultiRLModule(modules, shared=self.shared)
