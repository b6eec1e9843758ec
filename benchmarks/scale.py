"""Throughput with env runners on Ray: rl8-core with 1, 2 and 4 runners, one process, and RLlib 2.60 PPO.

What it measures, in env steps/s of whole PPO iterations (collect + update),
over at least ``--seconds`` after one warm-up iteration, each measurement in a
fresh process (its own local Ray), ``--repeats`` times (median and range):
    * ours, one process: ``Trainer.step()`` with ``num_envs`` = the total envs
      of the runner rows, ``scale.env_runners: 0``;
    * ours, N env runners: the same config with ``scale.env_runners: N``
      (``num_envs`` split evenly over them). On a machine with fewer CPUs than
      runners each runner asks for ``cpus / N`` CPUs (Ray's CPUs are logical:
      the runners then share the cores);
    * RLlib 2.60 PPO (new API stack) with the same runners and envs per
      runner, in its own venv (``benchmarks/peers/rllib_scale.py``).
    Both sides: ``HalfCheetah-v5`` (MuJoCo) by default, gymnasium's
    synchronous vector env inside each runner, rollouts of 32 steps per env,
    one epoch of minibatches of 4096 steps, Adam lr 3e-4, separate policy and
    value MLPs of 2x64 (RLlib: ``fcnet_hiddens=[64, 64]``), no observation
    filter, the learner in the driver process on the CPU.
    * env ceiling: the env alone, random actions, no policy: one process per
      runner (one for the one-process row) stepping its share of the envs in
      gymnasium's synchronous vector env, all at once, rates summed. No
      library's PPO can beat it; the last column is ours as a share of it.
    Ray overhead (``--overhead``): at ``--overhead-envs`` total envs (1024)
    over 2 runners, the share of an iteration spent outside the runners'
    own stepping: ``perf/env_runner_overhead_s`` (weights out through the
    object store, rollouts back, concatenation) over the iteration's seconds.

Goals:
    Ours >= 2x RLlib's env steps/s at equal runners; Ray overhead <= 10% of the
    iteration at 1024 envs.

Run (MuJoCo: ``pip install -c constraints.txt "gymnasium[mujoco]"`` here and in ``.bench/rllib``):
    .venv/bin/python benchmarks/scale.py                       # all rows, both sides, 3 repeats
    .venv/bin/python benchmarks/scale.py --runners 2 --repeats 1 --seconds 10 --ours-only
    .venv/bin/python benchmarks/scale.py --overhead --ours-only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".bench" / "rllib" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "peers" / "rllib_scale.py"


def config(env: str, runners: int, total_envs: int, horizon: int, minibatch: int, cpus: int) -> dict[str, Any]:
    """The rl8-core config of one row (the settings of the module docstring)."""
    return {
        "env": env,
        "num_envs": total_envs,
        "horizon": horizon,
        "algorithm": "ppo",
        "algorithm_config": {"num_epochs": 1, "minibatch_size": min(minibatch, total_envs * horizon)},
        "learner": {"lr": 3e-4},
        "model_config": {"encoder_config": {"hiddens": [64, 64]}},
        "device": "cpu",
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"at_end": False},
        "eval": {"at_end": False},
        "stop": {"env_steps": None, "wall_time_s": 1e9},
        "scale": {"env_runners": runners, "runner_resources": {"num_cpus": min(1.0, cpus / max(runners, 1))}},
    }


def worker(options: dict[str, Any]) -> dict[str, Any]:
    """Measure one row in this process: env steps/s after a warm-up, and the runners' overhead share."""
    from rl8_core import Trainer

    start = time.perf_counter()
    with Trainer(options["config"]) as trainer:
        setup = time.perf_counter() - start
        trainer.step()  # warm-up: first rollouts, spec checks, allocations
        steps, seconds, overhead, iterations = 0, 0.0, 0.0, 0
        while seconds < options["seconds"]:
            t0 = time.perf_counter()
            result = trainer.step()
            seconds += time.perf_counter() - t0
            steps += trainer.runner.steps_per_rollout
            overhead += result.get("perf/env_runner_overhead_s", 0.0)
            iterations += 1
    return {
        "env_steps_per_s": steps / seconds,
        "iteration_s": seconds / iterations,
        "overhead_share": overhead / seconds,
        "iterations": iterations,
        "setup_s": setup,
    }


