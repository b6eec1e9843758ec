"""``Catalog``: default choices from the rule tables, the three ways to override them, errors."""

from __future__ import annotations

import pickle
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from catalogs import ActorCriticCatalog, Catalog, Rule
from rl8_core import (
    ConfigError,
    Distribution,
    Encoder,
    PluginError,
    Registry,
    UnknownComponentError,
    get_registry,
    set_registry,
)
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.normal import Normal
from rl8_plugins.encoders.composite import CompositeEncoder
from rl8_plugins.encoders.mlp import MLPEncoder
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec


class TinyEncoder(Encoder):
    """A test encoder with a required-looking option, to see ``encoder_config`` arrive."""

    def __init__(self, observation_spec: Spec, *, width: int = 3, scale: float = 1.0) -> None:
        super().__init__(observation_spec)
        self.output_dim = width
        self.scale = scale
        self.proj = nn.Linear(observation_spec.numel, width)  # type: ignore[attr-defined]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.proj(obs.flatten(1)) * self.scale
        return out


class TinyDist(Categorical):
    """A categorical under another name, for overrides."""


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The built-ins from the entry points plus ``tiny`` registered in-process; installed globally."""
    reg = Registry()
    reg.register("encoder", "tiny", TinyEncoder)
    previous = set_registry(reg)
    yield reg
    set_registry(previous)


# --- Defaults from the rule tables -------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "encoder"),
    [
        (Box((4,)), "mlp"),
        (Box((2, 3)), "mlp"),
        (Discrete(5), "mlp"),
        (MultiDiscrete([2, 3]), "mlp"),
        (MultiBinary(4), "mlp"),
        (Box((84, 84, 3), low=0, high=255, dtype=torch.uint8), "cnn"),
        (Composite({"pos": Box((2,)), "mode": Discrete(3)}), "composite"),
    ],
    ids=repr,
)
def test_encoder_rule_table(obs: Spec, encoder: str) -> None:
    cat = Catalog(obs, Discrete(2))
    assert cat.get_encoder_name() == encoder
    assert cat.describe()["encoder"] == encoder


@pytest.mark.parametrize(
    ("action", "dist"),
    [
        (Discrete(2), "categorical"),
        (Discrete(4, start=1), "categorical"),
        (Box((2,), -1.0, 1.0), "normal"),
        (Box((2, 3)), "normal"),
        (MultiDiscrete([2, 3]), "multi_categorical"),
        (MultiBinary(3), "bernoulli"),
        (Composite({"a": Discrete(2)}), "composite"),
    ],
    ids=repr,
)
def test_action_dist_rule_table(action: Spec, dist: str) -> None:
    cat = Catalog(Box((4,)), action)
    assert cat.get_action_dist_name() == dist
    assert cat.describe()["action_dist"] == dist


def test_default_components_are_built() -> None:
    cat = Catalog(Box((4,)), Discrete(2))
    encoder = cat.build_encoder()
    assert type(encoder) is MLPEncoder
    assert encoder.output_dim == 64
    assert encoder(torch.zeros(3, 4)).shape == (3, 64)
    assert cat.get_action_dist_cls() is Categorical
    assert Catalog(Box((4,)), Box((2,))).get_action_dist_cls() is Normal


def test_describe_names_specs_and_choices_without_building() -> None:
    cat = Catalog(Box((4,)), Box((2,), -1.0, 1.0))
    assert cat.describe() == {
        "observation_spec": repr(Box((4,))),
        "action_spec": repr(Box((2,), -1.0, 1.0)),
        "encoder": "mlp",
        "action_dist": "normal",
        "action_mask": None,
        "encoder_tree": {
            "path": "",
            "spec": repr(Box((4,))),
            "component": "mlp",
            "options": {},
            "reason": "rule: any other Box, Discrete, MultiDiscrete, MultiBinary",
            "children": {},
        },
        "action_dist_tree": {
            "path": "",
            "spec": repr(Box((2,), -1.0, 1.0)),
            "component": "normal",
            "options": {},
            "reason": "rule: Box",
            "leaves": {},
        },
    }
    assert cat.components() == []  # describing resolves nothing


def test_third_party_components_never_change_the_defaults(registry: Registry) -> None:
    registry.register("distribution", "aaa_first", TinyDist)
    cat = Catalog(Box((4,)), Discrete(2))
    assert cat.get_encoder_name() == "mlp"
    assert cat.get_action_dist_cls() is Categorical


def test_no_matching_rule_is_a_config_error() -> None:
    class NoRules(Catalog):
        ACTION_DIST_RULES = ()

    with pytest.raises(ConfigError, match=r"NoRules has no default component for Discrete\(2\); name one"):
        NoRules(Box((4,)), Discrete(2)).get_action_dist_cls()


# --- Decided once -----------------------------------------------------------------------


def test_choices_are_decided_once_when_the_catalog_is_made() -> None:
    seen: list[Spec] = []

    def anything(spec: Spec) -> bool:
        seen.append(spec)
        return True

    class Counting(Catalog):
        ENCODER_RULES = (Rule("anything", anything, "mlp"),)
        ACTION_DIST_RULES = (Rule("anything", anything, "categorical"),)

    cat = Counting(Box((4,)), Discrete(2))
    assert seen == [Box((4,)), Discrete(2)]
    assert (cat.get_encoder_name(), cat.get_action_dist_name()) == ("mlp", "categorical")
    cat.plan_encoder()
    cat.plan_action_dist()
    cat.describe_text()
    cat.build_encoder()
    cat.get_action_dist_config()
    assert len(seen) == 2  # the rules are not run again
    cat.get_encoder_name(Box((3,)))  # another spec than the planned one is decided afresh
    assert seen[2:] == [Box((3,))]


def test_errors_in_planning_appear_where_they_always_did(registry: Registry) -> None:
    cat = Catalog(Box((4,)), Discrete(2), {"encoder": "late"})  # unknown now: no error yet
    assert cat.get_encoder_name() == "late"
    with pytest.raises(UnknownComponentError, match="unknown encoder 'late'"):
        cat.plan_encoder()
    with pytest.raises(UnknownComponentError, match="unknown encoder 'late'"):
        cat.describe()
    with pytest.raises(UnknownComponentError, match="unknown encoder 'late'"):
        cat.build_encoder()
    assert cat.components() == []
    registry.register("encoder", "late", TinyEncoder)  # registered afterwards: found, as before
    assert cat.plan_encoder().component == "late"
    assert isinstance(cat.build_encoder(), TinyEncoder)

    class NoRules(Catalog):
        ENCODER_RULES = ()

    no_rules = NoRules(Box((4,)), Discrete(2))
    assert no_rules.get_action_dist_cls() is Categorical  # the encoder's missing rule does not get in the way
    for call in (no_rules.get_encoder_name, no_rules.plan_encoder, no_rules.build_encoder, no_rules.describe):
        with pytest.raises(ConfigError, match=r"NoRules has no default component for Box"):
            call()


# --- Overrides ---------------------------------------------------------------------------


def test_override_encoder_by_registered_name_passes_encoder_config(registry: Registry) -> None:
    cat = Catalog(Box((4,)), Discrete(2), {"encoder": "tiny", "encoder_config": {"width": 7, "scale": 0.5}})
    assert cat.describe()["encoder"] == "tiny"
    encoder = cat.build_encoder()
    assert isinstance(encoder, TinyEncoder)
    assert (encoder.output_dim, encoder.scale) == (7, 0.5)
    assert encoder(torch.zeros(2, 4)).shape == (2, 7)


def test_override_with_an_explicit_registry_argument() -> None:
    reg = Registry()
    reg.register("encoder", "tiny", TinyEncoder)
    cat = Catalog(Box((4,)), Discrete(2), {"encoder": "tiny"}, registry=reg)
    assert isinstance(cat.build_encoder(), TinyEncoder)
    assert cat.registry is reg
    with pytest.raises(UnknownComponentError, match="unknown encoder 'tiny'"):
        Catalog(Box((4,)), Discrete(2), {"encoder": "tiny"}).build_encoder()  # the global one lacks it


def test_override_distribution_by_registered_name(registry: Registry) -> None:
    registry.register("distribution", "tiny_dist", TinyDist)
    cat = Catalog(Box((4,)), Discrete(3), {"action_dist": "tiny_dist"})
    assert cat.get_action_dist_cls() is TinyDist


def test_encoder_config_reaches_the_builtin_mlp() -> None:
    cat = Catalog(Box((4,)), Discrete(2), {"encoder_config": {"hiddens": [32, 16], "activation": "relu"}})
    encoder = cat.build_encoder()
    assert encoder.output_dim == 16
    assert any(isinstance(m, nn.ReLU) for m in encoder.modules())


def test_override_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "acme_catalog_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            import torch
            from rl8_core import Encoder

            class Doubler(Encoder):
                def __init__(self, observation_spec, *, factor=2.0):
                    super().__init__(observation_spec)
                    self.output_dim = observation_spec.numel
                    self.factor = factor

                def forward(self, obs):
                    return obs.flatten(1) * self.factor
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for ref in ("acme_catalog_pkg:Doubler", "acme_catalog_pkg.Doubler"):
        cat = Catalog(Box((2, 2)), Discrete(2), {"encoder": ref, "encoder_config": {"factor": 3.0}})
        encoder = cat.build_encoder()
        assert type(encoder).__name__ == "Doubler"
        assert torch.equal(encoder(torch.ones(1, 2, 2)), torch.full((1, 4), 3.0))
        (info,) = cat.components()
        assert info["name"] == ref
        assert info["plugin"] == "<import path>"
        assert info["object"] == "acme_catalog_pkg:Doubler"
    cat = Catalog(Box((4,)), Box((1,)), {"action_dist": "rl8_plugins.distributions.normal:Normal"})
    assert cat.get_action_dist_cls() is Normal


def test_import_path_that_does_not_import_names_itself() -> None:
    with pytest.raises(ImportError, match="cannot import 'no_such_pkg_xyz:Enc'"):
        Catalog(Box((4,)), Discrete(2), {"encoder": "no_such_pkg_xyz:Enc"}).build_encoder()
    with pytest.raises(PluginError, match="must be a Distribution subclass"):
        Catalog(Box((4,)), Discrete(2), {"action_dist": "collections:OrderedDict"}).get_action_dist_cls()


def test_override_by_subclassing() -> None:
    class MyCatalog(ActorCriticCatalog):
        def build_encoder(self, observation_spec: Spec | None = None) -> Encoder:
            return TinyEncoder(observation_spec or self.observation_spec, width=5)

        def get_action_dist_cls(self) -> type[Distribution]:
            return TinyDist

    cat = MyCatalog(Box((4,)), Discrete(3))
    pi_encoder, vf_encoder = cat.build_actor_critic_encoders()
    assert isinstance(pi_encoder, TinyEncoder)
    assert isinstance(vf_encoder, TinyEncoder)
    assert cat.build_pi_head(pi_encoder.output_dim)(torch.zeros(2, 5)).shape == (2, 3)
    assert cat.get_action_dist_cls() is TinyDist


def test_describe_names_the_methods_a_subclass_overrides() -> None:
    class WholeEncoder(ActorCriticCatalog):
        def build_encoder(self, observation_spec: Spec | None = None) -> Encoder:
            return TinyEncoder(observation_spec or self.observation_spec, width=5)

        def get_action_dist_cls(self) -> type[Distribution]:
            return TinyDist

    cat = WholeEncoder(Box((4,)), Discrete(3), {"encoder_config": {"hiddens": [8]}})
    info = cat.describe()
    assert (info["encoder"], info["action_dist"]) == ("WholeEncoder.build_encoder", "WholeEncoder.get_action_dist_cls")
    assert info["encoder_tree"] == {
        "path": "",
        "spec": repr(Box((4,))),
        "component": "WholeEncoder.build_encoder",
        "options": {},
        "reason": "override; default: mlp {'hiddens': [8]} "
        "(rule: any other Box, Discrete, MultiDiscrete, MultiBinary; options from model_config.encoder_config)",
        "children": {},
    }
    assert cat.describe_text().splitlines()[3] == (
        "  actions: Discrete(3) -> WholeEncoder.get_action_dist_cls  [override; default: categorical (rule: Discrete)]"
    )
    assert cat.get_action_dist_cls() is TinyDist  # what describe() names is what the catalog uses
    assert cat.components() == []

    class PerPath(Catalog):
        def build_encoder_at(self, path: str, observation_spec: Spec) -> Encoder:
            if path == "pos":
                return TinyEncoder(observation_spec)
            return super().build_encoder_at(path, observation_spec)

    class Inherits(PerPath):
        """Does not override again: ``PerPath.build_encoder_at`` still decides."""

    obs = Composite({"pos": Box((2,)), "mode": Discrete(3)})
    tree = Inherits(obs, Discrete(2)).describe()["encoder_tree"]
    assert tree["component"] == "PerPath.build_encoder_at"
    assert tree["reason"] == "override; default: composite (rule: Composite (Dict or Tuple))"
    assert {key: child["component"] for key, child in tree["children"].items()} == {
        "pos": "PerPath.build_encoder_at",
        "mode": "PerPath.build_encoder_at",
    }
    assert tree["children"]["mode"]["reason"].startswith("override; default: mlp (rule: ")
    assert Inherits(obs, Discrete(2)).describe()["action_dist_tree"]["reason"] == "rule: Discrete"
    encoder = Inherits(obs, Discrete(2)).build_encoder()
    assert isinstance(encoder, CompositeEncoder)
    assert [type(e) for e in encoder.encoders] == [TinyEncoder, MLPEncoder]


def test_unknown_registered_name_suggests_the_closest(registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match=r"unknown encoder 'tinny'\. Did you mean 'tiny'\?"):
        Catalog(Box((4,)), Discrete(2), {"encoder": "tinny"}).build_encoder()


# --- Config validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"encodr": "mlp"}, r"model_config: unknown key 'encodr' \(did you mean 'encoder'\?\); known keys: "),
        ({"action_dsit": "normal"}, r"unknown key 'action_dsit' \(did you mean 'action_dist'\?\)"),
        ({"encoder": 3}, r"model_config\.encoder: expected str or null, got 3 \(int\)"),
        ({"encoder_config": [1]}, r"model_config\.encoder_config: expected a mapping"),
        ({"normalize_obs": "yes"}, r"model_config\.normalize_obs: expected bool"),
    ],
)
def test_bad_model_config_is_a_config_error(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog(Box((4,)), Discrete(2), config)


def test_actor_critic_keys_are_unknown_to_the_base_catalog() -> None:
    with pytest.raises(ConfigError, match="unknown key 'shared_encoder'"):
        Catalog(Box((4,)), Discrete(2), {"shared_encoder": True})
    assert ActorCriticCatalog(Box((4,)), Discrete(2), {"shared_encoder": True}).config.shared_encoder


def test_bad_encoder_config_names_the_key_the_encoder_and_the_closest_option() -> None:
    with pytest.raises(ConfigError) as info:
        Catalog(Box((4,)), Discrete(2), {"encoder_config": {"hidens": [8]}}).build_encoder()
    assert str(info.value) == (
        "model_config.encoder_config.hidens: encoder 'mlp' of plugin 'mlp' (rl8-core 0.1.0) takes no option "
        "'hidens' (did you mean 'hiddens'?); its options: hiddens, activation"
    )
    with pytest.raises(ConfigError, match=r"^model_config\.encoder_config\.hiddens\[0\]: expected int, got 'wide'"):
        Catalog(Box((4,)), Discrete(2), {"encoder_config": {"hiddens": ["wide"]}}).build_encoder()


def test_distribution_that_does_not_support_the_action_spec() -> None:
    with pytest.raises(ConfigError, match=r"distribution 'normal' does not support action spec Discrete\(3\)"):
        Catalog(Box((4,)), Discrete(3), {"action_dist": "normal"}).get_action_dist_cls()
    with pytest.raises(ConfigError, match="distribution 'categorical' does not support action spec Box"):
        Catalog(Box((4,)), Box((2,)), {"action_dist": "categorical"}).get_action_dist_cls()


def test_encoder_factory_returning_a_non_encoder_is_rejected(registry: Registry) -> None:
    registry.register("encoder", "not_an_encoder", lambda spec: nn.Linear(4, 2))
    with pytest.raises(TypeError, match=r"encoder 'not_an_encoder' .* returned Linear, not an Encoder"):
        Catalog(Box((4,)), Discrete(2), {"encoder": "not_an_encoder"}).build_encoder()


def test_encoder_without_output_dim_is_rejected(registry: Registry) -> None:
    class NoDim(Encoder):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return obs

    registry.register("encoder", "no_dim", NoDim)
    with pytest.raises(TypeError, match=r"encoder 'no_dim' .* did not set an int output_dim"):
        Catalog(Box((4,)), Discrete(2), {"encoder": "no_dim"}).build_encoder()


# --- Provenance and pickling -------------------------------------------------------------


def test_components_record_provenance(registry: Registry) -> None:
    cat = Catalog(Box((4,)), Discrete(2))
    cat.build_encoder()
    cat.get_action_dist_cls()
    by_kind = {c["kind"]: c for c in cat.components()}
    assert by_kind["encoder"] == {
        "kind": "encoder",
        "name": "mlp",
        "object": "rl8_plugins.encoders.mlp:MLPEncoder",
        "plugin": "mlp",
        "distribution": "rl8-core",
        "version": registry.info("encoder", "mlp").version,
    }
    assert by_kind["distribution"]["name"] == "categorical"
    assert by_kind["distribution"]["distribution"] == "rl8-core"

    tiny = Catalog(Box((4,)), Discrete(2), {"encoder": "tiny"})
    tiny.build_encoder()
    (info,) = tiny.components()
    assert info["plugin"] == "<in-process>"
    assert info["distribution"] is None
    assert str(info["object"]).endswith(":TinyEncoder")


def test_pickling_a_catalog_drops_its_registry(registry: Registry) -> None:
    cat = Catalog(Box((4,)), Discrete(2), {"encoder": "tiny"}, registry=registry)
    cat.build_encoder()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(registry)
    restored = pickle.loads(pickle.dumps(cat))
    assert restored._registry is None
    assert restored.config == cat.config
    assert restored.components() == cat.components()
    other = Registry()
    other.register("encoder", "tiny", TinyEncoder)
    set_registry(other)
    assert restored.registry is get_registry() is other
    assert isinstance(restored.build_encoder(), TinyEncoder)
    assert restored.describe() == cat.describe()  # the plan travels with the catalog
