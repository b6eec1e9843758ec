"""Learning from the command line alone: ``rl8 train examples/minigrid.yaml`` solves MiniGrid's Empty-5x5.

The env is named in gymnasium's ``module:EnvId`` form and made trainable by
``env_config.wrappers`` only, so this is what a user gets from the YAML file
without writing Python. The shortest path returns 0.955 and a random policy
about 0.2; seeds 0-5 stop (deterministic evaluation >= 0.9) after 9k-12k env
steps, 15-20 s of wall time on 2 CPU cores including the process start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rl8_core import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minigrid.yaml"
RL8 = str(Path(sys.executable).parent / "rl8")
BUDGET = 100_000  # env steps; the example's own stop.env_steps
SOLVED = 0.8  # eval return: the optimum is 0.955, a random policy gets about 0.2


def test_the_minigrid_example_builds_and_steps() -> None:
    config = TrainConfig.from_file(EXAMPLE, ["tracking.enabled=false", "progress=none", "num_envs=2", "num_threads=1"])
    assert config.env == "minigrid:MiniGrid-Empty-5x5-v0"
    before = torch.get_num_threads()
    try:
        with Trainer(config) as trainer:
            assert trainer.step()["counters/env_steps"] == 2 * config.horizon
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])
def test_rl8_train_solves_minigrid_empty_from_the_example_config(seed: int, tmp_path: Path) -> None:
    overrides = [f"seed={seed}", "num_threads=1", "progress=none", "tracking.enabled=false"]
    proc = subprocess.run(
        [RL8, "train", str(EXAMPLE), *(arg for item in overrides for arg in ("--set", item)), "--json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["eval/return_mean"] >= SOLVED, result
    assert result["counters/env_steps"] < BUDGET, result
