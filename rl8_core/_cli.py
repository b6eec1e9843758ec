"""The ``rl8`` command line: ``rl8 train``, ``rl8 eval``, ``rl8 plugins``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rl8_core._registry import PluginInfo, get_registry

__all__ = ["main"]


def _plugins_table(plugins: list[PluginInfo]) -> str:
    lines = []
    for p in plugins:
        dist = f"{p.distribution} {p.version}" if p.distribution else p.source
        status = p.status if p.reason is None else f"{p.status}: {p.reason}"
        lines.append(f"{p.name}  [{dist}]  {status}")
        for kind, names in sorted(p.contributions.items()):
            lines.append(f"    {kind}: {', '.join(names)}")
    return "\n".join(lines) if lines else "(no plugins found)"


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every plugin with its distribution, version, status and contributions."""
    plugins = get_registry().plugins()
    if args.json:
        print(json.dumps([p.to_json() for p in plugins], indent=2))
    else:
        print(_plugins_table(plugins))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``rl8`` command."""
    parser = argparse.ArgumentParser(prog="rl8", description="rl8: reinforcement learning built from plugins.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="list installed plugins and what they contribute")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rl8`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
