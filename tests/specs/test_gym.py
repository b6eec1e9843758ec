"""Unit tests of the gymnasium bridge: from_gymnasium, to_gymnasium, from_numpy, to_numpy."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from specs import (
    Box,
    Composite,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    UnsupportedSpaceError,
    from_gymnasium,
    from_numpy,
    to_gymnasium,
    to_numpy,
)

S = gym.spaces

NESTED = S.Dict(
    {
        "image": S.Box(0, 255, (3, 4, 4), np.uint8),
        "state": S.Dict(
            {
                "pos": S.Box(-1.0, 1.0, (2,), np.float32),
                "modes": S.Tuple([S.Discrete(3, start=1), S.Dict({"bits": S.MultiBinary(4)})]),
            }
        ),
        "keys": S.MultiDiscrete([2, 5], start=[0, -2]),
    }
)

CASES = [
    (S.Box(-1.0, 1.0, (3,), np.float32), Box((3,), low=-1.0, high=1.0)),
    (S.Box(-np.inf, np.inf, (2, 2), np.float64), Box((2, 2), dtype=torch.float64)),
    (S.Box(0.0, np.inf, (2,), np.float32), Box((2,), low=0.0)),
    (S.Box(-np.inf, 0.0, (), np.float32), Box((), high=0.0)),
    (S.Box(np.array([0.0, -1.0], np.float32), np.array([1.0, np.inf], np.float32)), Box((2,), [0, -1], [1, math.inf])),
    (S.Box(0, 255, (84, 84, 3), np.uint8), Box((84, 84, 3), low=0, high=255, dtype=torch.uint8)),
    (S.Box(-np.inf, np.inf, (2,), np.int32), Box((2,), -(2**31), 2**31 - 1, dtype=torch.int32)),
    (S.Box(-1.0, 1.0, (2,), np.float16), Box((2,), low=-1.0, high=1.0, dtype=torch.float16)),
    (S.Discrete(4), Discrete(4)),
    (S.Discrete(3, start=-1), Discrete(3, start=-1)),
    (S.MultiDiscrete([2, 3]), MultiDiscrete([2, 3])),
    (S.MultiDiscrete([2, 3], start=[1, -1], dtype=np.int32), MultiDiscrete([2, 3], start=[1, -1], dtype=torch.int32)),
    (S.MultiDiscrete(np.array([[2, 3], [4, 5]])), MultiDiscrete([[2, 3], [4, 5]])),
    (S.MultiBinary(5), MultiBinary(5)),
    (S.MultiBinary([2, 3]), MultiBinary([2, 3])),
    (S.Dict({"a": S.Discrete(2), "b": S.Box(0.0, 1.0, (1,))}), Composite(a=Discrete(2), b=Box((1,), 0.0, 1.0))),
    (S.Tuple([S.Discrete(2), S.MultiBinary(2)]), Composite.from_tuple([Discrete(2), MultiBinary(2)])),
    (
        NESTED,
        Composite(
            {
                "image": Box((3, 4, 4), low=0, high=255, dtype=torch.uint8),
                "keys": MultiDiscrete([2, 5], start=[0, -2]),
                "state": {
                    "modes": Composite.from_tuple([Discrete(3, start=1), Composite(bits=MultiBinary(4))]),
                    "pos": Box((2,), low=-1.0, high=1.0),
                },
            }
        ),
    ),
]
IDS = [f"{i}-{type(space).__name__}" for i, (space, _) in enumerate(CASES)]


@pytest.mark.parametrize(("space", "spec"), CASES, ids=IDS)
def test_from_gymnasium_gives_the_equivalent_spec(space: gym.Space, spec):
    converted = from_gymnasium(space)
    assert converted == spec
    assert to_gymnasium(converted) == space


@pytest.mark.parametrize(("space", "spec"), CASES, ids=IDS)
def test_samples_cross_the_bridge_both_ways(space: gym.Space, spec):
    spec = from_gymnasium(space)
    space.seed(0)
    for _ in range(5):
        spec.validate(from_numpy(spec, space.sample()), batch_shape=())
        assert space.contains(to_numpy(spec, spec.rand(generator=torch.Generator().manual_seed(_))))
    assert space.contains(to_numpy(spec, spec.zero()))


def test_discrete_keeps_its_dtype_both_ways():
    try:
        space = S.Discrete(3, start=2, dtype=np.int32)
    except TypeError:
        pytest.skip("this gymnasium's Discrete has no dtype")
    spec = from_gymnasium(space)
    assert spec == Discrete(3, start=2, dtype=torch.int32)
    assert to_gymnasium(spec) == space
    assert to_gymnasium(spec).dtype == np.int32


def test_nested_spec_keeps_its_structure():
    spec = from_gymnasium(NESTED)
    assert isinstance(spec, Composite)
    modes = spec["state", "modes"]
    assert isinstance(modes, Composite)
    assert modes.is_tuple
    assert [p for p, _ in spec.leaves()] == [
        ("image",),
        ("keys",),
        ("state", "modes", "0"),
        ("state", "modes", "1", "bits"),
        ("state", "pos"),
    ]
    back = to_gymnasium(spec)
    assert isinstance(back["state"]["modes"], S.Tuple)


def _deep(leaf: gym.Space, depth: int) -> gym.Space:
    for i in range(depth):
        leaf = S.Dict({f"k{i}": leaf}) if i % 2 == 0 else S.Tuple([S.Discrete(2), leaf])
    return leaf


UNSUPPORTED = {
    "Text": lambda: S.Text(5),
    "Graph": lambda: S.Graph(S.Box(0.0, 1.0, (2,)), S.Discrete(3)),
    "Sequence": lambda: S.Sequence(S.Discrete(2)),
}
if hasattr(S, "OneOf"):
    UNSUPPORTED["OneOf"] = lambda: S.OneOf([S.Discrete(2), S.Box(0.0, 1.0, (1,))])


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_spaces_name_the_space(name: str):
    with pytest.raises(UnsupportedSpaceError, match=rf"gymnasium space {name} \(") as info:
        from_gymnasium(UNSUPPORTED[name]())
    assert isinstance(info.value, TypeError)
    assert "Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple" in str(info.value)


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_spaces_name_their_path_inside_dicts_and_tuples(name: str):
    space = S.Dict({"obs": S.Dict({"pos": S.Box(0.0, 1.0, (1,)), "extra": UNSUPPORTED[name]()})})
    with pytest.raises(UnsupportedSpaceError, match=rf"{name} at 'obs\.extra'"):
        from_gymnasium(space)
    space = S.Dict({"a": S.Tuple([S.Discrete(2), S.Dict({"b": UNSUPPORTED[name]()})])})
    with pytest.raises(UnsupportedSpaceError, match=rf"{name} at 'a\.1\.b'"):
        from_gymnasium(space)
    with pytest.raises(UnsupportedSpaceError, match=rf"{name} at 'k4\.1\.k2\.1\.k0\.k0'"):
        from_gymnasium(_deep(S.Dict({"k0": UNSUPPORTED[name]()}), 5))


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (S.Dict({"x": S.Box(0, 1, (2,), np.bool_)}), r"Box at 'x' .* MultiBinary"),
        (S.Dict({"a": S.Dict({"b.c": S.Discrete(2)})}), r"Dict at 'a' .*'b\.c'"),
        (S.Dict({"q": S.Tuple([])}), r"Tuple at 'q' .* at least one entry"),
        (S.Dict({}), r"Dict \(.* at least one entry"),
    ],
)
def test_spaces_a_spec_cannot_hold_are_unsupported_with_their_path(space: gym.Space, match: str):
    with pytest.raises(UnsupportedSpaceError, match=match):
        from_gymnasium(space)


def test_deeply_nested_spaces_convert_and_round_trip():
    space = _deep(S.MultiDiscrete([3, 2], start=[1, 0]), 6)
    spec = from_gymnasium(space)
    assert to_gymnasium(spec) == space
    assert spec["1", "k4", "1", "k2", "1", "k0"] == MultiDiscrete([3, 2], start=[1, 0])


def test_from_numpy_with_a_batch_shape():
    spec = from_gymnasium(NESTED)
    batch = [NESTED.sample() for _ in range(3)]
    stacked = {
        "image": np.stack([b["image"] for b in batch]),
        "keys": np.stack([b["keys"] for b in batch]),
        "state": {
            "pos": np.stack([b["state"]["pos"] for b in batch]),
            "modes": (
                np.stack([b["state"]["modes"][0] for b in batch]),
                {"bits": np.stack([b["state"]["modes"][1]["bits"] for b in batch])},
            ),
        },
    }
    td = from_numpy(spec, stacked, batch_shape=(3,))
    assert isinstance(td, TensorDict)
    assert td.batch_size == (3,)
    spec.validate(td, batch_shape=(3,))
    assert td["state", "modes", "1", "bits"].dtype == torch.int8
    back = to_numpy(spec, td)
    assert isinstance(back["state"]["modes"], tuple)
    np.testing.assert_array_equal(back["image"], stacked["image"])


def test_from_numpy_converts_to_the_spec_dtype_and_device():
    x = from_numpy(Box((2,)), np.array([1, 2], dtype=np.int64), device="cpu")
    assert x.dtype == torch.float32
    assert x.tolist() == [1.0, 2.0]
    assert from_numpy(Discrete(3), 2).dtype == torch.int64


def test_bridge_type_errors():
    with pytest.raises(TypeError, match="expected a mapping"):
        from_numpy(Composite(a=Discrete(2)), [1])
    with pytest.raises(TypeError, match="expected a TensorDict"):
        to_numpy(Composite(a=Discrete(2)), torch.zeros(2))
    with pytest.raises(TypeError, match="expected a Tensor"):
        to_numpy(Discrete(2), np.zeros(2))
    with pytest.raises(TypeError, match="cannot convert"):
        to_gymnasium("Box")  # type: ignore[arg-type]
