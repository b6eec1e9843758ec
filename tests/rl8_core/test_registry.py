"""The registry over real installed plugin packages, and in-process registration.

The well-behaved plugin is the documented example ``examples/plugin_package``
(acme-rl8); the broken ones are in ``tests/plugin_pkgs``. Discovery goes through
``importlib.metadata`` exactly as for a user: the packages are pip-installed
into a temporary directory (see ``conftest.py``).
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import logging
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pluggy
import pytest
import torch
from tensordict import TensorDict
from torch import nn

from catalogs import ActorCriticModule
from rl8_core import (
    BUILTIN_DISTRIBUTION,
    HOOKS,
    Encoder,
    PluginError,
    PluginInfo,
    Registry,
    Trainer,
    UnknownComponentError,
    get_registry,
    hookimpl,
)
from rl8_core.plugins.hookspecs import HOOK_NAMESPACE, Hookspecs
from rl8_core.plugins.registry import _plugin_hooks
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.encoders.mlp import MLPEncoder
from specs import Box, Discrete, Spec

RL8_VERSION = metadata.version(BUILTIN_DISTRIBUTION)
#: Entry-point names of the built-ins, from the installed metadata (the set grows with the project).
BUILTIN_PLUGINS = sorted(
    ep.name for ep in metadata.entry_points(group="rl8") if ep.dist and ep.dist.name == BUILTIN_DISTRIBUTION
)

#: Each bad plugin: its package, and what its recorded reason must say.
BAD_PLUGINS: dict[str, tuple[str, str]] = {
    "test_exit_at_import": ("system_exit", "import failed: SystemExit: 3"),
    "test_exit_in_hook": ("system_exit", "rl8_encoders raised SystemExit: exit from the hook of rl8-test-system-exit"),
    "test_duplicate_name": (
        "duplicate_name",
        "plugin 'test_duplicate_name' (rl8-test-duplicate-name) registers encoder 'mlp', reserved for the built-ins "
        f"of {BUILTIN_DISTRIBUTION}; pick another name, prefixed with your package's short name",
    ),
    "test_reserved_name": (
        "reserved_name",
        "plugin 'test_reserved_name' (rl8-a-test-reserved-name) registers encoder 'mlp', reserved for the built-ins "
        f"of {BUILTIN_DISTRIBUTION}; pick another name, prefixed with your package's short name",
    ),
    "test_import_error": (
        "import_error",
        "import failed: ModuleNotFoundError: No module named 'rl8_test_missing_dependency'",
    ),
    "test_hook_raises": ("hook_raises", "rl8_encoders raised RuntimeError: boom from rl8-test-hook-raises"),
    "test_wrong_list": ("wrong_type", "rl8_encoders must return a mapping of names to components, got list"),
    "test_wrong_class": (
        "wrong_type",
        "rl8_encoders: encoder 'wrong_class_encoder' must be an Encoder subclass or a factory, got class NotAnEncoder",
    ),
    "test_wrong_dist": (
        "wrong_type",
        "rl8_distributions: distribution 'wrong_dist' must be a Distribution subclass, got function "
        "rl8_test_wrong_type:_NotADistributionPlugin.rl8_distributions.<locals>.<lambda>",
    ),
    "test_misspelled_hook": (
        "misspelled_hook",
        "unknown hook 'rl8_encoder' (did you mean 'rl8_encoders'?); known hooks: "
        "rl8_encoders, rl8_distributions, rl8_algorithms, rl8_envs",
    ),
}
#: Names the bad plugins would have contributed; none may reach the registry.
BAD_NAMES = {
    "wrong_list_encoder",
    "wrong_class_encoder",
    "wrong_dist",
    "misspelled_never",
    "duplicate_unique",
    "reserved_own",
}


def _plugins_by_name(registry: Registry) -> dict[str, PluginInfo]:
    return {p.name: p for p in registry.plugins()}


def _assert_acme_works(registry: Registry) -> None:
    acme = sys.modules["acme_rl8"]
    assert registry.get("encoder", "acme_flat_tanh") is acme.FlatTanh
    assert registry.get("distribution", "acme_tempered_categorical") is acme.TemperedCategorical
    assert registry.get("distribution", "categorical") is Categorical
    plugin = _plugins_by_name(registry)["acme"]
    assert (plugin.status, plugin.reason) == ("ok", None)


class TinyEncoder(Encoder):
    """A registrable encoder for in-process tests."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.output_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return obs.flatten(1)[:, :1].float()


class OtherTinyEncoder(TinyEncoder):
    """Another object for the same name."""


def _plugin(hook: str, result: Callable[[], Any], **opts: Any) -> object:
    """Build a plugin object whose ``hook`` is a ``@hookimpl(**opts)`` function returning ``result()``."""

    def impl(self: object) -> Any:
        return result()

    impl.__name__ = hook
    return type("Plugin", (), {hook: hookimpl(**opts)(impl)})()


