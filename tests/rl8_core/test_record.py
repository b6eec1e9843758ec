"""Video clips of a policy: ``record_clip``, ``rl8 record`` and ``record.at_end``.

The frame count contract: one frame per step played, drawn before the
action (``frames == steps``). MP4 clips are read back frame for frame; a GIF
reader may see fewer frames (Pillow merges equal neighbours), but the
durations add up to ``steps / fps``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import imageio.v3 as iio
import mlflow
import numpy as np
import pytest

from rl8_core import ConfigError, RLModule, Trainer, make_env, reset_registry
from rl8_core.checkpoints import run as run_dir
from rl8_core.cli import main
from rl8_core.training.record import record_clip
from rl8_plugins.envs.pixels import PixelsEnv

#: A torch cartpole whose ``render`` is missing, as in a third-party env without pictures.
NO_RENDER_ENV = """
from rl8_plugins.envs.cartpole import CartPoleEnv


class NoRenderCartPole(CartPoleEnv):
    render = None
"""


def tiny_config(env: str, tmp: Path, **changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "env": env,
        "num_envs": 8,
        "horizon": 32,
        "num_threads": 1,
        "algorithm_config": {"num_epochs": 4, "minibatch_size": 64},
        "model_config": {"encoder_config": {"hiddens": [32]}},
        "tracking": {"enabled": False, "log_curves": False},
        "progress": "none",
        "checkpoint": {"dir": str(tmp / "ckpt")},
        "stop": {"env_steps": 3072},
        "eval": {"at_end": False},
        "seed": 1,
    }
    cfg.update(changes)
    return cfg


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run directories of short real trainings on the torch-native and the gymnasium CartPole."""
    runs = {}
    for env in ("cartpole", "CartPole-v1"):
        with Trainer(tiny_config(env, tmp_path_factory.mktemp(env))) as trainer:
            trainer.run()
            assert trainer.run_dir is not None
            runs[env] = trainer.run_dir
    return runs


def load(run: Path) -> RLModule:
    return RLModule.from_checkpoint(run_dir.module_path(run_dir.find_checkpoint(run)))


def mp4_frames(path: Path) -> tuple[int, tuple[int, ...]]:
    """Return the number of frames of an MP4 (counted by decoding) and the shape of the first."""
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return reader.count_frames(), reader.get_data(0).shape


