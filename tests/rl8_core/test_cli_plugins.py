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
DUP = "'test_duplicate_name' (rl8-test-duplicate-name 0.2.0)"

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
        "status": "conflict",
        "reason": f"encoder 'mlp' is also provided by 'mlp' ({BUILTIN_DISTRIBUTION} {RL8_VERSION})",
        "contributions": {"encoder": ["duplicate_unique", "mlp"]},
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
    assert rc == 0, err
    return {entry["name"]: entry for entry in json.loads(out)}


def test_json_lists_every_plugin_with_status_reason_and_contributions(
    cli_runs: dict[str, tuple[int, str, str]],
) -> None:
    listing = _json(cli_runs)
    assert sorted(listing) == sorted([*EXPECTED, *BUILTIN_PLUGINS])
    for name, expected in EXPECTED.items():
        assert listing[name] == {"name": name, "source": "entry point", **expected}
    for name in BUILTIN_PLUGINS:
        entry = listing[name]
        assert (entry["distribution"], entry["version"], entry["source"]) == (
            BUILTIN_DISTRIBUTION,
            RL8_VERSION,
            "entry point",
        )
        assert entry["status"] == ("conflict" if name == "mlp" else "ok"), entry
    assert listing["mlp"]["reason"] == f"encoder 'mlp' is also provided by {DUP}"
    assert listing["mlp"]["contributions"] == {"encoder": ["mlp"]}
    assert listing["categorical"]["contributions"] == {"distribution": ["categorical"]}


def test_json_matches_the_registry_in_process(
    cli_runs: dict[str, tuple[int, str, str]], plugin_site: Callable[..., Any]
) -> None:
    plugin_site()  # the same packages, in this process
    _, out, _ = cli_runs["--json"]
    assert json.loads(out) == [p.to_json() for p in Registry().plugins()]


def test_table_shows_status_reason_and_contributions(cli_runs: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = cli_runs[""]
    assert rc == 0, err
    lines = out.splitlines()
    for name, expected in EXPECTED.items():
        status = expected["status"] + (f": {expected['reason']}" if expected["reason"] else "")
        header = f"{name}  [{expected['distribution']} {expected['version']}]  {status}"
        assert header in lines, f"{header!r} not in:\n{out}"
        at = lines.index(header)
        contributions = [f"    {kind}: {', '.join(names)}" for kind, names in expected["contributions"].items()]
        assert lines[at + 1 : at + 1 + len(contributions)] == contributions
        following = lines[at + 1 + len(contributions) : at + 2 + len(contributions)]
        assert not following or not following[0].startswith("    "), "unexpected contributions"
    assert f"mlp  [{BUILTIN_DISTRIBUTION} {RL8_VERSION}]  conflict: encoder 'mlp' is also provided by {DUP}" in lines
    assert f"categorical  [{BUILTIN_DISTRIBUTION} {RL8_VERSION}]  ok" in lines
    assert "    distribution: categorical" in lines


def test_table_and_json_agree_on_order(cli_runs: dict[str, tuple[int, str, str]]) -> None:
    table_names = [line.split("  ")[0] for line in cli_runs[""][1].splitlines() if not line.startswith(" ")]
    json_names = [entry["name"] for entry in json.loads(cli_runs["--json"][1])]
    assert table_names == json_names
