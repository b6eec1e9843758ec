"""Throughput of full PPO iterations on the torch CartPole, next to two ceilings and rl8 1.0.0.

What it measures, per ``num_envs`` (64, 1024, 8192 by default), in env steps/s:
    * ours: ``Trainer.step()`` (collect ``horizon x num_envs`` steps, GAE,
      4 epochs of whole-buffer PPO updates) with rl8's default settings:
      horizon 32, minibatch = the whole buffer, 4 epochs, separate actor and
      critic MLPs 2x[256, 256] with ReLU, Adam lr 1e-3; fp32, and with
      ``--amp bf16`` autocast as well;
    * compute ceiling: a bare torch loop doing the same forward passes while
      collecting (``horizon`` no-grad forwards of both MLPs on ``[n, 4]``)
      and the same 4 forward/backward/clip/Adam steps on ``[horizon * n, 4]``,
      with no env, no TensorDicts, no spec machinery;
    * env ceiling: our torch CartPole stepped with random actions, no policy;
    * rl8 1.0.0's own PPO iteration on its torch CartPole, in its own venv
      (``benchmarks/peers/rl8_throughput.py``; rl8 has no autocast option).
    Each figure is env steps / seconds over at least ``--seconds`` of whole
    iterations after one warm-up iteration; ``--repeats`` runs give a median
    and range. Ratios compare medians measured in this same run.

``--recurrent``: recurrent PPO instead (64 and 1024 envs by default):
    * ours: the same ``Trainer.step()`` with an LSTM, on our torch CartPole
      with ``env_config.mask_velocity: true`` (observations x, theta), with
      rl8 1.0.0's recurrent defaults where the concepts map:
        - ``horizon`` 32 = rl8 ``horizon`` 32;
        - ``learner.seq_len`` 4 = rl8 ``seq_len`` 4 (BPTT cut every 4 steps);
        - ``num_epochs`` 4 = rl8 ``num_sgd_iters`` 4;
        - ``minibatch_size: null`` (whole buffer) = rl8
          ``sgd_minibatch_size=None`` (all ``num_envs * 32 / 4`` sequences);
        - ``learner.lr`` 1e-3 = rl8's Adam lr 1e-3;
        - ``model_config: {memory: lstm, memory_config: {hidden: 256},
          shared_encoder: true, encoder_config: {hiddens: []}}`` (the LSTM
          reads the raw observation, one LSTM shared by linear policy and
          value heads) = rl8's ``DefaultDiscreteRecurrentModel``
          (``nn.LSTM(obs, 256)``, linear heads 256 -> actions and 256 -> 1);
        - rl8's ``seqs_per_state_reset`` 8 and ``horizons_per_env_reset`` 1
          (LSTM state zeroed and every env reset at the start of every
          collect) have no counterpart: our envs reset one by one when their
          episode ends, and the state is zeroed for those envs only, carried
          across rollouts otherwise;
      fp32, and with ``--amp bf16`` autocast as well;
    * env ceiling: the masked torch CartPole with random actions;
    * rl8 1.0.0's ``RecurrentAlgorithm`` iteration (``collect(); step()``)
      with all its recurrent defaults on its own torch CartPole, in its own
      venv (``benchmarks/peers/rl8_recurrent_throughput.py``).
    There is no bare-torch compute-ceiling row in this mode.

Run:
    .venv/bin/python benchmarks/throughput.py                       # all rows
    .venv/bin/python benchmarks/throughput.py --num-envs 64 --seconds 5 --repeats 1 --no-peers
    .venv/bin/python benchmarks/throughput.py --device cuda          # on a GPU
    .venv/bin/python benchmarks/throughput.py --num-envs 64 --no-peers --no-bf16 --safety-row  # what the guards cost
    .venv/bin/python benchmarks/throughput.py --recurrent           # LSTM at 64/1024 envs vs rl8's RecurrentAlgorithm

Everything runs one measurement at a time; run nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
HORIZON = 32
EPOCHS = 4
HIDDEN = [256, 256]
SEQ_LEN = 4
LSTM_HIDDEN = 256
RECURRENT_MODEL_CONFIG = {
    "memory": "lstm",
    "memory_config": {"hidden": LSTM_HIDDEN},
    "shared_encoder": True,
    "encoder_config": {"hiddens": []},
}
"""rl8 1.0.0's ``DefaultDiscreteRecurrentModel`` in our terms: one LSTM on the raw observation, linear heads."""


