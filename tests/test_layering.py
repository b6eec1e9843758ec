"""The layering rules, checked on every import statement.

Between packages: specs <- rl8_core <- catalogs <- rl8_plugins. Inside
rl8_core: the foundation modules <- checkpoints <- components <- plugins <-
envs <- training <- cli/testing. And no import cycle among the modules of the
four packages. Each package's AST is walked (absolute and relative imports,
also inside functions and ``if TYPE_CHECKING:`` blocks), so no import can hide.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("specs", "rl8_core", "catalogs", "rl8_plugins")
# What each package may import of ours (CONTRIBUTING.md, "Layering").
ALLOWED = {
    "specs": set(),
    "rl8_core": {"specs"},
    "catalogs": {"specs", "rl8_core"},
    "rl8_plugins": {"specs", "rl8_core", "catalogs"},
}
# Third-party packages a layer must never import.
FORBIDDEN_THIRD_PARTY = {
    "specs": {"pluggy", "mlflow", "pandas", "cloudpickle"},
}
# The rooms of rl8_core, lowest first: a module may import from its own rank or below.
CORE_RANKS = {
    "rl8_core.errors": 0,
    "rl8_core.columns": 0,
    "rl8_core.imports": 0,
    "rl8_core.files": 0,
    "rl8_core.environ": 0,
    "rl8_core.config": 0,
    "rl8_core.checkpoints": 1,
    "rl8_core.components": 2,
    "rl8_core.plugins": 3,
    "rl8_core.envs": 4,
    "rl8_core.mlflow": 4,
    "rl8_core._mlflow_model": 4,
    "rl8_core.training": 5,
    "rl8_core.cli": 6,
    "rl8_core.testing": 6,
}
# The modules a third party (and so a built-in plugin) may import: each package's public surface.
PUBLIC_MODULES = {
    "specs",
    "specs.errors",
    "specs.testing",
    "rl8_core",
    "rl8_core.errors",
    "rl8_core.testing",
    "catalogs",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """Return the dotted module name of a file under ``root`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """Return ``(line, absolute name)`` for every import in ``path``, the file of ``module``.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a module).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def package_files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / package).rglob("*.py") if "build" not in p.relative_to(root).parts)


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for package in OURS for p in package_files(package, root)}


def edges(modules: dict[str, Path]) -> Iterator[tuple[str, str, int]]:
    """Yield ``(importer, imported module, line)`` for every import between modules of ours.

    ``from pkg import sub`` depends on the module ``pkg.sub`` when there is one,
    not on ``pkg/__init__.py``, which is already being imported as its parent.
    """
    for name, path in modules.items():
        found = imports_of(path, name)
        submodules = {imported for _, imported in found if imported in modules}
        for line, imported in found:
            if imported not in modules or imported == name:
                continue
            prefix = imported + "."
            if any(other.startswith(prefix) and other.count(".") == imported.count(".") + 1 for other in submodules):
                names = [n for ln, n in found if ln == line and n.startswith(prefix)]
                if all(n in modules for n in names):
                    continue
            yield name, imported, line


def core_rank(module: str) -> int | None:
    for prefix, rank in CORE_RANKS.items():
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """Return one import cycle as ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


@pytest.mark.parametrize("package", OURS)
def test_imports_point_down_the_layers_only(package: str) -> None:
    problems = []
    for path in package_files(package):
        for line, name in imports_of(path, module_name(path)):
            top = name.split(".")[0]
            if top in OURS and top != package and top not in ALLOWED[package]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if top in FORBIDDEN_THIRD_PARTY.get(package, set()):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_rooms_inside_rl8_core_point_down_only() -> None:
    """Foundation <- checkpoints <- components <- plugins <- envs <- training <- cli/testing."""
    modules = all_modules()
    assert all(core_rank(m) is not None for m in modules if m.startswith("rl8_core.")), "a module has no rank"
    problems = []
    for importer, imported, line in edges(modules):
        if importer == "rl8_core" or not importer.startswith("rl8_core."):
            continue
        if imported == "rl8_core":
            problems.append(f"{importer}:{line} imports the package rl8_core itself (import the module that owns it)")
            continue
        low, high = core_rank(imported), core_rank(importer)
        if low is not None and high is not None and low > high:
            problems.append(f"{importer}:{line} imports {imported}, a higher room")
    assert not problems, "inner layering violations:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in edges(all_modules()):
        graph.setdefault(importer, set()).add(imported)
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_built_in_plugins_use_only_public_modules() -> None:
    problems = []
    for path in package_files("rl8_plugins"):
        for line, name in imports_of(path, module_name(path)):
            top = name.split(".")[0]
            if top in OURS and top != "rl8_plugins":
                module = name if name in PUBLIC_MODULES else name.rpartition(".")[0]
                if module not in PUBLIC_MODULES:
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not problems, "a built-in may use only what a third-party plugin could:\n" + "\n".join(problems)


def test_the_core_never_imports_the_built_in_plugins_by_name() -> None:
    """No ``importlib`` tricks either: the built-ins are reached through the registry only."""
    pattern = re.compile(r"""(import_module|__import__|import_object)\(\s*[rbf]?["']rl8_plugins""")
    problems = []
    for path in [*package_files("rl8_core"), *package_files("catalogs"), *package_files("specs")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_the_core_names_no_built_in_package() -> None:
    """No ``"catalogs"`` or ``"rl8_plugins"`` literals in rl8_core: it finds them through the registry."""
    problems = []
    for path in package_files("rl8_core"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("catalogs", "rl8_plugins"):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not problems, "\n".join(problems)


def test_the_checkers_see_relative_nested_and_type_checking_imports_and_cycles(tmp_path: Path) -> None:
    for package in ("catalogs", "rl8_core"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "catalogs" / "_a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from catalogs._b import B\n"
        "def f():\n    from rl8_plugins.encoders import mlp\n    from . import _b\n"
    )
    (tmp_path / "catalogs" / "_b.py").write_text("from ._a import f\n")
    (tmp_path / "rl8_core" / "files.py").write_text("def f():\n    from rl8_core.training import trainer\n")
    names = [n for _, n in imports_of(tmp_path / "catalogs" / "_a.py", "catalogs._a")]
    assert {"rl8_plugins.encoders", "catalogs._b", "catalogs._b.B"} <= set(names)
    modules = {module_name(p, tmp_path): p for p in tmp_path.rglob("*.py")}
    modules["rl8_core.training.trainer"] = tmp_path / "rl8_core" / "__init__.py"
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in edges(modules):
        graph.setdefault(importer, set()).add(imported)
    assert find_cycle(graph) == ["catalogs._a", "catalogs._b", "catalogs._a"]
    assert core_rank("rl8_core.training.trainer") == 5 > (core_rank("rl8_core.files") or 0)
    assert ("rl8_core.files", "rl8_core.training.trainer") in {(a, b) for a, b, _ in edges(modules)}
