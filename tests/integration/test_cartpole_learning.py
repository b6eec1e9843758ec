"""Learning: the quickstart config solves CartPole-v1 and the run lands in MLflow."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
import yaml

from rl8_core import QUICKSTART, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 200_000  # env steps; seeds here solve in 35k-100k


def test_examples_cartpole_is_the_quickstart() -> None:
    assert TrainConfig.from_file(ROOT / "examples/cartpole.yaml") == TrainConfig.quickstart()
    torch_cfg = yaml.safe_load((ROOT / "examples/cartpole_torch.yaml").read_text())
    assert {**torch_cfg, "env": QUICKSTART["env"]} == QUICKSTART


@pytest.mark.slow
def test_quickstart_solves_gymnasium_cartpole_and_is_tracked(tmp_path: Path) -> None:
    config = TrainConfig.quickstart().replace(seed=0, progress="none")
    config = TrainConfig.from_mapping(
        {**config.to_dict(), "tracking": {"experiment": "learning"}, "checkpoint": {"dir": str(tmp_path)}}
    )
    trainer = Trainer(config)
    result = trainer.run()
    trainer.close()
    assert result["episodes/return_mean"] >= 475, result
    assert result["counters/env_steps"] < BUDGET
    assert result["eval/return_mean"] >= 475, result
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("learning")
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["eval/return_mean"] >= 475
    assert run.data.params["env"] == "CartPole-v1"


@pytest.mark.slow
def test_torch_cartpole_solves_and_a_reloaded_policy_acts_the_same(tmp_path: Path) -> None:
    config = TrainConfig.from_file(
        ROOT / "examples/cartpole_torch.yaml",
        ["seed=1", "progress=none", "tracking.enabled=false", f"checkpoint.dir={tmp_path}"],
    )
    trainer = Trainer(config)
    result = trainer.run()
    assert result["eval/return_mean"] >= 475, result
    assert trainer.run_dir is not None
    resumed = Trainer.from_checkpoint(trainer.run_dir)
    again = resumed.eval(episodes=10)
    assert again["eval/return_mean"] == pytest.approx(trainer.eval(episodes=10)["eval/return_mean"])
