"""The run directory: training checkpoints ``iter_<n>/`` and the ``latest`` pointer, plus the RNG state.

A run directory ``<checkpoint.dir>/<run name>/`` holds one directory per
checkpoint and a ``latest`` file naming the newest. A checkpoint holds the
module directory (``module/``), the trainer state (``trainer.pt``), the config
(``config.yaml``) and readable metadata (``meta.json``).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl8_core.checkpoints import module as module_dir
from rl8_core.errors import CheckpointError
from rl8_core.files import atomic_directory, atomic_write_text

__all__ = [
    "CONFIG_FILE",
    "LATEST",
    "META_FILE",
    "MODULE_DIR",
    "TRAINER_STATE",
    "checkpoint_name",
    "config_file",
    "find_checkpoint",
    "load_trainer_state",
    "module_path",
    "module_state",
    "new_run_dir",
    "prune",
    "read_meta",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

#: Trainer state: optimiser, algorithm, runner, env, counters, RNG.
TRAINER_STATE = "trainer.pt"
#: The run's config, as YAML that ``TrainConfig.from_file`` reads.
CONFIG_FILE = "config.yaml"
#: Readable metadata: iteration, env steps, MLflow run id, components, last metrics.
META_FILE = "meta.json"
#: The module directory (see ``rl8_core.checkpoints.module``).
MODULE_DIR = "module"
#: File in a run directory naming its newest checkpoint.
LATEST = "latest"


def checkpoint_name(iteration: int) -> str:
    """Return the directory name of the checkpoint after ``iteration`` iterations.

    Examples:
        >>> checkpoint_name(12)
        'iter_000012'
    """
    return f"iter_{iteration:06d}"


def new_run_dir(base: str | Path, name: str) -> Path:
    """Return ``base/name``, or ``base/name-2``, ``-3``, ... if taken: a run never writes into another's directory."""
    base = Path(base)
    path, n = base / name, 1
    while path.exists():
        n += 1
        path = base / f"{name}-{n}"
    return path


def save_checkpoint(
    target: str | Path,
    *,
    save_module: Callable[[Path], object],
    state: Mapping[str, Any],
    config_text: str,
    meta: Mapping[str, Any],
    point_latest: bool,
) -> Path:
    """Write a checkpoint directory atomically; a crash mid-save leaves earlier checkpoints intact.

    Args:
        target: The checkpoint directory.
        save_module: Writes the module directory at the path it is given.
        state: The trainer state (``torch.save``-able).
        config_text: The run's config as YAML.
        meta: JSON-serialisable metadata.
        point_latest: Make the run directory's ``latest`` file name this checkpoint.
    """
    target = Path(target)
    with atomic_directory(target) as tmp:
        save_module(tmp / MODULE_DIR)
        torch.save(dict(state), tmp / TRAINER_STATE)
        (tmp / CONFIG_FILE).write_text(config_text)
        (tmp / META_FILE).write_text(json.dumps(dict(meta), indent=2))
    if point_latest:
        atomic_write_text(target.parent / LATEST, target.name + "\n")
    return target


def find_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint directory or a run directory holding a ``latest`` pointer; return the checkpoint.

    Raises:
        CheckpointError: If ``path`` is neither.
    """
    path = Path(path)
    if (path / TRAINER_STATE).is_file():
        return path
    latest = path / LATEST
    if latest.is_file():
        return path / latest.read_text().strip()
    raise CheckpointError(f"{path} is neither a training checkpoint nor a run directory with a '{LATEST}' file")


def config_file(checkpoint: Path) -> Path:
    """Return the config file of a checkpoint."""
    return checkpoint / CONFIG_FILE


def module_path(checkpoint: Path) -> Path:
    """Return the module directory of a checkpoint (for ``RLModule.from_checkpoint``)."""
    return checkpoint / MODULE_DIR


def module_state(checkpoint: Path, *, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    """Return the module weights of a checkpoint."""
    return module_dir.load_state(module_path(checkpoint), map_location=map_location)


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """Return the trainer state of a checkpoint (on the CPU)."""
    state: dict[str, Any] = torch.load(checkpoint / TRAINER_STATE, map_location="cpu", weights_only=True)
    return state


def read_meta(checkpoint: Path) -> dict[str, Any]:
    """Return the metadata of a checkpoint."""
    meta: dict[str, Any] = json.loads((checkpoint / META_FILE).read_text())
    return meta


def prune(paths: list[Path], keep: int) -> None:
    """Delete the oldest of ``paths`` (oldest first) until ``keep`` remain; ``paths`` is shortened in place."""
    while len(paths) > keep:
        shutil.rmtree(paths.pop(0), ignore_errors=True)


def rng_state() -> dict[str, Any]:
    """Return the state of Python's, NumPy's and torch's (CPU and CUDA) global generators, as tensors and tuples."""
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generator states returned by ``rng_state``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])
