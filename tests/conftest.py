"""Shared test settings: hypothesis profiles and isolation of global state."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings

from rl8_core import reset_registry
from specs import checking

settings.register_profile("dev", max_examples=25, deadline=None)
# CI: more examples, no deadline (torch's first calls are slow), reproducible.
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def _empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create one empty sqlite MLflow store for the session; each test starts from a copy of it.

    Creating a store runs MLflow's schema migrations, about 9 s in a fresh
    process on a 2-core machine; copying the finished file takes milliseconds.
    """
    import mlflow

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def _isolate_global_state(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _empty_mlflow_store: Path
) -> Iterator[None]:
    """Point MLflow at a temporary store, reset the cached registry and the spec switch.

    The store is a copy of an empty one made once per session (the same schema
    MLflow would create, without paying its migrations in every test).

    Torch's global generator is seeded too, so that a test's unseeded draws do
    not depend on which tests ran before it in the same (xdist) worker. Tests
    marked ``uses_default_mlflow_store`` keep MLflow's default store (they run
    in a temporary working directory instead).
    """
    if request.node.get_closest_marker("uses_default_mlflow_store") is None:
        shutil.copyfile(_empty_mlflow_store, tmp_path / "mlflow.db")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        monkeypatch.chdir(tmp_path)
    reset_registry()
    torch.manual_seed(0)
    with checking(True):
        yield
    reset_registry()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests on machines without CUDA."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """One local Ray of 2 CPUs for the session's env-runner tests and docs (its workers import from this path).

    A trainer with ``scale.env_runners`` joins a Ray already running in its process, so each test starts and
    stops only its own runner actors.
    """
    ray = pytest.importorskip("ray")
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = previous
    yield ray
    ray.shutdown()
