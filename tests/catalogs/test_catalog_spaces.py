"""Every space through the catalog: nested observations and actions, per-leaf overrides, action masking."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from catalogs import (
    ActorCriticCatalog,
    ActorCriticModule,
    Catalog,
    EncoderChoice,
    LeafEncoderConfig,
    apply_action_mask,
)
from rl8_core import Columns, ConfigError, Distribution, Encoder, Registry, set_registry
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.normal import Normal
from rl8_plugins.encoders.cnn import CNNEncoder
from rl8_plugins.encoders.composite import CompositeEncoder
from rl8_plugins.encoders.mlp import MLPEncoder
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, TensorSpec

# Another engineer adds these distributions; tests that need them skip until they are registered.
_DISTRIBUTIONS = set(Registry().names("distribution"))


def _needs(*names: str) -> pytest.MarkDecorator:
    missing = sorted(set(names) - _DISTRIBUTIONS)
    return pytest.mark.skipif(
        bool(missing), reason=f"distribution(s) {', '.join(missing)} not registered yet (rl8_plugins/distributions)"
    )


IMAGE = Box((84, 84, 3), low=0, high=255, dtype=torch.uint8)
GRID = Box((7, 7, 3), low=0, high=255, dtype=torch.uint8)


class ScaledNormal(Normal):
    """A normal with an option, to see ``action_dist_config`` reach a leaf."""

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, *, scale: float = 1.0) -> None:
        super().__init__(inputs, action_spec)
        self.scale = scale


class Leafwise(Distribution):
    """A stand-in for a distribution with ``takes_leaf_dists``: only what the catalog touches."""

    takes_leaf_dists = True

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        assert isinstance(action_spec, Composite)
        leaves: Mapping[str, tuple[type[Distribution], Mapping[str, Any]]] = config["leaves"]
        return sum(
            leaf_cls.required_inputs(action_spec[tuple(path.split("."))], **options)
            for path, (leaf_cls, options) in leaves.items()
        )

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        return isinstance(action_spec, Composite)

    def sample(self) -> torch.Tensor:
        raise NotImplementedError

    def deterministic_sample(self) -> torch.Tensor:
        raise NotImplementedError

    def logp(self, actions: Any) -> torch.Tensor:
        raise NotImplementedError

    def entropy(self) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, other: Distribution) -> torch.Tensor:
        raise NotImplementedError


class KeyRecorder(Encoder):
    """Records the keys of every observation it is given."""

    def __init__(self, observation_spec: Spec, *, width: int = 4) -> None:
        super().__init__(observation_spec)
        self.output_dim = width
        self.proj = nn.Linear(1, width)
        self.seen: list[list[str]] = []

    def forward(self, obs: TensorDictBase) -> torch.Tensor:  # type: ignore[override]
        self.seen.append(sorted(obs.keys()))
        out: torch.Tensor = self.proj(torch.ones(obs.batch_size[0], 1))
        return out


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The built-ins plus test components registered in-process; installed globally."""
    reg = Registry()
    reg.register("distribution", "leafwise", Leafwise)
    reg.register("distribution", "scaled_normal", ScaledNormal)
    reg.register("encoder", "key_recorder", KeyRecorder)
    previous = set_registry(reg)
    yield reg
    set_registry(previous)


def _batch(spec: Spec, b: int = 6, seed: int = 0) -> TensorDict:
    return TensorDict({Columns.OBS: spec.rand((b,), generator=torch.Generator().manual_seed(seed))}, [b])


def _kinds(choice: EncoderChoice) -> dict[str, str]:
    out = {choice.path: choice.component}
    for child in choice.children.values():
        out.update(_kinds(child))
    return out


# --- Rule tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "encoder"),
    [
        (Box((4,)), "mlp"),
        (Box((2, 3)), "mlp"),
        (Box((4,), low=0, high=9, dtype=torch.int32), "mlp"),
        (Discrete(5), "mlp"),
        (MultiDiscrete([2, 3]), "mlp"),
        (MultiBinary(4), "mlp"),
        (IMAGE, "cnn"),
        (Box((4, 84, 84), low=0, high=255, dtype=torch.uint8), "cnn"),
        (GRID, "cnn"),
        (Composite({"pos": Box((2,))}), "composite"),
        (Composite.from_tuple([Discrete(2), Box((1,))]), "composite"),
    ],
    ids=repr,
)
def test_every_observation_kind_has_a_default_encoder(obs: Spec, encoder: str) -> None:
    cat = Catalog(obs, Discrete(2))
    assert cat.get_encoder_name() == encoder
    assert cat.plan_encoder().component == encoder
    if 84 not in obs.shape:  # the Nature stacks are built in test_image_observations_through_the_module
        assert type(cat.build_encoder()).__name__ == {"mlp": "MLPEncoder", "cnn": "CNNEncoder"}.get(
            encoder, "CompositeEncoder"
        )


