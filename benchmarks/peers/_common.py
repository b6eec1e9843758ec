"""What the peer scripts share: the base of their command line and their one-line JSON output.

The peer scripts run in the peers' own venvs (``.bench/sb3``, ``.bench/rl8``),
where rl8-core is not installed, so they import this module from their own
folder. It uses the standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any


def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """Return a parser described by ``doc``'s first paragraph, with the ``--torch-threads`` option.

    Args:
        doc: The script's module docstring.

    Returns:
        The parser, for the script to add its own options to.
    """
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads value (default: torch's own choice)",
    )
    return parser


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python or C level) to stderr."""
    sys.stdout.flush()
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


def print_record(measure: Callable[[], dict[str, Any]]) -> None:
    """Run ``measure`` with stdout sent to stderr, then print its record as the one stdout line.

    Args:
        measure: Runs the benchmark and returns its result record.
    """
    with stdout_to_stderr():
        record = measure()
    print(json.dumps(record), flush=True)
