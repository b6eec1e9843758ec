"""The learning runs of the memory, multi-agent and scale-out learning tests, each in a process of its own.

``python -m tests.integration.memory_runs NAME`` trains run ``NAME`` of ``RUNS``
(an example config with overrides, on one thread, without tracking) and prints
its final result as one JSON line. ``conftest.py`` trains the runs a test
session selects one after another, longest first, from the first test of
``tests/integration`` on, beside the rest of the (single-process) suite.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUIET = ["progress=none", "tracking.enabled=false", "checkpoint.at_end=false", "num_threads=1", "seed=0"]
FEED_FORWARD = ["model_config.memory=null", "stop.return_mean=null", "stop.eval_return_mean=null"]

#: Run name -> (example config, overrides).
RUNS: dict[str, tuple[str, list[str]]] = {
    "cartpole-lstm": ("cartpole_memory.yaml", []),
    "cartpole-gru": ("cartpole_memory.yaml", ["model_config.memory=gru"]),
    "cartpole-attention": (
        "cartpole_memory.yaml",
        [
            "model_config.memory=attention",
            "model_config.memory_config.window=4",
            "model_config.memory_config.dim=32",
            # Attention needs about 170k steps here: twice that before the budget or the learning rate runs out.
            "stop.env_steps=400000",
            "learner.lr_schedule=[[0, 1.0e-3], [400000, 0.0]]",
        ],
    ),
    # As many env steps as the memory runs above take to solve it.
    "cartpole-feed-forward": ("cartpole_memory.yaml", [*FEED_FORWARD, "stop.env_steps=100000"]),
    "pendulum-lstm": ("pendulum_memory.yaml", []),
    "cue-attention": ("memory_cue.yaml", []),
    "cue-lstm": ("memory_cue.yaml", ["model_config.memory=lstm"]),
    "cue-feed-forward": ("memory_cue.yaml", [*FEED_FORWARD, "stop.env_steps=30000"]),
    # Multi-agent (test_multiagent_learning.py): a fixed budget, then 48 episodes sampled from the policy.
    "spread-shared": (
        "simple_spread.yaml",
        ["stop.return_mean=null", "stop.env_steps=64000", "eval.deterministic=false", "eval.episodes=48"],
    ),
    # Scale-out (test_scale_learning.py): the same configs with 2 env runners on a local Ray of this process's own.
    "cartpole-runners": ("cartpole.yaml", ["scale.env_runners=2"]),
    "cue-lstm-runners": ("memory_cue.yaml", ["model_config.memory=lstm", "scale.env_runners=2"]),
}


#: The order runs start in: the slowest first.
LONGEST_FIRST = [
    "cartpole-attention",
    "pendulum-lstm",
    "spread-shared",
    "cartpole-gru",
    "cue-lstm",
    "cue-lstm-runners",
    "cartpole-lstm",
    "cartpole-runners",
    "cartpole-feed-forward",
    "cue-attention",
    "cue-feed-forward",
]


def train(name: str) -> dict[str, Any]:
    """Train run ``name`` and return its final result with ``env_steps`` and ``seconds``."""
    from rl8_core import TrainConfig, Trainer

    example, overrides = RUNS[name]
    config = TrainConfig.from_file(ROOT / "examples" / example, [*QUIET, *overrides])
    start = time.perf_counter()
    with Trainer(config) as trainer:
        result = trainer.run()
        return {**result, "env_steps": trainer.env_steps, "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    print(json.dumps(train(sys.argv[1])))