@pytest.mark.parametrize(
    ("action", "dist"),
    [
        (Discrete(3), "categorical"),
        (Box((2,), -1.0, 1.0), "normal"),
        (MultiDiscrete([2, 3]), "multi_categorical"),
        (MultiBinary(3), "bernoulli"),
        (Composite({"move": Box((2,))}), "composite"),
        (Composite.from_tuple([Discrete(2)]), "composite"),
    ],
    ids=repr,
)
def test_every_action_kind_has_a_default_distribution(action: Spec, dist: str) -> None:
    cat = Catalog(Box((4,)), action)
    assert cat.get_action_dist_name() == dist
    if dist in _DISTRIBUTIONS:
        assert cat.get_action_dist_cls() is Registry().get("distribution", dist)


def test_nested_specs_get_a_rule_per_sub_spec(registry: Registry) -> None:
    obs = Composite(
        {
            "image": IMAGE,
            "agent": {"pos": Box((2,)), "grid": GRID, "mode": Discrete(3)},
            "pair": Composite.from_tuple([MultiDiscrete([2, 2]), MultiBinary(3)]),
        }
    )
    action = Composite(
        {"move": Box((2,)), "fire": Discrete(2), "aim": {"which": MultiDiscrete([3, 2]), "b": MultiBinary(2)}}
    )
    cat = Catalog(obs, action, {"action_dist": "leafwise"})
    assert _kinds(cat.plan_encoder()) == {
        "": "composite",
        "image": "cnn",
        "agent": "composite",
        "agent.pos": "mlp",
        "agent.grid": "cnn",
        "agent.mode": "mlp",
        "pair": "composite",
        "pair.0": "mlp",
        "pair.1": "mlp",
    }
    assert {path: leaf.component for path, leaf in cat.plan_action_dist().leaves.items()} == {
        "move": "normal",
        "fire": "categorical",
        "aim.which": "multi_categorical",
        "aim.b": "bernoulli",
    }


def test_rule_rows_list_both_tables_in_order() -> None:
    rows = Catalog.rule_rows()
    assert rows[:3] == [
        {"table": "observation", "spec": "Box of rank 3 (an image)", "component": "cnn"},
        {"table": "observation", "spec": "Composite (Dict or Tuple)", "component": "composite"},
        {"table": "observation", "spec": "any other Box, Discrete, MultiDiscrete, MultiBinary", "component": "mlp"},
    ]
    assert [(r["table"], r["component"]) for r in rows[3:]] == [
        ("action", "categorical"),
        ("action", "normal"),
        ("action", "multi_categorical"),
        ("action", "bernoulli"),
        ("action", "composite"),
    ]


# --- describe() --------------------------------------------------------------------------


MASKED_OBS = Composite({"image": IMAGE, "vector": Box((5,)), "action_mask": MultiBinary(4)})


def test_describe_shows_the_whole_choice_with_masking() -> None:
    cat = ActorCriticCatalog(MASKED_OBS, Discrete(4))
    info = cat.describe()
    assert info["encoder"] == "composite"
    assert info["action_dist"] == "categorical"
    assert info["action_mask"] == {"key": "action_mask", "spec": "MultiBinary([4])", "size": 4}
    assert info["shared_encoder"] is False
    tree = info["encoder_tree"]
    assert set(tree["children"]) == {"image", "vector"}
    assert tree["children"]["image"]["component"] == "cnn"
    assert tree["children"]["image"]["reason"] == "rule: Box of rank 3 (an image)"
    assert tree["children"]["vector"]["component"] == "mlp"
    assert cat.describe_text().splitlines() == [
        "observation -> encoder",
        "  obs: Dict(image, vector) -> composite  [rule: Composite (Dict or Tuple)]",
        f"    image: {IMAGE!r} -> cnn  [rule: Box of rank 3 (an image)]",
        f"    vector: {Box((5,))!r} -> mlp  [rule: any other Box, Discrete, MultiDiscrete, MultiBinary]",
        "    action_mask: MultiBinary([4]) -> not encoded; masks the 4 policy logits of Discrete(4)",
        "action -> distribution",
        "  actions: Discrete(4) -> categorical  [rule: Discrete]",
        "encoders: two built alike, one for the policy head and one for the value head",
    ]
    assert cat.components() == []  # nothing resolved for good, nothing built


