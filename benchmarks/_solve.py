"""Shared parts of the time-to-solve benchmarks: our worker, peer subprocesses, the table.

Each measurement runs in a fresh subprocess (ours with the project's venv,
peers with theirs) that prints one JSON line; setup (imports, building the
trainer and envs) is timed separately from training, whose clock starts at
the first env step. "Solved" is the criterion of benchmarks/README.md: the
mean undiscounted return of the last ``window`` finished training episodes, in
completion order across envs, first reaches the threshold. We check it after
each iteration (the rollout's episodes are in completion order), which can
only overstate our time by at most one iteration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SB3_SCRIPT = "benchmarks/peers/sb3_solve.py"


def run_ours(
    config_path: str, seed: int, threshold: float, window: int, max_env_steps: int, eval_episodes: int
) -> dict[str, Any]:
    """Train with our Trainer until solved; return the JSON record (runs in the worker process)."""
    import resource
    import time

    t0 = time.perf_counter()
    from rl8_core import TrainConfig, Trainer

    config = TrainConfig.from_file(config_path, [f"seed={seed}", "tracking.enabled=false", "progress=none"])
    trainer = Trainer(config)
    setup_s = time.perf_counter() - t0
    returns: deque[float] = deque(maxlen=window)
    solved = False
    start = time.perf_counter()
    while trainer.env_steps < max_env_steps:
        trainer.step()
        returns.extend(trainer.runner.episodes.returns)
        if len(returns) == window and sum(returns) / window >= threshold:
            solved = True
            break
    wall = time.perf_counter() - start
    result = trainer.eval(episodes=eval_episodes, deterministic=True)
    trainer.close()
    return {
        "library": "rl8-core",
        "env": config.env,
        "config": config_path,
        "seed": seed,
        "solved": solved,
        "wall_s": wall,
        "env_steps": trainer.env_steps,
        "setup_s": setup_s,
        "eval_return_mean": result["eval/return_mean"],
        "steps_per_s": trainer.env_steps / wall,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def subprocess_json(cmd: Sequence[str], *, threads: int | None) -> dict[str, Any]:
    """Run a worker command and parse the JSON object on its last stdout line."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return record


def solve_criterion(args: Any) -> list[str]:
    """Return the ``--threshold``, ``--window`` and ``--eval-episodes`` options every side is run with."""
    options = {"--threshold": args.threshold, "--window": args.window, "--eval-episodes": args.eval_episodes}
    return [part for option, value in options.items() for part in (option, str(value))]


def worker_cmd(script: str, config: str, seed: int, args: Any) -> list[str]:
    """Return the command running this script's ``--worker`` mode for one seed."""
    cmd = [sys.executable, script, "--worker", config, "--seed", str(seed), *solve_criterion(args)]
    cmd += ["--max-env-steps", str(args.max_env_steps)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    return cmd


def sb3_cmd(env_id: str, seed: int, args: Any, *extra: str, script: str = SB3_SCRIPT) -> list[str]:
    """Return the command running an SB3-venv peer (``script``, by default ``peers/sb3_solve.py``) on ``env_id``.

    The solve criterion (threshold, window, evaluation episodes) is ours, so both sides are judged alike.
    """
    script = str(ROOT / script)
    cmd = [args.sb3_python, script, "--env", env_id, "--seed", str(seed), *solve_criterion(args), *extra]
    if args.threads is not None:
        cmd += ["--torch-threads", str(args.threads)]
    return cmd


def summarize(label: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range over seeds of one row of the table."""
    walls = [r["wall_s"] for r in records]
    steps = [r["env_steps"] for r in records]
    return {
        "label": label,
        "solved": f"{sum(r['solved'] for r in records)}/{len(records)}",
        "wall_median": statistics.median(walls),
        "wall_min": min(walls),
        "wall_max": max(walls),
        "steps_median": statistics.median(steps),
        "steps_min": min(steps),
        "steps_max": max(steps),
        "setup_median": statistics.median(r["setup_s"] for r in records),
        "eval_median": statistics.median(r["eval_return_mean"] for r in records),
        "rss_max": max(r.get("max_rss_mb", float("nan")) for r in records),
    }


def print_table(rows: list[dict[str, Any]], reference: str | None) -> None:
    """Print medians and ranges, and each row's wall-time ratio to the reference row."""
    ref = next((r for r in rows if r["label"] == reference), None)
    width = max([34, *(len(r["label"]) for r in rows)])
    head = f"{'run':{width}} {'solved':>6} {'wall s (median, range)':>24} {'env steps (median, range)':>28} "
    head += f"{'setup s':>8} {'eval':>7} {'RSS MB':>7} {'vs ' + (reference or '-'):>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r['wall_median'] / ref['wall_median']:.2f}x" if ref else "-"
        print(
            f"{r['label']:{width}} {r['solved']:>6} "
            f"{r['wall_median']:7.2f} ({r['wall_min']:5.2f}-{r['wall_max']:5.2f})    "
            f"{r['steps_median']:9,.0f} ({r['steps_min']:,.0f}-{r['steps_max']:,.0f})  "
            f"{r['setup_median']:8.2f} {r['eval_median']:7.1f} {r['rss_max']:7.0f} {ratio:>14}"
        )


def main(
    doc: str | None,
    script: str,
    *,
    env_id: str,
    ours: Mapping[str, str],
    threshold: float,
    sb3_budget: bool = False,
    peer_script: str = SB3_SCRIPT,
    peer_label: str | None = None,
) -> None:
    """Run one time-to-solve benchmark: every row of ``ours`` and the peer on ``env_id``, every seed; print the table.

    Args:
        doc: The script's docstring (its ``--help``).
        script: The script's path; its ``--worker`` mode runs one of our rows in a fresh process.
        env_id: The gymnasium id SB3 trains on (and the table's title).
        ours: Row label -> our config file.
        threshold: Default solve threshold (last-``window`` mean return).
        sb3_budget: Give SB3 our ``--max-env-steps`` as its ``--total-timesteps`` (not for
            CartPole, whose rl-zoo schedules are linear over the zoo's own budget).
        peer_script: The peer script, run with ``--sb3-python`` (it takes ``--env``, ``--seed``,
            the solve criterion and ``--torch-threads``, and prints one JSON line).
        peer_label: The peer's row label; default ``"SB3 PPO (rl-zoo), <env_id>"``.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every process (default: torch's)")
    parser.add_argument("--threshold", type=float, default=threshold)
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

    sb3_label = peer_label or f"SB3 PPO (rl-zoo), {env_id}"
    records: dict[str, list[dict[str, Any]]] = {label: [] for label in ours}
    if not args.no_peers:
        records[sb3_label] = []
    for seed in args.seeds:
        for label, config in ours.items():
            records[label].append(subprocess_json(worker_cmd(script, config, seed, args), threads=args.threads))
            print(f"  {label} seed {seed}: {records[label][-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
        if not args.no_peers:
            extra = ["--total-timesteps", str(args.max_env_steps)] if sb3_budget else []
            cmd = sb3_cmd(env_id, seed, args, *extra, script=peer_script)
            records[sb3_label].append(subprocess_json(cmd, threads=args.threads))
            print(f"  {sb3_label} seed {seed}: {records[sb3_label][-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    rows = [summarize(label, recs) for label, recs in records.items()]
    print(f"{env_id} time to solve (last-{args.window} mean >= {args.threshold}), seeds {args.seeds}")
    print_table(rows, None if args.no_peers else sb3_label)
    if args.json:
        print(json.dumps(records, indent=2))
