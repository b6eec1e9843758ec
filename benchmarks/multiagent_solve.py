"""Time to solve PettingZoo MPE simple_spread (3 agents, parameter sharing): rl8-core PPO versus RLlib 2.60 PPO.

What it measures:
    Wall seconds (from the first env step; setup reported apart), env steps
    and peak memory until the *team return* of
    ``mpe2.simple_spread_v3`` (N=3, discrete actions, max_cycles 25), i.e. the
    sum of all agents' rewards in an episode, averaged over the last 20
    finished episodes, first reaches the threshold (-60; a random policy
    scores about -81). One env step moves all 3 agents, on both sides. For
      * rl8-core: ``Trainer`` with ``examples/simple_spread.yaml`` (16 copies,
        horizon 25, one shared module, MLP 64-64, lr 3e-3, gamma 0.95, 4
        epochs, minibatch 300, ent_coef 0.01) and the overrides
        ``stop.return_mean=<threshold> stop.env_steps=<budget>
        tracking.enabled=false progress=none checkpoint.at_end=false
        seed=<s>``. ``episodes/return_mean`` is exactly the team mean of the
        last ``stop.window`` (20) episodes. The worker steps the trainer and
        checks the trainer's own stop conditions (``config.stop``) after each
        iteration, so the time can be overstated by at most one iteration
        (400 env steps).
      * RLlib 2.60 PPO, new API stack, in ``.bench/rllib``
        (``benchmarks/peers/rllib_multiagent_solve.py``, whose docstring has
        the settings): RLlib's parameter-sharing example
        (``examples/multi_agent/pettingzoo_parameter_sharing.py``) on MPE
        through ``ParallelPettingZooEnv``, PPO defaults otherwise,
        ``num_env_runners=0``, ``ray.init(num_cpus=2)``, checked after each
        ``algo.train()`` (4000 env steps) on
        ``env_runners/episode_return_mean`` (team sum, last 20 episodes).
    Peak memory: the largest summed RSS of the side's whole process tree,
    sampled every 0.2 s from ``/proc`` (ours: the worker; RLlib: the driver
    and every process of its Ray session, measured by the peer script).
    Seeds run one after another, each in a fresh process; the table shows
    each seed, then the median and range, and ours/RLlib ratios of the median
    wall time and peak memory. Unsolved runs show their budget ("not solved
    in N steps"), and then the wall ratio is only a bound.

Goals:
    Ours at most 0.3x RLlib's median wall time and 0.5x its peak memory.

Run:
    .venv/bin/python benchmarks/multiagent_solve.py                    # 3 seeds, both sides
    .venv/bin/python benchmarks/multiagent_solve.py --ours-only --seeds 0
    .venv/bin/python benchmarks/multiagent_solve.py --peer-budget 8000   # cap RLlib's budget only

Options: ``--seeds`` (0 1 2), ``--threshold`` (-60), ``--budget`` (400000 env
steps, both sides), ``--peer-budget`` (RLlib's own budget; default
``--budget``), ``--threads`` (2: torch threads in every process),
``--ours-only``, ``--peer-only``, ``--peer-timeout`` (seconds; the peer's
process tree is killed after it), ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

import contextlib

from _solve import ROOT
from rllib_multiagent_solve import RssSampler, tree_pids

CONFIG = "examples/simple_spread.yaml"
PEER_SCRIPT = "benchmarks/peers/rllib_multiagent_solve.py"


def run_ours(seed: int, threshold: float, budget: int) -> dict[str, Any]:
    """Train one seed until the config's stop conditions hold (runs in the worker process)."""
    t0 = time.perf_counter()
    from rl8_core import TrainConfig, Trainer

    overrides = [
        f"stop.return_mean={threshold}",
        f"stop.env_steps={budget}",
        "tracking.enabled=false",
        "progress=none",
        "checkpoint.at_end=false",
        f"seed={seed}",
    ]
    config = TrainConfig.from_file(str(ROOT / CONFIG), overrides)
    trainer = Trainer(config)
    conds = trainer.default_stop_conditions()
    setup_s = time.perf_counter() - t0
    start = time.perf_counter()
    stopped_by: list[str] = []
    while not stopped_by:
        result = trainer.step()
        stopped_by = [repr(c) for c in conds if c(result)]
    wall = time.perf_counter() - start
    trainer.close()
    return_mean = result["episodes/return_mean"]
    return {
        "library": "rl8-core",
        "seed": seed,
        "solved": return_mean >= threshold,
        "wall_s": round(wall, 4),
        "env_steps": trainer.env_steps,
        "setup_s": round(setup_s, 4),
        "return_mean": round(return_mean, 3),
        "stopped_by": stopped_by,
        "steps_per_s": round(trainer.env_steps / wall, 1),
    }


