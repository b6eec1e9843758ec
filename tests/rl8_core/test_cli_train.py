"""The ``rl8 train`` and ``rl8 eval`` commands, as real subprocesses and in-process.

A subprocess costs about 6 s of imports on a 2-core machine, so tests of what
the command prints for a config run ``rl8_core.cli.main`` in this process
(``in_process``); the end-to-end train-then-eval test runs the real script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from rl8_core import reset_registry
from rl8_core.cli import main

RL8 = str(Path(sys.executable).parent / "rl8")


def in_process(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    cwd: Path,
    pythonpath: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run ``rl8 <args>`` through ``main`` in this process; return ``(status, stdout, stderr)``.

    Modules imported from ``pythonpath`` are forgotten afterwards, so tests may reuse module names.
    """
    monkeypatch.chdir(cwd)
    for key, value in (extra_env or {}).items():
        monkeypatch.setenv(key, value)
    if pythonpath is not None:
        monkeypatch.syspath_prepend(str(pythonpath))
    reset_registry()
    before = set(sys.modules)
    try:
        status = main(list(args))
    except SystemExit as exc:  # --help
        status = int(exc.code or 0)
    finally:
        for name in set(sys.modules) - before:
            if pythonpath is not None and str(getattr(sys.modules[name], "__file__", "")).startswith(str(pythonpath)):
                del sys.modules[name]
        reset_registry()
    out, err = capsys.readouterr()
    return status, out, err


