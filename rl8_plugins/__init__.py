"""The built-in components of rl8-core, one small module each.

Each module is a plugin listed in the ``rl8`` entry-point group of
``pyproject.toml``, registered exactly as a third-party package's would be.
Nothing here is imported by the core.
"""

from __future__ import annotations

__all__: list[str] = []
