"""``rl8 plugins`` and ``rl8 plugins --json``: the real console script, in a subprocess.

The test plugin packages (the example ``examples/plugin_package`` and the
broken ones of ``tests/plugin_pkgs``) are pip-installed into a temporary
directory that is put on the subprocess's ``PYTHONPATH`` (see ``conftest.py``),
so the command discovers them through the installed metadata as it would for a
user.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rl8_core import BUILTIN_DISTRIBUTION, Registry

RL8_VERSION = metadata.version(BUILTIN_DISTRIBUTION)
BUILTIN_PLUGINS = sorted(
    ep.name for ep in metadata.entry_points(group="rl8") if ep.dist and ep.dist.name == BUILTIN_DISTRIBUTION
)
RESERVED = (
    "registers encoder 'mlp', reserved for the built-ins of rl8-core; pick another name, prefixed with your "
    "package's short name (e.g. 'acme_mlp' for package acme)"
)
SAME_NAME = (
    "entry-point name 'test_same_name' is used by several distributions: rl8-test-same-entry-point, "
    "rl8-test-third-party-clash; none of them is loaded. Rename the entry point in one of them, or uninstall one"
)
NOISY_OUTPUT = "hello from rl8-test-noisy at import\nhello from the hook of rl8-test-noisy\n"

#: What the listing must say about each test plugin: distribution, version, status, reason, contributions.
EXPECTED: dict[str, dict[str, Any]] = {
    "acme": {
        "distribution": "acme-rl8",
        "version": "0.1.0",
        "status": "ok",
        "reason": None,
        "contributions": {"distribution": ["acme_tempered_categorical"], "encoder": ["acme_flat_tanh"]},
    },
    "test_duplicate_name": {
        "distribution": "rl8-test-duplicate-name",
        "version": "0.2.0",
        "status": "failed",
        "reason": f"plugin 'test_duplicate_name' (rl8-test-duplicate-name) {RESERVED}",
        "contributions": {},
    },
    "test_reserved_name": {
        "distribution": "rl8-a-test-reserved-name",
        "version": "0.1.0",
        "status": "failed",
        "reason": f"plugin 'test_reserved_name' (rl8-a-test-reserved-name) {RESERVED}",
        "contributions": {},
    },
    "test_exit_at_import": {
        "distribution": "rl8-test-system-exit",
        "version": "0.1.0",
        "status": "failed",
        "reason": "import failed: SystemExit: 3",
        "contributions": {},
    },
    "test_exit_in_hook": {
        "distribution": "rl8-test-system-exit",
        "version": "0.1.0",
        "status": "failed",
        "reason": "rl8_encoders raised SystemExit: exit from the hook of rl8-test-system-exit",
        "contributions": {},
    },
    "test_slow_import": {
        "distribution": "rl8-test-slow-import",
        "version": "0.1.0",
        "status": "ok",
        "reason": None,
        "contributions": {},
    },
    "test_wrong_sizes": {
        "distribution": "rl8-test-wrong-sizes",
        "version": "0.1.0",
        "status": "ok",
        "reason": None,
        "contributions": {"distribution": ["few_logits", "many_logits"], "encoder": ["wrong_width"]},
    },
    "test_noisy": {
        "distribution": "rl8-test-noisy",
        "version": "0.1.0",
        "status": "conflict",
        "reason": "encoder 'noisy_sum' is also provided by 'test_third_party_clash' (rl8-test-third-party-clash 0.1.0)",
        "contributions": {"encoder": ["noisy_sum"]},
        "output": NOISY_OUTPUT,
    },
    "test_third_party_clash": {
        "distribution": "rl8-test-third-party-clash",
        "version": "0.1.0",
        "status": "conflict",
        "reason": "encoder 'noisy_sum' is also provided by 'test_noisy' (rl8-test-noisy 0.1.0)",
        "contributions": {"encoder": ["noisy_sum"]},
    },
    "test_same_name (rl8-test-same-entry-point)": {
        "distribution": "rl8-test-same-entry-point",
        "version": "0.1.0",
        "status": "failed",
        "reason": SAME_NAME,
        "contributions": {},
    },
    "test_same_name (rl8-test-third-party-clash)": {
        "distribution": "rl8-test-third-party-clash",
        "version": "0.1.0",
        "status": "failed",
        "reason": SAME_NAME,
        "contributions": {},
    },
    "categorical (rl8-test-third-party-clash)": {
        "distribution": "rl8-test-third-party-clash",
        "version": "0.1.0",
        "status": "failed",
        "reason": "entry-point name 'categorical' is reserved: rl8-core uses it for a built-in plugin. "
        "Rename the entry point in rl8-test-third-party-clash, prefixed with your package's short name",
        "contributions": {},
    },
    "test_import_error": {
        "distribution": "rl8-test-import-error",
        "version": "0.1.0",
        "status": "failed",
        "reason": "import failed: ModuleNotFoundError: No module named 'rl8_test_missing_dependency'",
        "contributions": {},
    },
    "test_hook_raises": {
        "distribution": "rl8-test-hook-raises",
        "version": "0.1.0",
        "status": "failed",
        "reason": "rl8_encoders raised RuntimeError: boom from rl8-test-hook-raises",
        "contributions": {},
    },
    "test_wrong_list": {
        "distribution": "rl8-test-wrong-type",
        "version": "0.1.0",
        "status": "failed",
        "reason": "rl8_encoders must return a mapping of names to components, got list",
        "contributions": {},
    },
    "test_wrong_class": {
        "distribution": "rl8-test-wrong-type",
        "version": "0.1.0",
        "status": "failed",
        "reason": "rl8_encoders: encoder 'wrong_class_encoder' must be an Encoder subclass or a factory, "
        "got class NotAnEncoder",
        "contributions": {},
    },
    "test_wrong_dist": {
        "distribution": "rl8-test-wrong-type",
        "version": "0.1.0",
        "status": "failed",
        "reason": "rl8_distributions: distribution 'wrong_dist' must be a Distribution subclass, got function "
        "rl8_test_wrong_type:_NotADistributionPlugin.rl8_distributions.<locals>.<lambda>",
        "contributions": {},
    },
    "test_misspelled_hook": {
        "distribution": "rl8-test-misspelled-hook",
        "version": "0.1.0",
        "status": "failed",
        "reason": "unknown hook 'rl8_encoder' (did you mean 'rl8_encoders'?); known hooks: "
        "rl8_encoders, rl8_distributions, rl8_algorithms, rl8_envs",
        "contributions": {},
    },
}


@pytest.fixture(scope="module")
def cli_runs(plugin_pkgs_install: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Run ``rl8 plugins`` and ``rl8 plugins --json`` once each (concurrently): ``{args: (rc, out, err)}``."""
    rl8 = Path(sys.executable).with_name("rl8")
    if not rl8.exists():
        pytest.fail(f"the rl8 console script is missing next to {sys.executable}; run `pip install -e .`")
    cwd = tmp_path_factory.mktemp("cli")
    procs = {
        args: subprocess.Popen(
            [str(rl8), "plugins", *args.split()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=plugin_pkgs_install.env(),
            cwd=cwd,
        )
        for args in ("", "--json")
    }
    runs = {}
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        runs[args] = (proc.returncode, out, err)
    return runs


def _json(cli_runs: dict[str, tuple[int, str, str]]) -> dict[str, dict[str, Any]]:
    rc, out, err = cli_runs["--json"]
    assert rc == 1, err  # some plugins failed
    return {entry["name"]: entry for entry in json.loads(out)}  # the plugins' printing is not in it


def _without_import_seconds(entry: dict[str, Any]) -> dict[str, Any]:
    seconds = entry["import_seconds"]
    assert seconds is None or isinstance(seconds, float)
    return {k: v for k, v in entry.items() if k != "import_seconds"}


def test_json_lists_every_plugin_with_status_reason_and_contributions(
    cli_runs: dict[str, tuple[int, str, str]],
) -> None:
    listing = _json(cli_runs)
    assert sorted(listing) == sorted([*EXPECTED, *BUILTIN_PLUGINS])
    for name, expected in EXPECTED.items():
        assert _without_import_seconds(listing[name]) == {
            "name": name,
            "source": "entry point",
            "output": None,
            **expected,
        }
    for name in BUILTIN_PLUGINS:
        entry = listing[name]
        assert (entry["distribution"], entry["version"], entry["source"]) == (
            BUILTIN_DISTRIBUTION,
            RL8_VERSION,
            "entry point",
        )
        assert (entry["status"], entry["reason"], entry["output"]) == ("ok", None, None), entry
    assert listing["mlp"]["contributions"] == {"encoder": ["mlp"]}
    assert listing["categorical"]["contributions"] == {"distribution": ["categorical"]}


def test_json_records_a_slow_import(cli_runs: dict[str, tuple[int, str, str]]) -> None:
    listing = _json(cli_runs)
    assert listing["test_slow_import"]["import_seconds"] >= 1.2
    assert listing["test_exit_at_import"]["import_seconds"] < 1.2
    assert listing["test_same_name (rl8-test-same-entry-point)"]["import_seconds"] is None  # never imported


def test_json_matches_the_registry_in_process(
    cli_runs: dict[str, tuple[int, str, str]], plugin_site: Callable[..., Any]
) -> None:
    plugin_site()  # the same packages, in this process
    _, out, _ = cli_runs["--json"]
    in_process = [_without_import_seconds(p.to_json()) for p in Registry().plugins()]
    assert [_without_import_seconds(entry) for entry in json.loads(out)] == in_process


def test_table_shows_status_reason_and_contributions(cli_runs: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = cli_runs[""]
    assert rc == 1, err
    lines = out.splitlines()
    for name, expected in EXPECTED.items():
        status = expected["status"] + (f": {expected['reason']}" if expected["reason"] else "")
        header = f"{name}  [{expected['distribution']} {expected['version']}]  {status}"
        assert header in lines, f"{header!r} not in:\n{out}"
        at = lines.index(header)
        contributions = [f"    {kind}: {', '.join(names)}" for kind, names in expected["contributions"].items()]
        assert lines[at + 1 : at + 1 + len(contributions)] == contributions
        following = lines[at + 1 + len(contributions) : at + 2 + len(contributions)]
        if name == "test_slow_import":
            assert re.fullmatch(r"    slow import: \d+\.\d\d s", following[0]), following
        elif name == "test_noisy":
            assert following == [
                "    printed while loading (74 characters, not shown on stdout): 'hello from rl8-test-noisy at import'"
            ]
        else:
            assert not following or not following[0].startswith("    "), "unexpected contributions"
    assert f"mlp  [{BUILTIN_DISTRIBUTION} {RL8_VERSION}]  ok" in lines
    assert f"categorical  [{BUILTIN_DISTRIBUTION} {RL8_VERSION}]  ok" in lines
    assert "    distribution: categorical" in lines
    assert [line for line in lines if "hello from" in line and not line.startswith("    printed")] == []


def test_table_and_json_agree_on_order(cli_runs: dict[str, tuple[int, str, str]]) -> None:
    table_names = [line.split("  ")[0] for line in cli_runs[""][1].splitlines() if not line.startswith(" ")]
    json_names = [entry["name"] for entry in json.loads(cli_runs["--json"][1])]
    assert table_names == json_names


# --- Exit statuses: `rl8 plugins` with good plugins only, `rl8 train --strict` ---------------


def _site_env(install: Any, directory: Path, *keys: str) -> dict[str, str]:
    """Return a subprocess environment that sees only the test packages ``keys`` (and rl8-core)."""
    directory.mkdir()
    for key in keys:
        for name in install.packages[key].files:
            src = install.target / name
            if src.is_dir():
                shutil.copytree(src, directory / name)
            else:
                shutil.copy2(src, directory / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    env["PYTHONPATH"] = str(directory)
    return env


@pytest.fixture(scope="module")
def exit_runs(plugin_pkgs_install: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Run, concurrently: ``rl8 plugins --json`` and ``rl8 train --strict`` with working plugins only (acme and
    the printing one), and ``rl8 train --strict`` with every test package."""
    rl8 = str(Path(sys.executable).with_name("rl8"))
    cwd = tmp_path_factory.mktemp("exit")
    good = _site_env(plugin_pkgs_install, cwd / "good", "acme", "noisy")
    commands = {
        "plugins good": ([rl8, "plugins", "--json"], good),
        "strict good": ([rl8, "train", "--strict", "missing.yaml"], good),
        "strict all": ([rl8, "train", "--strict"], plugin_pkgs_install.env()),
    }
    procs = {
        key: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        for key, (argv, env) in commands.items()
    }
    runs = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        runs[key] = (proc.returncode, out, err)
    return runs


def test_plugins_exits_0_when_every_plugin_loaded(exit_runs: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = exit_runs["plugins good"]
    assert rc == 0, err
    listing = {entry["name"]: entry for entry in json.loads(out)}
    assert listing["acme"]["status"] == listing["test_noisy"]["status"] == "ok"
    assert listing["test_noisy"]["output"] == NOISY_OUTPUT


def test_train_strict_runs_when_every_plugin_loaded(exit_runs: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = exit_runs["strict good"]
    assert rc == 2  # the config file is missing: the plugins passed
    assert err.strip().startswith("rl8 train: error:")
    assert "missing.yaml" in err
    assert "--strict" not in err
    assert "hello from" not in out


def test_train_strict_refuses_to_run_when_a_plugin_failed(exit_runs: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = exit_runs["strict all"]
    assert rc == 2
    assert "Traceback" not in err
    assert out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("rl8 train: error:")]
    assert line.startswith("rl8 train: error: --strict: plugins did not load: ")
    for name, expected in EXPECTED.items():
        if expected["status"] != "ok":
            assert f"{name!r} ({expected['status']}: {expected['reason']})" in line
    assert "'acme'" not in line
    assert line.endswith("Fix or uninstall them, or skip them with RL8_DISABLE_PLUGINS=<plugin name>")
