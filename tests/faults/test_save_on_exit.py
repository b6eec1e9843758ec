"""Nothing lost, nothing silent: real ``rl8 train`` processes ended by signals, env errors, NaN and divergence.

Each test runs the CLI as a user would, ends the run the way the fault trial
did (SIGTERM, SIGINT, an exception raised by the env, NaN from a real
gymnasium env, a learning rate that diverges), and asserts what the user reads
(one line, the exit status) and what is left on disk: a checkpoint of the last
completed iteration that loads, holds finite weights, and resumes bit for bit
like a run that was never interrupted (torch-native env, one thread).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rl8_core import RLModule, Trainer
from rl8_core.cli import main

RL8 = str(Path(sys.executable).with_name("rl8"))
STEPS_PER_ITER = 4 * 16
#: A small deterministic run: torch-native CartPole, one thread, no tracking, no final evaluation.
BASE = {
    "env": "cartpole",
    "num_envs": 4,
    "horizon": 16,
    "seed": 3,
    "num_threads": 1,
    "device": "cpu",
    "progress": "none",
    "algorithm_config": {"num_epochs": 2, "minibatch_size": 32},
    "model_config": {"encoder_config": {"hiddens": [16]}},
    "tracking": {"enabled": False},
    "eval": {"at_end": False},
    "checkpoint": {"dir": "ck", "every": 0},
    "stop": {"env_steps": 1_000_000},
}


def _config(tmp_path: Path, name: str, **changes: object) -> Path:
    cfg = {**BASE, **changes}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    (tmp_path / "base.json").write_text(json.dumps(BASE))  # what an uninterrupted run compares with
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    env["PYTHONPATH"] = str(tmp_path)
    return env


def _train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RL8, "train", *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith(("20", "INFO", "WARNING"))]
    assert len(lines) == 1, stderr
    return lines[0]


def _saved(line: str, cwd: Path) -> Path:
    """Return the checkpoint the line names (relative to the run's working directory ``cwd``)."""
    marker = "the last completed iteration is saved in "
    assert marker in line, line
    return cwd / line.split(marker, 1)[1].split(";", 1)[0]


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return RLModule.from_checkpoint(checkpoint / "module").get_state()


def _iteration(checkpoint: Path) -> int:
    return int(json.loads((checkpoint / "meta.json").read_text())["iteration"])


def _assert_resumes_exactly(checkpoint: Path, overrides: tuple[str, ...] = ()) -> None:
    """Resume ``checkpoint`` for two more iterations and compare with an uninterrupted run to the same step.

    Both run in this process (the checkpoint came from a real ``rl8 train`` that was ended): resuming is
    ``Trainer.from_checkpoint`` either way, without ~6 s of start-up per process.
    """
    target = (_iteration(checkpoint) + 2) * STEPS_PER_ITER
    config = json.loads((checkpoint.parent.parent.parent / "base.json").read_text())
    with Trainer.from_checkpoint(checkpoint, overrides=[f"stop.env_steps={target}", *overrides]) as resumed:
        resumed.run()
        got = resumed.module.get_state()
    whole_dir = checkpoint.parent.parent.parent / "whole"
    config |= {"checkpoint": {"dir": str(whole_dir)}, "stop": {"env_steps": target}}
    with Trainer(config) as whole:
        whole.run()
        expected = whole.module.get_state()
    assert got.keys() == expected.keys()
    for key in got:
        assert torch.equal(got[key], expected[key]), key


def _wait_for_iterations(proc: subprocess.Popen[str], run_root: Path, at_least: int) -> None:
    """Wait until a periodic checkpoint of iteration ``at_least`` or later exists."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        done = [int(p.name[5:]) for p in run_root.glob("*/iter_*") if p.name[5:].isdigit()]
        if done and max(done) >= at_least:
            return
        time.sleep(0.05)
    pytest.fail("the run made no progress")


@pytest.mark.parametrize(
    ("sig", "status", "cause"),
    [(signal.SIGTERM, 143, "terminated by signal 15"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
)
def test_a_signal_mid_run_saves_the_last_completed_iteration_which_resumes_bit_for_bit(
    tmp_path: Path, sig: signal.Signals, status: int, cause: str
) -> None:
    config = _config(tmp_path, "long", checkpoint={"dir": "ck", "every": 2, "keep": 2})
    proc = subprocess.Popen(
        [RL8, "train", str(config)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite run as a background job of a non-interactive shell ignores SIGINT, and children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_iterations(proc, tmp_path / "ck", 2)
    time.sleep(0.15)  # somewhere inside a later iteration
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status, stderr
    line = _one_line(stderr)
    assert line.startswith(f"rl8 train: error: {cause}; the last completed iteration is saved in "), line
    saved = _saved(line, tmp_path)
    assert (saved.parent / "latest").read_text().strip() == saved.name
    assert _iteration(saved) >= 2
    _assert_resumes_exactly(saved)


FAULTY_ENV = '''
from rl8_core import make_env


def make(*, num_envs, seed=None, device="cpu", fail_at: int = 200):
    """The built-in cartpole, whose step raises at its ``fail_at``-th call: a simulator that crashed."""
    env = make_env("cartpole", num_envs=num_envs, seed=seed, device=device)
    inner, calls = env.step, [0]

    def step(actions):
        calls[0] += 1
        if calls[0] == fail_at:
            raise RuntimeError("the simulator lost its licence")
        return inner(actions)

    env.step = step
    return env
'''


def test_an_env_exception_saves_the_last_completed_iteration_and_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "faulty_env.py").write_text(FAULTY_ENV)
    config = _config(tmp_path, "faulty", env="faulty_env:make", env_config={"fail_at": 16 * 5 + 7})
    proc = _train(tmp_path, str(config))
    assert proc.returncode == 1, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith("rl8 train: error: RuntimeError: the simulator lost its licence; "), line
    saved = _saved(line, tmp_path)
    assert _iteration(saved) == 5  # the sixth rollout failed at its eighth step
    log = saved.parent / "error.log"
    assert f"(traceback in {log.relative_to(tmp_path)})" in line
    assert "Traceback" in log.read_text()
    assert "the simulator lost its licence" in log.read_text()
    # The same run on an env that does not crash continues exactly as if nothing had happened.
    _assert_resumes_exactly(saved, ("env=cartpole", "env_config={}"))


NAN_WRAPPERS = '''
import gymnasium as gym
import numpy as np


class NaNAfter(gym.Wrapper):
    """After ``after`` steps of this sub-env, its reward (or its observation's ``index``) becomes NaN."""

    def __init__(self, env, after: int = 100, what: str = "reward", index: int = 2):
        super().__init__(env)
        self.after, self.what, self.index, self.t = after, what, index, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        if self.t >= self.after:
            if self.what == "reward":
                reward = float("nan")
            else:
                obs = np.array(obs, dtype=np.float32)
                obs[self.index] = np.inf
        return obs, reward, terminated, truncated, info
'''


@pytest.mark.parametrize(("what", "culprit"), [("reward", "rewards["), ("obs", "obs[")])
def test_nan_from_a_real_gymnasium_env_stops_the_run_naming_the_key_with_a_clean_checkpoint(
    tmp_path: Path, what: str, culprit: str
) -> None:
    (tmp_path / "nan_wrappers.py").write_text(NAN_WRAPPERS)
    wrapper = {"wrapper": "nan_wrappers:NaNAfter", "after": 16 * 3 + 5, "what": what}
    config = _config(
        tmp_path, what, env="CartPole-v1", env_config={"wrappers": [wrapper]}, checkpoint={"dir": "ck", "every": 1}
    )
    proc = _train(tmp_path, str(config))
    assert proc.returncode == 1, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith(f"rl8 train: error: GymVectorEnv returned NaN or inf: {culprit}"), line
    assert "set guards.env: false to train on it anyway" in line
    saved = _saved(line, tmp_path)
    checkpoints = sorted(saved.parent.glob("iter_*"))
    assert checkpoints
    assert all(all(torch.isfinite(v).all() for v in _weights(c).values()) for c in checkpoints)
    # Episodes may end before the NaN step: the run stopped in some later rollout, after 3 clean ones at least.
    assert _iteration(saved) >= 3


def test_a_diverging_run_stops_and_never_saves_nan_weights(tmp_path: Path) -> None:
    config = _config(tmp_path, "diverge", learner={"lr": 1e30}, checkpoint={"dir": "ck", "every": 1})
    proc = _train(tmp_path, str(config))
    assert proc.returncode == 1, proc.stderr
    line = _one_line(proc.stderr)
    assert "optimiser steps in a row were skipped for NaN or inf, the first for losses/" in line, line
    assert "lower learner.lr" in line
    for checkpoint in (tmp_path / "ck").glob("*/iter_*"):
        assert all(torch.isfinite(v).all() for v in _weights(checkpoint).values()), checkpoint


def test_a_finished_run_resumed_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "short", stop={"env_steps": 2 * STEPS_PER_ITER})
    assert _train(tmp_path, str(config)).returncode == 0
    (run,) = (tmp_path / "ck").iterdir()
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", str(run), "--json"]) == 0  # in this process: ~6 s less
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["counters/iterations"] == 2
    assert sorted(p.name for p in run.glob("iter_*")) == ["iter_000002"]