def timed(iteration: Callable[[], int], seconds: float) -> float:
    """Return env steps/s of back-to-back ``iteration()`` calls after one warm-up call."""
    iteration()
    steps = 0
    start = time.perf_counter()
    while True:
        steps += iteration()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so that timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(num_envs: int, device: str, amp: str, seconds: float, safety: bool = True, recurrent: bool = False) -> float:
    """Env steps/s of our whole PPO iterations, as ``Trainer.run`` makes them.

    With ``safety`` (the default, as in training) the finite guards are on and
    each iteration starts with the boundary snapshot ``run`` takes so that it can
    save the last completed iteration on any way out; without it both are off,
    to measure what they cost. With ``recurrent`` the module has rl8's default
    LSTM (``RECURRENT_MODEL_CONFIG``), trained on sequences of ``SEQ_LEN``, and
    the CartPole hides its velocities.
    """
    from rl8_core import Trainer

    config: dict[str, Any] = {
        "env": "cartpole",
        "num_envs": num_envs,
        "horizon": HORIZON,
        "algorithm_config": {"num_epochs": EPOCHS, "minibatch_size": None},
        "model_config": {"encoder_config": {"hiddens": HIDDEN, "activation": "relu"}},
        "learner": {"lr": 1e-3, "amp": amp},
        "device": device,
        "tracking": {"enabled": False},
        "progress": "none",
        "check_specs": "never",
        "guards": {"env": safety, "updates": safety, "weights": safety},
    }
    if recurrent:
        config["env_config"] = {"mask_velocity": True}
        config["model_config"] = dict(RECURRENT_MODEL_CONFIG)
        config["learner"]["seq_len"] = SEQ_LEN
    trainer = Trainer(config)

    def iteration() -> int:
        if safety:
            trainer._snapshot()  # what run() does at each iteration boundary
        trainer.step()
        sync(trainer.device)
        return num_envs * HORIZON

    try:
        return timed(iteration, seconds)
    finally:
        trainer.close()


