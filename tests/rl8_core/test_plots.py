"""Learning curves: ``read_run_metrics``, ``plot_curves``, ``tracking.log_curves`` at the end of a run, ``rl8 plot``.

One sqlite MLflow store holds two short tracked runs on the torch-native
cartpole: ``first``, killed (as it were) after iteration 5 and resumed from
its iteration-2 checkpoint up to iteration 8, so that the two processes
logged steps 768-1280 twice; and ``second``, two iterations. The runs
without tracking are one or two iterations each.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.image
import mlflow
import pytest

from rl8_core import ConfigError, Metrics, Trainer
from rl8_core.cli import main
from rl8_core.training import plots
from rl8_core.training import trainer as trainer_module

STEPS_PER_ITER = 8 * 32


def config(base: Path, **changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "env": "cartpole",
        "num_envs": 8,
        "horizon": 32,
        "algorithm_config": {"num_epochs": 1, "minibatch_size": 128},
        "model_config": {"encoder_config": {"hiddens": [16]}},
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"dir": str(base / "ck")},
        "stop": {"env_steps": 2 * STEPS_PER_ITER},
        "eval": {"episodes": 2, "num_envs": 2},
        "seed": 3,
    }
    cfg.update(changes)
    return cfg


@dataclass(frozen=True)
class Runs:
    uri: str
    first_id: str
    first_dir: Path
    second_id: str
    second_dir: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("plots")
    uri = f"sqlite:///{base / 'mlflow.db'}"

    def tracking(name: str) -> dict[str, Any]:
        return {"uri": uri, "experiment": "plots", "run_name": name, "log_model": False}

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        first = config(
            base,
            tracking=tracking("first"),
            stop={"env_steps": 5 * STEPS_PER_ITER},
            eval={"episodes": 2, "num_envs": 2, "every": 2},
            checkpoint={"dir": str(base / "ck"), "every": 2},
        )
        with Trainer(first) as trainer:
            trainer.run()
        assert trainer.run_dir is not None
        assert trainer.run_id is not None
        first_dir, first_id = trainer.run_dir, trainer.run_id
        # As if the process had died after iteration 5: resume from the checkpoint of iteration 2.
        with Trainer.from_checkpoint(
            first_dir / "iter_000002", overrides=[f"stop.env_steps={8 * STEPS_PER_ITER}"]
        ) as t:
            t.run()
        assert t.run_id == first_id
        assert t.run_dir == first_dir
        with Trainer(config(base, tracking=tracking("second"), seed=4)) as trainer:
            trainer.run()
        assert trainer.run_dir is not None
        assert trainer.run_id is not None
        yield Runs(uri, first_id, first_dir, trainer.run_id, trainer.run_dir)


def test_a_finished_run_leaves_curves_png_beside_its_checkpoint_and_in_mlflow(runs: Runs) -> None:
    png = runs.first_dir / plots.CURVES_FILE
    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (720, 1200)  # 12 x 7.2 inches at 100 dpi: four panels
    assert image[..., :3].std() > 0.05  # drawn, not blank
    client = mlflow.MlflowClient(runs.uri)
    for run_id in (runs.first_id, runs.second_id):
        assert plots.CURVES_FILE in [a.path for a in client.list_artifacts(run_id)]
    local = mlflow.artifacts.download_artifacts(
        run_id=runs.first_id,
        artifact_path=plots.CURVES_FILE,
        dst_path=str(runs.first_dir.parent),
        tracking_uri=runs.uri,
    )
    assert Path(local).read_bytes() == png.read_bytes()  # the resumed process's picture, of the whole run


def test_read_run_metrics_has_one_row_per_env_step_as_logged(runs: Runs) -> None:
    frame = plots.read_run_metrics(runs.second_id, runs.uri)
    logged = mlflow.MlflowClient(runs.uri).get_metric_history(runs.second_id, Metrics.ENV_STEPS)
    assert frame[Metrics.ENV_STEPS].tolist() == [m.value for m in logged] == [256.0, 512.0]
    assert frame.index.tolist() == [m.step for m in logged] == [256, 512]
    assert frame.index.name == plots.INDEX
    assert {Metrics.RETURN_MEAN, Metrics.EVAL_RETURN_MEAN, "losses/policy", Metrics.LR} <= set(frame.columns)
    assert frame[Metrics.EVAL_RETURN_MEAN].notna().tolist() == [False, True]  # the evaluation at the end
    only = plots.read_run_metrics(runs.second_id, runs.uri, keys=plots.is_plotted)
    assert Metrics.LR not in only.columns
    assert Metrics.RETURN_MEAN in only.columns


def test_a_resumed_run_gives_one_history_where_the_resumed_process_wins(runs: Runs) -> None:
    client = mlflow.MlflowClient(runs.uri)
    raw = client.get_metric_history(runs.first_id, Metrics.ENV_STEPS_PER_S)
    steps = [m.step for m in raw]
    assert len(steps) == 5 + 6
    assert len(set(steps)) == 8
    frame = plots.read_run_metrics(runs.first_id, runs.uri)
    assert frame.index.is_unique
    assert frame.index.is_monotonic_increasing
    assert frame.index.tolist() == [STEPS_PER_ITER * i for i in range(1, 9)]
    assert frame[Metrics.ITERATIONS].tolist() == [float(i) for i in range(1, 9)]
    latest = {m.step: m.value for m in sorted(raw, key=lambda m: m.timestamp)}
    assert frame[Metrics.ENV_STEPS_PER_S].to_dict() == latest
    # The first process's evaluation at its end (step 1280) was overtaken by the resume from step 512.
    evals = frame[Metrics.EVAL_RETURN_MEAN].dropna()
    assert evals.index.tolist() == [512, 1024, 1536, 2048]
    eval_steps = [m.step for m in client.get_metric_history(runs.first_id, Metrics.EVAL_RETURN_MEAN)]
    assert sorted(eval_steps) == [512, 1024, 1024, 1280, 1536, 2048]


def test_metrics_frame_drops_what_a_resume_overtook() -> None:
    records = [("a", 1, 1, 1.0), ("a", 2, 2, 2.0), ("a", 3, 3, 3.0), ("b", 3, 3, 30.0)]
    records += [("a", 2, 4, 20.0), ("b", 2, 4, 21.0)]  # resumed from step 1
    frame = plots.metrics_frame(records)
    assert frame.fillna(-1.0).to_dict() == {"a": {1: 1.0, 2: 20.0}, "b": {1: -1.0, 2: 21.0}}
    assert plots.metrics_frame([]).empty


def test_rl8_plot_draws_two_runs_by_run_id_and_by_checkpoint_dir(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = []
    draw = plots.draw_curves
    monkeypatch.setattr(plots, "draw_curves", lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])
    monkeypatch.chdir(tmp_path)
    # The run id is found through MLFLOW_TRACKING_URI, the checkpoint's run through its config's tracking.uri.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", runs.uri)
    out = tmp_path / "out" / "both.png"
    status = main(["plot", runs.first_id, str(runs.second_dir), "--out", str(out), "--metrics", Metrics.LR])
    assert status == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert matplotlib.image.imread(out).shape[:2] == (1080, 1200)  # a fifth panel: learner/lr
    (figure,) = figures
    ret, _, losses, _, lr = figure.axes[:5]
    lines = {line.get_label(): line for line in ret.get_lines()}
    assert set(lines) == {"first", "first (eval)", "second", "second (eval)"}
    assert list(lines["first"].get_xdata()) == [STEPS_PER_ITER * i for i in range(1, 9)]
    assert list(lines["second"].get_xdata()) == [256, 512]
    assert ret.get_legend() is not None
    assert {"first: policy", "second: vf"} <= {line.get_label() for line in losses.get_lines()}
    assert [line.get_label() for line in lr.get_lines()] == ["first", "second"]


@pytest.mark.parametrize("problem", ["unknown run", "no store", "no metric"])
def test_rl8_plot_user_errors_are_one_line_and_exit_2(
    problem: str, runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    args = {
        "unknown run": ["0" * 32, "--tracking-uri", runs.uri],
        "no store": [runs.first_id, "--tracking-uri", f"sqlite:///{missing}"],
        "no metric": [str(runs.first_dir), "--metrics", "stats/nothing"],
    }[problem]
    assert main(["plot", *args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rl8 plot: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    expected = {"unknown run": "no MLflow run '000", "no store": "no MLflow store", "no metric": "'stats/nothing'"}
    assert expected[problem] in err
    assert not (tmp_path / "x.png").exists()
    assert not missing.exists()


def test_when_mlflow_cannot_be_read_back_the_png_is_drawn_from_the_runs_own_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = []
    draw = plots.draw_curves
    monkeypatch.setattr(plots, "draw_curves", lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])

    def unreadable(*args: object, **kwargs: object) -> None:
        raise OSError("store gone")

    monkeypatch.setattr(trainer_module, "read_run_metrics", unreadable)
    with Trainer(config(tmp_path, tracking={"log_model": False})) as trainer:
        trainer.run()
    assert trainer.run_dir is not None
    assert matplotlib.image.imread(trainer.run_dir / plots.CURVES_FILE).shape[:2] == (720, 1200)
    (figure,) = figures
    name = mlflow.MlflowClient().get_run(trainer.run_id).info.run_name
    (line,) = [line for line in figure.axes[0].get_lines() if line.get_label() == name]
    assert list(line.get_xdata()) == [256, 512]


@pytest.mark.parametrize("tracking", [{"log_curves": False}, {"enabled": False}])
def test_no_curves_without_log_curves_or_without_tracking(tracking: dict[str, bool], tmp_path: Path) -> None:
    with Trainer(config(tmp_path, tracking=tracking)) as trainer:
        trainer.run()
    assert trainer.run_dir is not None
    assert (trainer.run_dir / "latest").exists()
    assert not list(tmp_path.rglob("*.png"))


def test_a_failure_to_draw_is_one_warning_not_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    cfg = config(tmp_path, stop={"env_steps": 256}, tracking={"log_model": False})
    with caplog.at_level(logging.WARNING), Trainer(cfg) as trainer:
        trainer.run()
    assert trainer.run_dir is not None
    assert (trainer.run_dir / "latest").exists()
    assert not list(tmp_path.rglob("*.png"))
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "tracking.log_curves" in record.getMessage()
    assert "pip install 'rl8-core[plot]'" in record.getMessage()
    with pytest.raises(ConfigError, match=r"pip install 'rl8-core\[plot\]'"):
        plots.plot_curves({"a": plots.metrics_frame([("x", 1, 1, 1.0)])}, tmp_path / "a.png")
