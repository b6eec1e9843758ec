"""The example plugin package ``examples/plugin_package`` (acme-rl8), really installed with pip.

``acme_install`` (see ``conftest.py``) runs ``pip install --no-deps
--no-build-isolation --target`` over a copy of the package; these tests then
find it exactly as a user's installation would be found.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import io
import sys
from pathlib import Path
from typing import Any

from catalogs import ActorCriticModule, Catalog
from rl8_core import get_registry
from rl8_core.cli import main
from specs import Box, Discrete


def test_the_registry_finds_it_through_importlib_metadata(acme_on_path: Path) -> None:
    (entry_point,) = [ep for ep in metadata.entry_points(group="rl8") if ep.name == "acme"]
    assert entry_point.value == "acme_rl8"
    assert entry_point.dist is not None
    assert (entry_point.dist.name, entry_point.dist.version) == ("acme-rl8", "0.1.0")

    registry = get_registry()
    (plugin,) = [p for p in registry.plugins() if p.name == "acme"]
    assert (plugin.status, plugin.distribution, plugin.source) == ("ok", "acme-rl8", "entry point")
    assert plugin.contributions == {"distribution": ["acme_tempered_categorical"], "encoder": ["acme_flat_tanh"]}
    info = registry.info("encoder", "acme_flat_tanh")
    # Loaded from the pip-installed copy, not from the source tree.
    assert Path(sys.modules[info.obj.__module__].__file__ or "").is_relative_to(acme_on_path)
    # The built-ins are still all there and fine.
    assert all(p.status == "ok" for p in registry.plugins())


def test_a_catalog_uses_its_components_only_when_named(acme_on_path: Path) -> None:
    import acme_rl8

    assert type(Catalog(Box((4,)), Discrete(2)).build_encoder()).__name__ == "MLPEncoder"
    catalog = Catalog(Box((4,)), Discrete(2), {"encoder": "acme_flat_tanh", "encoder_config": {"width": 8}})
    encoder = catalog.build_encoder()
    assert isinstance(encoder, acme_rl8.FlatTanh)
    assert encoder.output_dim == 8
    assert catalog.components()[0]["distribution"] == "acme-rl8"

    module = ActorCriticModule(
        Box((4,)), Discrete(3), {"encoder": "acme_flat_tanh", "action_dist": "acme_tempered_categorical"}
    )
    assert isinstance(module.pi_encoder, acme_rl8.FlatTanh)
    assert module.action_dist_cls is acme_rl8.TemperedCategorical


def test_rl8_plugins_lists_it_as_the_docs_show(acme_on_path: Path, docs: dict[str, Any]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plugins"]) == 0
    printed = out.getvalue().splitlines()
    excerpts = [b for b in docs["writing-a-plugin.md"].blocks if b.directive == "excerpt: rl8 plugins"]
    assert excerpts, "writing-a-plugin.md shows no `rl8 plugins` excerpt"
    for block in excerpts:
        shown = block.code.rstrip("\n").splitlines()
        starts = [i for i, line in enumerate(printed) if line == shown[0]]
        assert any(printed[i : i + len(shown)] == shown for i in starts), (
            f"writing-a-plugin.md:{block.line}: not in `rl8 plugins` output:\n{block.code}\n--- printed\n"
            + "\n".join(printed)
        )


def test_its_own_tests_pass_against_the_installed_package(acme_install: Any, run_package_tests: Any) -> None:
    # From an empty directory, so that only the installed copy of acme_rl8 is importable
    # (its test_the_installed_entry_point_is_found needs the entry point, too).
    proc = run_package_tests(acme_install)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout, proc.stdout
    assert "skipped" not in proc.stdout, proc.stdout
