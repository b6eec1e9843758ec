"""PPO iteration throughput of rl8 1.0.0 on its own torch CartPole (peer benchmark).

What it measures:
    Default (``"mode": "ppo"``): env steps per second of whole rl8 PPO
    iterations, i.e. ``Algorithm.collect()`` (``horizon`` policy samples and
    env steps for all envs, bootstrap value, stats) followed by
    ``Algorithm.step()`` (GAE, then ``num_sgd_iters`` passes of PPO losses,
    backward, grad clipping and Adam over the buffer). rl8's defaults are
    used: horizon 32, minibatch = whole buffer (``sgd_minibatch_size=None``),
    4 SGD iterations, Adam lr 1e-3, default feedforward model (separate actor
    and critic MLPs, 2 x [256, 256], ReLU), reward and advantage
    normalization on, AMP off. The env is rl8's example ``CartPole`` (3
    actions, 5-dim obs, no terminations; all envs reset together at the
    start of every collect). With ``--via-trainer`` (``"mode":
    "ppo-trainer"``) each iteration is ``rl8.Trainer.step()`` instead, which
    adds rl8's psutil memory stats and MLflow metric logging (to a temporary
    file store).

    ``--env-only`` (``"mode": "env-only"``): the env's own random-action
    stepping rate (no policy): uniform random actions, all envs reset every
    ``horizon`` steps as rl8 does.

    Caveat: rl8 1.0.0 picks CUDA whenever it is available, whatever
    ``device`` says (only in PPO mode); the JSON's ``device`` is what rl8
    actually used.

How:
    Building the algorithm (which validates it with one env reset and step,
    and so triggers the env's ``torch.compile``) and one full warm-up
    iteration are excluded; then iterations run back to back until at least
    ``--seconds`` have passed, and the rate is env steps done / elapsed time.
    In ``--env-only`` mode an "iteration" is one ``env.step`` call and the
    warm-up is one horizon.

Output:
    Everything goes to stderr except one JSON object, the last (and only)
    line of stdout::

        {"library": "rl8", "mode": "ppo", "device": "cpu", "num_envs": 64,
         "env_steps_per_s": 28233.0, "iterations": 138, "seconds": 10.0104}

Run with the rl8 peer venv (see ``benchmarks/peers/README.md``)::

    .bench/rl8/bin/python benchmarks/peers/rl8_throughput.py --num-envs 64
    .bench/rl8/bin/python benchmarks/peers/rl8_throughput.py --num-envs 64 --env-only

The env is rl8's own ``examples/cartpole/env.py``, loaded from the unpacked
sdist under ``.bench/rl8-sdist`` (see ``benchmarks/peers/README.md``; nothing
of rl8 is copied into this repository); ``--env-path`` points elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

# rl8-core is not installed in the peer venvs: the shared helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_parser, print_record

DEFAULT_ENV_PATH = Path(__file__).resolve().parents[2] / ".bench/rl8-sdist/rl8-1.0.0/examples/cartpole/env.py"


def load_env_module(path: Path) -> ModuleType:
    """Import rl8's example CartPole module from a file path.

    Args:
        path: Path of a copy of rl8's ``examples/cartpole/env.py``.

    Returns:
        The imported module (it defines ``CartPole``).
    """
    spec = importlib.util.spec_from_file_location("rl8_peer_cartpole_env", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load an env module from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synchronize(device: str) -> None:
    """Wait for queued device work so wall-clock reads are honest.

    Args:
        device: Torch device string.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_loop(iteration: Callable[[], None], min_seconds: float, device: str) -> tuple[int, float]:
    """Call ``iteration`` back to back until at least ``min_seconds`` passed.

    Args:
        iteration: One unit of work.
        min_seconds: Minimum measured wall time.
        device: Torch device string (for synchronization).

    Returns:
        Number of iterations and elapsed seconds.
    """
    synchronize(device)
    t_start = time.perf_counter()
    iterations = 0
    elapsed = 0.0
    while elapsed < min_seconds:
        iteration()
        synchronize(device)
        iterations += 1
        elapsed = time.perf_counter() - t_start
    return iterations, elapsed


