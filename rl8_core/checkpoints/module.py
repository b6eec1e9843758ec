"""The module directory: what ``RLModule.save_to_path`` writes and ``RLModule.from_checkpoint`` reads.

A directory with three files: ``rl8_module.json`` (readable metadata: specs,
config, component provenance), ``constructor.pkl`` (the cloudpickled
constructor arguments) and ``state.pt`` (the weights).

Only load checkpoints from a source you trust. The weights (``state.pt``) and
a run's trainer state load with ``torch.load(weights_only=True)``, which
builds nothing but tensors and plain containers. The constructor arguments
cannot: they hold the module's and catalog's classes, pickled (by value when
they cannot be imported, e.g. a class defined in a notebook), and unpickling
them runs code the checkpoint's author chose. That is on purpose (a module
restores in a fresh process without its source), and it is why
``read_constructor`` must never be called on a checkpoint from an untrusted
source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cloudpickle
import torch

from rl8_core.errors import CheckpointError
from rl8_core.files import atomic_directory
from rl8_core.imports import BUILTIN_DISTRIBUTION, own_version
from specs import spec_from_dict

__all__ = [
    "CONSTRUCTOR_FILE",
    "FILES",
    "FORMAT_VERSION",
    "META_FILE",
    "STATE_FILE",
    "load_state",
    "missing_package_message",
    "read_constructor",
    "read_metadata",
    "save_module_dir",
]

#: Readable metadata of the module.
META_FILE = "rl8_module.json"
#: Cloudpickled constructor arguments (classes, specs, config).
CONSTRUCTOR_FILE = "constructor.pkl"
#: The module's ``state_dict``.
STATE_FILE = "state.pt"
#: The files of a complete module directory.
FILES = (META_FILE, CONSTRUCTOR_FILE, STATE_FILE)
#: Version of this layout, stored in the metadata.
FORMAT_VERSION = 1


def save_module_dir(
    path: str | Path, *, constructor: Mapping[str, Any], metadata: Mapping[str, Any], state: Mapping[str, torch.Tensor]
) -> Path:
    """Write a module directory atomically and return its path.

    Args:
        path: The directory (replaced as a whole).
        constructor: What rebuilds the module (pickled by value where classes cannot be imported).
        metadata: JSON-serialisable description; ``format_version`` and ``rl8_core_version`` are added.
        state: The weights and buffers, stored on the CPU.
    """
    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, "rl8_core_version": own_version() or "unknown", **metadata}
    with atomic_directory(path) as tmp:
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        (tmp / CONSTRUCTOR_FILE).write_bytes(cloudpickle.dumps(dict(constructor)))
        torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp / STATE_FILE)
    return path


def _raw_metadata(path: Path) -> dict[str, Any]:
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(f"{path} is not an RLModule checkpoint (no {META_FILE})")
    meta: dict[str, Any] = json.loads(meta_file.read_text())
    return meta


def read_constructor(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(constructor, raw metadata)`` of a module directory.

    This unpickles ``constructor.pkl`` (cloudpickle), which can run arbitrary
    code: call it only on a checkpoint from a trusted source.

    Raises:
        CheckpointError: If ``path`` is not a module directory, or a class it
            needs cannot be imported (the message names the package to install).
    """
    path = Path(path)
    meta = _raw_metadata(path)
    try:
        constructor: dict[str, Any] = cloudpickle.loads((path / CONSTRUCTOR_FILE).read_bytes())
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(missing_package_message(path, meta, exc)) from exc
    return constructor, meta


def load_state(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Return the weights of a module directory (``weights_only``: tensors only, no code runs)."""
    state: dict[str, torch.Tensor] = torch.load(Path(path) / STATE_FILE, map_location=map_location, weights_only=True)
    return state


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Return the JSON metadata of a module directory, with the specs as spec objects.

    Raises:
        CheckpointError: If ``path`` is not a module directory.
    """
    meta = _raw_metadata(Path(path))
    meta["observation_spec"] = spec_from_dict(meta["observation_spec"])
    meta["action_spec"] = spec_from_dict(meta["action_spec"])
    return meta


def missing_package_message(path: Path, meta: Mapping[str, Any], exc: BaseException) -> str:
    """Explain why a module directory cannot be restored, naming the packages to install."""

    def third_party(entries: Any) -> list[dict[str, Any]]:
        return [c for c in entries or [] if c.get("distribution") not in (None, BUILTIN_DISTRIBUTION)]

    needed = [f"{c['kind']} {c['name']!r} from {c['distribution']}" for c in third_party(meta.get("components"))]
    needed += [
        f"{c['role'].replace('_', ' ')} {c['object']} from {c['distribution']}"
        for c in third_party(meta.get("classes"))
    ]
    pkgs = sorted(
        {
            f"{c['distribution']}=={c['version']}" if c.get("version") else c["distribution"]
            for c in third_party(meta.get("components")) + third_party(meta.get("classes"))
        }
    )
    lines = [f"cannot restore the module in {path}: {type(exc).__name__}: {exc}"]
    if needed:
        lines.append(
            f"It was built with {', '.join(needed)}; install the missing package: pip install {' '.join(pkgs)}"
        )
    else:
        lines.append(f"It was saved from {meta.get('module_class')} with rl8-core {meta.get('rl8_core_version')}.")
    return "\n".join(lines)
