"""On-disk formats, each with one owner: a module directory and a run directory.

The functions here receive plain state (dicts, tensors, callables that write a
part) and know no class of the framework, so both ``RLModule`` and
``Trainer`` hand their state to them without an upward import.
"""

from __future__ import annotations

__all__: list[str] = []
