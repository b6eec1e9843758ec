"""The example algorithm package ``examples/a2c_package`` (acme-a2c), really installed with pip.

``a2c_install`` (see ``conftest.py``) installs a copy of the package with pip
into a temporary target, as ``acme_install`` does for acme-rl8; these tests find
it through its entry point, run its own tests and train with it by name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from catalogs import ActorCriticModule
from rl8_core import TrainConfig, get_registry, resolve_parts
from rl8_core.cli import main

RL8 = str(Path(sys.executable).parent / "rl8")


def test_rl8_plugins_lists_it_as_the_docs_show(a2c_on_path: Path, docs: dict[str, Any]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plugins"]) == 0
    printed = out.getvalue()
    # The listing writing-a-plugin.md shows for acme-a2c.
    (shown,) = [b for b in docs["writing-a-plugin.md"].blocks if b.lang == "text" and b.code.startswith("acme_a2c  [")]
    assert shown.code in printed, f"writing-a-plugin.md:{shown.line}: not in `rl8 plugins` output:\n{printed}"
    info = get_registry().info("algorithm", "acme_a2c")
    assert (info.plugin, info.distribution, info.version) == ("acme_a2c", "acme-a2c", "0.1.0")
    assert Path(sys.modules[info.obj.__module__].__file__ or "").is_relative_to(a2c_on_path)
    # It names no default module: a config without one trains the default actor-critic module.
    parts = resolve_parts(TrainConfig.from_mapping({"algorithm": "acme_a2c"}), get_registry())
    assert parts.module_class is ActorCriticModule
    assert all(p.status == "ok" for p in get_registry().plugins())


def test_its_own_tests_pass_against_the_installed_package(a2c_install: Any, run_package_tests: Any) -> None:
    proc = run_package_tests(a2c_install)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout, proc.stdout
    assert "skipped" not in proc.stdout, proc.stdout


def test_rl8_train_runs_it_by_name(a2c_install: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    env["PYTHONPATH"] = str(a2c_install.target)
    args = ["train", "--set", "algorithm=acme_a2c", "--set", "env=cartpole", "--set", "num_envs=4"]
    args += [
        "--set",
        "horizon=16",
        "--set",
        "stop.env_steps=192",
        "--set",
        "eval.episodes=2",
        "--set",
        "eval.num_envs=2",
    ]
    args += ["--set", "progress=none", "--set", "tracking.enabled=false", "--set", "checkpoint.at_end=false", "--json"]
    proc = subprocess.run([RL8, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert (result["counters/iterations"], result["counters/env_steps"]) == (3, 192)
    assert {"losses/policy", "losses/value", "losses/entropy", "losses/total"} <= set(result)
    assert result["eval/episodes"] == 2
