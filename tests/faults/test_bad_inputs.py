"""Every value a user can get wrong is rejected at start: one line naming the dotted key, exit 2, no traceback.

The classes of input the fault trial found leaking a traceback or silently
accepted. Each runs ``rl8 train``/``rl8 eval`` in-process through
``rl8_core.cli.main`` (the same code as the console script) and asserts the
one line the user reads. Values used only late (evaluation) fail before any
training.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rl8_core.cli import main

RL8 = str(Path(sys.executable).with_name("rl8"))


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


BAD_SETS = [
    ("learner.max_grad_norm=-0.5", "quickstart.learner.max_grad_norm: must be > 0, got -0.5"),
    ("learner.lr=inf", "quickstart.learner.lr: must be a finite number, got inf"),
    ("learner.lr=nan", "quickstart.learner.lr: expected a number, got nan"),
    ("learner.lr=0", "quickstart.learner.lr: must be > 0, got 0.0"),
    ("learner.adam_eps=-1e-5", "quickstart.learner.adam_eps: must be > 0, got -1e-05"),
    (
        "learner.lr_schedule=[[0, 1e-3], [1000, -1]]",
        "quickstart.learner.lr_schedule: entry 1: learning rates must be finite and >= 0, got -1",
    ),
    ("algorithm_config.clip_eps=-0.2", "algorithm_config.clip_eps: must be > 0, got -0.2"),
    ("algorithm_config.target_kl=-0.01", "algorithm_config.target_kl: must be > 0, got -0.01"),
    ("algorithm_config.gamma=1.5", "algorithm_config.gamma: must be <= 1, got 1.5"),
    ("stop.env_steps=-100", "quickstart.stop.env_steps: must be >= 1, got -100"),
    ("stop.wall_time_s=0", "quickstart.stop.wall_time_s: must be > 0, got 0.0"),
    ("eval.num_envs=0", "quickstart.eval.num_envs: must be >= 1, got 0"),
    ("eval.episodes=-3", "quickstart.eval.episodes: must be >= 1, got -3"),
    ("num_threads=0", "quickstart.num_threads: must be >= 1, got 0"),
    ("num_envs=0", "quickstart.num_envs: must be >= 1, got 0"),
    (
        "device=banana",
        "quickstart.device: expected auto, cpu, cuda, cuda:<index> or another torch device, got 'banana'",
    ),
    ("guards.max_skipped_updates=0", "quickstart.guards.max_skipped_updates: must be >= 1, got 0"),
    ("catalog=collections:OrderedDict", "catalog: 'collections:OrderedDict' is not a catalog class"),
    ("learner.seq_len=0", "quickstart.learner.seq_len: must be >= 1, got 0"),
    ("model_config.memory=mlp", "model_config.memory: encoder 'mlp' of plugin 'mlp'"),
    ("model_config.memory_config.hidden=8", "model_config.memory_config: is set but memory is not"),
]


@pytest.mark.parametrize(("override", "message"), BAD_SETS, ids=[o.split("=")[0] for o, _ in BAD_SETS])
def test_a_bad_value_is_named_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _fails(capsys, "train", "--set", override, "--set", "tracking.enabled=false")
    assert line.startswith(f"rl8 train: error: {message}"), line
    assert not (tmp_path / "checkpoints").exists()  # nothing ran


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _fails(capsys, "train", "--set", "device=cuda", "--set", "tracking.enabled=false")
    assert line == (
        "rl8 train: error: device: 'cuda' but this machine has no CUDA device torch can use; use auto or cpu"
    )


def test_fp16_on_the_cpu_names_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ("--set", "device=cpu", "--set", "learner.amp=fp16", "--set", "tracking.enabled=false")
    line = _fails(capsys, "train", *args)
    assert line == "rl8 train: error: learner.amp: fp16 autocast needs CUDA; use bf16 (or off) on the CPU"


def test_a_key_set_twice_in_a_yaml_file_is_named_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "twice.yaml"
    config.write_text("env: cartpole\nlearner:\n  lr: 1e-3\n  lr: 3e-4\n")
    line = _fails(capsys, "train", str(config))
    assert line.startswith(f"rl8 train: error: {config} is not valid YAML: duplicate key 'lr' on line 4"), line
    json_config = tmp_path / "twice.json"
    json_config.write_text('{"env": "cartpole", "env": "CartPole-v1"}')
    line = _fails(capsys, "train", str(json_config))
    assert line.startswith(f"rl8 train: error: {json_config} is not valid JSON: duplicate key 'env'"), line


def test_a_binary_config_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "model.yaml"
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    line = _fails(capsys, "train", str(config))
    assert (
        line
        == f"rl8 train: error: cannot read config {config}: it is not UTF-8 text (byte 0); give a YAML or JSON file"
    )


def test_eval_with_zero_episodes_is_refused_by_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run([RL8, "eval", str(tmp_path), "--episodes", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "argument --episodes: expected an int >= 1, got 0" in proc.stderr
