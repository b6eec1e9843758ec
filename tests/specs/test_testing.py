"""The strategies of ``specs.testing`` reach the cases the properties rely on."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from hypothesis import Phase, settings
from hypothesis import find as _find
from tensordict import TensorDict

from specs import Box, Composite, SpecDict, SpecError, TensorShape, check
from specs.testing import (
    Fault,
    boxes,
    composites,
    gymnasium_spaces,
    io_specs_with_data,
    single_faults,
    specs_with_samples,
)


def find(strategy, condition):
    """Return the first example meeting ``condition``: no shrinking, which costs more than the search."""
    return _find(strategy, condition, settings=settings(phases=[Phase.generate], max_examples=1000, database=None))


def _nested_tuple_in_dict(spec: Composite) -> bool:
    return not spec.is_tuple and any(isinstance(s, Composite) and s.is_tuple for _, s in spec.items())


def test_composites_nest_tuples_inside_dicts_and_back():
    assert _nested_tuple_in_dict(find(composites(), _nested_tuple_in_dict))
    deep = find(composites(), lambda c: max(len(p) for p, _ in c.leaves()) >= 3)
    assert isinstance(deep, Composite)


def test_boxes_cover_every_kind_of_bound():
    def kinds(box: Box) -> set[str]:
        lo, hi = box.low.isfinite(), box.high.isfinite()
        return {
            name
            for name, mask in [("both", lo & hi), ("low", lo & ~hi), ("high", ~lo & hi), ("none", ~lo & ~hi)]
            if bool(mask.any())
        }

    for kind in ("both", "low", "high", "none"):
        find(boxes(), lambda b, kind=kind: kind in kinds(b))
    find(boxes(), lambda b: len(kinds(b)) > 1)  # per element
    find(boxes(), lambda b: b.dtype == torch.uint8 and b.is_bounded)


def test_samples_come_with_empty_and_multi_dim_batches():
    find(specs_with_samples(), lambda case: 0 in case[1])
    find(specs_with_samples(), lambda case: len(case[1]) == 2 and isinstance(case[2], TensorDict))


def test_io_specs_cover_ellipsis_optional_strict_nesting_and_tensordicts():
    def has_ellipsis(case) -> bool:
        return any(isinstance(leaf, TensorShape) and Ellipsis in leaf.dims for leaf in case[0].values())

    find(io_specs_with_data(), has_ellipsis)
    find(io_specs_with_data(), lambda case: bool(case[0].optional) and case[0].strict)
    find(io_specs_with_data(), lambda case: any(len(path) > 2 for path in case[0]))
    find(io_specs_with_data(), lambda case: isinstance(case[1], TensorDict))
    find(
        io_specs_with_data(), lambda case: any(leaf.sizes for leaf in case[0].values() if isinstance(leaf, TensorShape))
    )


def test_gymnasium_spaces_nest():
    find(
        gymnasium_spaces(),
        lambda s: isinstance(s, gym.spaces.Dict) and any(isinstance(v, gym.spaces.Tuple) for v in s.spaces.values()),
    )


def test_a_dim_fault_on_the_first_binding_tensor_is_reported_at_the_others():
    spec = SpecDict({"x": TensorShape("b"), "y": TensorShape("b")})
    data = {"x": torch.zeros(3), "y": torch.zeros(3)}
    bad, fault = _find(single_faults(spec, data), lambda f: f[1].kind == "dim" and f[1].path == "x")
    assert fault == Fault("dim", "x", "3", "2")
    assert str(fault) == "dim fault at 'x': expected 3, got 2"
    with pytest.raises(SpecError, match=r"'y': dim 'b' \(axis 0\) expected 2 as at 'x', got 3"):
        check(spec, bad)
    check(spec, data)
