"""Env-runner scaling of RLlib 2.60 PPO (new API stack): env steps/s with N remote env runners (peer benchmark).

What it measures:
    The training throughput (env steps sampled per wall-clock second, sampling
    and update together) of RLlib's PPO on a gymnasium env (MuJoCo
    ``HalfCheetah-v5`` by default) with ``--env-runners`` remote EnvRunner
    actors of ``--envs-per-runner`` envs each. One iteration is one
    ``algo.train()``: every runner samples ``--horizon`` steps from each of its
    envs (``rollout_fragment_length``), the driver's learner runs
    ``--epochs`` passes of ``--minibatch``-sized minibatches over the batch,
    and the new weights are synced back to the runners. The train batch is
    exactly ``env_runners * envs_per_runner * horizon`` env steps.

Settings (everything not listed is RLlib 2.60's PPO default):
    ``PPOConfig().api_stack(enable_rl_module_and_learner=True,
    enable_env_runner_and_connector_v2=True)``, ``framework("torch")``,
    ``environment(env)``, ``env_runners(num_env_runners=N,
    num_envs_per_env_runner=M, rollout_fragment_length=horizon,
    num_cpus_per_env_runner=1)`` (vectorization: RLlib's default
    ``gym_env_vectorize_mode``, ``"sync"``, i.e. a ``gymnasium``
    ``SyncVectorEnv`` inside each runner), ``learners(num_learners=0)`` (the
    learner lives in the driver), ``training(train_batch_size_per_learner=N *
    M * horizon, minibatch_size=min(minibatch, batch), num_epochs=epochs)``,
    ``rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))``
    (tanh; separate policy and value MLPs, PPO's ``vf_share_layers=False``).
    No observation filter (the new stack's default env-to-module pipeline
    does not normalize). ``ray.init(num_cpus=--num-cpus,
    include_dashboard=False)``.

How:
    ``ray.init`` and ``config.build_algo()`` are timed apart (``ray_init_s``,
    ``setup_s``). One ``algo.train()`` is a warm-up, not measured; then
    ``algo.train()`` runs back to back until at least ``--seconds`` have passed.
    The env steps of an iteration are the difference of RLlib's
    ``num_env_steps_sampled_lifetime`` between two results. Inside each
    iteration, the script times the three phases of PPO's ``training_step``
    itself by wrapping (in the driver) ``synchronous_parallel_sample``, the
    learner group's ``update`` and the runner group's ``sync_weights``; it
    also reports RLlib's own ``timers`` (exponential moving averages, not
    per-iteration values).

Output:
    Human-readable lines on stderr; with ``--json``, one JSON object as the last
    line of stdout::

        {"library": "rllib", "ray": "2.60.0", "env": "HalfCheetah-v5", "env_runners": 2, "envs_per_runner": 4,
         "total_envs": 8, "horizon": 32, "train_batch": 256, "minibatch": 256, "epochs": 1,
         "vectorize_mode": "sync", "num_cpus": 2, "env_steps_per_s": 965.3, "env_steps": 14592,
         "iterations": 57, "seconds": 15.116, "iter_median_s": 0.2133, "sample_median_s": 0.1623,
         "learn_median_s": 0.0276, "sync_median_s": 0.0072, ..., "setup_s": 7.757, "rllib_timers": {...}}

Run with the RLlib venv (ray[rllib]==2.60.0, torch==2.13.0+cpu, gymnasium[mujoco])::

    .bench/rllib/bin/python benchmarks/peers/rllib_scale.py --env-runners 2 --envs-per-runner 4 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import stdout_to_stderr

ITER_KEYS = ("sample_s", "learn_s", "sync_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--env", default="HalfCheetah-v5", help="gymnasium env id")
    parser.add_argument("--env-runners", type=int, required=True, help="num_env_runners (remote actors)")
    parser.add_argument("--envs-per-runner", type=int, default=1, help="num_envs_per_env_runner")
    parser.add_argument("--horizon", type=int, default=32, help="rollout_fragment_length (steps per env)")
    parser.add_argument("--minibatch", type=int, default=4096, help="minibatch_size (clipped to the batch)")
    parser.add_argument("--epochs", type=int, default=1, help="num_epochs")
    parser.add_argument("--seconds", type=float, default=20.0, help="minimum measured time after the warm-up")
    parser.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="ray.init(num_cpus=...) (default: max(os.cpu_count(), env runners), so every runner gets its CPU)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    args = parser.parse_args(argv)
    if args.env_runners < 1 or args.envs_per_runner < 1 or args.horizon < 1:
        parser.error("--env-runners, --envs-per-runner and --horizon must be >= 1")
    if args.num_cpus is None:
        args.num_cpus = max(os.cpu_count() or 1, args.env_runners)
    return args


def log(msg: str) -> None:
    """Write one line to stderr."""
    print(msg, file=sys.stderr, flush=True)


def _timed(fn: Callable[..., Any], sink: dict[str, float], key: str) -> Callable[..., Any]:
    """Wrap ``fn`` so that each call adds its wall seconds to ``sink[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            sink[key] = sink.get(key, 0.0) + time.perf_counter() - t0

    return wrapper


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into ``a/b/c`` keys (leaves only)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def rllib_timers(result: dict[str, Any], detail: bool = False) -> dict[str, float]:
    """RLlib's own timing figures in a result, in seconds.

    ``timers/*`` (the algorithm's), ``env_runners/sample`` (one runner's ``sample()`` call, as the runners
    report it), the runners' env step, env reset and module inference timers and the connector pipelines'
    totals; with ``detail``, every single connector's timer too.
    """
    found: dict[str, float] = {}
    for key, value in _flatten(result).items():
        top = key.split("/", 1)[0]
        wanted = top == "timers" or key == "env_runners/sample"
        if top in ("env_runners", "learners") and "timer" in key:
            wanted = detail or "/timers/connectors/" not in key
        number = _number(value)
        if wanted and number is not None:
            found[key] = round(number, 5)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the algorithm, warm up, measure, and return the record."""
    t0 = time.perf_counter()
    import gymnasium as gym
    import ray
    import ray.rllib.algorithms.ppo.ppo as ppo_module
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    import_s = time.perf_counter() - t0
    batch = args.env_runners * args.envs_per_runner * args.horizon
    minibatch = min(args.minibatch, batch)

    t0 = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - t0
    try:
        config = (
            PPOConfig()
            .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
            .framework("torch")
            .environment(args.env)
            .env_runners(
                num_env_runners=args.env_runners,
                num_envs_per_env_runner=args.envs_per_runner,
                rollout_fragment_length=args.horizon,
                num_cpus_per_env_runner=1,
            )
            .learners(num_learners=0)
            .training(train_batch_size_per_learner=batch, minibatch_size=minibatch, num_epochs=args.epochs)
            .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
        )
        t0 = time.perf_counter()
        algo = config.build_algo()
        setup_s = time.perf_counter() - t0

        # Time the phases of PPO's training_step (new API stack): sample, learner update, weight sync.
        phase: dict[str, float] = {}
        ppo_module.synchronous_parallel_sample = _timed(ppo_module.synchronous_parallel_sample, phase, "sample_s")
        algo.learner_group.update = _timed(algo.learner_group.update, phase, "learn_s")
        algo.env_runner_group.sync_weights = _timed(algo.env_runner_group.sync_weights, phase, "sync_s")

        vec_mode = str(config.gym_env_vectorize_mode)
        log(
            f"ray {ray.__version__}, torch {torch.__version__} ({torch.get_num_threads()} driver threads), "
            f"gymnasium {gym.__version__}; env {args.env}, {args.env_runners} runners x {args.envs_per_runner} envs "
            f"(vectorize mode {vec_mode!r}), rollout_fragment_length {config.get_rollout_fragment_length(1)}, "
            f"train batch {config.train_batch_size_per_learner}, minibatch {config.minibatch_size}, "
            f"epochs {config.num_epochs}, model fcnet_hiddens {config.model_config.get('fcnet_hiddens')}, "
            f"num_cpus {args.num_cpus}; import {import_s:.2f} s, ray.init {ray_init_s:.2f} s, "
            f"build_algo {setup_s:.2f} s"
        )

        t0 = time.perf_counter()
        result = algo.train()
        warmup_s = time.perf_counter() - t0
        lifetime = int(result["num_env_steps_sampled_lifetime"])
        warmup_steps = lifetime
        log(f"warm-up: {warmup_steps} env steps in {warmup_s:.2f} s ({phase})")
        log("result keys (flattened, first iteration, without config/*):")
        for key in sorted(_flatten(result)):
            if not key.startswith("config/"):
                log(f"  {key}")

        iter_s: list[float] = []
        iter_steps: list[int] = []
        phases: list[dict[str, float]] = []
        per_iter_key: list[int] = []
        rllib_iter_s: list[float] = []
        runner_sample_s: list[float] = []
        step_calls: set[int] = set()
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            phase.clear()
            t0 = time.perf_counter()
            result = algo.train()
            dt = time.perf_counter() - t0
            new_lifetime = int(result["num_env_steps_sampled_lifetime"])
            steps = new_lifetime - lifetime
            lifetime = new_lifetime
            iter_s.append(dt)
            iter_steps.append(steps)
            phases.append({key: phase.get(key, 0.0) for key in ITER_KEYS})
            per_iter = _number(result.get("env_runners", {}).get("num_env_steps_sampled"))
            per_iter_key.append(int(per_iter) if per_iter is not None else -1)
            rllib_iter_s.append(float(result["time_this_iter_s"]))
            runner_sample_s.append(float(result["env_runners"]["sample"]))
            step_calls.add(int(result["num_training_step_calls_per_iteration"]))
            log(
                f"{time.strftime('%H:%M:%S')} iter {len(iter_s)}: {steps} env steps in {dt:.3f} s "
                f"(sample {phases[-1]['sample_s']:.3f}, learn {phases[-1]['learn_s']:.3f}, "
                f"sync {phases[-1]['sync_s']:.3f}); RLlib: time_this_iter_s {rllib_iter_s[-1]:.3f}, "
                f"env_runners/sample {runner_sample_s[-1]:.3f}, "
                f"env_runners/num_env_steps_sampled {per_iter_key[-1]}"
            )
        wall = time.perf_counter() - start
        timers = rllib_timers(result)
        log("RLlib's own timers after the last iteration (mostly EMA-smoothed, seconds):")
        for key, value in rllib_timers(result, detail=True).items():
            log(f"  {key}: {value}")
        algo.stop()
    finally:
        ray.shutdown()

    total = sum(iter_steps)
    record: dict[str, Any] = {
        "library": "rllib",
        "ray": ray.__version__,
        "env": args.env,
        "env_runners": args.env_runners,
        "envs_per_runner": args.envs_per_runner,
        "total_envs": args.env_runners * args.envs_per_runner,
        "horizon": args.horizon,
        "train_batch": batch,
        "minibatch": minibatch,
        "epochs": args.epochs,
        "vectorize_mode": vec_mode,
        "num_cpus": args.num_cpus,
        "env_steps_per_s": round(total / wall, 1),
        "env_steps": total,
        "iterations": len(iter_s),
        "seconds": round(wall, 3),
        "iter_median_s": round(statistics.median(iter_s), 4),
        "sample_median_s": round(statistics.median(p["sample_s"] for p in phases), 4),
        "learn_median_s": round(statistics.median(p["learn_s"] for p in phases), 4),
        "sync_median_s": round(statistics.median(p["sync_s"] for p in phases), 4),
        "sample_share": round(sum(p["sample_s"] for p in phases) / sum(iter_s), 3),
        "learn_share": round(sum(p["learn_s"] for p in phases) / sum(iter_s), 3),
        "steps_per_iter_key": sorted(set(per_iter_key)),
        "training_step_calls_per_iter": sorted(step_calls),
        "rllib_time_this_iter_median_s": round(statistics.median(rllib_iter_s), 4),
        "rllib_runner_sample_median_s": round(statistics.median(runner_sample_s), 4),
        "warmup_s": round(warmup_s, 3),
        "ray_init_s": round(ray_init_s, 3),
        "setup_s": round(setup_s, 3),
        "rllib_timers": timers,
    }
    if len(set(iter_steps)) != 1 or iter_steps[0] != batch:
        log(f"note: env steps per iteration were {sorted(set(iter_steps))}, expected {batch}")
    return record


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its summary (and JSON record with ``--json``)."""
    args = parse_args(argv)
    with stdout_to_stderr():  # Ray's and RLlib's chatter must not reach stdout.
        record = run(args)
    log(
        f"{record['env_steps_per_s']:.1f} env steps/s over {record['iterations']} iterations "
        f"({record['seconds']:.1f} s); per iteration median {record['iter_median_s']:.3f} s: "
        f"sample {record['sample_median_s']:.3f} s, learn {record['learn_median_s']:.3f} s, "
        f"sync {record['sync_median_s']:.3f} s; build_algo {record['setup_s']:.2f} s"
    )
    if args.json:
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
