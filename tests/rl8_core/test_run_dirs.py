"""Every run checkpoints into a directory of its own, whatever its seed, name or start time."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import mlflow

from rl8_core import Trainer


def config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "env": "cartpole",
        "num_envs": 2,
        "horizon": 8,
        "algorithm_config": {"num_epochs": 1, "minibatch_size": None},
        "model_config": {"encoder_config": {"hiddens": [8]}},
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"dir": str(tmp_path / "ckpt")},
        "stop": {"env_steps": 16},
        "eval": {"at_end": False},
        "seed": 5,
    }
    cfg.update(changes)
    return cfg


def run(cfg: dict[str, Any]) -> Trainer:
    with Trainer(cfg) as trainer:
        trainer.run()
    return trainer


def test_tracked_runs_with_the_same_seed_get_their_own_names_and_directories(tmp_path: Path) -> None:
    # MLflow names runs from Python's global RNG, which Trainer seeds: every seed-5 run used to be
    # called the same, and so wrote into the same checkpoint directory.
    cfg = config(tmp_path, tracking={"experiment": "same_seed"})
    first, second = run(cfg), run(cfg)
    assert first.run_dir is not None
    assert second.run_dir is not None
    assert first.run_dir != second.run_dir
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("same_seed")
    assert exp is not None
    names = {r.info.run_name for r in client.search_runs([exp.experiment_id])}
    assert names == {first.run_dir.name, second.run_dir.name}


def test_naming_a_run_leaves_the_global_rng_as_the_seed_set_it(tmp_path: Path) -> None:
    tracked = Trainer(config(tmp_path, tracking={"experiment": "rng"}))
    untracked = Trainer(config(tmp_path))
    expected = random.getstate()
    tracked.start_tracking()
    try:
        assert random.getstate() == expected
    finally:
        tracked.close()
        untracked.close()


def test_untracked_runs_started_in_the_same_second_do_not_share_a_directory(tmp_path: Path) -> None:
    first, second = run(config(tmp_path)), run(config(tmp_path))
    assert first.run_dir is not None
    assert second.run_dir is not None
    assert first.run_dir != second.run_dir
    for trainer in (first, second):
        assert trainer.run_dir is not None
        assert (trainer.run_dir / "latest").read_text().strip() == "iter_000001"
        assert Trainer.from_checkpoint(trainer.run_dir).run_dir == trainer.run_dir


def test_a_reused_run_name_gets_a_numbered_directory(tmp_path: Path) -> None:
    cfg = config(tmp_path, tracking={"experiment": "named", "run_name": "baseline"})
    dirs = [run(cfg).run_dir for _ in range(3)]
    assert [d.name for d in dirs if d is not None] == ["baseline", "baseline-2", "baseline-3"]