def test_describe_shows_overrides_and_leaf_distributions(registry: Registry) -> None:
    obs = Composite({"image": IMAGE, "vector": Box((5,))})
    action = Composite({"move": Box((2,)), "fire": Discrete(2)})
    config = {
        "encoder_config": {"hiddens": [64]},
        "leaf_encoders": {"image": {"encoder": "mlp", "encoder_config": {"hiddens": [16]}}},
        "action_dist": "leafwise",
        "leaf_action_dists": {"move": {"action_dist": "scaled_normal", "action_dist_config": {"scale": 0.5}}},
    }
    cat = Catalog(obs, action, config)
    tree = cat.describe()["encoder_tree"]
    assert tree["options"] == {"hiddens": [64]}
    assert tree["reason"] == "rule: Composite (Dict or Tuple); options from model_config.encoder_config"
    assert tree["children"]["image"] == {
        "path": "image",
        "spec": repr(IMAGE),
        "component": "mlp",
        "options": {"hiddens": [16]},
        "reason": "model_config.leaf_encoders['image']",
        "children": {},
    }
    dist = cat.describe()["action_dist_tree"]
    assert dist["component"] == "leafwise"
    assert dist["reason"] == "model_config.action_dist"
    assert dist["leaves"]["move"]["component"] == "scaled_normal"
    assert dist["leaves"]["move"]["options"] == {"scale": 0.5}
    assert dist["leaves"]["fire"]["reason"] == "rule: Discrete"
    text = cat.describe_text()
    assert "    move: Box((2,), low=-inf, high=inf, dtype=torch.float32) -> scaled_normal {'scale': 0.5}" in text
    assert "    fire: Discrete(2) -> categorical  [rule: Discrete]" in text


# --- Per-leaf overrides ------------------------------------------------------------------


def test_leaf_encoders_override_one_sub_spec_by_name() -> None:
    obs = Composite(
        {"image": GRID, "agent": {"pos": Box((2,)), "mode": Discrete(3)}, "t": Composite.from_tuple([Box((1,))])}
    )
    cat = Catalog(
        obs,
        Discrete(2),
        {
            "leaf_encoders": {
                "image": {"encoder": "mlp"},
                "agent.pos": {"encoder_config": {"hiddens": [8], "activation": "relu"}},
                "t.0": {"encoder": "mlp", "encoder_config": {"hiddens": []}},
            }
        },
    )
    assert cat.config.leaf_encoders["image"] == LeafEncoderConfig(encoder="mlp")
    enc = cat.build_encoder()
    assert isinstance(enc, CompositeEncoder)
    image, agent, pair = enc.encoders
    assert isinstance(image, MLPEncoder)
    assert isinstance(agent, CompositeEncoder)
    pos, mode = agent.encoders
    assert isinstance(pos, MLPEncoder)
    assert pos.output_dim == 8
    assert any(isinstance(m, nn.ReLU) for m in pos.modules())
    assert mode.output_dim == 64
    assert isinstance(pair, CompositeEncoder)
    assert pair.encoders[0].output_dim == 1
    assert agent.head[0].in_features == 8 + 64
    assert enc(obs.rand((3,))).shape == (3, 256)


def test_a_sub_composite_can_get_its_own_encoder(registry: Registry) -> None:
    obs = Composite({"agent": {"pos": Box((2,)), "mode": Discrete(3)}, "goal": Box((2,))})
    cat = Catalog(obs, Discrete(2), {"leaf_encoders": {"agent": {"encoder": "key_recorder"}}})
    assert _kinds(cat.plan_encoder()) == {"": "composite", "agent": "key_recorder", "goal": "mlp"}
    enc = cat.build_encoder()
    assert isinstance(enc, CompositeEncoder)
    recorder = enc.encoders[0]
    assert isinstance(recorder, KeyRecorder)
    recorder.seen.clear()  # the build-time feature-size checks ran it
    enc(obs.rand((2,)))
    assert recorder.seen == [["mode", "pos"]]


def test_leaf_action_dists_override_one_action_leaf(registry: Registry) -> None:
    action = Composite({"move": Box((2,)), "fire": Discrete(3), "aim": {"x": Discrete(2)}})
    cat = Catalog(
        Box((4,)),
        action,
        {
            "action_dist": "leafwise",
            "action_dist_config": {"note": 1},
            "leaf_action_dists": {
                "move": {"action_dist": "scaled_normal", "action_dist_config": {"scale": 0.5}},
                "aim.x": {"action_dist": "categorical"},
            },
        },
    )
    assert cat.get_action_dist_cls() is Leafwise
    config = cat.get_action_dist_config()
    assert config == {
        "note": 1,
        "leaves": {"move": (ScaledNormal, {"scale": 0.5}), "fire": (Categorical, {}), "aim.x": (Categorical, {})},
    }
    assert Leafwise.required_inputs(action, **config) == 4 + 3 + 2
    names = {(c["kind"], c["name"]) for c in cat.components()}
    assert names == {("distribution", "leafwise"), ("distribution", "scaled_normal"), ("distribution", "categorical")}


