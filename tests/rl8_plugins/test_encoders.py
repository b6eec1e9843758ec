"""The ``cnn`` and ``composite`` encoder plugins."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from catalogs import Catalog
from rl8_core import Encoder, FlattenObs, get_registry
from rl8_core.testing import check_encoder, example_observation_specs
from rl8_plugins.encoders.cnn import NATURE_FILTERS, SMALL_FILTERS, TINY_FILTERS, CNNEncoder
from rl8_plugins.encoders.composite import CompositeEncoder
from rl8_plugins.encoders.mlp import MLPEncoder
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec


def _image(*shape: int, dtype: torch.dtype = torch.uint8) -> Box:
    return Box(shape, low=0, high=255, dtype=dtype) if dtype == torch.uint8 else Box(shape, 0.0, 1.0, dtype)


def _convs(encoder: nn.Module) -> list[nn.Conv2d]:
    return [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]


def _seeded_cnn(spec: Spec, **options: object) -> CNNEncoder:
    torch.manual_seed(0)
    return CNNEncoder(spec, **options)  # type: ignore[arg-type]


# --- Registration ------------------------------------------------------------------------


def test_both_are_registered_builtins() -> None:
    registry = get_registry()
    assert registry.get("encoder", "cnn") is CNNEncoder
    assert registry.get("encoder", "composite") is CompositeEncoder
    assert registry.info("encoder", "composite").plugin == "composite_encoder"
    assert registry.info("encoder", "cnn").distribution == "rl8-core"
    assert CompositeEncoder.takes_sub_encoders is True
    assert Encoder.takes_sub_encoders is False
    assert CNNEncoder.takes_sub_encoders is False


# --- cnn ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "last"),
    [
        ((84, 84, 3), True),
        ((64, 64, 1), True),
        ((84, 84, 4), True),
        ((3, 84, 84), False),
        ((4, 84, 84), False),
        ((1, 7, 7), False),
        ((7, 7, 3), True),
        ((3, 7, 3), False),  # both ends could be channels: first
        ((84, 84, 6), True),  # neither end is 1, 3 or 4: the smaller end
        ((6, 84, 84), False),
    ],
)
def test_cnn_finds_the_channels(shape: tuple[int, int, int], last: bool) -> None:
    assert CNNEncoder(_image(*shape), hidden=8).channels_last is last


def test_cnn_channels_option_overrides_the_guess() -> None:
    assert CNNEncoder(_image(3, 84, 84), channels="last", hidden=8, filters=[[4, 3, 2]]).channels_last
    assert not CNNEncoder(_image(84, 84, 3), channels="first", hidden=8, filters=[[4, 3, 2]]).channels_last
    with pytest.raises(ValueError, match="channels must be 'auto', 'last' or 'first', got 'middle'"):
        CNNEncoder(_image(84, 84, 3), channels="middle")  # type: ignore[arg-type]


def test_cnn_channel_last_and_first_agree_on_the_same_pixels() -> None:
    hwc = _seeded_cnn(_image(10, 12, 3), hidden=16)
    chw = _seeded_cnn(_image(3, 10, 12), hidden=16)
    assert hwc.channels_last
    assert not chw.channels_last
    images = _image(10, 12, 3).rand((5,))
    torch.testing.assert_close(hwc(images), chw(images.permute(0, 3, 1, 2)))


def test_cnn_scales_uint8_and_passes_floats_as_they_are() -> None:
    uint8 = _seeded_cnn(_image(16, 16, 3), hidden=8)
    floats = _seeded_cnn(_image(16, 16, 3, dtype=torch.float32), hidden=8)
    assert uint8.scale_uint8
    assert not floats.scale_uint8
    pixels = _image(16, 16, 3).rand((4,))
    torch.testing.assert_close(uint8(pixels), floats(pixels.float() / 255.0))
    assert not torch.allclose(floats(pixels.float()), uint8(pixels))  # floats are not rescaled


@pytest.mark.parametrize(
    ("shape", "filters", "hidden"),
    [
        ((84, 84, 3), NATURE_FILTERS, 512),
        ((64, 64, 3), NATURE_FILTERS, 512),
        ((48, 48, 3), SMALL_FILTERS, 256),
        ((16, 20, 1), SMALL_FILTERS, 256),
        ((7, 7, 3), TINY_FILTERS, 256),
        ((3, 3, 1), TINY_FILTERS, 256),
    ],
)
def test_cnn_default_filters_follow_the_image_size(
    shape: tuple[int, int, int], filters: tuple[tuple[int, ...], ...], hidden: int
) -> None:
    spec = _image(*shape)
    enc = CNNEncoder(spec)
    assert enc.output_dim == hidden
    expected = [(f[0], f[1], f[2], f[3] if len(f) == 4 else 0) for f in filters]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in _convs(enc)] == expected
    assert enc(spec.rand((2,))).shape == (2, hidden)


def test_cnn_nature_stack_on_84x84_has_the_classic_sizes() -> None:
    enc = CNNEncoder(_image(84, 84, 4), hidden=32)
    dense = [m for m in enc.dense.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(64 * 7 * 7, 32)]
    assert enc(torch.zeros(1, 84, 84, 4, dtype=torch.uint8)).shape == (1, 32)


def test_cnn_options() -> None:
    spec = _image(3, 21, 21)
    enc = CNNEncoder(spec, filters=[[8, 5, 2, 2], [16, 3, 1]], hidden=40, activation="elu")
    assert [(c.in_channels, c.out_channels, c.padding[0]) for c in _convs(enc)] == [(3, 8, 2), (8, 16, 0)]
    assert enc.output_dim == 40
    assert sum(isinstance(m, nn.ELU) for m in enc.modules()) == 3
    assert not any(isinstance(m, nn.ReLU) for m in enc.modules())
    assert enc(spec.rand((3,))).shape == (3, 40)


def test_cnn_uses_orthogonal_init_like_build_mlp() -> None:
    enc = CNNEncoder(_image(84, 84, 3), hidden=16)
    first = _convs(enc)[0]
    w = first.weight.detach().flatten(1)  # [32, 3*8*8]: orthogonal rows with gain sqrt(2)
    torch.testing.assert_close(w @ w.T, 2 * torch.eye(32), atol=1e-4, rtol=1e-4)
    assert all(c.bias is not None and bool((c.bias == 0).all()) for c in _convs(enc))
    (dense,) = [m for m in enc.dense.modules() if isinstance(m, nn.Linear)]
    w = dense.weight.detach()  # [16, 3136]
    torch.testing.assert_close(w @ w.T, 2 * torch.eye(16), atol=1e-4, rtol=1e-4)
    assert bool((dense.bias == 0).all())


def test_cnn_accepts_extra_leading_batch_dims() -> None:
    enc = CNNEncoder(_image(7, 7, 3), hidden=12)
    images = _image(7, 7, 3).rand((2, 5))
    out = enc(images)
    assert out.shape == (2, 5, 12)
    torch.testing.assert_close(out[1], enc(images[1]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"filters": [[8, 9, 1]]},
            r"a 7x7 image is too small for filters \[\[8, 9, 1, 0\]\] \(nothing is left after filter 0\)",
        ),
        ({"filters": [[8, 3]]}, r"filter 0 must be \[out_channels, kernel, stride\]"),
        ({"filters": [[8, 3, 1], [4, 0, 1]]}, r"filter 1 needs positive sizes"),
        ({"filters": []}, "at least one filter"),
        ({"hidden": 0}, "hidden must be positive"),
    ],
)
def test_cnn_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CNNEncoder(_image(7, 7, 3), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", [Box((4,)), Box((2, 3)), Discrete(3), Composite({"a": Box((2,))})], ids=repr)
def test_cnn_needs_a_rank_3_box(spec: Spec) -> None:
    with pytest.raises(TypeError, match="CNNEncoder needs a Box of rank 3"):
        CNNEncoder(spec)


def test_cnn_keeps_the_encoder_contract() -> None:
    examples = example_observation_specs()
    assert check_encoder(CNNEncoder) == [examples["image"]]
    specs = {"chw": _image(3, 20, 20), "tiny": _image(7, 7, 3), "float": _image(16, 16, 1, dtype=torch.float32)}
    assert check_encoder(CNNEncoder, specs, hidden=16) == list(specs.values())


# --- composite ---------------------------------------------------------------------------


NESTED = Composite(
    {
        "image": Box((7, 7, 3), low=0, high=255, dtype=torch.uint8),
        "vector": Box((5,)),
        "agent": {"mode": Discrete(3), "dirs": MultiDiscrete([2, 3])},
        "pair": Composite.from_tuple([MultiBinary(2), Box((1,))]),
    }
)


def test_composite_from_the_catalog_builds_cnn_mlp_and_nested_composites() -> None:
    enc = Catalog(NESTED, Discrete(2), {"encoder_config": {"hiddens": []}}).build_encoder()
    assert isinstance(enc, CompositeEncoder)
    assert enc.keys == ("image", "vector", "agent", "pair")
    image, vector, agent, pair = enc.encoders
    assert isinstance(image, CNNEncoder)
    assert isinstance(vector, MLPEncoder)
    assert isinstance(agent, CompositeEncoder)
    assert isinstance(pair, CompositeEncoder)
    assert [type(e) for e in agent.encoders] == [MLPEncoder, MLPEncoder]
    assert [type(e) for e in pair.encoders] == [MLPEncoder, MLPEncoder]
    # The top level passes its entries through; nested composites mix theirs (default [256]).
    assert enc.output_dim == 256 + 64 + 256 + 256
    assert agent.output_dim == 256
    assert agent.head[0].in_features == 2 * 64

    obs = NESTED.rand((6,))
    out = enc(obs)
    assert out.shape == (6, enc.output_dim)
    expected = torch.cat(
        [
            image(obs["image"]),
            vector(obs["vector"]),
            agent.head(
                torch.cat([agent.encoders[0](obs["agent", "mode"]), agent.encoders[1](obs["agent", "dirs"])], -1)
            ),
            pair.head(torch.cat([pair.encoders[0](obs["pair", "0"]), pair.encoders[1](obs["pair", "1"])], -1)),
        ],
        dim=-1,
    )
    torch.testing.assert_close(out, expected)
    torch.autograd.backward(out.sum())
    assert all(p.grad is not None for p in enc.parameters())


def test_composite_head_mixes_the_entries() -> None:
    enc = Catalog(NESTED, Discrete(2), {"encoder_config": {"hiddens": [32, 16], "activation": "relu"}}).build_encoder()
    assert isinstance(enc, CompositeEncoder)
    assert enc.output_dim == 16
    assert [m.out_features for m in enc.head.modules() if isinstance(m, nn.Linear)] == [32, 16]
    assert enc(NESTED.rand((3,))).shape == (3, 16)


def test_composite_without_sub_encoders_flattens_every_leaf() -> None:
    spec = Composite({"pos": Box((2,)), "mode": Discrete(3), "deep": {"bits": MultiBinary(4)}})
    enc = CompositeEncoder(spec, hiddens=[])
    assert enc.output_dim == 2 + 3 + 4
    assert not list(enc.parameters())
    assert isinstance(enc.encoders[0], FlattenObs)
    obs = spec.rand((2,))
    expected = torch.cat([obs["pos"], nn.functional.one_hot(obs["mode"], 3).float(), obs["deep", "bits"].float()], -1)
    torch.testing.assert_close(enc(obs), expected)


def test_composite_keys_may_shadow_module_attributes() -> None:
    spec = Composite({"items": Box((2,)), "values": Discrete(2), "keys": Box((1,))})
    enc = Catalog(spec, Discrete(2)).build_encoder()
    assert enc(spec.rand((3,))).shape == (3, 256)


def test_composite_ignores_keys_it_does_not_know() -> None:
    spec = Composite({"pos": Box((2,))})
    enc = CompositeEncoder(spec, hiddens=[])
    obs = Composite({"pos": Box((2,)), "other": Box((3,))}).rand((2,))
    torch.testing.assert_close(enc(obs), obs["pos"])


def test_composite_checks_its_sub_encoders() -> None:
    spec = Composite({"a": Box((2,)), "b": Box((3,))})
    with pytest.raises(ValueError, match=r"missing: \['b'\], unexpected: \['c'\]"):
        CompositeEncoder(spec, encoders={"a": MLPEncoder(Box((2,))), "c": MLPEncoder(Box((3,)))})
    with pytest.raises(TypeError, match="the encoder for 'b' is a Linear, not an Encoder"):
        CompositeEncoder(spec, encoders={"a": MLPEncoder(Box((2,))), "b": nn.Linear(3, 3)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="CompositeEncoder needs a Composite observation spec"):
        CompositeEncoder(Box((3,)))


def test_composite_keeps_the_encoder_contract() -> None:
    examples = example_observation_specs()
    composites = [examples["composite"], examples["nested_composite"]]
    assert check_encoder(CompositeEncoder) == composites
    assert check_encoder(CompositeEncoder, hiddens=[8]) == composites


def test_catalog_built_composites_keep_the_encoder_contract() -> None:
    def from_catalog(spec: Spec) -> Encoder:
        return Catalog(spec, Discrete(2), {"encoder_config": {"hiddens": [8]}}).build_encoder()

    specs = {
        "nested": NESTED,
        "image_and_vector": Composite({"img": Box((3, 16, 16), low=0, high=255, dtype=torch.uint8), "v": Box((3,))}),
        "tuple": Composite.from_tuple([Discrete(4), Box((2, 2))]),
    }
    assert check_encoder(from_catalog, specs) == list(specs.values())
