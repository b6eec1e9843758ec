"""The run directory: training checkpoints ``iter_<n>/`` and the ``latest`` pointer, plus the RNG state.

A run directory ``<checkpoint.dir>/<run name>/`` holds one directory per
checkpoint and a ``latest`` file naming the newest. A checkpoint holds the
module directory (``module/``), the trainer state (``trainer.pt``), the config
(``config.yaml``) and readable metadata (``meta.json``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl8_core.checkpoints import module as module_dir
from rl8_core.errors import CheckpointError
from rl8_core.files import atomic_write_text

__all__ = [
    "CONFIG_FILE",
    "LATEST",
    "META_FILE",
    "MODULE_DIR",
    "TRAINER_STATE",
    "checkpoint_iteration",
    "checkpoint_name",
    "checkpoints",
    "clean_run_dir",
    "config_file",
    "find_checkpoint",
    "is_complete",
    "load_trainer_state",
    "missing_parts",
    "module_path",
    "module_state",
    "new_run_dir",
    "prune",
    "read_latest",
    "read_meta",
    "rng_state",
    "save_checkpoint",
    "save_latest",
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

logger = logging.getLogger(__name__)

_NAME = re.compile(r"iter_(\d+)")
#: Prefixes of entries a process leaves in a run directory only while it writes (or when it is killed).
_TMP, _DEL, _OLD = ".tmp-", ".del-", ".old-"


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
    """Write a checkpoint directory; at every instant ``latest`` names a complete checkpoint.

    The checkpoint is written into a temporary sibling ``.tmp-<name>-*`` and
    renamed into place; ``latest`` is replaced through a temporary file. When
    ``target`` already exists (a resumed run writing an iteration again), the
    old directory is moved away only after ``latest`` names the new, complete
    one: ``latest`` first names the temporary directory, the old one is
    renamed to ``.del-<name>-*``, the new one is renamed to ``target``, and
    ``latest`` is pointed at it. In the one window where ``latest`` names a
    temporary directory that was just renamed, ``find_checkpoint`` resolves it
    to ``target``; ``clean_run_dir`` finishes an interrupted swap.

    Args:
        target: The checkpoint directory.
        save_module: Writes the module directory at the path it is given.
        state: The trainer state: tensors, numbers, strings, ``None`` and
            containers of them, so that it loads with ``torch.load(weights_only=True)``.
        config_text: The run's config as YAML.
        meta: JSON-serialisable metadata.
        point_latest: Make the run directory's ``latest`` file name this checkpoint.

    Returns:
        ``target``.
    """
    target = Path(target)
    run = target.parent
    run.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{target.name}-", dir=run))
    try:
        save_module(tmp / MODULE_DIR)
        torch.save(dict(state), tmp / TRAINER_STATE)
        (tmp / CONFIG_FILE).write_text(config_text)
        (tmp / META_FILE).write_text(json.dumps(dict(meta), indent=2))
        _fsync_tree(tmp)
        if not target.exists():
            os.replace(tmp, target)
            _fsync_dir(run)
        else:
            _swap_in(tmp, target, latest_names_target=read_latest(run) == target.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if point_latest:
        save_latest(target)
    return target


def save_latest(checkpoint: str | Path) -> None:
    """Make the run directory's ``latest`` file name ``checkpoint`` (atomically; not rewritten if it already does)."""
    checkpoint = Path(checkpoint)
    if read_latest(checkpoint.parent) != checkpoint.name:
        atomic_write_text(checkpoint.parent / LATEST, checkpoint.name + "\n")


def _swap_in(tmp: Path, target: Path, *, latest_names_target: bool) -> None:
    """Replace the existing ``target`` with the complete ``tmp``, never leaving ``latest`` on a missing directory."""
    run = target.parent
    if latest_names_target:
        atomic_write_text(run / LATEST, tmp.name + "\n")
    old = _unique(run, f"{_DEL}{target.name}-")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(run)
    if latest_names_target:
        atomic_write_text(run / LATEST, target.name + "\n")
    shutil.rmtree(old, ignore_errors=True)


