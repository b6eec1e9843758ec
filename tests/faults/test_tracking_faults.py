"""A tracking store that fails never costs the training: real MLflow stores, real files, no mocks of mlflow.

The fault trial broke the store the ways users do: a sqlite database
corrupted or deleted mid-run, an artifact location that cannot be written, a
server that is not there, a file store MLflow 3 refuses, a nonsense flush
interval. Each test does the same and asserts what the user reads and what is
left on disk: the training finishes, every iteration's metrics are in a local
JSON-lines file, one line says what did not reach the store, and what cannot
work is refused at start in one line naming ``tracking.uri``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pytest

from rl8_core import ConfigError, EnvSteps, TrainConfig, Trainer

STEPS_PER_ITER = 4 * 16
ITERATIONS = 5
#: A tiny tracked run: torch-native CartPole, one thread, no evaluation.
BASE: dict[str, Any] = {
    "env": "cartpole",
    "num_envs": 4,
    "horizon": 16,
    "seed": 3,
    "num_threads": 1,
    "device": "cpu",
    "progress": "none",
    "algorithm_config": {"num_epochs": 1, "minibatch_size": 32},
    "model_config": {"encoder_config": {"hiddens": [16]}},
    "eval": {"at_end": False},
    "checkpoint": {"dir": "ck", "every": 0},
    "stop": {"env_steps": ITERATIONS * STEPS_PER_ITER},
}

#: Run by ``python <this> train <config>``: ``rl8 train``, with the store broken after iteration 2.
BREAK_SCRIPT = """
import sys
from pathlib import Path
from rl8_core import cli
from rl8_core.training.trainer import Trainer

step = Trainer.step
database = Path(sys.argv.pop())

def step_and_break(self):
    result = step(self)
    if self.iteration == 2:
        self.tracker.flush()  # the store has the first rows: the break loses them too
        database.write_bytes(b"this is not a database " * 512)
    return result

Trainer.step = step_and_break
sys.exit(cli.main(sys.argv[1:]))
"""


def _config(tmp_path: Path, uri: str, **tracking: Any) -> dict[str, Any]:
    return {**BASE, "tracking": {"uri": uri, "experiment": "faults", "flush_every_s": 0.2, **tracking}}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_every_iteration(path: Path) -> None:
    iterations = [row["metrics"]["counters/iterations"] for row in _rows(path)]
    assert iterations == list(range(1, ITERATIONS + 1)), iterations


def _run_breaking(tmp_path: Path, uri: str, fault: Callable[[], None], caplog: pytest.LogCaptureFixture) -> Trainer:
    """``Trainer.run`` in ``tmp_path`` with ``fault`` applied after iteration 2 (from a stop condition)."""
    trainer = Trainer(TrainConfig.from_mapping(_config(tmp_path, uri)))
    broken: list[bool] = []

    def stop(result: Mapping[str, float]) -> bool:
        if trainer.iteration == 2 and not broken:
            assert trainer.tracker is not None
            trainer.tracker.flush()
            fault()
            broken.append(True)
        return trainer.env_steps >= ITERATIONS * STEPS_PER_ITER

    with caplog.at_level(logging.WARNING, logger="rl8_core.training.tracking"), trainer:
        trainer.run([stop])
    return trainer


def test_corrupted_sqlite_store_mid_run_cli(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    (tmp_path / "run.json").write_text(json.dumps(_config(tmp_path, f"sqlite:///{db}")))
    (tmp_path / "break_store.py").write_text(BREAK_SCRIPT)
    proc = subprocess.run(
        [sys.executable, "break_store.py", "train", "run.json", str(db)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    (run_dir,) = [p for p in (tmp_path / "ck").iterdir() if p.is_dir()]
    local = tmp_path / "ck" / f"{run_dir.name}.metrics.jsonl"
    _assert_every_iteration(local)
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("tracking: ")]
    assert len(warnings) == 2, proc.stderr  # the failure, once; the summary at the end
    assert f"the MLflow store sqlite:///{db} failed" in warnings[0]
    summary = warnings[1]
    # Rows 1-2 reached the store before it broke; the break lost them too, so the local file has all five.
    assert f"3 metric rows and the run status FINISHED did not reach sqlite:///{db}" in summary, summary
    assert f"all {ITERATIONS} rows of this run are in {local.relative_to(tmp_path)}" in summary, summary
    assert "the checkpoint artifacts did not reach MLflow run" in summary, summary
    assert f"the checkpoint is in {run_dir.relative_to(tmp_path) / 'iter_000005'}" in summary, summary
    assert (run_dir / "latest").exists()  # the final checkpoint was saved


def test_deleted_sqlite_store_mid_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "mlflow.db"
    monkeypatch.chdir(tmp_path)
    trainer = _run_breaking(tmp_path, f"sqlite:///{db}", db.unlink, caplog)
    assert trainer.iteration == ITERATIONS
    assert "Traceback" not in capfd.readouterr().err
    messages = [r.getMessage() for r in caplog.records if r.name == "rl8_core.training.tracking"]
    assert len(messages) == 2, messages
    summary = messages[-1]
    assert summary.startswith("tracking: "), summary
    assert f"did not reach sqlite:///{db}" in summary, summary
    local = Path(summary.split("rows of this run are in ", 1)[1].split(";", 1)[0])
    _assert_every_iteration(tmp_path / local)


def test_bad_artifact_location_keeps_finished_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("artifacts cannot go under a file")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = _config(tmp_path, uri, artifact_location=(tmp_path / "a_file" / "artifacts").as_uri())
    with (
        caplog.at_level(logging.WARNING, logger="rl8_core.training.tracking"),
        Trainer(TrainConfig.from_mapping(cfg)) as trainer,
    ):
        trainer.run([EnvSteps(2 * STEPS_PER_ITER)])
    run = mlflow.MlflowClient(uri).get_run(trainer.run_id or "")
    assert run.info.status == "FINISHED"
    assert len(mlflow.MlflowClient(uri).get_metric_history(run.info.run_id, "counters/iterations")) == 2
    assert trainer.run_dir is not None
    summary = caplog.records[-1].getMessage()
    assert "the checkpoint artifacts did not reach" in summary, summary
    assert f"the checkpoint is in {trainer.run_dir / 'iter_000002'}" in summary, summary
    assert "metric row" not in summary  # the metrics did reach the store


def test_unreachable_server_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(TrainConfig.from_mapping(_config(tmp_path, "http://127.0.0.1:9")))
    start = time.monotonic()
    with trainer, pytest.raises(ConfigError) as info:
        trainer.run()
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("tracking.uri: no MLflow server answers at http://127.0.0.1:9"), message
    assert "sqlite:///mlflow.db" in message
    assert "tracking.enabled: false" in message
    assert trainer.iteration == 0
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("uri", ["./mlruns", "file:///{tmp}/store"])
def test_file_store_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = uri.format(tmp=tmp_path)
    with Trainer(TrainConfig.from_mapping(_config(tmp_path, uri))) as trainer, pytest.raises(ConfigError) as info:
        trainer.start_tracking()
    message = str(info.value)
    assert message.startswith(f"tracking.uri: {uri} is a file store"), message
    assert "sqlite:///mlflow.db" in message
    assert "MLFLOW_ALLOW_FILE_STORE=true" in message


@pytest.mark.parametrize("value", [-1, 0, "inf"])
def test_flush_every_s_must_be_positive(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"tracking\.flush_every_s: must be"):
        TrainConfig.from_mapping(_config(tmp_path, "sqlite:///mlflow.db", flush_every_s=value))