def measure_ppo(env_cls: Any, args: argparse.Namespace) -> tuple[int, float, int, str]:
    """Measure whole rl8 PPO iterations (collect + step).

    Args:
        env_cls: rl8 ``Env`` subclass to train on.
        args: Parsed command line.

    Returns:
        Iterations, elapsed seconds, env steps per iteration and the device
        rl8 actually used.
    """
    import mlflow
    from rl8 import AlgorithmConfig, Trainer  # type: ignore[import-untyped]

    t_build = time.perf_counter()
    # All other fields stay at rl8 1.0.0's defaults (see module docstring).
    algo = AlgorithmConfig(num_envs=args.num_envs, horizon=args.horizon, device=args.device).build(env_cls)
    hp = algo.hparams
    print(
        f"rl8 built in {time.perf_counter() - t_build:.2f} s: device={hp.device} "
        f"num_envs={hp.num_envs} horizon={hp.horizon} "
        f"minibatch={hp.sgd_minibatch_size} sgd_iters={hp.num_sgd_iters} "
        f"model={type(algo.policy.model).__name__} "
        f"params={sum(p.numel() for p in algo.policy.model.parameters())}",
        file=sys.stderr,
    )
    steps_per_iteration = hp.num_envs * hp.horizon

    if args.via_trainer:
        mlflow.set_experiment("rl8-peer-throughput")
        trainer = Trainer(algo)

        def iteration() -> None:
            trainer.step()

    else:

        def iteration() -> None:
            algo.collect()
            algo.step()

    t_warm = time.perf_counter()
    iteration()
    synchronize(hp.device)
    print(f"warm-up iteration: {time.perf_counter() - t_warm:.2f} s", file=sys.stderr)
    iterations, elapsed = time_loop(iteration, args.seconds, hp.device)
    if args.via_trainer:
        mlflow.end_run()
    return iterations, elapsed, steps_per_iteration, str(hp.device)


def measure_env_only(env_cls: Any, args: argparse.Namespace) -> tuple[int, float, int, str]:
    """Measure the env's random-action stepping rate.

    Args:
        env_cls: rl8 ``Env`` subclass to step.
        args: Parsed command line.

    Returns:
        Env step calls, elapsed seconds, env steps per call and device.
    """
    env = env_cls(args.num_envs, args.horizon, device=args.device)
    num_actions = int(env.action_spec.space.n)
    counter = {"t": 0}

    def iteration() -> None:
        if counter["t"] % args.horizon == 0:
            env.reset()
        action = torch.randint(0, num_actions, (args.num_envs, 1), device=args.device)
        env.step(action)
        counter["t"] += 1

    t_warm = time.perf_counter()
    for _ in range(args.horizon):
        iteration()
    synchronize(args.device)
    print(f"warm-up horizon: {time.perf_counter() - t_warm:.2f} s", file=sys.stderr)
    iterations, elapsed = time_loop(iteration, args.seconds, args.device)
    return iterations, elapsed, args.num_envs, args.device


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = make_parser(__doc__)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="minimum measured time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="torch seed")
    parser.add_argument("--horizon", type=int, default=32, help="rl8 default 32 (CartPole max 128)")
    parser.add_argument(
        "--env-path",
        type=Path,
        default=DEFAULT_ENV_PATH,
        help="rl8's examples/cartpole/env.py (default: the one in the unpacked sdist under .bench/rl8-sdist)",
    )
    parser.add_argument(
        "--env-only",
        action="store_true",
        help="measure the env's random-action stepping rate instead of PPO",
    )
    parser.add_argument(
        "--via-trainer",
        action="store_true",
        help="iterate with rl8.Trainer.step() (adds psutil + MLflow logging)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected measurement.

    Args:
        args: Parsed command line.

    Returns:
        The result record printed as JSON.
    """
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    import rl8

    print(
        f"rl8 {rl8.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), env from {args.env_path}",
        file=sys.stderr,
    )
    env_cls = load_env_module(args.env_path).CartPole
    measure = measure_env_only if args.env_only else measure_ppo
    mode = "ppo-trainer" if args.via_trainer else "ppo"
    if args.env_only:
        mode = "env-only"
    iterations, elapsed, steps_per_iteration, device = measure(env_cls, args)
    rate = iterations * steps_per_iteration / elapsed
    print(
        f"{iterations} iterations x {steps_per_iteration} env steps in {elapsed:.2f} s = {rate:.0f} env steps/s",
        file=sys.stderr,
    )
    return {
        "library": "rl8",
        "mode": mode,
        "device": device,
        "num_envs": args.num_envs,
        "env_steps_per_s": round(rate, 1),
        "iterations": iterations,
        "seconds": round(elapsed, 4),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON record as the last stdout line.

    Args:
        argv: Arguments, without the program name; ``sys.argv[1:]`` if None.
    """
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.via_trainer and "MLFLOW_TRACKING_URI" not in os.environ:
            # Keep rl8's MLflow logging out of the working tree.
            store = stack.enter_context(tempfile.TemporaryDirectory(prefix="rl8-peer-mlruns-"))
            os.environ["MLFLOW_TRACKING_URI"] = Path(store).as_uri()
        print_record(lambda: run(args))


if __name__ == "__main__":
    main()