def missing_parts(checkpoint: Path) -> list[str]:
    """Return the parts a checkpoint directory lacks (empty when it is complete).

    A complete checkpoint holds ``config.yaml``, ``meta.json``, ``trainer.pt``
    and a module directory with its three files.

    Examples:
        >>> import tempfile, pathlib
        >>> missing_parts(pathlib.Path(tempfile.mkdtemp()))[:3]
        ['config.yaml', 'meta.json', 'trainer.pt']
    """
    parts = [CONFIG_FILE, META_FILE, TRAINER_STATE]
    parts += [f"{MODULE_DIR}/{name}" for name in module_dir.FILES]
    return [part for part in parts if not (checkpoint / part).is_file()]


def is_complete(checkpoint: Path) -> bool:
    """Return whether ``checkpoint`` is a directory holding every part of a checkpoint."""
    return checkpoint.is_dir() and not missing_parts(checkpoint)


def checkpoint_iteration(name: str) -> int | None:
    """Return the iteration of a checkpoint directory name, or ``None`` if it is not one.

    Examples:
        >>> checkpoint_iteration("iter_000012"), checkpoint_iteration(".tmp-iter_000012-x1")
        (12, None)
    """
    match = _NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def checkpoints(run: str | Path) -> list[Path]:
    """Return the complete ``iter_<n>`` checkpoints of a run directory, oldest first."""
    run = Path(run)
    if not run.is_dir():
        return []
    found = [(n, p) for p in run.iterdir() if (n := checkpoint_iteration(p.name)) is not None and is_complete(p)]
    return [p for _, p in sorted(found)]


def read_latest(run: str | Path) -> str | None:
    """Return the name the run directory's ``latest`` file holds, or ``None`` if there is none (or it is not a name)."""
    try:
        name = (Path(run) / LATEST).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    # A bare name inside the run directory, never a path leading out of it.
    return name if name and name not in (".", "..") and Path(name).name == name else None


def _swapped_name(name: str) -> str | None:
    """Return ``<name>`` for ``.tmp-<name>-<suffix>`` (what a swap renames it to), else ``None``."""
    if not name.startswith(_TMP):
        return None
    stem, sep, _ = name[len(_TMP) :].rpartition("-")
    return stem if sep and checkpoint_iteration(stem) is not None else None


def _resolve_latest(run: Path) -> tuple[Path | None, str]:
    """Return ``(checkpoint latest names, "")`` or ``(None, what is wrong with latest)``."""
    name = read_latest(run)
    if name is None:
        return None, f"it has no readable '{LATEST}' file"
    named = run / name
    if is_complete(named):
        return named, ""
    swapped = _swapped_name(name)
    if swapped is not None and not named.exists() and is_complete(run / swapped):
        return run / swapped, ""  # a swap was interrupted right after renaming the new checkpoint into place
    if not named.exists():
        return None, f"'{LATEST}' names {name}, which does not exist"
    return None, f"'{LATEST}' names {name}, which is incomplete (no {', '.join(missing_parts(named))})"


