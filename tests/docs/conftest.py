"""Fixtures for the docs tests: the pages of ``docs/`` parsed into blocks, and the example plugin installed.

Conventions a docs page may use (each an HTML comment, invisible when rendered):

* ``<!-- skip -->`` on the line before a fenced block: the block is not run.
  Use it sparingly, for code that cannot run in a test (it still has to be right).
* ``<!-- output -->`` before a fenced block: its text must equal what the
  preceding ``python`` block printed (trailing spaces ignored).
* ``<!-- excerpt: rl8 plugins -->`` before a fenced block: its lines must appear,
  in order and together, in what ``rl8 plugins`` prints with the example plugin
  package installed (checked by ``test_plugin_package.py``).
* ``<!-- requires: acme-rl8 -->`` anywhere in a page: the page's examples run
  with ``examples/plugin_package`` really installed (pip) and on ``sys.path``.
* A block whose first line is ``# file: PACKAGE/PATH`` shows the file ``PATH``
  of the example package ``examples/PACKAGE`` (``plugin_package/pyproject.toml``,
  ``a2c_package/acme_a2c/__init__.py``): it must equal that file (without the
  first line) and is not run, because that package is installed and tested as a whole.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rl8_core import reset_registry
from rl8_core.testing import install_packages

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
#: acme-rl8: an encoder and a distribution.
EXAMPLE_PACKAGE = EXAMPLES / "plugin_package"
#: acme-a2c: an algorithm.
A2C_PACKAGE = EXAMPLES / "a2c_package"

_FENCE = re.compile(r"^```([\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(skip|output|excerpt:[^>]*?|requires:[^>]*?)\s*-->\s*$")
_FILE = re.compile(r"^#\s*file:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a docs page."""

    #: The fence's language (``python``, ``bash``, ``text``, ``yaml``, ...).
    lang: str
    #: The block's text, ending in a newline.
    code: str
    #: Line number of the opening fence (1-based).
    line: int
    #: ``skip``, ``output``, ``excerpt: ...`` or ``None``: the directive on the line before.
    directive: str | None
    #: For ``# file: PATH`` blocks, ``PATH``.
    file: str | None

    @property
    def body(self) -> str:
        """The code without a leading ``# file:`` line."""
        if self.file is None:
            return self.code
        return self.code.split("\n", 1)[1]


@dataclass(frozen=True)
class Page:
    """A docs page and its blocks."""

    path: Path
    text: str
    blocks: list[Block] = field(default_factory=list)
    requires: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The file name, e.g. ``catalogs.md``."""
        return self.path.name


def parse_page(path: Path) -> Page:
    """Split a markdown page into fenced blocks, with the directive before each."""
    text = path.read_text()
    lines = text.splitlines()
    blocks: list[Block] = []
    requires: set[str] = set()
    directive: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DIRECTIVE.match(line.strip())
        if match:
            value = match.group(1).strip()
            if value.startswith("requires:"):
                requires.add(value.split(":", 1)[1].strip())
            else:
                directive = value
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"{path.name}:{start + 1}: unclosed code fence")
            code = "\n".join(body) + "\n"
            file_match = _FILE.match(body[0]) if body else None
            blocks.append(Block(fence.group(1), code, start + 1, directive, file_match and file_match.group(1)))
            directive = None
        elif line.strip():
            directive = None
        i += 1
    return Page(path, text, blocks, frozenset(requires))


def docs_pages() -> list[Path]:
    """Return every markdown page of ``docs/``, sorted."""
    return sorted(DOCS.glob("*.md"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize a test taking ``docs_page`` over every page of ``docs/``."""
    if "docs_page" in metafunc.fixturenames:
        pages = [parse_page(path) for path in docs_pages()]
        metafunc.parametrize("docs_page", pages, ids=[page.name for page in pages])


@pytest.fixture(scope="session")
def docs() -> dict[str, Page]:
    """Return every page of ``docs/`` by file name (``"catalogs.md"``)."""
    return {path.name: parse_page(path) for path in docs_pages()}


@pytest.fixture(scope="session")
def docs_mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return one temporary MLflow store for all pages: creating a sqlite store takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('docs_mlflow') / 'mlflow.db'}"


@dataclass(frozen=True)
class AcmeInstall:
    """An example package (``examples/plugin_package``, ``examples/a2c_package``) installed by pip."""

    #: The copy pip built from (its tests are run from here).
    source: Path
    #: The ``--target`` directory: put it on ``sys.path`` or ``PYTHONPATH``.
    target: Path


def _install_example(tmp_path_factory: pytest.TempPathFactory, package: Path) -> AcmeInstall:
    """Install the example ``package`` with pip into a temporary target, from a copy of it.

    The copy is what ``source`` names, so that running the package's own tests
    writes nothing into the repository either.
    """
    source = tmp_path_factory.mktemp(f"{package.name}_src") / package.name
    shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp(f"{package.name}_site")
    try:
        install_packages([source], target)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    return AcmeInstall(source, target)


@pytest.fixture(scope="session")
def acme_install(tmp_path_factory: pytest.TempPathFactory) -> AcmeInstall:
    """Install ``examples/plugin_package`` (acme-rl8) with pip into a temporary target."""
    return _install_example(tmp_path_factory, EXAMPLE_PACKAGE)


@pytest.fixture(scope="session")
def a2c_install(tmp_path_factory: pytest.TempPathFactory) -> AcmeInstall:
    """Install ``examples/a2c_package`` (acme-a2c) with pip into a temporary target."""
    return _install_example(tmp_path_factory, A2C_PACKAGE)


def _on_path(target: Path) -> Iterator[Path]:
    """Put ``target`` on ``sys.path`` with a fresh registry; afterwards remove it and the modules loaded from it."""
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    reset_registry()
    try:
        yield target
    finally:
        while str(target) in sys.path:
            sys.path.remove(str(target))
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and Path(file).is_relative_to(target):
                del sys.modules[name]
        importlib.invalidate_caches()
        reset_registry()


@pytest.fixture
def acme_on_path(acme_install: AcmeInstall) -> Iterator[Path]:
    """Put the installed acme-rl8 on ``sys.path`` for one test, as if pip had installed it into the venv.

    Yields the target directory; afterwards it leaves ``sys.path``, its modules
    leave ``sys.modules``, and the global registry is reset.
    """
    yield from _on_path(acme_install.target)


@pytest.fixture
def a2c_on_path(a2c_install: AcmeInstall) -> Iterator[Path]:
    """Put the installed acme-a2c on ``sys.path`` for one test, as ``acme_on_path`` does for acme-rl8."""
    yield from _on_path(a2c_install.target)


@pytest.fixture
def run_package_tests(tmp_path: Path) -> Callable[[AcmeInstall], subprocess.CompletedProcess[str]]:
    """Return a function that runs an installed example package's own tests with pytest, in a subprocess.

    It runs from an empty directory with only the installed copy on
    ``PYTHONPATH`` (so its entry point is found, and the source tree is not
    imported), without the caller's ``RL8_*`` variables.
    """

    def run(install: AcmeInstall) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
        env["PYTHONPATH"] = str(install.target)
        package = install.source
        return subprocess.run(
            [
                sys.executable,
                *("-m", "pytest", "-q", "-p", "no:cacheprovider"),
                *("--rootdir", str(package), "-c", str(package / "pyproject.toml")),
                str(package / "tests"),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run
