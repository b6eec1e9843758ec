"""Time to solve CartPole-v1: our PPO (gymnasium and torch CartPole) versus Stable-Baselines3.

What it measures:
    Wall seconds (from the first env step; setup reported apart) and env
    steps until the mean return of the last 20 finished training episodes
    reaches 475, then a deterministic 10-episode evaluation, for
      * our PPO on gymnasium's CartPole-v1 (``examples/cartpole.yaml``),
      * our PPO on our torch CartPole (``examples/cartpole_torch.yaml``),
      * SB3 PPO with its rl-zoo CartPole-v1 settings, in its own venv
        (``benchmarks/peers/sb3_solve.py --env CartPole-v1``).
    Seeds run one after another, each in a fresh process; the table gives
    medians and ranges and each row's median wall time as a ratio to SB3's.

Run:
    .venv/bin/python benchmarks/cartpole_solve.py                 # 3 seeds, all rows
    .venv/bin/python benchmarks/cartpole_solve.py --seeds 0 1 2 3 4 --threads 1
    .venv/bin/python benchmarks/cartpole_solve.py --no-peers      # ours only

The SB3 venv is made as ``benchmarks/peers/README.md`` says (``.bench/sb3``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _solve import main

if __name__ == "__main__":
    main(
        __doc__,
        __file__,
        env_id="CartPole-v1",
        ours={
            "rl8-core PPO, gymnasium CartPole-v1": "examples/cartpole.yaml",
            "rl8-core PPO, torch cartpole": "examples/cartpole_torch.yaml",
        },
        threshold=475.0,
    )
