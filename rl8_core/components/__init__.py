"""What a plugin author subclasses: ``RLModule``, ``Encoder``, ``Distribution``, ``Algorithm``, ``BatchedEnv``.

Import them from ``rl8_core``; these modules are where they live.
"""

from __future__ import annotations

__all__: list[str] = []
