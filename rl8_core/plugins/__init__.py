"""The plugin system: the pluggy hook specifications and the registry that loads plugins one at a time."""

from __future__ import annotations

__all__: list[str] = []
