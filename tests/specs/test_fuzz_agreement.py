"""Fuzzing the spec language: ``matches`` agrees with ``check``, and only ``SpecError`` escapes.

``matches`` is the fast path of every checked forward and ``check`` the path
that explains a mismatch, so ``spec.matches(x)`` must be ``True`` exactly when
``check(spec, x)`` raises nothing, binding the same dims. Likewise
``contains(x)`` is ``True`` exactly when ``validate(x)`` raises nothing. The
inputs are valid data from ``specs.testing`` and mutations of it: single
faults, extra and missing keys, non-string keys, plain dicts for TensorDicts,
sparse, meta and nested tensors, and garbage objects.

The unit tests at the end reproduce the findings of the issue "specs escapes".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tensordict import NonTensorData, TensorDict, TensorDictBase

from specs import (
    Box,
    Composite,
    Discrete,
    Mismatch,
    MultiBinary,
    MultiDiscrete,
    Spec,
    SpecDict,
    SpecError,
    TensorShape,
    TypeSpec,
    check,
)
from specs.testing import DIM_NAMES, io_specs_with_data, single_faults, specs_with_samples

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Bindings = dict[str, tuple[int, str]]


def _garbage() -> list[Any]:
    """Objects that are neither tensors nor mappings of them (made fresh: some are mutable)."""
    return [
        None,
        0,
        2.5,
        True,
        "obs",
        b"obs",
        [1, 2],
        (torch.zeros(2),),
        {1, 2},
        np.zeros((2, 4), dtype=np.float32),
        np.float32(1.0),
        NonTensorData("text"),
        object(),
        torch.zeros(2, 4),
        torch.float32,
    ]


GARBAGE = st.integers(0, len(_garbage()) - 1).map(lambda i: _garbage()[i])
ODD_KINDS = ("sparse_coo", "sparse_csr", "meta", "nested", "jagged")
NON_STRING_KEYS = (1, 0, None, 2.5, ("a", "b"), b"obs", True, frozenset({"x"}))


def _odd(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Return ``x`` as a sparse, meta or nested tensor (dense ``x`` where torch cannot convert it)."""
    with warnings.catch_warnings():  # sparse CSR and nested tensors warn that they are beta/prototype
        warnings.simplefilter("ignore")
        try:
            if kind == "sparse_coo":
                return x.to_sparse()
            if kind == "sparse_csr":
                return x.to_sparse_csr() if x.ndim >= 2 else x.to_sparse()
            if kind == "meta":
                return x.to("meta")
            if kind == "nested":
                return torch.nested.nested_tensor([x, x])
            return torch.nested.nested_tensor([x, x], layout=torch.jagged)
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            return x


def _plain(data: Any) -> Any:
    """Copy a TensorDict or nested mapping into nested dicts, sharing the leaves."""
    if isinstance(data, TensorDictBase):
        return {k: _plain(data.get(k)) for k in data.keys()}  # noqa: SIM118 (iterating a TensorDict splits its batch)
    if isinstance(data, Mapping):
        return {k: _plain(v) for k, v in data.items()}
    return data


