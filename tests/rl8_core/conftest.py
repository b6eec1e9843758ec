"""Fixtures for the plugin-system tests: real plugin packages, installed with pip.

The well-behaved plugin is the example package ``examples/plugin_package``
(acme-rl8, key ``"acme"``), the one ``docs/writing-a-plugin.md`` walks through;
the others are the packages of ``tests/plugin_pkgs``: broken ones, ones that
clash with the built-ins or each other, and working ones that misbehave (one
prints, one imports slowly, one whose components declare the wrong sizes).
``plugin_pkgs_install`` (session) runs one ``pip install --no-deps
--no-build-isolation --target`` over copies of all of them, so discovery goes
through ``importlib.metadata`` exactly as for a user's installed plugin.
``plugin_site`` (function) puts some or all of them on ``sys.path`` for one
test and takes them off again; its ``env()`` gives the environment for a
subprocess that should see the same packages.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rl8_core import reset_registry
from rl8_core.testing import install_packages

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_PKGS_DIR = ROOT / "tests" / "plugin_pkgs"
#: Each test plugin package by key: the example package, then the broken ones of ``tests/plugin_pkgs``.
PACKAGE_SOURCES: dict[str, Path] = {
    "acme": ROOT / "examples" / "plugin_package",
    **{
        key: PLUGIN_PKGS_DIR / key
        for key in (
            "import_error",
            "hook_raises",
            "wrong_type",
            "duplicate_name",
            "misspelled_hook",
            "system_exit",
            "slow_import",
            "noisy",
            "same_entry_point",
            "third_party_clash",
            "reserved_name",
            "wrong_sizes",
        )
    },
}
PACKAGE_KEYS = tuple(PACKAGE_SOURCES)


@dataclass(frozen=True)
class InstalledPackage:
    """One test plugin package as pip installed it."""

    #: Its key in ``PACKAGE_SOURCES``.
    key: str
    distribution: str
    version: str
    #: The top-level module its entry points name.
    module: str
    entry_points: tuple[str, ...]
    #: Top-level names it installed into the target (module file or package directory, dist-info directory).
    files: tuple[str, ...]


@dataclass(frozen=True)
class PluginInstall:
    """The pip ``--target`` directory holding every test plugin package."""

    target: Path
    packages: dict[str, InstalledPackage]

    def env(self) -> dict[str, str]:
        """Return an environment for subprocesses that see every test plugin package."""
        return _subprocess_env(self.target)


@dataclass(frozen=True)
class PluginSite:
    """A directory on ``sys.path`` holding some of the installed test plugin packages."""

    path: Path
    packages: dict[str, InstalledPackage]

    @property
    def pythonpath(self) -> str:
        """The ``PYTHONPATH`` that shows a subprocess the same packages."""
        return str(self.path)

    def env(self) -> dict[str, str]:
        """Return an environment for subprocesses that see the same packages."""
        return _subprocess_env(self.path)


def _project_name(source: Path) -> str:
    """Return ``[project] name`` of the package at ``source`` (no ``tomllib``: Python 3.10 is supported)."""
    match = re.search(r'^name\s*=\s*"([^"]+)"', (source / "pyproject.toml").read_text(), re.MULTILINE)
    if match is None:
        pytest.fail(f"{source / 'pyproject.toml'} has no project name", pytrace=False)
    return match.group(1)


def _subprocess_env(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    env["PYTHONPATH"] = str(path)
    return env


@pytest.fixture(scope="session")
def plugin_pkgs_install(tmp_path_factory: pytest.TempPathFactory) -> PluginInstall:
    """Install every test plugin package (``PACKAGE_SOURCES``) with one pip call into a temporary target.

    pip builds from copies (``install_packages``), so nothing is written into
    the repository. A failing pip fails the tests that need it, loudly.
    """
    target = tmp_path_factory.mktemp("plugin_pkgs_site")
    try:
        install_packages(list(PACKAGE_SOURCES.values()), target)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    packages = {}
    for key, source in PACKAGE_SOURCES.items():
        name = _project_name(source)
        dist_infos = list(target.glob(f"{re.sub(r'[-_.]+', '_', name)}-*.dist-info"))
        if len(dist_infos) != 1:
            pytest.fail(f"pip left {len(dist_infos)} dist-info directories for {name!r} in {target}", pytrace=False)
        dist = metadata.PathDistribution(dist_infos[0])
        entry_points = [ep for ep in dist.entry_points if ep.group == "rl8"]
        modules = {ep.value.split(":")[0].split(".")[0] for ep in entry_points}
        if len(modules) != 1:
            pytest.fail(f"{name}: expected one plugin module, its entry points name {sorted(modules)}", pytrace=False)
        files = sorted(
            {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("__pycache__", "..")} | {dist_infos[0].name}
        )
        packages[key] = InstalledPackage(
            key=key,
            distribution=dist.metadata["Name"],
            version=dist.version,
            module=modules.pop(),
            entry_points=tuple(sorted(ep.name for ep in entry_points)),
            files=tuple(files),
        )
    return PluginInstall(target, packages)


@pytest.fixture
def plugin_site(plugin_pkgs_install: PluginInstall, tmp_path: Path) -> Iterator[Callable[..., PluginSite]]:
    """Return ``activate(*keys)``: put those test packages (default: all) on ``sys.path``.

    Each call copies the installed files of the chosen packages into a fresh
    directory, prepends it to ``sys.path``, invalidates the import caches and
    resets the global registry. Afterwards the directories leave ``sys.path``,
    modules imported from them leave ``sys.modules``, and the registry is
    reset again.
    """
    sites: list[Path] = []

    def activate(*keys: str) -> PluginSite:
        chosen = {key: plugin_pkgs_install.packages[key] for key in keys or PACKAGE_KEYS}
        site = tmp_path / f"site_{len(sites)}"
        site.mkdir()
        for package in chosen.values():
            for name in package.files:
                src = plugin_pkgs_install.target / name
                if src.is_dir():
                    shutil.copytree(src, site / name)
                else:
                    shutil.copy2(src, site / name)
        sys.path.insert(0, str(site))
        sites.append(site)
        importlib.invalidate_caches()
        reset_registry()
        return PluginSite(site, chosen)

    yield activate
    for site in sites:
        while str(site) in sys.path:
            sys.path.remove(str(site))
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(Path(file).is_relative_to(site) for site in sites):
            del sys.modules[name]
    importlib.invalidate_caches()
    reset_registry()


@pytest.fixture(scope="session")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding an installed-looking third-party package, acme-mod 0.3.

    It has a module class (``acme_mod:AcmeModule``) and an entry-point encoder
    (``acme_enc``). Put the directory on ``sys.path`` to "install" it; a fresh
    interpreter without it is a machine where the package is missing.
    """
    site = tmp_path_factory.mktemp("acme_site")
    pkg = site / "acme_mod"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from catalogs import ActorCriticModule
            from rl8_core import hookimpl
            from rl8_plugins.encoders.mlp import MLPEncoder

            class AcmeModule(ActorCriticModule):
                pass

            class AcmeEncoder(MLPEncoder):
                pass

            @hookimpl
            def rl8_encoders():
                return {"acme_enc": AcmeEncoder}
            """
        )
    )
    info = site / "acme_mod-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-mod\nVersion: 0.3\n")
    (info / "top_level.txt").write_text("acme_mod\n")
    (info / "entry_points.txt").write_text("[rl8]\nacme = acme_mod\n")
    return site
