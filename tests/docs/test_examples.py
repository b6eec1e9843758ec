"""Run every ``python`` block of every docs page, page by page, so that the docs cannot rot.

The blocks of one page share one namespace and run in order, in a temporary
working directory, with MLflow pointed at a temporary store that all pages
share (so a page must find its runs by experiment or run name).
``<!-- output -->`` blocks must equal what the block before them printed. See
``conftest.py`` in this folder for the conventions.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import sys
from pathlib import Path
from typing import Any

import pytest


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def _run_block(page: Any, block: Any, namespace: dict[str, Any]) -> str:
    filename = f"<docs/{page.name}:{block.line}>"
    # Register the source so that tracebacks show the doc's own lines.
    linecache.cache[filename] = (len(block.code), None, block.code.splitlines(keepends=True), filename)
    code = compile(block.code, filename, "exec")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
    finally:
        sys.stdout.write(out.getvalue())  # shown by pytest when the test fails
    return out.getvalue()


def test_page_examples_run(
    docs_page: Any,
    docs_mlflow_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    page = docs_page
    if "acme-rl8" in page.requires:
        request.getfixturevalue("acme_on_path")
    if "ray" in page.requires:
        request.getfixturevalue("local_ray")  # the session's local Ray of 2 CPUs, which the page's trainers join
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", docs_mlflow_uri)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    printed: str | None = None
    for block in page.blocks:
        where = f"docs/{page.name}:{block.line}"
        if block.directive == "output":
            assert printed is not None, f"{where}: an output block needs a python block before it"
            assert _normalise(block.code) == _normalise(printed), (
                f"{where}: the shown output differs from what the code prints.\n"
                f"--- shown\n{block.code}--- printed\n{printed}"
            )
            continue
        if block.lang != "python" or block.directive == "skip" or block.file is not None:
            continue
        printed = _run_block(page, block, namespace)