def ceiling_worker(options: dict[str, Any]) -> dict[str, Any]:
    """Step ``num_envs`` copies of the env in gymnasium's synchronous vector env with random actions (no policy)."""
    import gymnasium as gym

    envs = gym.make_vec(options["env"], num_envs=options["num_envs"], vectorization_mode="sync")
    envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(10):
        envs.step(envs.action_space.sample())
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < options["seconds"]:
        envs.step(envs.action_space.sample())
        steps += options["num_envs"]
    rate = steps / (time.perf_counter() - start)
    envs.close()
    return {"env_steps_per_s": rate}


def run_ceiling(args: argparse.Namespace, runners: int, total_envs: int) -> float:
    """The env's own rate: one process per runner (one for ``runners == 0``), all stepping at once, summed."""
    processes = max(runners, 1)
    options = {"env": args.env, "num_envs": total_envs // processes, "seconds": args.seconds}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--ceiling-worker", json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    return sum(json.loads(out.strip().splitlines()[-1])["env_steps_per_s"] for out in outputs)


def run_ours(args: argparse.Namespace, runners: int, total_envs: int) -> dict[str, Any]:
    options = {
        "config": config(args.env, runners, total_envs, args.horizon, args.minibatch, args.cpus),
        "seconds": args.seconds,
    }
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(options)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"ours ({runners} runners) failed:\n{out.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return record


def run_peer(args: argparse.Namespace, runners: int, total_envs: int) -> dict[str, Any]:
    command = [
        str(PEER_PYTHON),
        str(PEER_SCRIPT),
        "--env",
        args.env,
        "--env-runners",
        str(runners),
        "--envs-per-runner",
        str(total_envs // runners),
        "--horizon",
        str(args.horizon),
        "--minibatch",
        str(args.minibatch),
        "--epochs",
        "1",
        "--seconds",
        str(args.seconds),
        "--num-cpus",
        str(max(args.cpus, runners)),
        "--json",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"RLlib ({runners} runners) failed:\n{out.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return record


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:,.0f}" if len(values) == 1 else f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--total-envs", type=int, default=8, help="envs over all runners (and in one process)")
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--minibatch", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overhead", action="store_true", help="only the Ray-overhead row")
    parser.add_argument("--overhead-envs", type=int, default=1024)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ceiling-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.ceiling_worker:
        print(json.dumps(ceiling_worker(json.loads(args.ceiling_worker))))
        return
    peers = not args.ours_only and PEER_PYTHON.exists() and PEER_SCRIPT.exists()
    rows: list[dict[str, Any]] = []
    layouts = (
        [(2, args.overhead_envs)]
        if args.overhead
        else [(0, args.total_envs)] + [(n, args.total_envs) for n in args.runners]
    )
    for runners, total in layouts:
        row: dict[str, Any] = {"runners": runners, "total_envs": total, "ours": [], "rllib": [], "ceiling": []}
        for _ in range(args.repeats):
            row["ceiling"].append(run_ceiling(args, runners, total))
            row["ours"].append(run_ours(args, runners, total))
            if peers and runners > 0:
                row["rllib"].append(run_peer(args, runners, total))
        rows.append(row)
        print(f"measured {runners} runners x {total // max(runners, 1)} envs", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
        return
    cpus = os.cpu_count()
    print(f"{args.env}, {args.horizon} steps per env per rollout, {cpus} CPUs, {args.repeats} repeats (median, range)")
    print(
        f"{'layout':<22} {'ours steps/s':>22} {'RLlib steps/s':>22} {'ours/RLlib':>10} {'Ray overhead':>13} "
        f"{'env ceiling':>22} {'ours/ceiling':>12}"
    )
    for row in rows:
        ours = [r["env_steps_per_s"] for r in row["ours"]]
        peer = [r["env_steps_per_s"] for r in row["rllib"]]
        ratio = f"{statistics.median(ours) / statistics.median(peer):.2f}x" if peer else "-"
        share = statistics.median(r["overhead_share"] for r in row["ours"])
        layout = (
            f"one process, {row['total_envs']} envs"
            if row["runners"] == 0
            else f"{row['runners']} runners x {row['total_envs'] // row['runners']} envs"
        )
        overhead = f"{share:.1%}" if row["runners"] else "-"
        ceiling = row["ceiling"]
        of_ceiling = f"{statistics.median(ours) / statistics.median(ceiling):.0%}"
        print(
            f"{layout:<22} {summary(ours):>22} {summary(peer):>22} {ratio:>10} {overhead:>13} "
            f"{summary(ceiling):>22} {of_ceiling:>12}"
        )


if __name__ == "__main__":
    main()
