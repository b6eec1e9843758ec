"""The installed rl8-core, as a user's Python sees it: imports and provenance.

Run against the venv's real install (editable, as ``make install`` does, or
not): a folder named like one of our packages in the working directory must
not shadow it, and every top-level package maps to the rl8-core distribution.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from rl8_core.imports import BUILTIN_DISTRIBUTION, distribution_of_module

PACKAGES = ("specs", "rl8_core", "catalogs", "rl8_plugins")


def installed_root() -> Path:
    """Where the installed rl8-core's packages must lie: the editable project, or the site directory."""
    dist = metadata.distribution(BUILTIN_DISTRIBUTION)
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):
        return Path(url2pathname(urlparse(direct_url["url"]).path)).resolve()
    return Path(str(dist.locate_file(""))).resolve()


def test_folders_named_like_our_packages_in_the_working_directory_do_not_shadow_them(tmp_path: Path) -> None:
    for name in PACKAGES:
        (tmp_path / name).mkdir()  # a namespace portion each, first on sys.path ('' = the working directory)
    code = (
        "import json, sys; from specs import Spec; from catalogs import Catalog; "
        "import specs, rl8_core, catalogs, rl8_plugins; "
        f"print(json.dumps([sys.path[0], *(sys.modules[m].__file__ for m in {PACKAGES!r})]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    first_path, *files = json.loads(proc.stdout.splitlines()[-1])
    assert first_path == ""  # the working directory really came first
    root = installed_root()
    for name, file in zip(PACKAGES, files, strict=True):
        assert file is not None, f"{name} was imported as a namespace package"
        assert Path(file).resolve() == root / name / "__init__.py"


@pytest.mark.parametrize("module", [*PACKAGES, "rl8_plugins.encoders.mlp"])
def test_our_packages_map_to_the_rl8_core_distribution(module: str) -> None:
    assert distribution_of_module(module) == (BUILTIN_DISTRIBUTION, metadata.version(BUILTIN_DISTRIBUTION))


def test_any_editable_install_maps_to_its_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What pip leaves for a third party's editable src-layout project: a .dist-info
    # without the package's files whose direct_url.json names the project, and
    # the project's src/ on sys.path (through a .pth file; here by hand).
    project, site = tmp_path / "acme", tmp_path / "site"
    (project / "src" / "acme_rl8_editable" / "sub").mkdir(parents=True)
    (project / "src" / "acme_rl8_editable" / "__init__.py").write_text("")
    (project / "src" / "acme_rl8_editable" / "sub" / "__init__.py").write_text("")
    dist_info = site / "acme_rl8_editable-2.5.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rl8-editable\nVersion: 2.5\n")
    (dist_info / "direct_url.json").write_text(json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}}))
    (dist_info / "RECORD").write_text("acme_rl8_editable-2.5.dist-info/METADATA,,\n")
    # A namespace portion elsewhere that is nobody's package.
    (tmp_path / "elsewhere" / "acme_rl8_stray").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path / "elsewhere"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(project / "src"))

    assert distribution_of_module("acme_rl8_editable.sub") == ("acme-rl8-editable", "2.5")
    assert distribution_of_module("acme_rl8_stray") == (None, None)
    assert distribution_of_module("specs") == (BUILTIN_DISTRIBUTION, metadata.version(BUILTIN_DISTRIBUTION))
