"""What the RLModule spec checks cost: checks on versus ``specs.checking(False)``.

What it measures:
    Per-call time of ``forward_train``, ``forward_exploration`` and
    ``forward_inference`` of the default ``ActorCriticModule`` on CartPole-like
    specs (``Box((4,))`` observations, ``Discrete(2)`` actions), for the
    default model and for 2 x 256 hidden encoders, at batch sizes 1, 256 and
    4096, with spec checks on and off. ``forward_train`` runs with autograd on
    (as in a learner), the two acting forwards under ``torch.no_grad()`` (as in
    a runner). Separately it times the check path alone: ``specs.check`` on the
    module's precomputed input and output specs, which is the absolute
    overhead a forward pays (independent of the network).

How:
    Calls alternate one by one between checks on and off (which side goes
    first alternates too), so drift and other processes hit both sides alike;
    each call is timed on its own and the table shows the median per side, which
    drops calls that were preempted. Each cell runs for ``--seconds`` (and at
    least ``--min-pairs`` pairs). ``overhead`` is median(on) - median(off), in
    microseconds and in percent of median(off). Differences below about 1 us
    are noise on a shared machine: re-run and compare medians. Threads:
    torch's default unless ``--threads`` is given. With several threads on a
    machine whose cores are busy with other processes, OpenMP waits for
    preempted threads and calls take milliseconds; use ``--threads 1`` there.

Target:
    Checks on at most 5 % slower than off at batch >= 256.

Run:
    .venv/bin/python benchmarks/spec_overhead.py            # full table
    .venv/bin/python benchmarks/spec_overhead.py --quick    # 0.3 s per cell
    .venv/bin/python benchmarks/spec_overhead.py --threads 1  # on a busy machine
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import Columns, RLModule
from specs import Box, Discrete, check, checking

OBS = Box((4,))
ACT = Discrete(2)
MODELS: dict[str, dict[str, Any]] = {
    "default (2x64)": {},
    "2x256": {"encoder_config": {"hiddens": [256, 256]}},
}
BATCHES = (1, 256, 4096)
MODES = ("train", "exploration", "inference")


def measure(fn: Callable[[], object], *, seconds: float, min_pairs: int) -> tuple[float, float, int]:
    """Return median per-call seconds with checks (on, off) and the number of pairs timed.

    Calls alternate on, off, on, off, ... (the first of each pair alternating
    too), so drift and background load hit both sides alike; the median
    discards calls that were preempted.
    """
    for enabled in (True, False, True, False):  # warm up both paths
        with checking(enabled):
            fn()
    on: list[float] = []
    off: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    pair = 0
    while pair < min_pairs or clock() < deadline:
        for enabled in (True, False) if pair % 2 == 0 else (False, True):
            with checking(enabled):
                start = clock()
                fn()
                elapsed = clock() - start
            (on if enabled else off).append(elapsed)
        pair += 1
    return statistics.median(on), statistics.median(off), pair


def _check_cost(fn: Callable[[], object], *, seconds: float) -> float:
    """Return the median per-call seconds of ``fn`` (timed in batches of 100 calls)."""
    for _ in range(10):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(100):
            fn()
        times.append((time.perf_counter() - start) / 100)
    return statistics.median(times)


def _forward(module: RLModule, mode: str, batch: TensorDict) -> Callable[[], object]:
    method = getattr(module, f"forward_{mode}")
    ctx = nullcontext if mode == "train" else torch.no_grad

    def call() -> object:
        with ctx():
            return method(batch)

    return call


def _check_only(module: RLModule, mode: str, batch: TensorDict) -> Callable[[], object]:
    """The check path of one forward, without the network: input and output checks."""
    with torch.no_grad(), checking(False):
        out = module._forward_train(batch) if mode == "train" else getattr(module, f"_forward_{mode}")(batch)
    in_spec, out_spec = module.io_spec(mode, "input"), module.io_spec(mode, "output")
    assert in_spec is not None
    assert out_spec is not None
    in_ctx, out_ctx = f"{type(module).__name__}.forward_{mode} input", f"{type(module).__name__}.forward_{mode} output"

    def call() -> None:
        bindings: dict[str, tuple[int, str]] = {}
        check(in_spec, batch, context=in_ctx, bindings=bindings)
        check(out_spec, out, context=out_ctx, bindings=bindings)

    return call


def _fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per cell (default 2 s)")
    parser.add_argument("--min-pairs", type=int, default=50, help="on/off pairs per cell at least (default 50)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="0.3 s per cell, 20 pairs at least")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.min_pairs = 0.3, 20
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.seconds:g} s per cell; "
        "medians per call in microseconds"
    )
    header = (
        f"{'model':<15} {'batch':>5} {'mode':<11} {'off us':>9} {'on us':>9} "
        f"{'overhead us':>11} {'overhead %':>10} {'pairs':>6}"
    )
    print(header)
    print("-" * len(header))
    worst: dict[bool, float] = {False: -100.0, True: -100.0}
    for model_name, config in MODELS.items():
        torch.manual_seed(0)
        module = ActorCriticModule(OBS, ACT, config)
        for b in BATCHES:
            batch = TensorDict({Columns.OBS: OBS.rand((b,), generator=torch.Generator().manual_seed(b))}, [b])
            for mode in MODES:
                on, off, pairs = measure(_forward(module, mode, batch), seconds=args.seconds, min_pairs=args.min_pairs)
                pct = 100 * (on - off) / off
                worst[b >= 256] = max(worst[b >= 256], pct)
                print(
                    f"{model_name:<15} {b:>5} {mode:<11} {_fmt_us(off)} {_fmt_us(on)} "
                    f"{(on - off) * 1e6:11.1f} {pct:9.1f}% {pairs:>6}",
                    flush=True,
                )

    print()
    print("check path alone (input + output specs.check of one forward, no network), default model:")
    module = ActorCriticModule(OBS, ACT)
    for b in (1, 4096):
        batch = TensorDict({Columns.OBS: OBS.rand((b,))}, [b])
        costs = [_check_cost(_check_only(module, mode, batch), seconds=args.seconds / 2) for mode in MODES]
        print(f"  batch {b:>5}: " + ", ".join(f"{mode} {c * 1e6:.1f} us" for mode, c in zip(MODES, costs, strict=True)))

    print()
    verdict = "met" if worst[True] <= 5.0 else "MISSED"
    print(
        f"worst overhead at batch >= 256: {worst[True]:.1f}% (target <= 5%: {verdict}); at batch 1: {worst[False]:.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