# --- Entry-point plugins: failures are recorded per plugin --------------------------------


@pytest.mark.parametrize("plugin_name", sorted(BAD_PLUGINS))
def test_bad_plugin_is_recorded_failed_and_the_good_one_still_works(
    plugin_site: Callable[..., Any], plugin_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    key, reason = BAD_PLUGINS[plugin_name]
    site = plugin_site("acme", key)
    caplog.set_level(logging.WARNING, logger="rl8_core.plugins.registry")

    registry = Registry()

    info = _plugins_by_name(registry)[plugin_name]
    package = site.packages[key]
    assert info.status == "failed"
    assert info.reason is not None
    assert info.reason.startswith(reason)
    assert (info.distribution, info.version, info.source) == (package.distribution, package.version, "entry point")
    assert info.contributions == {}
    for kind in HOOKS:
        assert not BAD_NAMES & set(registry.names(kind))
    _assert_acme_works(registry)
    assert registry.get("encoder", "mlp") is MLPEncoder  # the built-ins too
    assert f"rl8 plugin {plugin_name!r} ({package.distribution} {package.version}) failed: {reason}" in caplog.text


def test_every_bad_plugin_at_once_leaves_the_rest_working(plugin_site: Callable[..., Any]) -> None:
    plugin_site()  # every package

    registry = Registry()

    statuses = {p.name: p.status for p in registry.plugins()}
    expected = {name: "failed" for name in BAD_PLUGINS}
    expected |= {name: "ok" for name in BUILTIN_PLUGINS}
    expected |= {"acme": "ok", "test_slow_import": "ok", "test_wrong_sizes": "ok"}
    expected |= {"test_noisy": "conflict", "test_third_party_clash": "conflict"}
    expected |= {
        "test_same_name (rl8-test-same-entry-point)": "failed",
        "test_same_name (rl8-test-third-party-clash)": "failed",
        "categorical (rl8-test-third-party-clash)": "failed",
    }
    assert statuses == expected
    _assert_acme_works(registry)
    assert registry.get("encoder", "mlp") is MLPEncoder
    ActorCriticModule(Box((4,)), Discrete(2))  # the defaults build


def test_plugins_are_listed_sorted_by_distribution_then_name(plugin_site: Callable[..., Any]) -> None:
    site = plugin_site()
    listing = [(p.distribution, p.name) for p in Registry().plugins()]
    assert listing == sorted(listing)
    assert {d for d, _ in listing} == {BUILTIN_DISTRIBUTION} | {p.distribution for p in site.packages.values()}
    assert {"acme", "duplicate_name", "system_exit", "third_party_clash"} <= set(site.packages)


def test_loading_entry_points_twice_changes_nothing(plugin_site: Callable[..., Any]) -> None:
    plugin_site()
    registry = Registry()
    before = [p.to_json() for p in registry.plugins()]
    registry.load_entry_points()
    assert [p.to_json() for p in registry.plugins()] == before


# --- Conflicts --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["duplicate_name", "reserved_name"])
def test_a_built_in_name_is_reserved_whatever_the_order_of_loading(plugin_site: Callable[..., Any], key: str) -> None:
    # rl8-a-test-reserved-name sorts (and loads) before rl8-core, rl8-test-duplicate-name after it.
    site = plugin_site("acme", key)
    package = site.packages[key]
    (plugin_name,) = package.entry_points

    registry = Registry()

    plugins = _plugins_by_name(registry)
    info = plugins[plugin_name]
    assert info.status == "failed"
    assert info.reason == (
        f"plugin {plugin_name!r} ({package.distribution}) registers encoder 'mlp', reserved for the built-ins of "
        f"{BUILTIN_DISTRIBUTION}; pick another name, prefixed with your package's short name "
        "(e.g. 'acme_mlp' for package acme)"
    )
    assert info.contributions == {}
    assert not {"duplicate_unique", "reserved_own"} & set(registry.names("encoder"))  # none of its names
    assert (plugins["mlp"].status, plugins["mlp"].reason) == ("ok", None)
    assert registry.get("encoder", "mlp") is MLPEncoder
    assert all(p.status != "conflict" for p in registry.plugins())
    _assert_acme_works(registry)


def test_the_default_config_builds_with_a_reserved_name_plugin_installed(plugin_site: Callable[..., Any]) -> None:
    plugin_site("duplicate_name", "reserved_name")
    module = ActorCriticModule(Box((4,)), Discrete(2))  # the rule table picks 'mlp' for a vector Box
    assert type(module.pi_encoder) is MLPEncoder
    with Trainer({"env": "cartpole", "tracking": {"enabled": False}}) as trainer:
        encoders = [c for c in trainer.components() if c["kind"] == "encoder"]
    assert [(c["name"], c["distribution"]) for c in encoders] == [("mlp", BUILTIN_DISTRIBUTION)]


def test_an_in_process_plugin_loaded_before_the_built_ins_fails_when_they_load() -> None:
    registry = Registry(load_entry_points=False)
    early = registry.register_plugin(_plugin("rl8_encoders", lambda: {"mlp": TinyEncoder, "early_own": TinyEncoder}))
    rival = registry.register_plugin(_plugin("rl8_encoders", lambda: {"early_own": OtherTinyEncoder}), name="rival")
    assert (early.status, rival.status) == ("conflict", "conflict")

    registry.load_entry_points()

    assert early.status == "failed"
    assert early.reason is not None
    assert early.reason.startswith(f"plugin {early.name!r} registers encoder 'mlp', reserved for the built-ins")
    assert early.contributions == {}
    assert registry.get("encoder", "mlp") is MLPEncoder
    assert (rival.status, rival.reason) == ("ok", None)  # its conflict went with the failed plugin
    assert registry.get("encoder", "early_own") is OtherTinyEncoder


def test_two_third_party_plugins_with_one_name_conflict(plugin_site: Callable[..., Any]) -> None:
    site = plugin_site("acme", "noisy", "third_party_clash")
    noisy, clash = site.packages["noisy"], site.packages["third_party_clash"]

    registry = Registry()

    with pytest.raises(PluginError) as excinfo:
        registry.get("encoder", "noisy_sum")
    message = str(excinfo.value)
    assert f"'test_noisy' ({noisy.distribution} {noisy.version})" in message
    assert f"'test_third_party_clash' ({clash.distribution} {clash.version})" in message
    assert "RL8_DISABLE_PLUGINS" in message
    # The name stays listed (so the listing can show it), but is not usable.
    assert "noisy_sum" in registry.names("encoder")
    assert "noisy_sum" not in [c.name for c in registry.components("encoder")]
    plugins = _plugins_by_name(registry)
    assert plugins["test_noisy"].status == plugins["test_third_party_clash"].status == "conflict"
    assert plugins["test_noisy"].reason == (
        f"encoder 'noisy_sum' is also provided by 'test_third_party_clash' ({clash.distribution} {clash.version})"
    )
    assert plugins["test_noisy"].contributions == {"encoder": ["noisy_sum"]}
    _assert_acme_works(registry)


@pytest.mark.parametrize(("disabled", "winner"), [("test_noisy", "ClashSum"), ("test_third_party_clash", "NoisySum")])
def test_disabling_one_side_resolves_a_conflict(
    plugin_site: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, disabled: str, winner: str
) -> None:
    plugin_site("noisy", "third_party_clash")
    monkeypatch.setenv("RL8_DISABLE_PLUGINS", disabled)
    registry = Registry()
    assert registry.get("encoder", "noisy_sum").__name__ == winner
    assert _plugins_by_name(registry)[disabled].status == "disabled"
    assert all(p.status != "conflict" for p in registry.plugins())


def test_disabling_a_built_in_frees_its_name(plugin_site: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    plugin_site("duplicate_name")
    monkeypatch.setenv("RL8_DISABLE_PLUGINS", "mlp")
    registry = Registry()
    assert registry.get("encoder", "mlp").__name__ == "ImpostorMLP"  # the user's explicit choice
    assert _plugins_by_name(registry)["test_duplicate_name"].status == "ok"


def test_an_entry_point_name_of_two_distributions_fails_both(plugin_site: Callable[..., Any]) -> None:
    site = plugin_site("acme", "same_entry_point", "third_party_clash")
    dists = sorted(site.packages[k].distribution for k in ("same_entry_point", "third_party_clash"))

    registry = Registry()

    plugins = _plugins_by_name(registry)
    for dist in dists:
        info = plugins[f"test_same_name ({dist})"]
        assert (info.name, info.distribution, info.status) == (f"test_same_name ({dist})", dist, "failed")
        assert info.reason == (
            f"entry-point name 'test_same_name' is used by several distributions: {', '.join(dists)}; "
            "none of them is loaded. Rename the entry point in one of them, or uninstall one"
        )
    assert "test_same_name" not in plugins
    assert "rl8_test_same_entry_point" not in sys.modules  # neither silently wins
    _assert_acme_works(registry)


def test_a_built_in_entry_point_name_is_reserved(plugin_site: Callable[..., Any]) -> None:
    plugin_site("third_party_clash")
    registry = Registry()
    plugins = _plugins_by_name(registry)
    info = plugins["categorical (rl8-test-third-party-clash)"]
    assert info.status == "failed"
    assert info.reason == (
        f"entry-point name 'categorical' is reserved: {BUILTIN_DISTRIBUTION} uses it for a built-in plugin. "
        "Rename the entry point in rl8-test-third-party-clash, prefixed with your package's short name"
    )
    assert (plugins["categorical"].distribution, plugins["categorical"].status) == (BUILTIN_DISTRIBUTION, "ok")
    assert registry.get("distribution", "categorical") is Categorical
    assert plugins["test_same_name"].status == "ok"  # no other distribution uses it here


def test_a_third_claim_does_not_repeat_conflict_reasons() -> None:
    registry = Registry(load_entry_points=False)
    registry.register("encoder", "shared", TinyEncoder, plugin="first")
    registry.register("encoder", "shared", OtherTinyEncoder)
    registry.register_plugin(_plugin("rl8_encoders", lambda: {"shared": OtherTinyEncoder}), name="third")
    reasons = {p.name: p.reason for p in registry.plugins()}
    assert reasons["first"] == "encoder 'shared' is also provided by '<in-process>', 'third'"
    assert reasons["<in-process>"] == "encoder 'shared' is also provided by 'first', 'third'"
    with pytest.raises(PluginError, match=r"'first' and '<in-process>' and 'third'"):
        registry.get("encoder", "shared")


# --- Failures that are not Exceptions, slow imports, printing plugins ----------------------


def test_keyboard_interrupt_in_a_hook_stops_the_program() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    registry = Registry(load_entry_points=False)
    with pytest.raises(KeyboardInterrupt):
        registry.register_plugin(_plugin("rl8_encoders", interrupt), name="ctrl_c")


def test_keyboard_interrupt_while_importing_a_plugin_stops_the_program(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "rl8_test_ctrl_c.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_point = metadata.EntryPoint("ctrl_c", "rl8_test_ctrl_c", "rl8")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [entry_point])
    registry = Registry(load_entry_points=False)
    with pytest.raises(KeyboardInterrupt):
        registry.load_entry_points()
    sys.modules.pop("rl8_test_ctrl_c", None)


def test_a_slow_import_is_recorded(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme", "slow_import")
    plugins = _plugins_by_name(Registry())
    slow = plugins["test_slow_import"]
    assert (slow.status, slow.is_slow) == ("ok", True)
    assert slow.import_seconds is not None
    assert slow.import_seconds >= 1.2
    assert slow.to_json()["import_seconds"] == round(slow.import_seconds, 3)
    assert plugins["acme"].import_seconds is not None
    assert plugins["mlp"].import_seconds is not None


def test_what_a_plugin_prints_is_captured(plugin_site: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    plugin_site("acme", "noisy")
    registry = Registry()
    assert capsys.readouterr().out == ""
    plugins = _plugins_by_name(registry)
    assert plugins["test_noisy"].output == (
        "hello from rl8-test-noisy at import\nhello from the hook of rl8-test-noisy\n"
    )
    assert plugins["test_noisy"].status == "ok"
    assert registry.get("encoder", "noisy_sum").__name__ == "NoisySum"
    assert plugins["acme"].output is None
    assert plugins["acme"].to_json()["output"] is None


# --- Lookups ----------------------------------------------------------------------------


def test_unknown_name_lists_known_names_and_the_closest(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme")
    registry = Registry()
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("encoder", "acme_flat_tanhh")
    message = str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)
    assert message.startswith("unknown encoder 'acme_flat_tanhh'. Did you mean 'acme_flat_tanh'?")
    assert f"Known encoders: {', '.join(registry.names('encoder'))}." in message
    assert {"acme_flat_tanh", "mlp"} <= set(registry.names("encoder"))
    assert "pip install" not in message
    assert "not loaded" not in message


def test_unknown_name_without_a_close_match() -> None:
    with pytest.raises(UnknownComponentError) as excinfo:
        Registry().get("distribution", "zzzz")
    assert "Did you mean" not in str(excinfo.value)
    assert "categorical" in str(excinfo.value)


def test_unknown_name_mentions_plugins_that_did_not_load(plugin_site: Callable[..., Any]) -> None:
    plugin_site("import_error")
    with pytest.raises(UnknownComponentError) as excinfo:
        Registry().get("encoder", "import_error_encoder")
    assert "Plugins not loaded: 'test_import_error' (failed: import failed: ModuleNotFoundError" in str(excinfo.value)


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown component kind 'encoders'; kinds are encoder, distribution"):
        Registry(load_entry_points=False).get("encoders", "mlp")


def test_names_are_sorted(plugin_site: Callable[..., Any]) -> None:
    plugin_site()
    registry = Registry()
    for name in ("zeta_enc", "aa_enc", "mid_enc"):  # "aa_enc" sorts before every installed name
        registry.register("encoder", name, TinyEncoder)
    for kind in HOOKS:
        assert registry.names(kind) == sorted(registry.names(kind))
    assert [c.name for c in registry.components("encoder")] == sorted(c.name for c in registry.components("encoder"))
    assert registry.names("encoder")[0] == "aa_enc"


@pytest.mark.parametrize("path", ["acme_rl8:FlatTanh", "acme_rl8.FlatTanh"])
def test_import_paths_are_imported_not_looked_up(plugin_site: Callable[..., Any], path: str) -> None:
    site = plugin_site("acme")
    acme = site.packages["acme"]
    registry = Registry(load_entry_points=False)  # nothing registered at all

    info = registry.info("encoder", path)

    assert info.obj is importlib.import_module("acme_rl8").FlatTanh
    assert (info.name, info.plugin, info.distribution, info.version) == (
        path,
        "<import path>",
        acme.distribution,
        acme.version,
    )
    assert registry.get("encoder", path) is info.obj
    assert registry.names("encoder") == []


def test_import_path_errors_are_import_errors_not_lookups(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme")
    registry = Registry()
    with pytest.raises(ImportError, match=r"cannot import 'mlp\.v2': No module named 'mlp'"):
        registry.get("encoder", "mlp.v2")
    with pytest.raises(ImportError, match="'acme_rl8' has no attribute 'Missing'"):
        registry.get("encoder", "acme_rl8:Missing")
    with pytest.raises(PluginError, match="must be an Encoder subclass or a factory, got class TemperedCategorical"):
        registry.get("encoder", "acme_rl8:TemperedCategorical")
    with pytest.raises(PluginError, match="must be a Distribution subclass"):
        registry.get("distribution", "acme_rl8.FlatTanh")


# --- Provenance ---------------------------------------------------------------------------


def test_provenance_of_entry_point_components(plugin_site: Callable[..., Any]) -> None:
    site = plugin_site("acme")
    acme = site.packages["acme"]
    registry = Registry()

    encoder = registry.info("encoder", "acme_flat_tanh")
    assert encoder.describe() == {
        "kind": "encoder",
        "name": "acme_flat_tanh",
        "object": "acme_rl8:FlatTanh",
        "plugin": "acme",
        "distribution": acme.distribution,
        "version": acme.version,
    }
    assert (acme.distribution, acme.version, acme.entry_points) == ("acme-rl8", "0.1.0", ("acme",))
    dist = registry.info("distribution", "acme_tempered_categorical")
    assert (dist.plugin, dist.distribution, dist.version) == ("acme", "acme-rl8", "0.1.0")
    builtin = registry.info("encoder", "mlp")
    assert builtin.describe() == {
        "kind": "encoder",
        "name": "mlp",
        "object": "rl8_plugins.encoders.mlp:MLPEncoder",
        "plugin": "mlp",
        "distribution": BUILTIN_DISTRIBUTION,
        "version": RL8_VERSION,
    }
    listing = _plugins_by_name(registry)["acme"].to_json()
    assert isinstance(listing.pop("import_seconds"), float)
    assert listing == {
        "name": "acme",
        "distribution": "acme-rl8",
        "version": "0.1.0",
        "source": "entry point",
        "status": "ok",
        "reason": None,
        "contributions": {"distribution": ["acme_tempered_categorical"], "encoder": ["acme_flat_tanh"]},
        "output": None,
    }
    json.dumps([p.to_json() for p in registry.plugins()])  # plain data


def test_entry_point_plugins_are_loaded_only_when_a_registry_is_built(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme")
    assert "acme_rl8" not in sys.modules  # rl8_core and catalogs are imported; no plugin is loaded
    get_registry()
    assert "acme_rl8" in sys.modules


# --- RL8_DISABLE_PLUGINS ------------------------------------------------------------------


def test_disabled_plugins_are_skipped_not_imported(
    plugin_site: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_site("acme", "hook_raises")
    monkeypatch.setenv("RL8_DISABLE_PLUGINS", " acme , test_hook_raises")

    registry = Registry()

    plugins = _plugins_by_name(registry)
    for name in ("acme", "test_hook_raises"):
        assert (plugins[name].status, plugins[name].reason) == ("disabled", "listed in RL8_DISABLE_PLUGINS")
        assert plugins[name].contributions == {}
    assert "acme_rl8" not in sys.modules
    assert "rl8_test_hook_raises" not in sys.modules
    with pytest.raises(UnknownComponentError, match=r"'acme' \(disabled: listed in RL8_DISABLE_PLUGINS\)"):
        registry.get("encoder", "acme_flat_tanh")
    assert registry.get("encoder", "mlp") is MLPEncoder


def test_disabled_argument_overrides_the_environment(
    plugin_site: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_site("acme")
    monkeypatch.setenv("RL8_DISABLE_PLUGINS", "acme")
    registry = Registry(disabled=[])
    _assert_acme_works(registry)


# --- Zero built-ins -----------------------------------------------------------------------


def test_no_builtins_suggests_installing_the_checkout() -> None:
    registry = Registry(load_entry_points=False)
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("encoder", "mlp")
    message = str(excinfo.value)
    assert "unknown encoder 'mlp'. Known encoders: (none)." in message
    # An empty registry on purpose (plugin authors' tests) gets no installation hint.
    assert "pip install -e" not in message
    registry.load_entry_points(group="rl8_no_such_group")  # a tree whose metadata lacks the group
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("encoder", "mlp")
    assert f"No built-in components of {BUILTIN_DISTRIBUTION} are registered" in str(excinfo.value)
    assert "Run `pip install -e .` in the rl8-core checkout." in str(excinfo.value)
    with pytest.raises(UnknownComponentError, match=r"pip install -e \."):
        registry.get("distribution", "categorical")


def test_disabled_builtins_are_not_mistaken_for_missing_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RL8_DISABLE_PLUGINS", "mlp")
    with pytest.raises(UnknownComponentError) as excinfo:
        Registry().get("encoder", "mlp")
    assert "'mlp' (disabled: listed in RL8_DISABLE_PLUGINS)" in str(excinfo.value)
    assert "pip install" not in str(excinfo.value)


# --- In-process registration --------------------------------------------------------------


def test_register_in_process_records_provenance() -> None:
    registry = Registry(load_entry_points=False)
    registry.register("encoder", "tiny", TinyEncoder)
    info = registry.info("encoder", "tiny")
    assert (info.obj, info.plugin, info.distribution, info.version) == (TinyEncoder, "<in-process>", None, None)
    plugin = _plugins_by_name(registry)["<in-process>"]
    assert (plugin.source, plugin.status, plugin.contributions) == ("in-process", "ok", {"encoder": ["tiny"]})


@pytest.mark.parametrize(
    ("kind", "name", "obj", "message"),
    [
        ("encoder", "Tiny", TinyEncoder, "invalid encoder name 'Tiny': names are lowercase snake_case"),
        ("encoder", "acme.tiny", TinyEncoder, "without '.' or ':'"),
        ("encoder", "acme:tiny", TinyEncoder, "without '.' or ':'"),
        ("encoder", "not_enc", nn.Linear, "must be an Encoder subclass or a factory, got class Linear"),
        ("encoder", "not_callable", 3, "must be an Encoder subclass or a factory, got int 3"),
        ("distribution", "factory", lambda *a: None, "must be a Distribution subclass, got function"),
        ("algorithm", "not_algo", Categorical, "must be an Algorithm subclass, got class"),
    ],
)
def test_register_validates_like_the_loader(kind: str, name: str, obj: Any, message: str) -> None:
    registry = Registry(load_entry_points=False)
    with pytest.raises(PluginError, match=re.escape(message)):
        registry.register(kind, name, obj)
    assert registry.names(kind) == []


def test_register_accepts_factories_for_encoders_and_envs() -> None:
    registry = Registry(load_entry_points=False)
    registry.register("encoder", "tiny_factory", lambda spec: TinyEncoder(spec))
    registry.register("env", "tiny_env", lambda **kw: None)
    assert registry.names("encoder") == ["tiny_factory"]
    assert registry.names("env") == ["tiny_env"]


def test_register_a_builtin_name_in_process_is_refused() -> None:
    registry = Registry()
    with pytest.raises(PluginError, match=r"plugin '<in-process>' registers encoder 'mlp', reserved for the built-ins"):
        registry.register("encoder", "mlp", TinyEncoder)
    assert registry.get("encoder", "mlp") is MLPEncoder
    assert all(p.status == "ok" for p in registry.plugins())


def test_register_the_same_name_twice_in_process() -> None:
    registry = Registry(load_entry_points=False)
    registry.register("encoder", "tiny", TinyEncoder)
    registry.register("encoder", "tiny", TinyEncoder)  # the same object again: a no-op
    assert registry.get("encoder", "tiny") is TinyEncoder
    with pytest.raises(PluginError, match="encoder 'tiny' is already registered by '<in-process>'"):
        registry.register("encoder", "tiny", OtherTinyEncoder)  # never a silent overwrite
    assert registry.get("encoder", "tiny") is TinyEncoder
    registry.register("encoder", "tiny", OtherTinyEncoder, plugin="notebook")  # another plugin: a conflict
    with pytest.raises(PluginError, match="provided by several plugins"):
        registry.get("encoder", "tiny")


def test_register_cannot_borrow_an_entry_point_plugins_provenance() -> None:
    registry = Registry()
    with pytest.raises(PluginError, match="plugin 'mlp' comes from entry point"):
        registry.register("encoder", "tiny", TinyEncoder, plugin="mlp")
    assert registry.info("encoder", "mlp").distribution == BUILTIN_DISTRIBUTION


def test_register_plugin_object_records_its_module_as_provenance() -> None:
    module = types.ModuleType("acme_rl8_inline")
    module.rl8_encoders = hookimpl(lambda: {"acme_tiny": TinyEncoder})  # type: ignore[attr-defined]
    module.rl8_encoders.__name__ = "rl8_encoders"
    registry = Registry(load_entry_points=False)

    info = registry.register_plugin(module)

    assert (info.name, info.source, info.status, info.distribution) == ("acme_rl8_inline", "in-process", "ok", None)
    assert info.contributions == {"encoder": ["acme_tiny"]}
    assert registry.info("encoder", "acme_tiny").plugin == "acme_rl8_inline"
    assert registry.register_plugin(module) is info  # registering it again changes nothing
    assert info.status == "ok"
    with pytest.raises(PluginError, match=r"a plugin named 'acme_rl8_inline' \(in-process\) is already registered"):
        registry.register_plugin(types.ModuleType("acme_rl8_inline"))


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (_plugin("rl8_encoders", lambda: ["x"]), "rl8_encoders must return a mapping of names to components, got list"),
        (_plugin("rl8_encoders", lambda: 1 / 0), "rl8_encoders raised ZeroDivisionError: division by zero"),
        (
            _plugin("rl8_encoders", lambda: {"x": int}),
            "rl8_encoders: encoder 'x' must be an Encoder subclass or a factory, got class int",
        ),
        (
            _plugin("rl8_distributions", lambda: {"Bad Name": Categorical}),
            "rl8_distributions: invalid distribution name 'Bad Name'",
        ),
        (_plugin("rl8_encoderz", lambda: {}), "unknown hook 'rl8_encoderz' (did you mean 'rl8_encoders'?)"),
    ],
    ids=["list", "raises", "not-an-encoder", "bad-name", "misspelled"],
)
def test_register_plugin_failures_are_recorded_like_entry_points(plugin: object, reason: str) -> None:
    registry = Registry(load_entry_points=False)
    info = registry.register_plugin(plugin, name="inline")
    assert info.status == "failed"
    assert info.reason is not None
    assert info.reason.startswith(reason)
    assert _plugins_by_name(registry)["inline"] is info
    assert all(registry.names(kind) == [] for kind in HOOKS)


def test_register_plugin_conflicts_like_entry_points() -> None:
    registry = Registry()
    registry.register_plugin(_plugin("rl8_distributions", lambda: {"mine_dist": Categorical}), name="mine")
    info = registry.register_plugin(_plugin("rl8_distributions", lambda: {"mine_dist": Categorical}), name="yours")
    assert info.status == "conflict"
    assert info.reason == "distribution 'mine_dist' is also provided by 'mine'"
    with pytest.raises(PluginError, match=r"'mine' and 'yours'"):
        registry.get("distribution", "mine_dist")


def test_register_plugin_with_a_builtin_name_fails() -> None:
    registry = Registry()
    info = registry.register_plugin(_plugin("rl8_distributions", lambda: {"categorical": Categorical}), name="mine")
    assert (info.status, info.contributions) == ("failed", {})
    assert info.reason == (
        "plugin 'mine' registers distribution 'categorical', reserved for the built-ins of "
        f"{BUILTIN_DISTRIBUTION}; pick another name, prefixed with your package's short name "
        "(e.g. 'acme_mlp' for package acme)"
    )
    assert registry.get("distribution", "categorical") is Categorical


def test_a_plugin_returning_none_contributes_nothing() -> None:
    registry = Registry(load_entry_points=False)
    info = registry.register_plugin(_plugin("rl8_encoders", lambda: None), name="quiet")
    assert (info.status, info.contributions) == ("ok", {})


@pytest.mark.parametrize("opts", [{"wrapper": True}, {"hookwrapper": True}], ids=["wrapper", "hookwrapper"])
def test_a_wrapper_on_a_registration_hook_fails_its_plugin(opts: dict[str, bool]) -> None:
    class WrapperPlugin:
        @hookimpl(**opts)
        def rl8_encoders(self) -> Iterator[None]:
            yield

    registry = Registry()
    info = registry.register_plugin(WrapperPlugin(), name="wrapping")
    assert (info.status, info.reason) == ("failed", "rl8_encoders is a registration hook and may not be a wrapper")
    assert registry.get("encoder", "mlp") is MLPEncoder  # the others are untouched


def test_hookimpl_arguments_unknown_to_the_spec_fail_with_a_one_line_reason() -> None:
    class Greedy:
        @hookimpl
        def rl8_encoders(self, registry: object) -> dict[str, type]:
            return {}

    info = Registry(load_entry_points=False).register_plugin(Greedy(), name="greedy")
    assert info.status == "failed"
    assert info.reason is not None
    assert "\n" not in info.reason
    assert info.reason.startswith("registration failed: PluginValidationError: Plugin 'greedy' for hook 'rl8_encoders'")
    assert "Argument(s) {'registry'} are declared in the hookimpl but can not be found in the hookspec" in info.reason


def test_optional_hooks_without_a_spec_are_allowed() -> None:
    class Future:
        @hookimpl(optionalhook=True)
        def rl8_loggers(self) -> dict[str, type]:
            return {}

        @hookimpl
        def rl8_encoders(self) -> dict[str, type]:
            return {"future_tiny": TinyEncoder}

    registry = Registry(load_entry_points=False)
    info = registry.register_plugin(Future(), name="future")
    assert (info.status, info.contributions) == ("ok", {"encoder": ["future_tiny"]})


# --- The one place that touches pluggy internals ------------------------------------------


def test_plugin_hooks_returns_one_plugins_functions_uncalled() -> None:
    calls: list[str] = []

    class A:
        @hookimpl
        def rl8_encoders(self) -> dict[str, type]:
            calls.append("a")
            return {"a": TinyEncoder}

    class B:
        @hookimpl
        def rl8_encoders(self) -> None:
            calls.append("b")

        @hookimpl
        def rl8_distributions(self) -> dict[str, type]:
            return {}

    class W:
        @hookimpl(wrapper=True)
        def rl8_distributions(self) -> Iterator[None]:
            return (yield)

    pm = pluggy.PluginManager(HOOK_NAMESPACE)
    pm.add_hookspecs(Hookspecs)
    a, b = A(), B()
    pm.register(a, name="a")
    pm.register(b, name="b")

    unknown, functions = _plugin_hooks(pm, a, "a")
    assert unknown == []
    assert calls == []  # collected, not called
    assert [f() for f in functions["rl8_encoders"]] == [{"a": TinyEncoder}]
    assert calls == ["a"]
    assert "rl8_algorithms" not in functions
    b_functions = _plugin_hooks(pm, b, "b")[1]
    assert len(b_functions["rl8_encoders"]) == 1
    assert _plugin_hooks(pm, object(), "nobody") == ([], {})
    # pluggy itself would merge both results and drop b's None: provenance lost.
    assert pm.hook.rl8_encoders() == [{"a": TinyEncoder}]

    w = W()
    pm.register(w, name="w")
    with pytest.raises(PluginError, match="rl8_distributions is a registration hook and may not be a wrapper"):
        _plugin_hooks(pm, w, "w")
    assert len(_plugin_hooks(pm, b, "b")[1]["rl8_distributions"]) == 1

    class Typo:
        @hookimpl
        def rl8_encoder(self) -> dict[str, type]:
            return {}

    typo = Typo()
    pm.register(typo, name="typo")
    assert _plugin_hooks(pm, typo, "typo") == (["rl8_encoder"], {})


# --- End to end: an installed third-party plugin in a module --------------------------------


@pytest.mark.parametrize(
    ("model_config", "dist_name"),
    [
        ({"encoder": "acme_flat_tanh"}, "categorical"),
        (
            {
                "encoder": "acme_flat_tanh",
                "encoder_config": {"width": 8},
                "action_dist": "acme_tempered_categorical",
                "action_dist_config": {"temperature": 2.0},
            },
            "acme_tempered_categorical",
        ),
    ],
    ids=["encoder", "encoder-and-distribution"],
)
def test_installed_plugin_builds_and_runs_in_an_actor_critic_module(
    plugin_site: Callable[..., Any], model_config: dict[str, Any], dist_name: str
) -> None:
    site = plugin_site("acme")
    acme = site.packages["acme"]

    module = ActorCriticModule(Box((4,)), Discrete(2), model_config)

    plugin = importlib.import_module("acme_rl8")
    assert type(module.pi_encoder) is plugin.FlatTanh
    assert type(module.vf_encoder) is plugin.FlatTanh
    components = {(c["kind"], c["name"]): c for c in module.components()}
    assert components["encoder", "acme_flat_tanh"] == {
        "kind": "encoder",
        "name": "acme_flat_tanh",
        "object": "acme_rl8:FlatTanh",
        "plugin": "acme",
        "distribution": acme.distribution,
        "version": acme.version,
    }
    if dist_name == "acme_tempered_categorical":
        assert module.action_dist_cls is plugin.TemperedCategorical
        assert components["distribution", dist_name]["distribution"] == acme.distribution
        assert components["distribution", dist_name]["version"] == acme.version
    else:
        assert components["distribution", dist_name]["distribution"] == BUILTIN_DISTRIBUTION

    batch = TensorDict({"obs": torch.randn(8, 4)}, batch_size=[8])
    out = module.forward_exploration(batch)
    assert Discrete(2).contains(out["actions"], batch_shape=(8,))
    assert out["action_logp"].shape == (8,)
    assert bool(torch.isfinite(out["action_logp"]).all())
    assert out["vf_preds"].shape == (8,)
    assert Discrete(2).contains(module.forward_inference(batch)["actions"], batch_shape=(8,))
    loss = module.forward_train(batch)["action_dist_inputs"].sum()
    loss.backward()
    assert module.pi_encoder.proj.weight.grad is not None


def test_installed_plugin_by_import_path_in_model_config(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme")
    module = ActorCriticModule(Box((4,)), Discrete(2), {"encoder": "acme_rl8:FlatTanh"})
    (encoder,) = [c for c in module.components() if c["kind"] == "encoder"]
    assert (encoder["plugin"], encoder["distribution"], encoder["version"]) == (
        "<import path>",
        "acme-rl8",
        "0.1.0",
    )
    out = module.forward_inference(TensorDict({"obs": torch.zeros(3, 4)}, batch_size=[3]))
    assert out["actions"].shape == (3,)
