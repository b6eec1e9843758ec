"""An async gymnasium env whose worker hangs: a step timeout ends the run, and so does Ctrl-C without one.

The env is real (gymnasium's CartPole in worker processes, through
``vectorization: async``); a wrapper makes one worker sleep for an hour in a
given step. Before, training hung for ever and SIGINT to the main process
alone did not end it.
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

from rl8_core import ConfigError, make_env

RL8 = str(Path(sys.executable).with_name("rl8"))

HANG = '''
import pathlib
import time

import gymnasium as gym


class HangAt(gym.Wrapper):
    """Sleep an hour in step ``at`` of this worker's env: a simulator that froze."""

    def __init__(self, env, at: int = 40):
        super().__init__(env)
        self.at, self.t = at, 0

    def step(self, action):
        self.t += 1
        if self.t == self.at:
            pathlib.Path("hung").touch()  # the test waits for this, not for a guess at start-up time
            time.sleep(3600)
        return self.env.step(action)
'''


def _start(tmp_path: Path, **env_config: object) -> subprocess.Popen[str]:
    (tmp_path / "hang.py").write_text(HANG)
    config = {
        "env": "CartPole-v1",
        "env_config": {"vectorization": "async", "wrappers": [{"wrapper": "hang:HangAt", "at": 40}], **env_config},
        "num_envs": 2,
        "horizon": 16,
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"dir": "ck"},
        "stop": {"env_steps": 100_000},
    }
    (tmp_path / "hang.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")} | {"PYTHONPATH": str(tmp_path)}
    return subprocess.Popen(
        [RL8, "train", "hang.json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite run as a background job of a non-interactive shell ignores SIGINT, and children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_a_step_timeout_stops_a_hung_worker_saves_and_says_so(tmp_path: Path) -> None:
    proc = _start(tmp_path, step_timeout_s=3)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    (line,) = [ln for ln in stderr.strip().splitlines() if ln.startswith("rl8 train")]
    assert "EnvStepTimeout: a worker of 'CartPole-v1' did not finish a step within 3 s" in line, line
    assert "the last completed iteration is saved in ck/" in line, line  # two rollouts of 16 steps came first


def test_ctrl_c_ends_a_run_whose_worker_hangs(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    # Start-up, two rollouts, then a worker asleep in its 40th step: the main process waits on it.
    deadline = time.monotonic() + 120
    while not (tmp_path / "hung").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "hung").exists(), "the worker never reached its hanging step"
    time.sleep(1.0)  # the main process is now blocked waiting for that step
    assert proc.poll() is None
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 130, stderr
    assert "rl8 train: error: interrupted (Ctrl-C)" in stderr


def test_a_step_timeout_needs_async_vectorization() -> None:
    with pytest.raises(ConfigError, match=r"^env_config\.step_timeout_s: needs vectorization: async"):
        make_env("CartPole-v1", {"step_timeout_s": 5}, num_envs=1)
