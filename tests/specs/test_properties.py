"""Properties of the spec language, checked with the strategies of ``specs.testing``."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tensordict import TensorDictBase

from specs import (
    SpecDict,
    SpecError,
    TensorShape,
    check,
    format_path,
    from_gymnasium,
    from_numpy,
    spec_from_dict,
    to_gymnasium,
    to_numpy,
)
from specs.testing import (
    FAULT_KINDS,
    boxes,
    composites,
    gymnasium_spaces,
    io_specs_with_data,
    single_faults,
    space_specs,
    specs_with_samples,
)


@given(specs_with_samples())
def test_samples_belong_to_their_spec(case):
    spec, batch_shape, x = case
    spec.validate(x, batch_shape=batch_shape)
    spec.validate(x)
    assert spec.contains(x, batch_shape=batch_shape)
    spec.validate(spec.zero(batch_shape), batch_shape=batch_shape)


@given(boxes())
def test_a_box_contains_its_own_finite_bounds(box):
    # Samples are clamped to the bounds in the box's dtype, so those must belong.
    for bound in (box.low, box.high):
        x = torch.where(bound.isfinite(), bound, box.zero().double()).to(box.dtype)
        box.validate(x)


@given(specs_with_samples(shapes=st.tuples(st.integers(0, 3))))
def test_samples_pass_the_io_spec_of_their_spec(case):
    spec, _, x = case
    check(spec.as_io_spec(("b",)), x)


@given(space_specs())
def test_to_dict_round_trips_through_json(spec):
    back = spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert hash(back) == hash(spec)
    assert spec.to("cpu") == spec


_OTHER_DTYPE = {torch.float64: torch.float32}
_COMPOSITES_WITH_SAMPLES = specs_with_samples(specs=composites())


@given(st.data())
def test_validate_names_the_leaf_that_breaks_a_composite(data):
    spec, batch_shape, td = data.draw(_COMPOSITES_WITH_SAMPLES)
    path, leaf = data.draw(st.sampled_from(spec.leaves()))
    x = td.get(path)
    td.set(path, x.to(_OTHER_DTYPE.get(leaf.dtype, torch.float64)))
    with pytest.raises(SpecError) as info:
        spec.validate(td, batch_shape=batch_shape)
    (mismatch,) = info.value.mismatches
    assert (mismatch.path, mismatch.kind) == (format_path(path), "dtype")
    assert repr(format_path(path)) in str(info.value)


@given(io_specs_with_data())
def test_io_data_drawn_for_a_spec_passes_it(case):
    spec, data = case
    check(spec, data)


@given(io_specs_with_data())
def test_spec_dict_equality_and_hash_ignore_key_order(case):
    spec, _ = case
    reordered = SpecDict(dict(reversed(list(spec.items()))), optional=spec.optional, strict=spec.strict)
    assert reordered == spec
    assert hash(reordered) == hash(spec)


def _assert_reported(spec, bad, fault) -> None:
    with pytest.raises(SpecError) as info:
        check(spec, bad)
    err = info.value
    assert {m.kind for m in err.mismatches} == {fault.kind}, err
    assert repr(fault.path) in str(err)
    # The mismatch at the mutated key, or (for an unbound dim whose first size
    # the fault changed) at a key that names the mutated key as the reference.
    related = [m for m in err.mismatches if m.path == fault.path or repr(fault.path) in m.message]
    assert any(fault.expected in m.message and fault.actual in m.message for m in related), (fault, err)


@given(st.data())
def test_every_single_fault_raises_a_spec_error_naming_path_and_both_values(data):
    spec, good = data.draw(io_specs_with_data())
    bad, fault = data.draw(single_faults(spec, good))
    _assert_reported(spec, bad, fault)
    check(spec, good)  # the fault went into a copy
    assert isinstance(bad, TensorDictBase) == isinstance(good, TensorDictBase)


@pytest.mark.parametrize("kind", FAULT_KINDS)
@settings(max_examples=20)
@given(st.data())
def test_each_kind_of_fault_is_reported(kind, data):
    spec, good = data.draw(io_specs_with_data())
    bad, fault = data.draw(single_faults(spec, good, kinds=[kind]))
    assert fault.kind == kind
    _assert_reported(spec, bad, fault)


def test_single_faults_draws_nothing_where_no_fault_fits():
    spec = SpecDict({"x": TensorShape("b")}, optional=["x"])
    assert single_faults(spec, {}).is_empty
    assert single_faults(SpecDict({"x": TensorShape("b")}), {"x": torch.zeros(2)}, kinds=["dtype"]).is_empty


@given(gymnasium_spaces())
def test_gymnasium_space_to_spec_and_back_is_the_same_space(space: gym.Space):
    spec = from_gymnasium(space)
    assert to_gymnasium(spec) == space
    assert from_gymnasium(to_gymnasium(spec)) == spec


@given(gymnasium_spaces(), st.integers(0, 2**32 - 1))
def test_samples_cross_between_gymnasium_and_specs(space: gym.Space, seed: int):
    spec = from_gymnasium(space)
    sample = spec.rand(generator=torch.Generator().manual_seed(seed))
    assert space.contains(to_numpy(spec, sample))
    assert space.contains(to_numpy(spec, spec.zero()))
    space.seed(seed)
    spec.validate(from_numpy(spec, space.sample()), batch_shape=())
