"""A plugin module that raises ``SystemExit`` while it is imported (e.g. a script's ``sys.exit``)."""

from __future__ import annotations

import sys

sys.exit(3)
