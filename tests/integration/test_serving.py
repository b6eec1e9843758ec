"""Serving for real: ``mlflow models serve`` on our models, spoken to over HTTP with a plain client.

Two servers start as subprocesses (a feed-forward CartPole module and an
LSTM one); the tests send observations to ``/invocations`` in the
``dataframe_split`` and ``inputs`` formats and check the actions against the
module's own ``forward_inference``, then play whole CartPole episodes through
the REST API, the LSTM one carrying its state in the request and answer
columns.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import Columns, RLModule
from rl8_core import mlflow as rl8_mlflow
from specs import Box, Discrete

pytestmark = pytest.mark.slow

#: Seconds a server may take to answer ``/ping`` (a cold start on a loaded 2-core machine takes about 20).
START_TIMEOUT = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``mlflow models serve`` and the module it serves."""

    module: RLModule
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        """POST ``body`` as JSON to ``/invocations``; return the status and the decoded answer."""
        request = urllib.request.Request(
            f"{self.url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def predictions(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        status, answer = self.post(body)
        assert status == 200, answer
        rows: list[dict[str, Any]] = answer["predictions"]
        return rows


def _start(module: RLModule, path: Path) -> Server:
    rl8_mlflow.save_model(module, path / "model")
    port = _free_port()
    log = path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # MLflow starts ``uvicorn`` by name: the venv's scripts must be on PATH, as in an activated venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(path / "model")]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with log.open("wb") as out:
        # A new session: the server's worker processes go with it when the test stops it.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Server(module, f"http://127.0.0.1:{port}", proc, log)


def _wait(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.log.read_text()
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no answer on {server.url}/ping within {START_TIMEOUT} s:\n{server.log.read_text()}")


def _stop(server: Server) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(30)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Both servers, started together (their cold starts overlap) and stopped at the end of the module."""
    torch.manual_seed(0)
    modules = {
        "mlp": ActorCriticModule(Box((4,)), Discrete(2)),
        "lstm": ActorCriticModule(Box((4,)), Discrete(2), {"memory": "lstm", "memory_config": {"hidden": 16}}),
    }
    started: dict[str, Server] = {}
    try:
        for name, module in modules.items():
            started[name] = _start(module, tmp_path_factory.mktemp(name))
        for server in started.values():
            _wait(server)
        yield started
    finally:
        for server in started.values():
            _stop(server)


def _inference(module: RLModule, obs: torch.Tensor, state: Any = None) -> TensorDict:
    batch = TensorDict({Columns.OBS: obs}, [obs.shape[0]])
    if state is not None:
        batch.set(Columns.STATE_IN, state)
    with torch.no_grad():
        out: TensorDict = module.forward_inference(batch)
    return out


def test_dataframe_split_and_inputs_formats_answer_forward_inference(servers: dict[str, Server]) -> None:
    server = servers["mlp"]
    obs = torch.randn(256, 4)
    expected = _inference(server.module, obs).get(Columns.ACTIONS).tolist()
    split = {"dataframe_split": {"columns": ["obs"], "data": [[row] for row in obs.tolist()]}}
    assert [row["actions"] for row in server.predictions(split)] == expected
    inputs = {"inputs": {"obs": obs.tolist()}}
    assert [row["actions"] for row in server.predictions(inputs)] == expected
    # Params travel with the request: values on demand, sampling instead of the greedy action.
    rows = server.predictions({**split, "params": {"vf_preds": True, "deterministic": False}})
    with torch.no_grad():
        values = server.module.forward_exploration(TensorDict({Columns.OBS: obs}, [256])).get(Columns.VF_PREDS)
    np.testing.assert_allclose([row["vf_preds"] for row in rows], values.numpy(), rtol=1e-5, atol=1e-6)
    assert {row["actions"] for row in rows} <= {0, 1}


def test_bad_input_is_a_400_naming_the_column(servers: dict[str, Server]) -> None:
    status, answer = servers["mlp"].post({"dataframe_split": {"columns": ["obs"], "data": [[[0.0, 1.0, 2.0]]]}})
    assert status == 400
    assert "column 'obs': expected one [4] array per row" in answer["message"]
    status, answer = servers["mlp"].post({"dataframe_split": {"columns": ["position"], "data": [[[0.0] * 4]]}})
    assert status == 400
    assert "missing inputs ['obs']" in answer["message"]


def test_a_cartpole_episode_played_through_the_rest_api(servers: dict[str, Server]) -> None:
    server = servers["mlp"]
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=3)
    steps, done = 0, False
    while not done:
        (row,) = server.predictions({"dataframe_split": {"columns": ["obs"], "data": [[obs.tolist()]]}})
        expected = _inference(server.module, torch.as_tensor(obs).unsqueeze(0)).get(Columns.ACTIONS).item()
        assert row["actions"] == expected
        obs, _, terminated, truncated, _ = env.step(row["actions"])
        steps, done = steps + 1, terminated or truncated
    assert steps >= 8  # CartPole cannot fall sooner


def test_a_stateful_episode_carries_its_state_through_the_rest_api(servers: dict[str, Server]) -> None:
    server = servers["lstm"]
    state_in = [c for c in rl8_mlflow.input_columns(server.module) if c.startswith("state_in.")]
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=4)
    state, row = server.module.initial_state(1), None
    steps, done = 0, False
    while not done:
        columns, data = ["obs"], [obs.tolist()]
        if row is not None:  # from the second step on: the previous answer's state_out as this step's state_in
            columns += state_in
            data += [row[c.replace("state_in.", "state_out.", 1)] for c in state_in]
        (row,) = server.predictions({"dataframe_split": {"columns": columns, "data": [data]}})
        out = _inference(server.module, torch.as_tensor(obs).unsqueeze(0), state)
        assert row["actions"] == out.get(Columns.ACTIONS).item()
        state = out.get(Columns.STATE_OUT)
        for column in state_in:
            path = tuple(column.split(".")[1:])
            np.testing.assert_allclose(np.asarray(row["state_out." + ".".join(path)]), state.get(path)[0], atol=1e-5)
        obs, _, terminated, truncated, _ = env.step(row["actions"])
        steps, done = steps + 1, terminated or truncated
    assert steps >= 8


def test_mlflow_models_predict_runs_the_model_from_a_file(tmp_path: Path) -> None:
    """The other MLflow command that takes a model: ``mlflow models predict`` on a JSON request file."""
    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(2))
    rl8_mlflow.save_model(module, tmp_path / "model")
    obs = torch.randn(6, 4)
    (tmp_path / "in.json").write_text(json.dumps({"inputs": {"obs": obs.tolist()}, "params": {"vf_preds": True}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    cmd = [sys.executable, "-m", "mlflow", "models", "predict", "-m", str(tmp_path / "model"), "-t", "json"]
    cmd += ["-i", str(tmp_path / "in.json"), "-o", str(tmp_path / "out.json"), "--env-manager", "local"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert [row["actions"] for row in rows] == _inference(module, obs).get(Columns.ACTIONS).tolist()
    assert all(isinstance(row["vf_preds"], float) for row in rows)
