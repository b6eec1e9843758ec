"""Serving latency and throughput: ``mlflow models serve`` on an rl8-core model, beside the module called directly.

What it measures:
    For a CartPole policy (the default actor-critic MLP, 2x64 tanh, over
    ``Box(4)`` -> ``Discrete(2)``) saved with ``rl8_core.mlflow.save_model``,
    at batch sizes 1 and 256 (one request = one batch of observations):
      * ``http``: ``POST /invocations`` (``dataframe_split`` JSON) to a real
        ``mlflow models serve --env-manager local`` subprocess, one client
        sending requests back to back: requests/s, observations/s, p50 and
        p99 latency as the client sees it (JSON encoding and decoding
        included);
      * ``pyfunc``: ``mlflow.pyfunc.load_model(...).predict(frame)`` in this
        process (the column checks and frame building, no HTTP);
      * ``module``: ``forward_inference`` on a prepared TensorDict (the
        network and the spec checks only): the floor.
    Each figure is the median over ``--repeats`` rounds of ``--seconds``
    each, after a warm-up; the ranges are printed beside it.

Run:
    .venv/bin/python benchmarks/serving.py                    # batch 1 and 256, 3 rounds of 5 s
    .venv/bin/python benchmarks/serving.py --batches 1 --seconds 10 --threads 1 --json

The server runs with ``--workers`` uvicorn workers (default 1) and torch's
default thread count; ``--threads`` sets this process's torch threads (the
client and the in-process rows).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(model: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5):
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"no answer on {url}/ping within 180 s:\n{log.read_text()}")


def _timed(call: Callable[[], object], seconds: float) -> list[float]:
    """Call ``call`` back to back for ``seconds`` (after 20 warm-up calls); return each call's latency."""
    for _ in range(20):
        call()
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)
    return latencies


def _figures(latencies: list[float], batch: int) -> dict[str, float]:
    ordered = sorted(latencies)
    rate = len(latencies) / sum(latencies)
    return {
        "requests_per_s": rate,
        "obs_per_s": rate * batch,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round and row")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import mlflow
    import pandas as pd

    from catalogs import ActorCriticModule
    from rl8_core import Columns
    from rl8_core import mlflow as rl8_mlflow
    from specs import Box, Discrete

    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(2)).eval()
    work = Path(tempfile.mkdtemp(prefix="rl8-serving-bench-"))
    rl8_mlflow.save_model(module, work / "model")
    pyfunc = mlflow.pyfunc.load_model(str(work / "model"))
    proc, url = _serve(work / "model", args.workers, work / "server.log")
    rows: list[dict[str, Any]] = []
    try:
        for batch in args.batches:
            obs = torch.randn(batch, 4)
            frame = pd.DataFrame({"obs": obs.tolist()})
            body = json.dumps({"dataframe_split": {"columns": ["obs"], "data": [[r] for r in obs.tolist()]}}).encode()
            td = TensorDict({Columns.OBS: obs}, [batch])

            def http(body: bytes = body) -> None:
                request = urllib.request.Request(
                    f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=60) as answer:
                    json.loads(answer.read())

            def direct(td: TensorDict = td) -> None:
                with torch.inference_mode():
                    module.forward_inference(td)

            calls = {"http": http, "pyfunc": lambda frame=frame: pyfunc.predict(frame), "module": direct}
            for path, call in calls.items():
                rounds = [_figures(_timed(call, args.seconds), batch) for _ in range(args.repeats)]
                row: dict[str, Any] = {"batch": batch, "path": path}
                for key in rounds[0]:
                    values = [r[key] for r in rounds]
                    row[key] = statistics.median(values)
                    row[f"{key}_range"] = [min(values), max(values)]
                rows.append(row)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"mlflow {mlflow.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.workers} server worker(s); medians of {args.repeats} rounds x {args.seconds:g} s"
    )
    print(f"{'batch':>5}  {'path':<7} {'req/s':>9} {'obs/s':>11} {'p50 ms':>8} {'p99 ms':>8}   req/s range")
    for r in rows:
        lo, hi = r["requests_per_s_range"]
        print(
            f"{r['batch']:>5}  {r['path']:<7} {r['requests_per_s']:>9.1f} {r['obs_per_s']:>11.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}   {lo:.1f}-{hi:.1f}"
        )


if __name__ == "__main__":
    main()