def compute_ceiling(num_envs: int, device: str, amp: str, seconds: float) -> float:
    """Env steps/s of the bare forward/backward passes of the same shapes."""
    dev = torch.device(device)

    def mlp(out: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(4, HIDDEN[0]),
            nn.ReLU(inplace=True),
            nn.Linear(HIDDEN[0], HIDDEN[1]),
            nn.ReLU(inplace=True),
            nn.Linear(HIDDEN[1], out),
        ).to(dev)

    pi, vf = mlp(2), mlp(1)
    params = [*pi.parameters(), *vf.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-5, fused=True)
    obs = torch.randn(num_envs, 4, device=dev)
    batch_obs = torch.randn(HORIZON * num_envs, 4, device=dev)
    actions = torch.randint(0, 2, (HORIZON * num_envs,), device=dev)
    old_logp = torch.full((HORIZON * num_envs,), -0.69, device=dev)
    adv = torch.randn(HORIZON * num_envs, device=dev)
    targets = torch.randn(HORIZON * num_envs, device=dev)
    dtype = torch.bfloat16 if amp == "bf16" else None

    def iteration() -> int:
        with torch.no_grad(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            for _ in range(HORIZON):
                logits = pi(obs).float()
                vf(obs)
                # Sample (Gumbel-max) and keep the log-probability, as any PPO rollout must.
                sample = (logits - torch.rand_like(logits).log().neg().log()).argmax(-1)
                logits.log_softmax(-1).gather(-1, sample[:, None])
        for _ in range(EPOCHS):
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                logp_all = pi(batch_obs).float().log_softmax(-1)
                values = vf(batch_obs).float().squeeze(-1)
            logp = logp_all.gather(-1, actions[:, None]).squeeze(-1)
            ratio = (logp - old_logp).exp()
            policy = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
            entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
            loss = policy + 0.5 * 0.5 * (values - targets).square().mean() - 0.0 * entropy
            loss.backward()
            nn.utils.clip_grad_norm_(params, 0.5, foreach=True)
            opt.step()
            opt.zero_grad(set_to_none=True)
        sync(dev)
        return num_envs * HORIZON

    return timed(iteration, seconds)


def env_ceiling(num_envs: int, device: str, seconds: float, mask_velocity: bool = False) -> float:
    """Env steps/s of the torch CartPole (velocities hidden with ``mask_velocity``) with random actions."""
    from rl8_core import make_env

    env_config = {"mask_velocity": True} if mask_velocity else None
    env = make_env("cartpole", env_config, num_envs=num_envs, seed=0, device=device)
    env.reset()
    dev = torch.device(device)

    def iteration() -> int:
        for _ in range(HORIZON):
            env.step(torch.randint(0, 2, (num_envs,), device=dev))
        sync(dev)
        return num_envs * HORIZON

    return timed(iteration, seconds)


def rl8_peer(
    num_envs: int,
    device: str,
    seconds: float,
    python: str,
    threads: int | None,
    script: str = "benchmarks/peers/rl8_throughput.py",
) -> float:
    """Env steps/s of rl8 1.0.0's PPO iterations (``script``), from its own venv (same torch threads as ours)."""
    cmd = [python, str(ROOT / script), "--num-envs", str(num_envs)]
    cmd += ["--seconds", str(seconds), "--device", device]
    if threads is not None:
        cmd += ["--torch-threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rl8 peer failed:\n{proc.stderr[-2000:]}")
    record: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(record["env_steps_per_s"])


def main() -> None:
    """Measure every row for every ``num_envs`` and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, nargs="+", default=None, help="64 1024 8192 (recurrent: 64 1024)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per figure (>= 10 for reports)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median and range)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-peers", action="store_true", help="skip rl8 1.0.0")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast rows")
    parser.add_argument("--rl8-python", default=str(ROOT / ".bench/rl8/bin/python"))
    parser.add_argument(
        "--safety-row", action="store_true", help="also measure ours with the finite guards and the run() snapshot off"
    )
    parser.add_argument("--recurrent", action="store_true", help="recurrent PPO (LSTM) vs rl8's RecurrentAlgorithm")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.num_envs is None:
        args.num_envs = [64, 1024] if args.recurrent else [64, 1024, 8192]
    if args.recurrent:
        recurrent_main(args)
        return

    rows: dict[str, Callable[[int], float]] = {
        "ours fp32": lambda n: ours(n, args.device, "off", args.seconds),
        "compute ceiling fp32": lambda n: compute_ceiling(n, args.device, "off", args.seconds),
    }
    if args.safety_row:
        rows["ours fp32, guards+snapshot off"] = lambda n: ours(n, args.device, "off", args.seconds, safety=False)
    if not args.no_bf16:
        rows["ours bf16 autocast"] = lambda n: ours(n, args.device, "bf16", args.seconds)
        rows["compute ceiling bf16"] = lambda n: compute_ceiling(n, args.device, "bf16", args.seconds)
    rows["env ceiling (random actions)"] = lambda n: env_ceiling(n, args.device, args.seconds)
    if not args.no_peers:
        rows["rl8 1.0.0 (fp32)"] = lambda n: rl8_peer(n, args.device, args.seconds, args.rl8_python, args.threads)

    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
        f"horizon {HORIZON}, {EPOCHS} epochs, whole-buffer minibatch, MLPs 2x{HIDDEN} ReLU"
    )
    ratios = [("ours fp32", "compute ceiling fp32"), ("ours fp32", "rl8 1.0.0 (fp32)")]
    ratios += [("ours fp32", "ours fp32, guards+snapshot off")]
    ratios += [("ours bf16 autocast", "compute ceiling bf16"), ("ours bf16 autocast", "rl8 1.0.0 (fp32)")]
    measure_rows(args, rows, ratios)


def measure_rows(
    args: argparse.Namespace, rows: dict[str, Callable[[int], float]], ratios: list[tuple[str, str]]
) -> None:
    """Measure every row ``--repeats`` times for every ``num_envs``; print medians, ranges and ``ratios``."""
    for n in args.num_envs:
        results: dict[str, list[float]] = {}
        for label, fn in rows.items():
            results[label] = [fn(n) for _ in range(args.repeats)]
            print(f"  n={n} {label}: {[round(v) for v in results[label]]}", file=sys.stderr, flush=True)
        med = {label: statistics.median(v) for label, v in results.items()}
        width = max([30, *(len(label) for label in results)])
        print(f"\nnum_envs {n}")
        print(f"  {'row':{width}} {'median steps/s':>15} {'range':>25}")
        for label, values in results.items():
            print(f"  {label:{width}} {med[label]:15,.0f} {min(values):12,.0f} - {max(values):10,.0f}")
        for a, b in ratios:
            if a in med and b in med:
                print(f"  {a} / {b}: {med[a] / med[b]:.2f}x")


def recurrent_main(args: argparse.Namespace) -> None:
    """``--recurrent``: our recurrent PPO (fp32, bf16) next to the env ceiling and rl8's RecurrentAlgorithm."""
    rows: dict[str, Callable[[int], float]] = {
        "ours fp32": lambda n: ours(n, args.device, "off", args.seconds, recurrent=True),
    }
    if args.safety_row:
        rows["ours fp32, guards+snapshot off"] = lambda n: ours(
            n, args.device, "off", args.seconds, safety=False, recurrent=True
        )
    if not args.no_bf16:
        rows["ours bf16 autocast"] = lambda n: ours(n, args.device, "bf16", args.seconds, recurrent=True)
    rows["env ceiling (random actions)"] = lambda n: env_ceiling(n, args.device, args.seconds, mask_velocity=True)
    peer = "rl8 1.0.0 recurrent (fp32)"
    if not args.no_peers:
        script = "benchmarks/peers/rl8_recurrent_throughput.py"
        rows[peer] = lambda n: rl8_peer(n, args.device, args.seconds, args.rl8_python, args.threads, script)
    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, recurrent PPO: "
        f"horizon {HORIZON}, seq_len {SEQ_LEN}, {EPOCHS} epochs, whole-buffer minibatch, one LSTM({LSTM_HIDDEN}) "
        "shared by linear heads; ours on cartpole with mask_velocity, rl8 on its own CartPole"
    )
    ratios = [("ours fp32", peer), ("ours bf16 autocast", peer), ("ours fp32", "ours fp32, guards+snapshot off")]
    measure_rows(args, rows, ratios)


if __name__ == "__main__":
    main()
