"""Unit tests of the space specs: Box, Discrete, MultiDiscrete, MultiBinary, Composite."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tensordict import TensorDict

from specs import (
    Box,
    Composite,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Spec,
    SpecError,
    TensorShape,
    check,
    spec_from_dict,
)

LEAVES: dict[str, Spec] = {
    "box_bounded": Box((2, 3), low=-1.0, high=1.0),
    "box_unbounded": Box((4,)),
    "box_low_only": Box((2,), low=0.0),
    "box_high_only": Box((2,), high=0.0),
    "box_per_element": Box((2,), low=[0.0, -math.inf], high=[1.0, 5.0], dtype=torch.float64),
    "box_uint8_image": Box((3, 4, 4), low=0, high=255, dtype=torch.uint8),
    "box_int": Box((2,), low=-3, high=3, dtype=torch.int32),
    "box_scalar": Box((), low=0.5, high=0.5),
    "discrete": Discrete(4),
    "discrete_start": Discrete(3, start=-1, dtype=torch.int32),
    "multi_discrete": MultiDiscrete([2, 3, 4]),
    "multi_discrete_start": MultiDiscrete([[2, 3], [1, 5]], start=[[1, -2], [0, 10]]),
    "multi_binary": MultiBinary(3),
    "multi_binary_2d": MultiBinary([2, 2], dtype=torch.bool),
}
COMPOSITES: dict[str, Spec] = {
    "dict": Composite({"pos": Box((2,)), "mode": Discrete(3)}),
    "nested": Composite({"a": {"b": {"c": MultiBinary(2)}, "d": Box((1,), low=0.0, high=1.0)}, "e": Discrete(2)}),
    "tuple": Composite.from_tuple([Discrete(2), Composite.from_tuple([Box((1,)), MultiDiscrete([3])])]),
}
ALL = {**LEAVES, **COMPOSITES}
BATCH_SHAPES = [(), (5,), (2, 3), (0,)]


def _leaf_of(spec: Spec, x: torch.Tensor | TensorDict) -> list[tuple[Spec, torch.Tensor]]:
    if isinstance(spec, Composite):
        assert isinstance(x, TensorDict)
        return [(leaf, x[path]) for path, leaf in spec.leaves()]
    assert isinstance(x, torch.Tensor)
    return [(spec, x)]


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("make", ["rand", "zero"])
def test_rand_and_zero_have_the_batch_shape_dtype_and_belong(name: str, batch_shape: tuple[int, ...], make: str):
    spec = ALL[name]
    x = spec.rand(batch_shape, generator=torch.Generator().manual_seed(0)) if make == "rand" else spec.zero(batch_shape)
    if isinstance(spec, Composite):
        assert x.batch_size == torch.Size(batch_shape)
    for leaf, t in _leaf_of(spec, x):
        assert t.shape == torch.Size(batch_shape) + leaf.shape
        assert t.dtype == leaf.dtype
        assert t.device == leaf.device
    spec.validate(x)
    spec.validate(x, batch_shape=batch_shape)
    assert spec.contains(x)
    assert x in spec


def test_rand_accepts_an_int_batch_shape_and_a_generator_makes_it_reproducible():
    box = Box((2,), low=0.0, high=1.0)
    assert box.rand(3).shape == (3, 2)
    a = box.rand((4,), generator=torch.Generator().manual_seed(7))
    b = box.rand((4,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_zero_is_moved_into_the_bounds():
    assert Box((2,), low=1.0, high=2.0).zero().tolist() == [1.0, 1.0]
    assert Box((1,), low=-5.0, high=-2.0).zero().tolist() == [-2.0]
    assert Discrete(3, start=2).zero((2,)).tolist() == [2, 2]
    assert MultiDiscrete([3, 3], start=[1, -1]).zero().tolist() == [1, -1]


def test_half_bounded_and_unbounded_box_samples_respect_finite_bounds():
    x = Box((1000,), low=3.0).rand(generator=torch.Generator().manual_seed(0))
    assert bool((x >= 3.0).all())
    y = Box((1000,), high=-3.0).rand(generator=torch.Generator().manual_seed(0))
    assert bool((y <= -3.0).all())
    z = Box((1000,)).rand(generator=torch.Generator().manual_seed(0))
    assert bool(z.isfinite().all())
    assert bool((z < 0).any() and (z > 0).any())


def test_integer_box_samples_cover_both_bounds():
    x = Box((2000,), low=0, high=3, dtype=torch.uint8).rand(generator=torch.Generator().manual_seed(0))
    assert sorted(set(x.tolist())) == [0, 1, 2, 3]


def test_box_bounds_are_held_as_the_dtype_represents_them():
    # 0.7 is not a float32: samples and zero() (all float32) must still belong.
    box = Box((1000,), low=0.7, high=1.0)
    assert box.contains(box.zero())
    assert box.contains(box.rand(generator=torch.Generator().manual_seed(0)))
    assert box.low[0].item() == torch.tensor(0.7, dtype=torch.float32).item()
    degenerate = Box((3,), low=0.1, high=0.1, dtype=torch.float16)
    assert degenerate.contains(degenerate.rand())


def test_box_with_bounds_near_the_float64_maximum_samples_finite_values():
    big = torch.finfo(torch.float64).max
    box = Box((100,), low=-big, high=big, dtype=torch.float64)
    x = box.rand(generator=torch.Generator().manual_seed(0))
    assert bool(x.isfinite().all())
    assert box.contains(x)


def test_box_finite_bounds_beyond_the_dtype_range_are_clamped_into_it():
    box = Box((100,), low=-1e6, high=1e6, dtype=torch.float16)
    assert box.is_bounded
    assert box.high[0].item() == torch.finfo(torch.float16).max
    assert box.contains(box.rand(generator=torch.Generator().manual_seed(0)))


def test_integer_box_with_fractional_bounds_keeps_the_integers_inside():
    box = Box((500,), low=0.5, high=2.5, dtype=torch.int32)
    assert box.low[0].item() == 1.0
    assert box.high[0].item() == 2.0
    assert box.contains(box.rand(generator=torch.Generator().manual_seed(0)))
    assert not box.contains(torch.zeros(500, dtype=torch.int32))


def test_int64_box_over_the_whole_range_samples_valid_values():
    info = torch.iinfo(torch.int64)
    box = Box((100,), low=info.min, high=info.max, dtype=torch.int64)
    x = box.rand(generator=torch.Generator().manual_seed(0))
    assert box.contains(x)
    assert bool((x > 0).any() and (x < 0).any())


@pytest.mark.parametrize(
    ("spec", "x", "kind", "needle"),
    [
        (Box((2,), low=0.0, high=1.0), torch.tensor([0.5, 1.5]), "value", "1.5"),
        (Box((2,), low=0.0, high=1.0), torch.tensor([-0.5, 0.5]), "value", "-0.5"),
        (Box((2,), low=0.0), torch.tensor([[1.0, -1.0]]), "value", "index [0, 1]"),
        (Box((2,)), torch.tensor([0.0, math.nan]), "value", "nan"),
        (Box((2,), low=0.0, high=1.0), torch.tensor([0.0, math.nan]), "value", "nan"),
        (Box((2,)), torch.zeros(2, dtype=torch.float64), "dtype", "torch.float64"),
        (Box((2,)), torch.zeros(3), "dim", "[2]"),
        (Box((2, 3)), torch.zeros(3), "rank", "[2, 3]"),
        (Box((2,)), [0.0, 0.0], "type", "list"),
        (Box((2,), low=0, high=255, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), "dtype", "torch.uint8"),
        (Discrete(3), torch.tensor([0, 3]), "value", "value 3"),
        (Discrete(3, start=1), torch.tensor(0), "value", "range [1, 3]"),
        (Discrete(3), torch.tensor([0.0]), "dtype", "torch.float32"),
        (Discrete(3), torch.tensor([0], dtype=torch.int32), "dtype", "torch.int32"),
        (MultiDiscrete([2, 3]), torch.tensor([1, 3]), "value", "[0, 2]"),
        (MultiDiscrete([2, 3], start=[1, 1]), torch.tensor([0, 1]), "value", "[1, 2]"),
        (MultiDiscrete([2, 3]), torch.tensor([0, 0, 0]), "dim", "[2]"),
        (MultiBinary(2), torch.tensor([0, 2], dtype=torch.int8), "value", "2"),
        (MultiBinary(2), torch.tensor([0, 1]), "dtype", "torch.int64"),
        (MultiBinary([2, 2]), torch.zeros(2, 3, dtype=torch.int8), "dim", "[2, 2]"),
    ],
)
def test_validate_names_the_kind_and_the_offending_value(spec: Spec, x: object, kind: str, needle: str):
    assert not spec.contains(x)
    with pytest.raises(SpecError) as info:
        spec.validate(x)
    (mismatch,) = info.value.mismatches
    assert mismatch.kind == kind
    assert mismatch.path == ""
    assert needle in str(info.value)
    assert "<root>" in str(info.value)


@pytest.mark.parametrize("name", list(ALL))
def test_batch_shape_argument_is_enforced(name: str):
    spec = ALL[name]
    x = spec.rand((2, 3))
    spec.validate(x, batch_shape=(2, 3))
    spec.validate(x, batch_shape=torch.Size([2, 3]))
    assert not spec.contains(x, batch_shape=(3, 2))
    assert not spec.contains(x, batch_shape=(2,))
    with pytest.raises(SpecError, match=r"expected batch shape \[6\], got \[2, 3\]"):
        spec.validate(x, batch_shape=6)


def test_leaf_batch_shape_is_inferred_from_leading_dims():
    box = Box((2,))
    assert box.contains(torch.zeros(2))
    assert box.contains(torch.zeros(4, 5, 2))
    assert box.contains(torch.zeros(4, 5, 2), batch_shape=(4, 5))


def test_composite_batch_shape_comes_from_the_tensordict():
    spec = Composite({"x": Box((2,))})
    td = TensorDict({"x": torch.zeros(4, 2)}, batch_size=[])
    with pytest.raises(SpecError, match=r"expected batch shape \[\], got \[4\]"):
        spec.validate(td)
    spec.validate(TensorDict({"x": torch.zeros(4, 2)}, batch_size=[4]))


def test_validate_names_the_path_of_the_first_offending_leaf():
    spec = Composite(
        {
            "a": {"b": Discrete(3), "c": {"d": Box((1,), low=0.0, high=1.0)}},
            "e": MultiBinary(2),
        }
    )
    td = spec.rand((4,))
    td["a", "c", "d"][2, 0] = 2.0
    td["e"][0, 0] = 5  # a second fault, after the first in key order
    with pytest.raises(SpecError) as info:
        spec.validate(td)
    (mismatch,) = info.value.mismatches
    assert mismatch.path == "a.c.d"
    assert mismatch.kind == "value"
    assert "'a.c.d'" in str(info.value)
    assert "2.0" in str(info.value)


def test_validate_composite_reports_missing_extra_and_wrong_type_entries():
    spec = Composite({"a": {"b": Discrete(3)}, "c": Box((2,))})
    td = spec.zero((2,))
    del td["a", "b"]
    with pytest.raises(SpecError, match=r"'a\.b': missing key \(expected Discrete\(3\)\)"):
        spec.validate(td)

    td = spec.zero((2,))
    td["a", "z"] = torch.zeros(2)
    with pytest.raises(SpecError, match=r"'a\.z': unexpected key") as info:
        spec.validate(td)
    assert info.value.mismatches[0].kind == "extra"

    td = spec.zero((2,))
    td["a"] = torch.zeros(2)
    with pytest.raises(SpecError, match=r"'a': expected a TensorDict for a Composite, got Tensor"):
        spec.validate(td)

    with pytest.raises(SpecError, match=r"<root>: expected a TensorDict for a Composite, got dict"):
        spec.validate({"a": {"b": torch.zeros(2)}, "c": torch.zeros(2, 2)})


def test_tuple_composite_paths_use_indices():
    spec = Composite.from_tuple([Discrete(2), Composite.from_tuple([Box((1,), low=0.0, high=1.0)])])
    td = spec.zero((3,))
    td["1", "0"][0] = -1.0
    with pytest.raises(SpecError) as info:
        spec.validate(td)
    assert info.value.mismatches[0].path == "1.0"


@pytest.mark.parametrize("name", list(ALL))
def test_to_device_keeps_the_spec_and_moves_samples(name: str):
    spec = ALL[name]
    for device in ("cpu", torch.device("cpu"), None):
        moved = spec.to(device)
        assert moved == spec
        assert moved.device == torch.device("cpu")
        assert type(moved) is type(spec)
    if isinstance(spec, Composite):
        assert spec.to("cpu").is_tuple == spec.is_tuple


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ALL))
def test_to_cuda_creates_samples_there_and_validate_accepts_them(name: str):
    spec = ALL[name].to("cuda")
    assert spec.device.type == "cuda"
    for x in (spec.rand((3,)), spec.zero((3,))):
        for _, t in _leaf_of(spec, x):
            assert t.device.type == "cuda"
        spec.validate(x)
    gen = torch.Generator("cuda").manual_seed(0)
    spec.validate(spec.rand((2,), generator=gen))


@pytest.mark.parametrize("name", list(ALL))
def test_to_dict_round_trips_through_json(name: str):
    spec = ALL[name]
    data = json.loads(json.dumps(spec.to_dict()))
    back = spec_from_dict(data)
    assert back == spec
    assert hash(back) == hash(spec)
    assert type(back) is type(spec)
    assert repr(back) == repr(spec)


def test_equality_compares_every_field():
    assert Box((2,), low=0.0, high=1.0) == Box([2], low=torch.zeros(2), high=torch.ones(2))
    assert Box((2,), low=0.0, high=1.0) != Box((2,), low=0.0, high=2.0)
    assert Box((2,)) != Box((2,), dtype=torch.float64)
    assert Box((2,)) != Box((3,))
    assert Discrete(3) != Discrete(3, start=1)
    assert Discrete(3) != Discrete(4)
    assert Discrete(3) != Discrete(3, dtype=torch.int32)
    assert MultiDiscrete([2, 3]) != MultiDiscrete([2, 3], start=[0, 1])
    assert MultiBinary(2) != MultiBinary(2, dtype=torch.bool)
    assert MultiBinary(2) != MultiDiscrete([2, 2])
    assert Box((2,)) != "Box"
    assert Composite({"a": Discrete(2)}) == Composite(a=Discrete(2))
    assert Composite({"a": Discrete(2)}) != Composite({"b": Discrete(2)})
    assert Composite({"0": Discrete(2)}) != Composite.from_tuple([Discrete(2)])
    assert len({Discrete(3), Discrete(3), Box((1,))}) == 2


def test_repr_tells_apart_unequal_specs():
    assert repr(Discrete(3, start=1)) == "Discrete(3, start=1)"
    assert repr(MultiDiscrete([2, 3], start=[1, 0])) == "MultiDiscrete([2, 3], start=[1, 0])"
    assert repr(MultiDiscrete([2, 3])) == "MultiDiscrete([2, 3])"
    assert "is_tuple=True" in repr(Composite.from_tuple([Discrete(2)]))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Box((2,), low=1.0, high=0.0), ValueError, "low must be <= high"),
        (lambda: Box((2,), low=[0.0, 2.0], high=1.0), ValueError, "low must be <= high"),
        (lambda: Box((2,), low=math.nan), ValueError, "NaN"),
        (lambda: Box((2,), dtype=torch.int32), ValueError, "finite bounds"),
        (lambda: Box((2,), low=0, dtype=torch.uint8), ValueError, "finite bounds"),
        (lambda: Box((2,), low=0.2, high=0.8, dtype=torch.int64), ValueError, "contains no value"),
        (lambda: Box((2,), low=0, high=1, dtype=torch.bool), TypeError, "MultiBinary"),
        (lambda: Box((2,), low=[0.0, 0.0, 0.0]), ValueError, r"low of shape \[3\] does not fit shape \[2\]"),
        (lambda: Box((2,), high=[[0.0], [1.0]]), ValueError, r"high of shape \[2, 1\] does not fit"),
        (lambda: Discrete(0), ValueError, "n >= 1"),
        (lambda: MultiDiscrete([]), ValueError, "non-empty"),
        (lambda: MultiDiscrete([2, 0]), ValueError, "positive"),
        (lambda: MultiDiscrete(3), ValueError, "non-empty"),
        (lambda: MultiBinary(0), ValueError, "positive"),
        (lambda: MultiBinary([]), ValueError, "positive"),
        (lambda: Composite({}), ValueError, "at least one entry"),
        (lambda: Composite(), ValueError, "at least one entry"),
        (lambda: Composite.from_tuple([]), ValueError, "at least one entry"),
        (lambda: Composite({"a.b": Discrete(2)}), ValueError, "without '.'"),
        (lambda: Composite({"": Discrete(2)}), ValueError, "non-empty"),
        (lambda: Composite({1: Discrete(2)}), ValueError, "strings"),
        (lambda: Composite({"a": {"b.c": Discrete(2)}}), ValueError, "without '.'"),
        (lambda: Composite({"a": 3}), TypeError, "must be a Spec"),
        (lambda: Composite({"a": Discrete(2)}, is_tuple=Discrete(2)), TypeError, "is_tuple must be a bool"),
        (lambda: spec_from_dict({"type": "Graph"}), ValueError, "unknown spec type"),
        (
            lambda: spec_from_dict({"type": "Box", "shape": [1], "low": 0, "high": 1, "dtype": "floaty"}),
            ValueError,
            "unknown dtype",
        ),
    ],
)
def test_constructor_errors(make, error: type[Exception], match: str):
    with pytest.raises(error, match=match):
        make()


def test_composite_accessors():
    spec = Composite({"a": {"b": Discrete(2)}, "c": Box((1,))}, d=MultiBinary(1))
    assert spec.keys() == ["a", "c", "d"]
    assert list(spec) == ["a", "c", "d"]
    assert len(spec) == 3
    assert spec["a", "b"] == Discrete(2)
    assert isinstance(spec["a"], Composite)
    assert [path for path, _ in spec.leaves()] == [("a", "b"), ("c",), ("d",)]
    with pytest.raises(KeyError):
        spec["a", "b", "x"]
    with pytest.raises(KeyError):
        spec["zzz"]
    assert spec.shape == torch.Size()
    assert spec.dtype is None


def test_composite_is_tuple_is_a_constructor_argument():
    assert not Composite({"0": Discrete(2)}).is_tuple
    spec = Composite({"0": Discrete(2), "1": {"x": Box((1,))}}, is_tuple=True)
    assert spec.is_tuple
    inner = spec["1"]
    assert isinstance(inner, Composite)
    assert not inner.is_tuple
    assert spec == Composite.from_tuple([Discrete(2), Composite(x=Box((1,)))])
    assert Composite.from_tuple([Discrete(2)], device="meta").is_tuple
    assert spec_from_dict(spec.to_dict()) == spec


def test_composite_without_leaves_out_keys_and_keeps_the_rest_in_order():
    spec = Composite({"a": {"b": Discrete(2)}, "mask": MultiBinary(3), "c": Box((1,)), "d": Discrete(4)})
    before = spec.to_dict()
    out = spec.without("mask", "d")
    assert isinstance(out, Composite)
    assert out.keys() == ["a", "c"]
    assert out == Composite({"a": {"b": Discrete(2)}, "c": Box((1,))})
    assert out["a"] is spec["a"]
    assert not out.is_tuple
    assert spec.without() == spec
    assert spec.without() is not spec
    # The original is untouched.
    assert spec.keys() == ["a", "mask", "c", "d"]
    assert spec.to_dict() == before


def test_composite_without_keeps_tuple_ness_and_device():
    spec = Composite.from_tuple([Discrete(2), MultiBinary(3), Box((1,))], device="meta")
    out = spec.without("1")
    assert out.is_tuple
    assert out.keys() == ["0", "2"]  # not renumbered
    assert out.device == torch.device("meta")
    assert [leaf.device for _, leaf in out.leaves()] == [torch.device("meta")] * 2
    assert spec.keys() == ["0", "1", "2"]
    assert spec.is_tuple
    assert spec.device == torch.device("meta")
    plain = Composite({"x": Discrete(2), "y": Discrete(3)}, device="meta").without("y")
    assert not plain.is_tuple
    assert plain.device == torch.device("meta")


def test_composite_without_an_unknown_key_names_it_and_the_known_keys():
    spec = Composite({"obs": Box((2,)), "action_mask": MultiBinary(3)})
    with pytest.raises(KeyError, match=r"no key 'mask'; its keys are \['obs', 'action_mask'\]"):
        spec.without("action_mask", "mask")
    with pytest.raises(KeyError, match=r"no key 'obs\.x'"):
        spec.without("obs.x")  # top-level keys only
    assert spec.keys() == ["obs", "action_mask"]
    with pytest.raises(ValueError, match="at least one entry"):
        spec.without("obs", "action_mask")


def test_box_properties():
    assert Box((2, 3)).numel == 6
    assert Box((2,), low=0.0, high=1.0).is_bounded
    assert not Box((2,), low=0.0).is_bounded
    assert not Box((2,), low=[0.0, 0.0], high=[1.0, math.inf]).is_bounded


@pytest.mark.parametrize("name", list(ALL))
def test_samples_pass_the_io_spec(name: str):
    spec = ALL[name]
    io = spec.as_io_spec(("b", "t"))
    check(io, spec.rand((2, 3)))
    if isinstance(spec, Composite):
        return
    assert io == TensorShape(("b", "t", *spec.shape), dtype=spec.dtype)
