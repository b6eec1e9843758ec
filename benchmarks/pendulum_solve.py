"""Time to solve Pendulum-v1: our PPO (gymnasium and torch Pendulum) versus Stable-Baselines3.

What it measures:
    Wall seconds (from the first env step; setup reported apart) and env
    steps until the mean return of the last 20 finished training episodes
    reaches -250, then a deterministic 10-episode evaluation, for
      * our PPO on gymnasium's Pendulum-v1 (``examples/pendulum_gym.yaml``),
      * our PPO on our torch pendulum (``examples/pendulum.yaml``),
      * SB3 PPO with its rl-zoo Pendulum-v1 settings (4 envs, n_steps 1024,
        gamma 0.9, 10 epochs, lr 1e-3, gSDE), in its own venv
        (``benchmarks/peers/sb3_solve.py --env Pendulum-v1``), with the same
        env-step budget as ours (``--max-env-steps``).
    Seeds run one after another, each in a fresh process; the table gives
    medians and ranges and each row's median wall time as a ratio to SB3's.
    Pendulum episodes all last 200 steps, so with 64 envs a whole window of
    20 episodes finishes on one step.

Run:
    .venv/bin/python benchmarks/pendulum_solve.py --threads 1         # 3 seeds, all rows
    .venv/bin/python benchmarks/pendulum_solve.py --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/pendulum_solve.py --no-peers           # ours only

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
        env_id="Pendulum-v1",
        ours={
            "rl8-core PPO, gymnasium Pendulum-v1": "examples/pendulum_gym.yaml",
            "rl8-core PPO, torch pendulum": "examples/pendulum.yaml",
        },
        threshold=-250.0,
        sb3_budget=True,
    )