@pytest.fixture
def no_render_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "no_render_env.py").write_text(NO_RENDER_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "no_render_env:NoRenderCartPole"
    sys.modules.pop("no_render_env", None)


def rl8(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    reset_registry()
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("env", ["cartpole", "CartPole-v1"])
def test_clip_of_a_trained_cartpole_has_one_frame_per_step(
    env: str, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    render_env = make_env(env, num_envs=1, seed=0, render=True)
    info = record_clip(load(checkpoints[env]), render_env, tmp_path / "clip.mp4", episodes=2, fps=30, max_steps=300)
    render_env.close()
    assert info["frames"] == info["steps"] > 0
    assert info["steps"] == (300 if info["cut_short"] else sum(info["lengths"]))
    assert info["episodes"] == len(info["returns"]) == (len(info["returns"]) if info["cut_short"] else 2)
    assert info["returns"] == [float(n) for n in info["lengths"]]  # CartPole pays 1 per step
    count, shape = mp4_frames(tmp_path / "clip.mp4")
    assert count == info["frames"]
    assert shape == (400, 600, 3)  # gymnasium's CartPole picture, both envs
    assert not list(tmp_path.glob(".*partial*"))


def test_gif_by_suffix_lasts_steps_over_fps(tmp_path: Path) -> None:
    env = make_env("cartpole", num_envs=1, seed=0, render=True)
    info = record_clip(None, env, tmp_path / "clip.gif", random_actions=True, episodes=1, fps=20, max_steps=12, seed=3)
    frames = iio.imread(tmp_path / "clip.gif", index=None)
    assert frames.shape[1:] == (400, 600, 3)
    durations = [iio.immeta(tmp_path / "clip.gif", index=i)["duration"] for i in range(len(frames))]
    assert sum(durations) == info["frames"] * 50  # 20 fps: 50 ms a frame, equal neighbours merged
    assert info["frames"] == info["steps"] <= 12


def test_pixels_clip_shows_the_agent_and_the_goal(tmp_path: Path) -> None:
    seed = 5
    twin = PixelsEnv(num_envs=1)
    twin.reset(seed=seed)  # the state record_clip's reset starts from
    (ar, ac), (gr, gc) = twin.state_dict()["agent"][0].tolist(), twin.state_dict()["goal"][0].tolist()
    env = make_env("pixels", num_envs=1, seed=0, render=True)
    record_clip(None, env, tmp_path / "clip.gif", random_actions=True, max_steps=4, seed=seed)
    first = iio.imread(tmp_path / "clip.gif", index=0)[..., :3]
    cell = PixelsEnv.RENDER_CELL
    assert first.shape == (5 * cell, 5 * cell, 3)

    def centre(row: int, col: int) -> list[int]:
        return first[row * cell + cell // 2, col * cell + cell // 2].tolist()

    assert centre(ar, ac) == list(PixelsEnv.AGENT_COLOR)
    assert centre(gr, gc) == list(PixelsEnv.GOAL_COLOR)
    empty = next((r, c) for r in range(5) for c in range(5) if (r, c) not in ((ar, ac), (gr, gc)))
    assert centre(*empty) == list(PixelsEnv.FLOOR_COLOR)


def test_max_steps_cuts_the_clip_mid_episode(tmp_path: Path) -> None:
    env = make_env("cartpole", num_envs=1, seed=0, render=True)
    info = record_clip(None, env, tmp_path / "clip.mp4", random_actions=True, episodes=5, fps=10, max_steps=7)
    assert (info["steps"], info["frames"], info["cut_short"]) == (7, 7, True)
    assert mp4_frames(tmp_path / "clip.mp4")[0] == 7


def test_an_env_without_render_is_a_config_error_and_writes_nothing(no_render_env: str, tmp_path: Path) -> None:
    env = make_env(no_render_env, num_envs=1, seed=0, render=True)
    with pytest.raises(ConfigError, match=r"env NoRenderCartPole cannot render frames: it has no render\(index\)"):
        record_clip(None, env, tmp_path / "clip.mp4", random_actions=True)
    assert list(tmp_path.glob("*.mp4")) == []


def test_rl8_record_random_and_its_user_errors(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_render_env: str
) -> None:
    run = str(checkpoints["cartpole"])
    out = tmp_path / "random.mp4"
    status, stdout, _ = rl8(capsys, "record", run, "--random", "--out", str(out), "--max-steps", "20", "--fps", "10")
    assert status == 0
    assert stdout.startswith(f"clip written to {out}: ")
    assert len(stdout.strip().splitlines()) == 1
    assert mp4_frames(out)[0] == int(stdout.split(": ")[1].split(" frames")[0])

    status, stdout, err = rl8(capsys, "record", run, "--out", str(tmp_path / "clip.avi"))
    assert (status, stdout) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("rl8 record: error: ")
    assert "'.avi'" in err
    assert ".mp4 or .gif" in err

    status, _, err = rl8(capsys, "record", str(tmp_path / "missing"), "--out", str(tmp_path / "c.mp4"))
    assert status == 2
    assert err.startswith("rl8 record: error: ")
    assert err.count("\n") == 1

    status, _, err = rl8(capsys, "record", run, "--out", str(tmp_path / "c.mp4"), "--set", f"env={no_render_env}")
    assert status == 2
    assert err.startswith("rl8 record: error: env NoRenderCartPole cannot render frames")
    assert err.count("\n") == 1


def test_record_at_end_leaves_a_clip_in_the_run_dir_and_the_mlflow_run(tmp_path: Path) -> None:
    tracking = {"enabled": True, "uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "clips"}
    cfg = tiny_config(
        "cartpole",
        tmp_path,
        tracking={**tracking, "log_curves": False, "log_model": False},
        stop={"env_steps": 256},
        record={"at_end": True, "max_steps": 40, "fps": 10},
    )
    with Trainer(cfg) as trainer:
        trainer.run()
    assert trainer.run_dir is not None
    clip = trainer.run_dir / "clip.mp4"
    count, shape = mp4_frames(clip)
    assert shape == (400, 600, 3)
    assert 0 < count <= 40
    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    assert trainer.run_id is not None
    assert "clip.mp4" in [a.path for a in client.list_artifacts(trainer.run_id)]
    assert client.get_run(trainer.run_id).info.status == "FINISHED"


def test_a_failing_clip_is_one_warning_and_the_run_finishes(
    tmp_path: Path, no_render_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tiny_config(no_render_env, tmp_path, stop={"env_steps": 256}, record={"at_end": True})
    with caplog.at_level(logging.WARNING, logger="rl8_core.training.trainer"), Trainer(cfg) as trainer:
        trainer.run()
    warnings = [r.getMessage() for r in caplog.records if r.name == "rl8_core.training.trainer"]
    assert len(warnings) == 1
    assert warnings[0].startswith("record.at_end: the clip was not written: ")
    assert "ConfigError: env NoRenderCartPole cannot render frames" in warnings[0]
    assert trainer.run_dir is not None
    assert run_dir.find_checkpoint(trainer.run_dir).is_dir()
    assert not list(trainer.run_dir.glob("*clip*"))


def test_frames_are_rgb_uint8(tmp_path: Path) -> None:
    env = make_env("pendulum", num_envs=1, seed=0, render=True)
    info = record_clip(None, env, tmp_path / "p.mp4", random_actions=True, max_steps=3)
    assert info["frames"] == 3
    with imageio.get_reader(tmp_path / "p.mp4", format="FFMPEG") as reader:
        frame = reader.get_data(0)
    assert frame.dtype == np.uint8
    assert frame.shape == (500, 500, 3)