def _paths(data: Mapping[Any, Any], prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of nested dicts, inner nodes included."""
    out: list[tuple[Any, ...]] = []
    for k, v in data.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out.extend(_paths(v, (*prefix, k)))
    return out


def _dicts(data: dict[Any, Any], prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[Any, Any]]]:
    """Every (nested) dict in ``data`` with its path, the root first."""
    out = [(prefix, data)]
    for k, v in data.items():
        if isinstance(v, dict):
            out.extend(_dicts(v, (*prefix, k)))
    return out


def _at(data: dict[Any, Any], path: tuple[Any, ...]) -> tuple[dict[Any, Any], Any]:
    """Return the dict holding ``path`` and the last key."""
    for k in path[:-1]:
        data = data[k]
    return data, path[-1]


@st.composite
def mutated(draw: st.DrawFn, spec: SpecDict, data: Any) -> Any:
    """Draw ``data`` unchanged, with a fault ``check`` reports, or broken in a way it may or may not accept."""
    how = draw(
        st.sampled_from(["fault", "extra", "non_string_key", "drop", "odd_leaf", "junk_leaf", "garbage", "same"])
    )
    event(f"mutation: {how}")
    if how == "same":
        return data
    if how == "fault":
        faults = single_faults(spec, data)
        return draw(st.one_of(faults.map(lambda f: f[0]), st.just(data)))
    if how == "garbage":
        return draw(GARBAGE)
    plain = _plain(data)
    if how in ("extra", "non_string_key"):
        _, where = draw(st.sampled_from(_dicts(plain)))
        if how == "extra":
            key = draw(st.sampled_from(["obs", "a", "b", "x", "zz", "0", "state_in"]))
        else:
            key = draw(st.sampled_from(NON_STRING_KEYS))
        where[key] = draw(
            st.sampled_from(["tensor", "empty", "sub", "text"]).map(
                lambda k: {"tensor": torch.zeros(2), "empty": {}, "sub": {"y": torch.zeros(1)}, "text": "t"}[k]
            )
        )
    else:
        paths = _paths(plain)
        if not paths:
            return draw(GARBAGE)
        holder, key = _at(plain, draw(st.sampled_from(paths)))
        if how == "drop":
            del holder[key]
        elif how == "odd_leaf":
            value = holder[key]
            base = value if isinstance(value, torch.Tensor) else torch.zeros(2, 3)
            holder[key] = _odd(base, draw(st.sampled_from(ODD_KINDS)))
        else:
            holder[key] = draw(st.one_of(GARBAGE, st.just({}), st.just(TensorDict({"x": torch.zeros(1)}))))
    if draw(st.booleans()):
        try:
            return TensorDict(plain, batch_size=[])
        except Exception:  # a TensorDict cannot hold everything (non-string keys, None)
            event("kept as a plain dict")
    return plain


BINDINGS = st.dictionaries(st.sampled_from(DIM_NAMES), st.integers(0, 4).map(lambda n: (n, "earlier")), max_size=2)


def _raised(fn: Callable[[], object]) -> SpecError | None:
    """Call ``fn``; return the ``SpecError`` it raises or ``None`` (any other exception propagates)."""
    try:
        fn()
    except SpecError as exc:
        return exc
    return None


def assert_agree(spec: TensorShape | TypeSpec | SpecDict, data: Any, bindings: Bindings) -> bool:
    """Assert that ``matches`` is ``True`` iff ``check`` raises nothing, binding the same dims; return it."""
    fast, full = dict(bindings), dict(bindings)
    matched = spec.matches(data, fast)
    assert type(matched) is bool
    error = _raised(lambda: check(spec, data, bindings=full))
    passed = error is None
    assert passed or error.mismatches, "a SpecError lists at least one mismatch"
    assert matched == passed, f"matches -> {matched} but check {'passed' if passed else 'failed'} on {data!r}"
    if passed:
        assert fast == full
    # ``check`` runs the explaining pass only after the fast one failed; run it alone as
    # well, so that a fast path that passes data the explaining pass refuses is caught too.
    slow, found = dict(bindings), []
    spec._check(data, "", slow, found)
    assert (not found) == matched, f"matches -> {matched} but the explaining pass found {found}"
    if matched:
        assert slow == fast
    event(f"matches: {matched}")
    return matched


@FUZZ
@given(st.data(), io_specs_with_data(), BINDINGS)
def test_matches_agrees_with_check_on_spec_dicts(data, case, bindings):
    spec, valid = case
    x = data.draw(mutated(spec, valid))
    assert_agree(spec, x, bindings)
    # The same keys, the other strictness: strict and not must each agree too.
    other = SpecDict(dict(spec.items()), optional=spec.optional, strict=not spec.strict)
    assert_agree(other, x, bindings)


@FUZZ
@given(st.data(), io_specs_with_data(), BINDINGS)
def test_matches_agrees_with_check_on_leaves(data, case, bindings):
    spec, valid = case
    path = data.draw(st.sampled_from(sorted(spec)))
    leaf = spec[path]
    value = _plain(valid)
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None  # None where an optional key is absent
    kind = data.draw(st.sampled_from(["odd", "garbage", "wrapped", "same"]))
    if kind == "odd" and isinstance(value, torch.Tensor):
        value = _odd(value, data.draw(st.sampled_from(ODD_KINDS)))
    elif kind == "garbage":
        value = data.draw(GARBAGE)
    elif kind == "wrapped" and not isinstance(value, torch.Tensor):
        value = NonTensorData(value)
    assert_agree(leaf, value, bindings)


@st.composite
def mutated_sample(draw: st.DrawFn, spec: Spec, x: Any) -> Any:
    """Draw space data unchanged or broken: odd tensors, garbage, other dtypes, shapes and values."""
    how = draw(st.sampled_from(["odd", "odd_leaf", "garbage", "dtype", "rank", "value", "plain", "same"]))
    event(f"sample mutation: {how}")
    if how == "same":
        return x
    if how == "garbage":
        return draw(GARBAGE)
    if how == "plain":
        return _plain(x)
    if how == "odd":
        kind = draw(st.sampled_from(ODD_KINDS))
        if isinstance(x, TensorDictBase):
            return x.to("meta") if kind == "meta" else x
        return _odd(x, kind)
    keys = x.keys(include_nested=True, leaves_only=True) if isinstance(x, TensorDictBase) else []
    leaves = [k if isinstance(k, tuple) else (k,) for k in keys]
    path = draw(st.sampled_from(leaves)) if leaves else ()
    leaf = x.get(path) if path else x
    if how == "odd_leaf":
        new = _odd(leaf, draw(st.sampled_from(ODD_KINDS)))
    elif how == "dtype":
        new = leaf.to(draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.int8, torch.bool])))
    elif how == "rank":
        new = leaf.unsqueeze(-1)
    else:
        big = torch.full_like(leaf, float("nan")) if leaf.dtype.is_floating_point else leaf.clone().fill_(7)
        new = big if leaf.numel() else leaf
    if not path:
        return new
    out = _plain(x)
    holder, last = _at(out, path)
    holder[last] = new
    try:
        return TensorDict(out, batch_size=x.batch_size)
    except Exception:  # e.g. a nested tensor whose batch dim does not fit
        return out


def assert_contains_agrees(spec: Spec, x: Any, batch_shape: tuple[int, ...] | None) -> None:
    """Assert ``contains`` is a bool, ``True`` iff ``validate`` raises nothing, and nothing else escapes."""
    contained = spec.contains(x, batch_shape=batch_shape)
    assert type(contained) is bool
    error = _raised(lambda: spec.validate(x, batch_shape=batch_shape))
    passed = error is None
    assert passed or len(error.mismatches) == 1, "validate names the first mismatch only"
    assert contained == passed
    event(f"contains: {contained}")


@FUZZ
@given(st.data(), specs_with_samples(), st.booleans())
def test_contains_agrees_with_validate_and_io_specs_agree(data, case, give_batch_shape):
    spec, batch_shape, sample = case
    x = data.draw(mutated_sample(spec, sample))
    assert_contains_agrees(spec, x, batch_shape if give_batch_shape else None)
    io_spec = spec.as_io_spec(tuple(f"b{i}" for i in range(len(batch_shape))))
    assert_agree(io_spec, x, {})


# The findings of the issue, one by one.


def _mismatches(spec: Any, data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(SpecError) as info:
        check(spec, data)
    return [(m.path, m.kind, m.message) for m in info.value.mismatches]


def test_strict_spec_names_non_string_keys():
    spec = SpecDict({"obs": TensorShape("b, 4"), ("state", "h"): TensorShape("b, 8")}, strict=True)
    z4, z8 = torch.zeros(2, 4), torch.zeros(2, 8)
    # Mixed keys used to be sorted for the message: TypeError '<' not supported between 'int' and 'str'.
    data = {"obs": z4, 1: z4, "zz": z4, None: z4, "state": {"h": z8, ("a", "b"): z8}}
    assert _mismatches(spec, data) == [
        ("", "extra", "unexpected key 1 (int): keys must be strings"),
        ("", "extra", "unexpected key None (NoneType): keys must be strings"),
        ("state", "extra", "unexpected key ('a', 'b') (tuple): keys must be strings"),
        ("zz", "extra", "unexpected key"),
    ]
    assert not spec.matches(data)
    # A single non-string key (format_path used to raise TypeError on it).
    assert _mismatches(spec, {"obs": z4, "state": {"h": z8}, 7: z4}) == [
        ("", "extra", "unexpected key 7 (int): keys must be strings")
    ]
    # Below an unknown key, and below a TypeSpec'd entry (which owns everything below it).
    assert _mismatches(spec, {"obs": z4, "state": {"h": z8}, "u": {2: z4}}) == [
        ("u", "extra", "unexpected key 2 (int): keys must be strings")
    ]
    owned = SpecDict({"cfg": TypeSpec(dict)}, strict=True)
    check(owned, {"cfg": {1: "a", None: "b"}})
    assert owned.matches({"cfg": {1: "a", None: "b"}})


def test_non_strict_spec_ignores_non_string_keys():
    spec = SpecDict({"obs": TensorShape("b, 4")})
    data = {"obs": torch.zeros(2, 4), 1: None, None: "x"}
    check(spec, data)
    assert spec.matches(data)


SPACE_LEAVES = [
    Box((4,)),
    Box((4,), low=0.0, high=1.0),
    Box((4,), low=0, high=9, dtype=torch.int64),
    Discrete(3),
    MultiDiscrete([2, 2, 2, 2]),
    MultiBinary(4),
]


@pytest.mark.parametrize("spec", SPACE_LEAVES, ids=repr)
@pytest.mark.parametrize(
    ("layout", "convert"),
    [
        ("torch.sparse_coo", lambda x: x.to_sparse()),
        ("torch.sparse_csr", lambda x: x.to_sparse_csr()),
        ("torch.sparse_csc", lambda x: x.to_sparse_csc()),
    ],
)
def test_space_specs_refuse_sparse_tensors(spec: Spec, layout: str, convert: Callable[[Any], Any]):
    dense = spec.zero((2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse CSR/CSC support is in beta
        x = convert(dense)
    message = f"sparse tensor (layout {layout}) is not supported: pass a dense tensor"
    with pytest.raises(SpecError) as info:
        spec.validate(x)
    assert info.value.mismatches == (Mismatch("", "type", message),)
    assert spec.contains(x) is False
    composite = Composite({"a": spec})
    td = TensorDict({"a": x}, batch_size=[2, 3])
    with pytest.raises(SpecError) as info:
        composite.validate(td)
    assert info.value.mismatches == (Mismatch("a", "type", message),)
    assert composite.contains(td) is False


@pytest.mark.parametrize("spec", SPACE_LEAVES, ids=repr)
def test_space_specs_report_that_meta_tensors_have_no_values(spec: Spec):
    x = spec.zero((3,)).to("meta")
    message = f"meta tensor (device meta) has no values to check against {spec!r}: pass a tensor with data"
    with pytest.raises(SpecError) as info:
        spec.validate(x)
    assert info.value.mismatches == (Mismatch("", "value", message),)
    assert spec.contains(x) is False
    # Shape and dtype are still checked, before the values.
    with pytest.raises(SpecError) as info:
        spec.validate(x.to(torch.float16))
    assert info.value.mismatches[0].kind == "dtype"
    with pytest.raises(SpecError) as info:
        spec.validate(x, batch_shape=(4,))
    assert info.value.mismatches[0].message == "expected batch shape [4], got [3]"
    meta_td = Composite({"a": spec}).zero((3,)).to("meta")
    assert Composite({"a": spec}).contains(meta_td) is False


def test_space_specs_refuse_nested_tensors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested tensors are a prototype
        strided = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
        jagged = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)], layout=torch.jagged)
    for x, layout in ((strided, "torch.strided"), (jagged, "torch.jagged")):
        with pytest.raises(SpecError) as info:
            Box(()).validate(x)
        assert info.value.mismatches == (
            Mismatch("", "type", f"nested tensor (layout {layout}) is not supported: pass a dense tensor"),
        )
        assert Box(()).contains(x) is False


def test_tensor_shape_checks_shape_and_dtype_of_sparse_and_meta_tensors():
    # The decision: an I/O spec checks no values, so a sparse or meta tensor whose shape and dtype fit passes.
    spec = TensorShape("b, 4", dtype=torch.float32)
    for x in (torch.zeros(2, 4).to_sparse(), torch.zeros(2, 4, device="meta")):
        check(spec, x)
        assert spec.matches(x)
        assert _mismatches(spec, x[:, :3] if x.is_meta else torch.zeros(2, 3).to_sparse()) == [
            ("", "dim", "dim '4' (axis 1) expected 4, got 3 (shape [2, 3], expected [b, 4])")
        ]
    # A strided nested tensor has no shape at all.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = torch.nested.nested_tensor([torch.zeros(4), torch.zeros(4)])
    assert not spec.matches(nested)
    assert _mismatches(spec, nested) == [
        ("", "type", "nested tensor (layout torch.strided) is not supported: pass a dense tensor")
    ]


def test_strict_specs_match_where_check_passes():
    spec = SpecDict({"obs": TensorShape("b, 4"), ("state", "h"): TensorShape("b, h")}, strict=True)
    data = {"obs": torch.zeros(3, 4), "state": {"h": torch.zeros(3, 8)}}
    for x in (data, TensorDict(data, batch_size=[])):
        fast: Bindings = {}
        full: Bindings = {}
        assert spec.matches(x, fast)  # was always False for a strict spec
        check(spec, x, bindings=full)
        assert fast == full == {"b": (3, "obs"), "h": (8, "state.h")}
    assert not spec.matches({**data, "extra": torch.zeros(1)})


def test_strict_spec_reports_an_empty_sub_dict_under_an_unknown_key():
    # It used to pass: an empty sub-dict has no leaves, so no leaf was extra.
    spec = SpecDict({"obs": TensorShape("b"), ("state", "h"): TensorShape("b")}, optional=["state"], strict=True)
    data = {"obs": torch.zeros(2), "typo": {}}
    assert _mismatches(spec, data) == [("typo", "extra", "unexpected key")]
    assert not spec.matches(data)
    # An empty sub-dict where the spec has (optional) keys is fine.
    check(spec, {"obs": torch.zeros(2), "state": {}})
    assert spec.matches({"obs": torch.zeros(2), "state": {}})


def test_matches_sees_the_objects_a_tensordict_wraps():
    spec = SpecDict({"obs": TensorShape("b, 4"), "name": TypeSpec(str)})
    for x in (
        TensorDict({"obs": torch.zeros(2, 4), "name": "cartpole"}, batch_size=[]),
        {"obs": torch.zeros(2, 4), "name": NonTensorData("cartpole")},
    ):
        check(spec, x)
        assert spec.matches(x)  # was False: matches did not unwrap NonTensorData
    assert TypeSpec(str).matches(NonTensorData("a"))
    check(TypeSpec(str), NonTensorData("a"))


@pytest.mark.parametrize("garbage", _garbage(), ids=lambda g: type(g).__name__)
@pytest.mark.parametrize("strict", [False, True])
def test_spec_dicts_refuse_garbage_with_a_spec_error(garbage: Any, strict: bool):
    spec = SpecDict({"obs": TensorShape("b, 4"), ("state", "h"): TensorShape("b, h")}, strict=strict)
    assert spec.matches(garbage) is False
    assert _mismatches(spec, garbage) == [
        ("", "type", f"expected a TensorDict or mapping, got {type(garbage).__name__}")
    ]


def test_plain_dicts_are_checked_like_tensordicts():
    spec = SpecDict({"obs": TensorShape("b, 4"), ("state", "h"): TensorShape("b, h")}, strict=True)
    data = {"obs": torch.zeros(3, 4), "state": {"h": "not a tensor"}, "extra": [1]}
    expected = [
        ("state.h", "type", "expected a Tensor [b, h], got str"),
        ("extra", "extra", "unexpected key"),
    ]
    assert _mismatches(spec, data) == expected
    assert _mismatches(spec, TensorDict(data, batch_size=[])) == [
        ("state.h", "type", "expected a Tensor [b, h], got str"),
        ("extra", "extra", "unexpected key"),
    ]
    # A value that is not a mapping where the spec expects nested keys.
    assert _mismatches(spec, {"obs": torch.zeros(3, 4), "state": np.zeros(3)}) == [
        ("state.h", "missing", "missing key (expected tensor [b, h])"),
        ("state", "extra", "unexpected key"),
    ]
