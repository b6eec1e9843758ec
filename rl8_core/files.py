"""Crash-safe writing of files and directories (temp + rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_directory", "atomic_write_text"]


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` on success.

    If the block raises (or the process dies), ``path`` keeps its previous
    contents and the temporary directory is removed (or left as ``.tmp-*``,
    which readers ignore).

    Writing a new ``path`` is one atomic rename. Replacing an existing one
    takes two (the old directory to ``.old-*``, then the new one into place):
    a process killed between them leaves no ``path``, with the old contents
    in ``.old-*``. Nothing should point at a directory this replaces; the run
    directory's ``latest`` pointer, for one, is handled by
    ``rl8_core.checkpoints.run.save_checkpoint``, which never leaves it on a
    missing directory.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_directory(root / "ckpt") as tmp:
        ...     _ = (tmp / "a.txt").write_text("hi")
        >>> (root / "ckpt" / "a.txt").read_text()
        'hi'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())