def measured(cmd: list[str], threads: int, timeout: float | None, *, sample: bool) -> dict[str, Any]:
    """Run ``cmd`` in a new session, sample its tree's RSS (if ``sample``), kill the tree on timeout; parse JSON."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    sampler = RssSampler(root=proc.pid)
    if sample:
        sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in tree_pids([proc.pid]):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout} s; its process tree was killed") from None
    finally:
        if sample:
            sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    record: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if sample:
        record["max_rss_mb"] = round(sampler.peak / 2**20, 1)
    return record


def median_range(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def print_table(records: dict[str, list[dict[str, Any]]], budgets: dict[str, int]) -> None:
    """Per seed and median (range): wall s, env steps, peak MB; then the ours/RLlib ratios."""
    head = f"{'side':10} {'seed':>6} {'solved':>24} {'wall s':>22} {'env steps':>26} {'setup s':>8} {'peak MB':>20}"
    print(head)
    print("-" * len(head))
    for side, recs in records.items():
        for r in recs:
            solved = "yes" if r["solved"] else f"not solved in {r['env_steps']:,}"
            print(
                f"{side:10} {r['seed']:>6} {solved:>24} {r['wall_s']:22.1f} {r['env_steps']:26,} "
                f"{r['setup_s']:8.1f} {r['max_rss_mb']:20.0f}"
            )
        if recs:
            n_solved = sum(r["solved"] for r in recs)
            print(
                f"{side:10} {'median':>6} {f'{n_solved}/{len(recs)} (budget {budgets[side]:,})':>24} "
                f"{median_range([r['wall_s'] for r in recs], '.1f'):>22} "
                f"{median_range([r['env_steps'] for r in recs], ',.0f'):>26} "
                f"{statistics.median(r['setup_s'] for r in recs):8.1f} "
                f"{median_range([r['max_rss_mb'] for r in recs], '.0f'):>20}"
            )
    ours, peer = records.get("rl8-core"), records.get("RLlib")
    if ours and peer:
        wall = statistics.median(r["wall_s"] for r in ours) / statistics.median(r["wall_s"] for r in peer)
        mem = statistics.median(r["max_rss_mb"] for r in ours) / statistics.median(r["max_rss_mb"] for r in peer)
        bound = "" if all(r["solved"] for r in peer) else " (upper bound: RLlib unsolved in some seeds)"
        print(f"ours/RLlib median wall: {wall:.3f}x{bound} (goal <= 0.3x)")
        print(f"ours/RLlib median peak memory: {mem:.3f}x (goal <= 0.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, default=-60.0)
    parser.add_argument("--budget", type=int, default=400_000, help="env steps (both sides)")
    parser.add_argument("--peer-budget", type=int, default=None, help="RLlib's env-step budget (default --budget)")
    parser.add_argument("--peer-timeout", type=float, default=None, help="seconds before RLlib's tree is killed")
    parser.add_argument("--threads", type=int, default=2)
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--ours-only", action="store_true")
    side.add_argument("--peer-only", action="store_true")
    parser.add_argument("--rllib-python", default=str(ROOT / ".bench/rllib/bin/python"))
    parser.add_argument("--json", action="store_true", help="also print every record as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(run_ours(args.seed, args.threshold, args.budget)))
        return

    peer_budget = args.peer_budget or args.budget
    budgets = {"rl8-core": args.budget, "RLlib": peer_budget}
    records: dict[str, list[dict[str, Any]]] = {}
    if not args.peer_only:
        records["rl8-core"] = []
    if not args.ours_only:
        records["RLlib"] = []
    for seed in args.seeds:
        if "rl8-core" in records:
            cmd = [sys.executable, __file__, "--worker", "--seed", str(seed), "--threshold", str(args.threshold)]
            cmd += ["--budget", str(args.budget), "--threads", str(args.threads)]
            records["rl8-core"].append(measured(cmd, args.threads, None, sample=True))
            print(f"  rl8-core seed {seed}: {records['rl8-core'][-1]}", file=sys.stderr, flush=True)
        if "RLlib" in records:
            cmd = [args.rllib_python, str(ROOT / PEER_SCRIPT), "--seed", str(seed), "--threshold", str(args.threshold)]
            cmd += ["--budget", str(peer_budget), "--torch-threads", str(args.threads)]
            # The peer script samples its own tree plus Ray's session processes (not all children of the driver).
            records["RLlib"].append(measured(cmd, args.threads, args.peer_timeout, sample=False))
            print(f"  RLlib seed {seed}: {records['RLlib'][-1]}", file=sys.stderr, flush=True)
    print(
        f"simple_spread_v3 (N=3, max_cycles 25) time to team return >= {args.threshold} "
        f"(last-20 mean), seeds {args.seeds}, {args.threads} threads"
    )
    print_table(records, budgets)
    if args.json:
        print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
