"""The layering rule, checked on every import statement: specs <- rl8_core <- catalogs <- rl8_plugins.

Walks each package's AST (absolute and relative imports, also inside
functions), so an import hidden in a function or a relative import cannot
slip past, and checks that built-in plugins use only public modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("specs", "rl8_core", "catalogs", "rl8_plugins")
# What each package may import of ours (STYLE.md 1.1).
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


def imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    """Return ``(line, absolute module)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if module_parts[-1] == "__init__":
        module_parts = module_parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level + (1 if path.name == "__init__.py" else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # "from rl8_core import _registry" imports a private module too.
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", OURS)
def test_imports_point_down_the_layers_only(package: str) -> None:
    problems = []
    for path in package_files(package):
        for line, name in imports_of(path, package):
            top = name.split(".")[0]
            if top in OURS and top != package and top not in ALLOWED[package]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if top in FORBIDDEN_THIRD_PARTY.get(package, set()):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_built_in_plugins_use_only_public_modules() -> None:
    problems = []
    for path in package_files("rl8_plugins"):
        for line, name in imports_of(path, "rl8_plugins"):
            parts = name.split(".")
            if parts[0] in OURS and parts[0] != "rl8_plugins" and any(p.startswith("_") for p in parts[1:]):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports private {name}")
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


def test_the_checker_sees_relative_and_nested_imports(tmp_path: Path) -> None:
    pkg = ROOT / "catalogs"
    probe = pkg / "_layering_probe.py"
    probe.write_text("def f():\n    from rl8_plugins.encoders import mlp\n    from . import _catalog\n")
    try:
        names = [n for _, n in imports_of(probe, "catalogs")]
    finally:
        probe.unlink()
    assert "rl8_plugins.encoders" in names
    assert "catalogs._catalog" in names