def run_rl8(
    *args: str, cwd: Path, pythonpath: Path | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([RL8, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_broken_config_fails_with_a_message_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("env: cartpole\nlearner:\n  lr: 1e-3\n  max_grad_nrom: 1.0\n")
    proc = run_rl8("train", "bad.yaml", cwd=tmp_path)  # the real script: exit status and stderr as a shell sees them
    assert proc.returncode == 2
    assert "unknown key 'max_grad_nrom' (did you mean 'max_grad_norm'?)" in proc.stderr
    assert "bad.yaml.learner" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_algorithm_options_and_envs_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad_alg.yaml").write_text("algorithm_config:\n  gae_lambda: lots\n")
    status, _, err = in_process(capsys, monkeypatch, "train", "bad_alg.yaml", cwd=tmp_path)
    assert status == 2
    assert "algorithm_config.gae_lambda: expected float, got 'lots' (str)" in err

    status, _, err = in_process(capsys, monkeypatch, "train", "--set", "env=no_such_env", cwd=tmp_path)
    assert status == 2
    assert "unknown env 'no_such_env'" in err


def test_help_lists_every_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = in_process(capsys, monkeypatch, "train", "--help", cwd=tmp_path)
    assert status == 0
    for option in ("learner.lr", "stop.return_mean", "tracking.uri", "algorithm_config.clip_eps", "check_specs"):
        assert option in out, option


ACME_ALGORITHM = """
from dataclasses import dataclass

from catalogs import ActorCriticCatalog, ActorCriticModule
from rl8_core import Algorithm


@dataclass(frozen=True, kw_only=True)
class ReinforceConfig:
    baseline_decay: float = 0.9
    \"\"\"How slowly the return baseline moves.\"\"\"


class Reinforce(Algorithm):
    config_class = ReinforceConfig

    @classmethod
    def default_module(cls):
        return ActorCriticModule, ActorCriticCatalog

    def postprocess(self, rollout, module):
        return rollout.reshape(-1)

    def loss(self, module, minibatch):
        raise NotImplementedError
"""


def test_help_lists_the_options_of_the_algorithm_and_catalog_the_config_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_alg.py").write_text(ACME_ALGORITHM)
    (tmp_path / "reinforce.yaml").write_text("env: cartpole\nalgorithm: acme_alg:Reinforce\n")
    # Without a config the quickstart applies; its PPO tuning is left out for another algorithm.
    on_quickstart = ("--help", "--set", "algorithm=acme_alg:Reinforce")
    for args in (("reinforce.yaml", "--help"), on_quickstart):
        status, out, err = in_process(capsys, monkeypatch, "train", *args, cwd=tmp_path, pythonpath=tmp_path)
        assert status == 0, err
        assert "algorithm_config options of algorithm 'acme_alg:Reinforce'" in out
        assert "algorithm_config.baseline_decay (float, default 0.9)" in out
        assert "How slowly the return baseline moves." in out
        assert "clip_eps" not in out
        assert "model_config options of catalog catalogs._actor_critic:ActorCriticCatalog" in out
        assert "model_config.shared_encoder" in out
    # A config that cannot be resolved still gets the general options, and says why the rest is missing.
    status, out, err = in_process(capsys, monkeypatch, "train", "--help", "--set", "algorithm=acme_nope", cwd=tmp_path)
    assert status == 0, err
    assert "learner.lr" in out
    assert "not listed: unknown algorithm 'acme_nope'" in out


A2C_ALGORITHM = """
from dataclasses import dataclass

from rl8_core import Algorithm


@dataclass(frozen=True, kw_only=True)
class A2CConfig:
    gamma: float = 0.99
    num_epochs: int = 1
    minibatch_size: int | None = None


class A2C(Algorithm):
    config_class = A2CConfig

    def postprocess(self, rollout, module):
        return rollout.reshape(-1)

    def loss(self, module, minibatch):
        out = module.forward_train(minibatch)
        logp = module.make_action_dist(out["action_dist_inputs"]).logp(minibatch["actions"])
        loss = -(logp * minibatch["rewards"]).mean()
        return loss, {"losses/total": loss.detach()}
"""


def test_an_algorithm_without_a_default_module_trains_the_actor_critic_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_pg.py").write_text(A2C_ALGORITHM)
    tiny = ("--set", "num_envs=4", "--set", "horizon=16", "--set", "stop.env_steps=64", "--set", "progress=none")
    quick = ("--set", "eval.episodes=2", "--set", "eval.num_envs=2", "--set", "tracking.enabled=false")
    algorithm = ("--set", "algorithm=cli_pg:A2C")
    status, out, err = in_process(
        capsys, monkeypatch, "train", *algorithm, *tiny, *quick, "--json", cwd=tmp_path, pythonpath=tmp_path
    )
    assert status == 0, err
    assert json.loads(out[out.index("{") :])["counters/env_steps"] == 64

    # Naming a module trains it on the quickstart, without PPO's tuning and with the algorithm's own passes.
    passes = ("--set", "algorithm_config.num_epochs=3", "--set", "algorithm_config.minibatch_size=32")
    module = ("--set", "module=catalogs:ActorCriticModule")
    status, out, err = in_process(
        capsys,
        monkeypatch,
        "train",
        *algorithm,
        *module,
        *passes,
        *tiny,
        *quick,
        "--json",
        cwd=tmp_path,
        pythonpath=tmp_path,
    )
    assert status == 0, err
    result = json.loads(out[out.index("{") :])
    assert result["counters/env_steps"] == 64
    assert result["learner/epochs"] == 3
    assert result["learner/minibatches"] == 6

    # With the default algorithm disabled there is nothing to fall back on: one line says what to do.
    status, _, err = in_process(
        capsys,
        monkeypatch,
        "train",
        *algorithm,
        cwd=tmp_path,
        pythonpath=tmp_path,
        extra_env={"RL8_DISABLE_PLUGINS": "ppo"},
    )
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rl8 train: error: module: algorithm 'cli_pg:A2C' (A2C) has no default module")
    assert "--set module=package.module:Class" in lines[0]
    assert "default_module()" in lines[0]


def test_a_bad_override_of_the_quickstart_says_it_is_the_quickstart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = in_process(capsys, monkeypatch, "train", "--set", "learner.lrr=1", cwd=tmp_path)
    assert status == 2
    line = err.strip()
    assert line.startswith("rl8 train: error: quickstart.learner: unknown key 'lrr' (did you mean 'lr'?)")
    assert "(quickstart: the config rl8 train runs without a config file, with --set applied)" in line


def test_train_then_eval_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(
        "env: cartpole\nnum_envs: 4\nhorizon: 16\nstop:\n  env_steps: 128\n"
        "algorithm_config:\n  num_epochs: 1\neval:\n  episodes: 2\n  num_envs: 2\n"
        "tracking:\n  experiment: cli\n"
    )
    proc = run_rl8("train", "tiny.yaml", "--set", "progress=plain", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["counters/env_steps"] == 128
    assert "done after 2 iterations" in proc.stdout
    run_dirs = list((tmp_path / "checkpoints").iterdir())
    assert len(run_dirs) == 1
    proc = run_rl8("eval", str(run_dirs[0]), "--episodes", "3", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["eval/episodes"] == 3
    proc = run_rl8("eval", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "neither a training checkpoint" in proc.stderr
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("cli")
    assert exp is not None
    assert client.search_runs([exp.experiment_id])[0].info.status == "FINISHED"
