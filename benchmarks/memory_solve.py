"""Time to solve CartPole-v1 without velocities: our recurrent PPO versus sb3-contrib RecurrentPPO.

What it measures:
    Wall seconds (from the first env step; setup reported apart) and env
    steps until the mean return of the last 20 finished training episodes
    reaches 475, then a deterministic 10-episode evaluation (the memory state
    carried from step to step and reset at episode starts), for
      * our PPO with an LSTM (``model_config.memory: lstm``) on our torch
        ``cartpole`` with ``env_config.mask_velocity: true`` (observations
        ``x, theta`` only) from ``examples/cartpole_memory.yaml``,
      * sb3-contrib ``RecurrentPPO`` with rl-zoo's ``CartPoleNoVel-v1``
        settings (``hyperparams/ppo_lstm.yml``: 8 envs, n_steps 32, batch
        256, 20 epochs, VecNormalize, LSTM 64 for actor and critic), in the
        SB3 venv (``benchmarks/peers/sb3_recurrent_solve.py``).
    Seeds run one after another, each in a fresh process; the table gives
    medians and ranges and each row's median wall time as a ratio to
    sb3-contrib's. sb3-contrib keeps the rl-zoo budget of 1e5 steps (its
    linear schedules run over it); ours stops unsolved after
    ``--max-env-steps``.

Goal:
    Our median wall time at most 0.3x sb3-contrib's (ratio <= 0.30).

Run:
    .venv/bin/python benchmarks/memory_solve.py --threads 1       # 3 seeds, both rows
    .venv/bin/python benchmarks/memory_solve.py --no-peers        # ours only
    .venv/bin/python benchmarks/memory_solve.py --seeds 0 --json

The SB3 venv, with sb3-contrib, is made as ``benchmarks/peers/README.md`` says (``.bench/sb3``).
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
        env_id="CartPoleNoVel-v1",
        ours={"rl8-core PPO + lstm, torch cartpole (velocities masked)": "examples/cartpole_memory.yaml"},
        threshold=475.0,
        peer_script="benchmarks/peers/sb3_recurrent_solve.py",
        peer_label="sb3-contrib RecurrentPPO (rl-zoo), CartPoleNoVel-v1",
    )
