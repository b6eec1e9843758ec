"""Environment variables set for the length of a block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["environ"]


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` inside the block, then restore what was there (or remove them).

    For settings read from the environment by code we call: MLflow's HTTP retries,
    the import path a local Ray's worker processes inherit.

    Examples:
        >>> with environ({"EXAMPLE_SETTING": "1"}):
        ...     os.environ["EXAMPLE_SETTING"]
        '1'
        >>> "EXAMPLE_SETTING" in os.environ
        False
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
