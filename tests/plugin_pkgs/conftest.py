"""Keep pytest out of the plugin packages.

They are installed with pip by ``tests/rl8_core/conftest.py`` and imported
from there; collecting them here (``--doctest-modules`` imports every module)
would import ``rl8_test_import_error``, which fails on purpose.
"""

from __future__ import annotations

collect_ignore_glob = ["*"]
