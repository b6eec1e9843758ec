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

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _solve import ROOT, print_table, run_ours, sb3_cmd, subprocess_json, summarize, worker_cmd

OURS = {
    "rl8-core PPO, gymnasium Pendulum-v1": "examples/pendulum_gym.yaml",
    "rl8-core PPO, torch pendulum": "examples/pendulum.yaml",
}
SB3_LABEL = "SB3 PPO (rl-zoo), Pendulum-v1"


def main() -> None:
    """Run every row for every seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every process (default: torch's)")
    parser.add_argument("--threshold", type=float, default=-250.0)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--max-env-steps", type=int, default=300_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--no-peers", action="store_true", help="skip Stable-Baselines3")
    parser.add_argument("--sb3-python", default=str(ROOT / ".bench/sb3/bin/python"))
    parser.add_argument("--json", action="store_true", help="also print every record as JSON")
    parser.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        record = run_ours(args.worker, args.seed, args.threshold, args.window, args.max_env_steps, args.eval_episodes)
        print(json.dumps(record))
        return

    records: dict[str, list[dict[str, object]]] = {label: [] for label in OURS}
    if not args.no_peers:
        records[SB3_LABEL] = []
    for seed in args.seeds:
        for label, config in OURS.items():
            records[label].append(subprocess_json(worker_cmd(__file__, config, seed, args), threads=args.threads))
            print(f"  {label} seed {seed}: {records[label][-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
        if not args.no_peers:
            cmd = sb3_cmd("Pendulum-v1", seed, args, "--total-timesteps", str(args.max_env_steps))
            records[SB3_LABEL].append(subprocess_json(cmd, threads=args.threads))
            print(f"  {SB3_LABEL} seed {seed}: {records[SB3_LABEL][-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    rows = [summarize(label, recs) for label, recs in records.items()]
    print(f"Pendulum-v1 time to solve (last-{args.window} mean >= {args.threshold}), seeds {args.seeds}")
    print_table(rows, None if args.no_peers else SB3_LABEL)
    if args.json:
        print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
