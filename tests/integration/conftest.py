"""Long learning runs (memory, multi-agent): trained in a subprocess beside the suite, awaited by their tests."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The environment the runs get: the session's at start-up, before any test sets ``RL8_*`` or MLflow variables.
RUN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("RL8_", "MLFLOW_"))}
#: The test files whose learning runs train in the background (``memory_runs.RUNS``).
BACKGROUND_TESTS = ("test_memory_learning.py", "test_multiagent_learning.py", "test_scale_learning.py")
#: Seconds one run may take (the slowest takes about three minutes on a loaded CI core).
RUN_TIMEOUT = 900
#: Runs trained at once. The suite itself runs in one process: a CI machine's second core trains them.
WORKERS = 1


class BackgroundRuns:
    """Trains ``memory_runs.RUNS`` entries in subprocesses, ``WORKERS`` at a time, on threads.

    The first test of this folder starts every run the session selected,
    longest first; the memory tests come last (``pytest_collection_modifyitems``)
    and find their runs done. The runs start after ``tests/faults``, whose
    signal and hang tests are the timing-sensitive ones.
    """

    def __init__(self) -> None:
        self._done: dict[str, threading.Event] = {}
        self._results: dict[str, dict[str, Any] | str] = {}
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, names: list[str]) -> None:
        """Queue the runs of ``names`` not queued yet, and start the workers once."""
        with self._lock:
            for name in dict.fromkeys(names):
                if name not in self._done:
                    self._done[name] = threading.Event()
                    self._queue.put(name)
            while len(self._threads) < WORKERS:
                thread = threading.Thread(target=self._work, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            name = self._queue.get()
            try:
                self._results[name] = _train(name)
            except Exception as exc:  # a worker that died would leave every later test waiting
                self._results[name] = f"{type(exc).__name__}: {exc}"
            self._done[name].set()

    def result(self, name: str) -> dict[str, Any]:
        """Wait for run ``name`` (queueing it if nobody did) and return its result.

        Raises:
            AssertionError: If the run failed, with its output.
        """
        self.start([name])
        if not self._done[name].wait(RUN_TIMEOUT * 3):
            raise AssertionError(f"memory run {name} did not finish")
        result = self._results[name]
        if isinstance(result, str):
            raise AssertionError(f"memory run {name} failed:\n{result}")
        return result


def _train(name: str) -> dict[str, Any] | str:
    """Return the run's result, or what it printed when it failed."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tests.integration.memory_runs", name],
            cwd=ROOT,
            env=RUN_ENV,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {RUN_TIMEOUT} s"
    if out.returncode != 0:
        return f"exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


RUNS = BackgroundRuns()


def _run_name(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if item.path.name not in BACKGROUND_TESTS or callspec is None:
        return None
    name = callspec.params.get("run")
    return name if isinstance(name, str) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the background learning tests together, at the end."""
    items.sort(key=lambda item: item.path.name in BACKGROUND_TESTS)


def _start_selected(session: pytest.Session) -> None:
    from tests.integration.memory_runs import LONGEST_FIRST

    selected = {name for item in session.items if (name := _run_name(item)) is not None}
    RUNS.start([name for name in LONGEST_FIRST if name in selected])


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the memory runs at the first test of this folder."""
    _start_selected(item.session)


@pytest.fixture
def memory_run(request: pytest.FixtureRequest) -> BackgroundRuns:
    """The memory runs (started by the first test of this folder); ``result(name)`` waits for one."""
    _start_selected(request.session)
    return RUNS
