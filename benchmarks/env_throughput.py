"""Random-action env steps per second: rl8's torch CartPole against gymnasium's.

What it measures:
    ``env.step`` calls back to back with random actions, counting every env
    in the batch (``num_envs * calls / seconds``); autoresets included. The
    actions are drawn before timing (a pool of 64 batches, cycled), so
    sampling them is not counted.

    * ``rl8 cartpole`` -- the ``cartpole`` plugin (``CartPoleEnv``, float32
      physics) at each ``--num-envs``.
    * ``gymnasium SyncVectorEnv`` -- gymnasium's own ``SyncVectorEnv`` of
      ``CartPole-v1`` (``--gym-envs`` envs, numpy actions, SAME_STEP autoreset).
    * ``rl8 GymVectorEnv (sync)`` -- the same through rl8's adapter (tensor
      actions in, tensors out), to show what the adapter adds.

How:
    Each row is run ``--runs`` times; a run warms up for 20 steps, then steps
    until at least ``--seconds`` have passed. The table gives the median and
    the range (min-max) over the runs. Torch uses its default thread count
    unless ``--threads`` is given; the load average is printed because the
    figures move with other work on the machine.

Run::

    .venv/bin/python benchmarks/env_throughput.py
    .venv/bin/python benchmarks/env_throughput.py --num-envs 64 1024 --seconds 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from rl8_core import GymVectorEnv
from rl8_plugins.envs.cartpole import CartPoleEnv

POOL = 64


def rate(step: Callable[[int], object], num_envs: int, seconds: float, device: str) -> float:
    """Return env steps per second of ``step(i)`` called back to back for ``seconds``."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for i in range(20):
        step(i)
    sync()
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(16):
            step(calls)
            calls += 1
        sync()
        elapsed = time.perf_counter() - start
    return num_envs * calls / elapsed


def torch_cartpole(num_envs: int, device: str) -> tuple[Callable[[int], object], Callable[[], None]]:
    env = CartPoleEnv(num_envs=num_envs, seed=0, device=device)
    env.reset()
    generator = torch.Generator(device=device).manual_seed(1)
    pool = [torch.randint(0, 2, (num_envs,), device=device, generator=generator) for _ in range(POOL)]
    return (lambda i: env.step(pool[i % POOL])), env.close


def gymnasium_sync(num_envs: int, device: str) -> tuple[Callable[[int], object], Callable[[], None]]:
    env = gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1") for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    pool = [rng.integers(0, 2, num_envs) for _ in range(POOL)]
    return (lambda i: env.step(pool[i % POOL])), env.close


def rl8_gym_vector_env(num_envs: int, device: str) -> tuple[Callable[[int], object], Callable[[], None]]:
    env = GymVectorEnv("CartPole-v1", num_envs=num_envs, seed=0, device=device)
    env.reset()
    generator = torch.Generator().manual_seed(1)
    pool = [torch.randint(0, 2, (num_envs,), generator=generator).to(device) for _ in range(POOL)]
    return (lambda i: env.step(pool[i % POOL])), env.close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[64, 1024, 8192], help="torch CartPole batch sizes")
    parser.add_argument("--gym-envs", type=int, default=8, help="envs in the gymnasium vector envs")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum length of one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per row")
    parser.add_argument("--device", default="cpu", help="device of the torch env and the adapter's tensors")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    rows: list[tuple[str, int, Callable[[int, str], tuple[Callable[[int], object], Callable[[], None]]]]] = [
        *(("rl8 cartpole (torch)", n, torch_cartpole) for n in args.num_envs),
        ("gymnasium SyncVectorEnv CartPole-v1", args.gym_envs, gymnasium_sync),
        ("rl8 GymVectorEnv (sync) CartPole-v1", args.gym_envs, rl8_gym_vector_env),
    ]
    print(
        f"torch {torch.__version__}, gymnasium {gym.__version__}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{args.runs} runs of >= {args.seconds:g} s each; env steps/s, median [min - max]\n")
    header = f"{'env':<38} {'num_envs':>8}  {'median':>14}  {'range':>31}"
    print(header)
    print("-" * len(header))
    for name, num_envs, build in rows:
        step, close = build(num_envs, args.device)
        try:
            rates = [rate(step, num_envs, args.seconds, args.device) for _ in range(args.runs)]
        finally:
            close()
        median = statistics.median(rates)
        print(f"{name:<38} {num_envs:>8}  {median:>14,.0f}  [{min(rates):>13,.0f} - {max(rates):>13,.0f}]", flush=True)


if __name__ == "__main__":
    main()