def test_leaf_options_without_a_name_keep_the_rule_choice(registry: Registry) -> None:
    action = Composite({"move": Box((2,)), "fire": Discrete(3)})
    cat = Catalog(Box((4,)), action, {"action_dist": "leafwise", "leaf_action_dists": {"fire": {}}})
    assert cat.get_action_dist_config()["leaves"]["fire"] == (Categorical, {})
    assert cat.get_action_dist_config()["leaves"]["move"] == (Normal, {})


@pytest.mark.parametrize(
    ("obs", "config", "message"),
    [
        (
            Composite({"image": GRID, "agent": {"pos": Box((2,))}}),
            {"leaf_encoders": {"agent.vel": {"encoder": "mlp"}}},
            r"model_config\.leaf_encoders: unknown path 'agent\.vel' \(did you mean 'agent'\?\); "
            r"valid paths: 'image', 'agent', 'agent\.pos'",
        ),
        (
            Box((4,)),
            {"leaf_encoders": {"x": {}}},
            r"unknown path 'x'; valid paths: none \(the observation spec is not a Composite\)",
        ),
        (
            MASKED_OBS,
            {"leaf_encoders": {"action_mask": {}}},
            r"unknown path 'action_mask'.*; valid paths: 'image', 'vector'",
        ),
        (
            Composite({"image": GRID}),
            {"leaf_encoders": {"image": {"encodr": "mlp"}}},
            r"model_config\.leaf_encoders\.image: unknown key 'encodr' \(did you mean 'encoder'\?\)",
        ),
        (
            Composite({"image": GRID}),
            {"leaf_encoders": {"image": "mlp"}},
            r"model_config\.leaf_encoders\.image: expected a mapping of LeafEncoderConfig options",
        ),
        (
            Composite({"image": GRID}),
            {"leaf_encoders": {"image": {"encoder_config": [1]}}},
            r"model_config\.leaf_encoders\.image\.encoder_config: expected a mapping",
        ),
    ],
)
def test_bad_leaf_encoders_are_config_errors(obs: Spec, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog(obs, Discrete(4), config)


@pytest.mark.parametrize(
    ("action", "config", "message"),
    [
        (
            Composite({"move": Box((2,)), "aim": {"x": Discrete(2)}}),
            {"leaf_action_dists": {"aim": {"action_dist": "categorical"}}},
            r"model_config\.leaf_action_dists: unknown path 'aim' \(did you mean 'aim\.x'\?\); "
            r"valid paths: 'move', 'aim\.x'",
        ),
        (
            Discrete(3),
            {"leaf_action_dists": {"move": {}}},
            r"unknown path 'move'; valid paths: none \(the action spec is not a Composite\)",
        ),
        (
            Composite({"move": Box((2,))}),
            {"leaf_action_dists": {"move": {"action_dist": "normal", "action_dst_config": {}}}},
            r"leaf_action_dists\.move: unknown key 'action_dst_config' \(did you mean 'action_dist_config'\?\)",
        ),
    ],
)
def test_bad_leaf_action_dists_are_config_errors(action: Spec, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog(Box((4,)), action, config)


def test_overrides_that_would_never_be_used_are_config_errors(registry: Registry) -> None:
    obs = Composite({"agent": {"pos": Box((2,))}, "goal": Box((2,))})
    cat = Catalog(obs, Discrete(2), {"leaf_encoders": {"agent": {"encoder": "key_recorder"}, "agent.pos": {}}})
    message = r"leaf_encoders\['agent\.pos'\] is never used: 'agent' gets encoder 'key_recorder', which does not"
    with pytest.raises(ConfigError, match=message):
        cat.build_encoder()
    with pytest.raises(ConfigError, match=message):
        cat.describe()
    cat = Catalog(obs, Discrete(2), {"encoder": "key_recorder", "leaf_encoders": {"goal": {}}})
    with pytest.raises(ConfigError, match=r"\['goal'\] is never used: the observation gets encoder 'key_recorder'"):
        cat.build_encoder()

    action = Composite({"move": Box((2,))})
    cat = Catalog(Box((3,)), action, {"action_dist": "scaled_normal", "leaf_action_dists": {"move": {}}})
    with pytest.raises(ConfigError, match="does not support action spec Composite"):
        cat.get_action_dist_config()
    registry.register("distribution", "flat_composite", type("FlatComposite", (Leafwise,), {"takes_leaf_dists": False}))
    cat = Catalog(Box((3,)), action, {"action_dist": "flat_composite", "leaf_action_dists": {"move": {}}})
    with pytest.raises(ConfigError, match=r"leaf_action_dists is never used: .* 'flat_composite', which does not take"):
        cat.get_action_dist_config()


def test_a_leaf_distribution_must_support_its_leaf(registry: Registry) -> None:
    action = Composite({"move": Box((2,)), "fire": Discrete(2)})
    config = {"action_dist": "leafwise", "leaf_action_dists": {"fire": {"action_dist": "normal"}}}
    with pytest.raises(
        ConfigError, match=r"'normal' does not support action spec Discrete\(2\) \(action leaf 'fire'\)"
    ):
        Catalog(Box((3,)), action, config).get_action_dist_config()


def test_bad_options_for_a_leaf_encoder_name_the_path() -> None:
    obs = Composite({"image": GRID, "v": Box((2,))})
    with pytest.raises(
        ConfigError,
        match=r"^model_config\.leaf_encoders\['image'\]\.encoder_config\.hidens: encoder 'cnn' of plugin 'cnn' "
        r"\(rl8-core [^)]*\) at 'image' \(Box.*\) takes no option 'hidens' \(did you mean 'hidden'\?\)",
    ):
        Catalog(obs, Discrete(2), {"leaf_encoders": {"image": {"encoder_config": {"hidens": 3}}}}).build_encoder()
    with pytest.raises(ConfigError, match=r"model_config\.encoder_config: 'encoders' is set by the catalog"):
        Catalog(obs, Discrete(2), {"encoder_config": {"encoders": {}}}).build_encoder()


# --- Action masking ----------------------------------------------------------------------


def _masked_module(n: int = 5, **config: Any) -> ActorCriticModule:
    torch.manual_seed(0)
    obs = Composite({"obs": Box((3,)), "action_mask": MultiBinary(n)})
    return ActorCriticModule(obs, Discrete(n), config)


def _random_masks(b: int, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.randint(0, 2, (b, n), generator=gen, dtype=torch.int8)
    mask[torch.arange(b), torch.randint(0, n, (b,), generator=gen)] = 1  # at least one allowed per row
    return mask


def _favour(module: ActorCriticModule, actions: list[int], by: float = 50.0) -> None:
    head = list(module.pi.modules())[-1]
    assert isinstance(head, nn.Linear)
    with torch.no_grad():
        head.bias[actions] = by


def test_masking_is_found_and_the_encoders_skip_the_mask() -> None:
    cat = ActorCriticCatalog(MASKED_OBS, Discrete(4))
    assert cat.get_action_mask_key() == "action_mask"
    assert cat.encoder_observation_spec() == Composite({"image": IMAGE, "vector": Box((5,))})
    assert set(cat.plan_encoder().children) == {"image", "vector"}
    obs = Composite({"image": GRID, "vector": Box((5,)), "action_mask": MultiBinary(4)})
    module = ActorCriticModule(obs, Discrete(4))
    assert module.action_mask_key == "action_mask"
    assert isinstance(module.pi_encoder, CompositeEncoder)
    assert module.pi_encoder.keys == ("image", "vector")
    assert isinstance(module.pi_encoder.encoders[0], CNNEncoder)


def test_masked_actions_are_never_sampled() -> None:
    n, b = 5, 4000
    module = _masked_module(n)
    _favour(module, [0, 1])  # the masked actions would be the favourites
    batch = _batch(module.observation_spec, b)
    mask = _random_masks(b, n)
    batch[Columns.OBS, "action_mask"] = mask
    with torch.no_grad():
        for _ in range(3):
            actions = module.forward_exploration(batch)[Columns.ACTIONS]
            assert bool(mask[torch.arange(b), actions].all())
            assert bool(torch.isfinite(module.forward_exploration(batch)[Columns.ACTION_LOGP]).all())
    # Every allowed action does come up: the mask removes only what it should.
    assert set(actions.tolist()) == set(range(n))


def test_masked_actions_are_never_chosen_deterministically() -> None:
    n = 5
    module = _masked_module(n)
    _favour(module, [2])
    batch = _batch(module.observation_spec, 64)
    assert bool((module.forward_inference(batch)[Columns.ACTIONS] == 2).sum() > 0)
    batch[Columns.OBS, "action_mask"][:, 2] = 0
    with torch.no_grad():
        actions = module.forward_inference(batch)[Columns.ACTIONS]
    assert not bool((actions == 2).any())


def test_masked_actions_add_nothing_to_the_entropy() -> None:
    n = 5
    module = _masked_module(n)
    batch = _batch(module.observation_spec, 32)
    allowed = [0, 2, 3]
    mask = torch.zeros(32, n, dtype=torch.int8)
    mask[:, allowed] = 1
    batch[Columns.OBS, "action_mask"] = mask
    inputs = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    dist = module.make_action_dist(inputs)
    raw = module.pi(module.pi_encoder(batch[Columns.OBS].exclude("action_mask")))
    expected = torch.distributions.Categorical(logits=raw[:, allowed]).entropy()  # type: ignore[no-untyped-call]
    torch.testing.assert_close(dist.entropy(), expected)
    assert isinstance(dist, Categorical)
    torch.testing.assert_close(dist.probs[:, [1, 4]], torch.zeros(32, 2))
    # Gradients stay finite through the masked logits.
    torch.autograd.backward(dist.entropy().sum())
    assert all(bool(torch.isfinite(p.grad).all()) for p in module.parameters() if p.grad is not None)


def test_the_encoder_never_sees_the_mask(registry: Registry) -> None:
    module = _masked_module(4, encoder="key_recorder", shared_encoder=True)
    encoder = module.pi_encoder
    assert isinstance(encoder, KeyRecorder)
    assert encoder.observation_spec == Composite({"obs": Box((3,))})
    assert encoder.seen  # the build-time checks ran it too
    assert all(keys == ["obs"] for keys in encoder.seen)
    encoder.seen.clear()
    batch = _batch(module.observation_spec)
    module.forward_train(batch)
    module.forward_exploration(batch)
    module.forward_inference(batch)
    assert encoder.seen == [["obs"]] * 3


@_needs("multi_categorical")
def test_multi_discrete_masking() -> None:
    nvec = [3, 2, 4]
    obs = Composite({"obs": Box((3,)), "action_mask": MultiBinary(sum(nvec))})
    torch.manual_seed(0)
    module = ActorCriticModule(obs, MultiDiscrete(nvec))
    assert module.action_mask_key == "action_mask"
    _favour(module, [0, 3, 5])  # the first choice of every sub-action
    b = 2000
    batch = _batch(obs, b)
    mask = torch.ones(b, sum(nvec), dtype=torch.int8)
    mask[:, [0, 3, 5]] = 0
    mask[: b // 2, 1] = 0  # half the rows may only pick 2 in the first sub-action
    batch[Columns.OBS, "action_mask"] = mask
    with torch.no_grad():
        explore = module.forward_exploration(batch)
        infer = module.forward_inference(batch)
    for actions in (explore[Columns.ACTIONS], infer[Columns.ACTIONS]):
        assert bool((actions[:, 0] != 0).all())
        assert bool((actions[:, 1] == 1).all())
        assert bool((actions[:, 2] != 0).all())
        assert bool((actions[: b // 2, 0] == 2).all())
    assert bool(torch.isfinite(explore[Columns.ACTION_LOGP]).all())
    entropy = module.make_action_dist(explore[Columns.ACTION_DIST_INPUTS]).entropy()
    assert bool(torch.isfinite(entropy).all())


def test_apply_action_mask_reshapes_the_mask_to_the_logits() -> None:
    logits = torch.zeros(2, 5)
    mask = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=torch.bool)
    out = apply_action_mask(logits, mask)
    assert out.dtype == logits.dtype
    assert bool((out[~mask] == torch.finfo(torch.float32).min).all())
    assert bool((out[mask] == 0).all())
    torch.testing.assert_close(apply_action_mask(logits, mask.reshape(2, 5, 1).float()), out)
    half = apply_action_mask(logits.half(), mask)
    assert bool((half[~mask] == torch.finfo(torch.float16).min).all())


@pytest.mark.parametrize(
    ("obs", "action", "config", "message"),
    [
        (
            Composite({"obs": Box((3,)), "action_mask": MultiBinary(4)}),
            Discrete(5),
            {},
            r"observation 'action_mask' is MultiBinary\(\[4\]\), but an action mask for Discrete\(5\) must be a "
            r"MultiBinary or Box of 5 elements",
        ),
        (
            Composite({"obs": Box((3,)), "action_mask": MultiBinary(4)}),
            MultiDiscrete([2, 3]),
            {},
            r"for MultiDiscrete\(\[2, 3\]\) must be a MultiBinary or Box of 5 elements",
        ),
        (
            Composite({"obs": Box((3,)), "action_mask": Discrete(4)}),
            Discrete(4),
            {},
            r"observation 'action_mask' is Discrete\(4\).*set model_config\.action_mask_key to null",
        ),
        (
            Composite({"action_mask": MultiBinary(4)}),
            Discrete(4),
            {},
            "nothing but the action mask 'action_mask' to encode",
        ),
        (
            Composite({"obs": Box((3,)), "legal": MultiBinary(4)}),
            Discrete(4),
            {"action_mask_key": "legal_moves"},
            r"action_mask_key='legal_moves': the observation spec Dict\(obs, legal\) has no top-level key",
        ),
        (
            Composite({"obs": Box((3,)), "legal": MultiBinary(4)}),
            Box((2,)),
            {"action_mask_key": "legal"},
            r"only Discrete and MultiDiscrete actions can be masked",
        ),
    ],
)
def test_bad_action_masks_are_config_errors(obs: Spec, action: Spec, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog(obs, action, config)


def test_a_float_mask_is_never_normalised() -> None:
    obs = Composite({"obs": Box((3,)), "action_mask": Box((4,), 0.0, 1.0)})
    module = ActorCriticModule(obs, Discrete(4), {"normalize_obs": True})
    assert module.obs_normalizer is not None
    assert module.obs_normalizer.paths == [("obs",)]
    batch = _batch(obs)
    batch[Columns.OBS, "action_mask"][:] = torch.tensor([0.0, 0.0, 1.0, 0.0])
    module.obs_normalizer.update(batch[Columns.OBS] * 100)
    assert bool((module.forward_exploration(batch)[Columns.ACTIONS] == 2).all())


def test_masking_can_be_renamed_or_turned_off() -> None:
    obs = Composite({"obs": Box((3,)), "legal": Box((4,), 0, 1, dtype=torch.int8)})
    renamed = ActorCriticModule(obs, Discrete(4), {"action_mask_key": "legal"})
    assert renamed.action_mask_key == "legal"
    batch = _batch(obs)
    batch[Columns.OBS, "legal"][:] = torch.tensor([0, 1, 0, 0], dtype=torch.int8)
    assert bool((renamed.forward_exploration(batch)[Columns.ACTIONS] == 1).all())

    off = Catalog(MASKED_OBS, Discrete(4), {"action_mask_key": None})
    assert off.get_action_mask_key() is None
    assert off.encoder_observation_spec() is MASKED_OBS
    assert set(off.plan_encoder().children) == {"image", "vector", "action_mask"}
    assert off.describe()["action_mask"] is None


def test_a_mask_next_to_actions_that_cannot_be_masked_is_an_observation() -> None:
    cat = Catalog(MASKED_OBS, Box((4,)))
    assert cat.get_action_mask_key() is None
    assert "action_mask" in cat.plan_encoder().children


def test_a_distribution_with_other_inputs_than_the_mask_is_rejected() -> None:
    class Doubled(Categorical):
        @classmethod
        def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
            return 2 * super().required_inputs(action_spec)

    reg = Registry()
    reg.register("distribution", "doubled", Doubled)
    obs = Composite({"obs": Box((3,)), "action_mask": MultiBinary(4)})
    with pytest.raises(ConfigError, match=r"has 4 entries but distribution 'doubled' takes 8 inputs"):
        ActorCriticModule(obs, Discrete(4), {"action_dist": "doubled"}, registry=reg)


# --- Shared or separate encoders with composite and cnn encoders ------------------------


@pytest.mark.parametrize("shared", [False, True])
def test_shared_or_separate_composite_encoders(shared: bool) -> None:
    obs = Composite({"grid": GRID, "vector": Box((4,))})
    module = ActorCriticModule(obs, Discrete(3), {"shared_encoder": shared})
    assert isinstance(module.pi_encoder, CompositeEncoder)
    module.forward_train(_batch(obs))[Columns.VF_PREDS].sum().backward()
    cnn = module.pi_encoder.encoders[0]
    assert isinstance(cnn, CNNEncoder)
    if shared:
        assert module.vf_encoder is None
        assert all(p.grad is not None for p in cnn.parameters())  # the value loss trains the shared tree
    else:
        assert isinstance(module.vf_encoder, CompositeEncoder)
        assert isinstance(module.vf_encoder.encoders[0], CNNEncoder)
        assert {id(p) for p in module.pi_encoder.parameters()}.isdisjoint(id(p) for p in module.vf_encoder.parameters())
        assert all(p.grad is None for p in cnn.parameters())


def test_image_observations_through_the_module() -> None:
    for obs in (IMAGE, Box((4, 84, 84), low=0, high=255, dtype=torch.uint8), GRID):
        module = ActorCriticModule(obs, Discrete(3), {"shared_encoder": True})
        assert isinstance(module.pi_encoder, CNNEncoder)
        out = module.forward_exploration(_batch(obs, 4))
        assert out[Columns.ACTIONS].shape == (4,)


# --- A whole module on nested observations and actions ---------------------------------


NESTED_OBS = Composite(
    {
        "grid": GRID,
        "agent": {"pos": Box((2,)), "mode": Discrete(3), "flags": MultiBinary(2)},
        "pair": Composite.from_tuple([MultiDiscrete([2, 3]), Box((1,))]),
    }
)
NESTED_ACTION = Composite(
    {
        "move": Box((2,), low=-1.0, high=1.0),
        "fire": Discrete(3),
        "aim": {"which": MultiDiscrete([2, 3]), "buttons": MultiBinary(2)},
    }
)


def _unbounded(spec: Spec) -> Spec:
    if isinstance(spec, Composite):
        return Composite({k: _unbounded(s) for k, s in spec.items()})
    assert isinstance(spec, TensorSpec)
    return Box(spec.shape, dtype=spec.dtype) if isinstance(spec, Box) else spec


@_needs("composite", "multi_categorical", "bernoulli")
@pytest.mark.parametrize("shared", [False, True])
def test_actor_critic_module_on_nested_dict_spaces(shared: bool) -> None:
    module = ActorCriticModule(NESTED_OBS, NESTED_ACTION, {"shared_encoder": shared, "vf_hiddens": [16]})
    assert isinstance(module.pi_encoder, CompositeEncoder)
    leaves = module.catalog.get_action_dist_config()["leaves"]
    assert list(leaves) == ["move", "fire", "aim.which", "aim.buttons"]
    assert [cls.__name__ for cls, _ in leaves.values()][:2] == ["Normal", "Categorical"]
    batch = _batch(NESTED_OBS, 8)
    train = module.forward_train(batch)
    assert train[Columns.VF_PREDS].shape == (8,)
    with torch.no_grad():
        explore = module.forward_exploration(batch)
        infer = module.forward_inference(batch)
        again = module.forward_inference(batch)
    for out in (explore, infer):
        actions = out[Columns.ACTIONS]
        assert isinstance(actions, TensorDictBase)
        _unbounded(NESTED_ACTION).validate(actions, batch_shape=(8,))
    assert (infer[Columns.ACTIONS] == again[Columns.ACTIONS]).all()
    assert explore[Columns.ACTION_LOGP].shape == (8,)
    dist = module.make_action_dist(train[Columns.ACTION_DIST_INPUTS])
    logp = dist.logp(explore[Columns.ACTIONS])
    torch.testing.assert_close(logp, explore[Columns.ACTION_LOGP], rtol=1e-4, atol=1e-4)
    torch.autograd.backward(logp.sum() + dist.entropy().sum() + train[Columns.VF_PREDS].sum())
    assert all(p.grad is not None for p in module.pi_encoder.parameters())


@_needs("composite")
def test_leaf_action_dists_reach_the_real_composite_distribution(registry: Registry) -> None:
    action = Composite({"move": Box((2,)), "fire": Discrete(3)})
    config = {"leaf_action_dists": {"move": {"action_dist": "scaled_normal", "action_dist_config": {"scale": 0.5}}}}
    module = ActorCriticModule(Box((4,)), action, config)
    leaves = module.catalog.get_action_dist_config()["leaves"]
    assert leaves["move"] == (ScaledNormal, {"scale": 0.5})
    out = module.forward_exploration(_batch(Box((4,)), 5))
    assert out[Columns.ACTIONS]["move"].shape == (5, 2)
    names = {c["name"] for c in module.components()}
    assert {"composite", "scaled_normal", "categorical", "mlp"} <= names


def test_a_masked_nested_module_restores_from_a_checkpoint(tmp_path: Path) -> None:
    obs = Composite({"grid": GRID, "inv": Composite.from_tuple([Discrete(3)]), "action_mask": MultiBinary(4)})
    config = {"leaf_encoders": {"inv.0": {"encoder_config": {"hiddens": [8]}}}, "shared_encoder": True}
    module = ActorCriticModule(obs, Discrete(4), config)
    batch = _batch(obs, 5)
    batch[Columns.OBS, "action_mask"][:, 0] = 0
    module.save_to_path(tmp_path / "ckpt")
    restored = ActorCriticModule.from_checkpoint(tmp_path / "ckpt")
    assert restored.action_mask_key == "action_mask"
    with torch.no_grad():
        expected = module.forward_inference(batch)
        actual = restored.forward_inference(batch)
    torch.testing.assert_close(actual[Columns.ACTION_DIST_INPUTS], expected[Columns.ACTION_DIST_INPUTS])
    assert not bool((actual[Columns.ACTIONS] == 0).any())
