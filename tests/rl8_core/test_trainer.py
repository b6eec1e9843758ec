"""Trainer: metrics, determinism, checkpoints (resume, atomicity), MLflow runs, stopping."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from rl8_core import CheckpointError, Columns, EnvSteps, ReturnReached, Trainer, WallTime

VOLATILE = ("perf/", "counters/wall_s")


def small_config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "env": "cartpole",
        "num_envs": 4,
        "horizon": 16,
        "algorithm_config": {"num_epochs": 2, "minibatch_size": 32},
        "model_config": {"encoder_config": {"hiddens": [16]}},
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"dir": str(tmp_path / "ckpt")},
        "stop": {"env_steps": 256},
        "eval": {"episodes": 2, "num_envs": 2},
        "seed": 7,
    }
    cfg.update(changes)
    return cfg


def stable(result: Mapping[str, float]) -> dict[str, float]:
    return {k: v for k, v in result.items() if not k.startswith(VOLATILE)}


def assert_same_metrics(a: Mapping[str, float], b: Mapping[str, float]) -> None:
    a, b = stable(a), stable(b)
    assert a.keys() == b.keys()
    for key in a:
        if math.isnan(a[key]):
            assert math.isnan(b[key]), key
        else:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), key


def test_step_reports_metrics_and_counters(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path))
    result = trainer.step()
    assert result["counters/env_steps"] == 64
    assert result["counters/iterations"] == 1
    for key in (
        "losses/policy",
        "losses/vf",
        "losses/entropy",
        "stats/approx_kl",
        "stats/explained_variance",
        "perf/env_steps_per_s",
        "learner/lr",
        "episodes/return_mean",
    ):
        assert key in result, key
    trainer.close()


def test_same_seed_gives_the_same_metrics(tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        trainer = Trainer(small_config(tmp_path))
        runs.append([trainer.step() for _ in range(3)])
        trainer.close()
    for a, b in zip(*runs, strict=True):
        assert_same_metrics(a, b)
    other = Trainer(small_config(tmp_path, seed=8))
    assert stable(other.step()) != stable(runs[0][0])


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = Trainer(small_config(tmp_path, model_config={"normalize_obs": True}))
    expected = [whole.step() for _ in range(4)]

    first = Trainer(small_config(tmp_path, model_config={"normalize_obs": True}))
    first.step()
    first.step()
    path = first.save_checkpoint()
    first.close()
    resumed = Trainer.from_checkpoint(path)
    got = [resumed.step(), resumed.step()]
    for a, b in zip(expected[2:], got, strict=True):
        assert_same_metrics(a, b)
    for p, q in zip(whole.module.parameters(), resumed.module.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert resumed.iteration == 4
    assert resumed.env_steps == whole.env_steps


def test_checkpoint_directory_and_latest_pointer(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path))
    trainer.step()
    path = trainer.save_checkpoint()
    assert path.name == "iter_000001"
    assert sorted(p.name for p in path.iterdir()) == ["config.yaml", "meta.json", "module", "trainer.pt"]
    assert (path.parent / "latest").read_text().strip() == "iter_000001"
    resumed = Trainer.from_checkpoint(path.parent)  # a run directory resolves through 'latest'
    assert resumed.iteration == 1
    with pytest.raises(CheckpointError, match="neither a training checkpoint"):
        Trainer.from_checkpoint(tmp_path)


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(small_config(tmp_path))
    trainer.step()
    good = trainer.save_checkpoint()
    trainer.step()
    real_save = torch.save

    def crash(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        if str(f).endswith("trainer.pt"):
            raise OSError("disk full")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    monkeypatch.setattr(torch, "save", real_save)
    run_dir = good.parent
    assert sorted(p.name for p in run_dir.iterdir()) == ["iter_000001", "latest"]  # no partial directory
    assert (run_dir / "latest").read_text().strip() == "iter_000001"
    assert Trainer.from_checkpoint(run_dir).iteration == 1
    # Overwriting a checkpoint in place is atomic too.
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(good)
    monkeypatch.setattr(torch, "save", real_save)
    assert Trainer.from_checkpoint(good).iteration == 1


def test_run_is_tracked_in_mlflow(tmp_path: Path) -> None:
    cfg = small_config(tmp_path, tracking={"enabled": True, "experiment": "trainer-test", "flush_every_s": 0.1})
    trainer = Trainer(cfg)
    result = trainer.run()
    assert result["counters/env_steps"] >= 256
    assert "eval/return_mean" in result
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("trainer-test")
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["env"] == "cartpole"
    assert run.data.params["learner.lr"] == "0.0003"
    assert "rl8-core" in run.data.params["components.encoder.mlp"]
    assert "rl8-core" in run.data.params["components.env.cartpole"]
    history = client.get_metric_history(run.info.run_id, "losses/policy")
    assert [m.step for m in history] == [64, 128, 192, 256]
    assert client.get_metric_history(run.info.run_id, "eval/return_mean")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")}
    assert "checkpoint/module" in artifacts
    assert "checkpoint/trainer.pt" in artifacts
    assert trainer.stopped_by == ["EnvSteps(256)"]


@pytest.mark.parametrize("explicit", [False, True], ids=["beside-database", "artifact_location"])
def test_run_artifacts_stay_out_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explicit: bool
) -> None:
    work, store = tmp_path / "work", tmp_path / "store"
    work.mkdir()
    store.mkdir()
    monkeypatch.chdir(work)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    tracking: dict[str, Any] = {"enabled": True, "uri": uri, "experiment": "my runs"}
    root = tmp_path / "artifacts" if explicit else store / "mlruns" / "my_runs"
    if explicit:
        tracking["artifact_location"] = root.as_uri()
    trainer = Trainer(small_config(tmp_path, tracking=tracking, stop={"env_steps": 64}, eval={"every": 0}))
    trainer.run()
    assert trainer.run_id is not None
    assert (root / trainer.run_id / "artifacts" / "checkpoint" / "trainer.pt").is_file()
    assert list(work.iterdir()) == []
    # A second run in the same experiment keeps the experiment's location.
    again = Trainer(small_config(tmp_path, tracking={**tracking, "artifact_location": None}, stop={"env_steps": 64}))
    again.run()
    assert again.run_id is not None
    assert (root / again.run_id / "artifacts" / "checkpoint").is_dir()


def test_interrupted_run_saves_a_checkpoint_and_is_marked_killed(tmp_path: Path) -> None:
    cfg = small_config(tmp_path, tracking={"enabled": True, "experiment": "interrupt"})
    trainer = Trainer(cfg)

    def interrupt(result: Mapping[str, float]) -> bool:
        if result["counters/iterations"] == 2:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        trainer.run([interrupt])
    assert trainer.run_dir is not None
    assert (trainer.run_dir / "latest").read_text().strip() == "iter_000002"
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("interrupt")
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "KILLED"


def test_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    cfg = small_config(tmp_path, tracking={"enabled": True, "experiment": "resume"}, stop={"env_steps": 128})
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.run_dir is not None
    resumed = Trainer.from_checkpoint(trainer.run_dir, overrides=["stop.env_steps=256"])
    resumed.run()
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("resume")
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "losses/policy")]
    assert steps == [64, 128, 192, 256]


def test_stop_conditions(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path, checkpoint={"at_end": False}, eval={"at_end": False}))
    result = trainer.run([EnvSteps(128)])
    assert result["counters/env_steps"] == 128
    result = trainer.run([ReturnReached(-1.0)])  # any finished episode satisfies it
    assert result["episodes/return_mean"] >= -1.0
    assert "ReturnReached" in trainer.stopped_by[0]
    result = trainer.run([WallTime(0.0)])
    assert result["counters/iterations"] == trainer.iteration
    with pytest.raises(ValueError, match="no stop condition"):
        trainer.run([])


def test_eval_runs_the_requested_episodes(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path))
    result = trainer.eval(episodes=3)
    assert result["eval/episodes"] == 3
    assert result["eval/return_min"] <= result["eval/return_mean"] <= result["eval/return_max"]


def test_observation_statistics_are_updated_from_rollouts(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path, model_config={"normalize_obs": True}))
    norm = trainer.module.obs_normalizer
    assert norm is not None
    trainer.step()
    (stats,) = norm.stats
    assert stats.count.item() == 64


def test_rollout_holds_what_the_learner_needs(tmp_path: Path) -> None:
    trainer = Trainer(small_config(tmp_path))
    rollout = trainer.runner.collect()
    assert rollout.batch_size == torch.Size([16, 4])
    for key in (
        Columns.OBS,
        Columns.NEXT_OBS,
        Columns.ACTIONS,
        Columns.ACTION_LOGP,
        Columns.VF_PREDS,
        Columns.REWARDS,
        Columns.TERMINATEDS,
        Columns.TRUNCATEDS,
    ):
        assert key in rollout, key