def find_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint directory or a run directory; return the checkpoint.

    A run directory resolves to the checkpoint its ``latest`` file names. If
    ``latest`` is missing or names a missing or incomplete directory (a run
    killed by an older version, or a damaged disk), the newest complete
    ``iter_<n>`` is used instead, with a warning logged.

    Raises:
        CheckpointError: If ``path`` is an incomplete checkpoint, a run directory
            without any complete checkpoint, or neither (the message says which).

    Examples:
        >>> import tempfile
        >>> find_checkpoint(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        rl8_core.errors.CheckpointError: ... is neither a training checkpoint nor a run directory ...
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist or is not a directory")
    if (path / TRAINER_STATE).is_file() or (path / MODULE_DIR).is_dir() or (path / CONFIG_FILE).is_file():
        missing = missing_parts(path)
        if missing:
            raise CheckpointError(f"checkpoint {path} is incomplete: it has no {', '.join(missing)}")
        return path
    has_iters = any(checkpoint_iteration(p.name) is not None for p in path.iterdir())
    if not (path / LATEST).exists() and not has_iters:
        raise CheckpointError(f"{path} is neither a training checkpoint nor a run directory with a '{LATEST}' file")
    found, problem = _resolve_latest(path)
    if found is not None:
        return found
    complete = checkpoints(path)
    if not complete:
        raise CheckpointError(f"run directory {path}: {problem}, and it holds no complete iter_* checkpoint")
    logger.warning("run directory %s: %s; using the newest complete checkpoint, %s", path, problem, complete[-1].name)
    return complete[-1]


def clean_run_dir(run: str | Path) -> list[str]:
    """Remove what a killed process left in a run directory; return the names removed.

    Call it when a process (re)opens a run directory to write into it, never
    while another process writes there. It finishes an interrupted swap (see
    ``save_checkpoint``), then removes temporary entries (``.tmp-*``,
    ``.del-*``, ``.old-*``) and incomplete ``iter_<n>`` directories, but never
    the directory ``latest`` names. If ``latest`` is missing or broken and a
    complete checkpoint is left, ``latest`` is pointed at the newest one.
    """
    run = Path(run)
    if not run.is_dir():
        return []
    name = read_latest(run)
    if name is not None and (swapped := _swapped_name(name)) is not None:
        if is_complete(run / name):
            _swap_in(run / name, run / swapped, latest_names_target=False)
            atomic_write_text(run / LATEST, swapped + "\n")
        elif not (run / name).exists() and is_complete(run / swapped):
            atomic_write_text(run / LATEST, swapped + "\n")
        name = read_latest(run)
    removed = []
    for entry in sorted(run.iterdir()):
        if entry.name == name:
            continue
        stale = entry.name.startswith((_TMP, _DEL, _OLD))
        if not stale and checkpoint_iteration(entry.name) is not None:
            stale = not is_complete(entry)
        if stale:
            _discard(entry)
            removed.append(entry.name)
    if removed:
        logger.info("run directory %s: removed %s, left by an interrupted process", run, ", ".join(removed))
    if _resolve_latest(run)[0] is None and (complete := checkpoints(run)):
        logger.warning("run directory %s: pointing '%s' at %s", run, LATEST, complete[-1].name)
        atomic_write_text(run / LATEST, complete[-1].name + "\n")
    return removed


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


def prune(run: str | Path, keep: int) -> list[str]:
    """Delete the oldest complete checkpoints of a run directory until ``keep`` remain; return the names deleted.

    Every ``iter_<n>`` on disk counts, also those of an earlier process of the
    same run (before a resume), so ``keep`` holds across resumes. The
    checkpoint ``latest`` names is never deleted. Each directory is first
    renamed to ``.del-<name>-*`` and then removed, so a process killed
    mid-delete never leaves a half-deleted ``iter_<n>`` behind.

    Raises:
        ValueError: If ``keep`` is below 1.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    run = Path(run)
    latest = _resolve_latest(run)[0]
    deleted = []
    for path in checkpoints(run)[:-keep]:
        if latest is None or path.name != latest.name:
            _discard(path)
            deleted.append(path.name)
    return deleted


def _discard(path: Path) -> None:
    """Remove ``path`` by renaming it to a ``.del-*`` name first, then deleting it."""
    target = path
    if not path.name.startswith((_TMP, _DEL, _OLD)):
        target = _unique(path.parent, f"{_DEL}{path.name}-")
        os.replace(path, target)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


def _unique(parent: Path, prefix: str) -> Path:
    """Return an unused path ``parent/<prefix><random>`` (not created)."""
    while True:
        candidate = parent / f"{prefix}{uuid.uuid4().hex[:8]}"
        if not candidate.exists():
            return candidate


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
