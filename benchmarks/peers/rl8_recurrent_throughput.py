"""Recurrent PPO iteration throughput of rl8 1.0.0 on its own torch CartPole (peer benchmark).

What it measures:
    Default (``"mode": "recurrent-ppo"``): env steps per second of whole rl8
    recurrent PPO iterations, i.e. ``RecurrentAlgorithm.collect()`` (for each
    of ``horizon`` steps: one LSTM step of the policy for all envs, carrying
    its state, and one env step; then a bootstrap value) followed by
    ``RecurrentAlgorithm.step()`` (GAE, the buffer cut into sequences of
    ``seq_len`` steps, then ``num_sgd_iters`` passes of PPO losses, backward
    through each sequence from its stored start state, grad clipping and
    Adam). With ``--via-trainer`` (``"mode": "recurrent-ppo-trainer"``) each
    iteration is ``rl8.RecurrentTrainer(algo).step()`` instead, which adds
    rl8's psutil memory stats and MLflow metric logging (to a temporary file
    store).

    rl8 1.0.0's recurrent defaults are used (``RecurrentAlgorithmConfig``,
    read from its installed source), only ``num_envs`` and ``device`` set:

    * ``horizon=32``: env steps per env per ``collect()``; buffer
      ``[num_envs, horizon + 1]``.
    * ``seq_len=4``: truncated-BPTT length; ``step()`` reshapes the buffer to
      ``[num_envs * horizon / seq_len, seq_len]`` (``horizon`` must be a
      multiple of ``seq_len``; no padding or masking).
    * ``seqs_per_state_reset=8``: LSTM states are re-initialized (zeros)
      every 8 sequences, i.e. every ``8 * 4 = 32`` steps, which with the
      defaults is the start of every ``collect()``; negative: never.
    * ``horizons_per_env_reset=1``: all envs are reset together at the start
      of every ``collect()`` (rl8 envs have no terminations).
    * ``sgd_minibatch_size=None``: one minibatch of all
      ``num_envs * horizon / seq_len`` sequences; ``num_sgd_iters=4``,
      ``shuffle_minibatches=True``.
    * Adam lr 1e-3, gamma 0.95, gae_lambda 0.95, clip_param 0.2,
      vf_clip_param 5.0, vf_coeff 1.0, entropy_coeff 0.0, max_grad_norm 5.0,
      advantage and reward normalization on, ``enable_amp=False``.
    * Model: ``DefaultDiscreteRecurrentModel``: one ``nn.LSTM(5, 256)``
      (1 layer, ``hidden_size=256``) shared by a linear policy head
      (256 -> 3 logits) and a linear value head (256 -> 1); state
      ``{hidden_states, cell_states}`` of ``[num_layers, 256]`` per env;
      270,340 parameters on this CartPole.

    The env is rl8's example ``CartPole`` (3 actions, 5-dim observation *with*
    the velocities, no terminations): rl8 has no velocity-masked CartPole, and
    the observation width barely changes the cost of an LSTM of 256 units.

    Caveat: rl8 1.0.0 picks CUDA whenever it is available, whatever
    ``device`` says; the JSON's ``device`` is what rl8 actually used.

How:
    As ``rl8_throughput.py``: building the algorithm (rl8's own
    ``validate()``, one env reset and step, which compiles the env) and one
    full warm-up iteration are excluded; then iterations run back to back
    until at least ``--seconds`` have passed, and the rate is env steps done /
    elapsed time.

Output:
    Everything goes to stderr except one JSON object, the last (and only)
    line of stdout::

        {"library": "rl8", "mode": "recurrent-ppo", "device": "cpu", "num_envs": 64,
         "env_steps_per_s": 2611.3, "iterations": 13, "seconds": 10.1958}

Run with the rl8 peer venv (see ``benchmarks/peers/README.md``)::

    .bench/rl8/bin/python benchmarks/peers/rl8_recurrent_throughput.py --num-envs 64
    .bench/rl8/bin/python benchmarks/peers/rl8_recurrent_throughput.py --num-envs 1024 --via-trainer

The env is rl8's own ``examples/cartpole/env.py``, loaded from the unpacked
sdist under ``.bench/rl8-sdist`` (``--env-path`` points elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# rl8-core is not installed in the peer venvs: the shared helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_parser, print_record
from rl8_throughput import DEFAULT_ENV_PATH, load_env_module, synchronize, time_loop


def measure(env_cls: Any, args: argparse.Namespace) -> tuple[int, float, int, str]:
    """Measure whole rl8 recurrent PPO iterations (collect + step).

    Args:
        env_cls: rl8 ``Env`` subclass to train on.
        args: Parsed command line.

    Returns:
        Iterations, elapsed seconds, env steps per iteration and the device
        rl8 actually used.
    """
    import mlflow
    from rl8 import RecurrentAlgorithmConfig, RecurrentTrainer  # type: ignore[import-untyped]

    t_build = time.perf_counter()
    # All other fields stay at rl8 1.0.0's defaults (see module docstring).
    algo = RecurrentAlgorithmConfig(
        num_envs=args.num_envs,
        horizon=args.horizon,
        seq_len=args.seq_len,
        seqs_per_state_reset=args.seqs_per_state_reset,
        horizons_per_env_reset=args.horizons_per_env_reset,
        device=args.device,
    ).build(env_cls)
    hp = algo.hparams
    model = algo.policy.model
    lstm = getattr(model, "lstm", None)
    print(
        f"rl8 built in {time.perf_counter() - t_build:.2f} s: device={hp.device} "
        f"num_envs={hp.num_envs} horizon={hp.horizon} seq_len={hp.seq_len} "
        f"seqs_per_state_reset={hp.seqs_per_state_reset} horizons_per_env_reset={hp.horizons_per_env_reset} "
        f"minibatch={hp.sgd_minibatch_size} sequences sgd_iters={hp.num_sgd_iters} "
        f"gamma={hp.gamma} gae_lambda={hp.gae_lambda} max_grad_norm={hp.max_grad_norm} "
        f"lr={algo.optimizer.param_groups[0]['lr']} model={type(model).__name__} lstm={lstm} "
        f"params={sum(p.numel() for p in model.parameters())}",
        file=sys.stderr,
    )
    steps_per_iteration = hp.num_envs * hp.horizon

    if args.via_trainer:
        mlflow.set_experiment("rl8-peer-recurrent-throughput")
        trainer = RecurrentTrainer(algo)

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
    parser.add_argument("--seq-len", type=int, default=4, help="truncated-BPTT length (rl8 default 4)")
    parser.add_argument(
        "--seqs-per-state-reset", type=int, default=8, help="sequences between LSTM state resets (rl8 default 8)"
    )
    parser.add_argument(
        "--horizons-per-env-reset", type=int, default=1, help="collects between env resets (rl8 default 1)"
    )
    parser.add_argument(
        "--env-path",
        type=Path,
        default=DEFAULT_ENV_PATH,
        help="rl8's examples/cartpole/env.py (default: the one in the unpacked sdist under .bench/rl8-sdist)",
    )
    parser.add_argument(
        "--via-trainer",
        action="store_true",
        help="iterate with rl8.RecurrentTrainer.step() (adds psutil + MLflow logging)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the measurement.

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
    iterations, elapsed, steps_per_iteration, device = measure(env_cls, args)
    rate = iterations * steps_per_iteration / elapsed
    print(
        f"{iterations} iterations x {steps_per_iteration} env steps in {elapsed:.2f} s = {rate:.0f} env steps/s",
        file=sys.stderr,
    )
    return {
        "library": "rl8",
        "mode": "recurrent-ppo-trainer" if args.via_trainer else "recurrent-ppo",
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
