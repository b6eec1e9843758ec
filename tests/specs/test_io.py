"""Unit tests of the I/O specs: TensorShape, TypeSpec, SpecDict and check."""

from __future__ import annotations

import re

import pytest
import torch
from tensordict import NonTensorData, TensorDict

from specs import (
    FLOAT_DTYPES,
    Mismatch,
    SpecDict,
    SpecError,
    TensorShape,
    TypeSpec,
    check,
    format_path,
    to_path,
)


def _error(spec, data, **kwargs) -> SpecError:
    with pytest.raises(SpecError) as info:
        check(spec, data, **kwargs)
    return info.value


def _only(spec, data, **kwargs) -> Mismatch:
    (mismatch,) = _error(spec, data, **kwargs).mismatches
    return mismatch


@pytest.fixture(params=["dict", "tensordict"])
def as_data(request: pytest.FixtureRequest):
    """Give nested data as plain dicts or as a TensorDict (both are accepted)."""
    if request.param == "dict":
        return lambda d: d
    return lambda d: TensorDict(d, batch_size=[])


def test_missing_key(as_data):
    spec = {"obs": TensorShape("b, 4", dtype=torch.float32), "actions": TensorShape("b")}
    m = _only(spec, as_data({"actions": torch.zeros(2)}))
    assert (m.path, m.kind) == ("obs", "missing")
    assert m.message == "missing key (expected tensor [b, 4] torch.float32)"


def test_wrong_rank(as_data):
    m = _only({"obs": TensorShape("b, h")}, as_data({"obs": torch.zeros(2, 3, 4)}))
    assert (m.path, m.kind) == ("obs", "rank")
    assert "expected rank 2 [b, h], got rank 3 (shape [2, 3, 4])" in m.message


def test_wrong_bound_named_dim_names_the_dim_and_both_values(as_data):
    m = _only({"obs": TensorShape("b, h", h=64)}, as_data({"obs": torch.zeros(8, 32)}))
    assert (m.path, m.kind) == ("obs", "dim")
    assert m.message == "dim 'h' (axis 1) expected 64, got 32 (shape [8, 32], expected [b, h=64])"


def test_wrong_fixed_int_dim(as_data):
    m = _only({"obs": TensorShape(("b", 84, 84, 3))}, as_data({"obs": torch.zeros(2, 84, 80, 3)}))
    assert m.kind == "dim"
    assert "dim '84' (axis 2) expected 84, got 80" in m.message


@pytest.mark.parametrize(
    ("dtype", "actual", "expected_text"),
    [
        (torch.float32, torch.float64, "torch.float32"),
        (torch.int64, torch.int32, "torch.int64"),
        (FLOAT_DTYPES, torch.int64, "floating"),
        (FLOAT_DTYPES, torch.bool, "floating"),
        ((torch.int32, torch.int64), torch.float32, "torch.int32 | torch.int64"),
        ([torch.int32, torch.int64], torch.uint8, "torch.int32 | torch.int64"),
    ],
)
def test_wrong_dtype(as_data, dtype, actual: torch.dtype, expected_text: str):
    m = _only({"x": TensorShape("b", dtype=dtype)}, as_data({"x": torch.zeros(2, dtype=actual)}))
    assert m.kind == "dtype"
    assert m.message == f"expected dtype {expected_text}, got {actual}"


@pytest.mark.parametrize("dtype", [*FLOAT_DTYPES, None])
def test_accepted_dtypes(dtype):
    check({"x": TensorShape("b", dtype=FLOAT_DTYPES)}, {"x": torch.zeros(2, dtype=dtype or torch.float32)})
    check({"x": TensorShape("b", dtype=(torch.int32, torch.int64))}, {"x": torch.zeros(2, dtype=torch.int32)})
    check({"x": TensorShape("b")}, {"x": torch.zeros(2, dtype=torch.bool)})


def test_wrong_type(as_data):
    m = _only({"obs": TensorShape("b")}, {"obs": [1.0, 2.0]})
    assert (m.kind, m.message) == ("type", "expected a Tensor [b], got list")
    m = _only({"n": TypeSpec(int, str)}, {"n": 2.0})
    assert (m.kind, m.message) == ("type", "expected int | str, got float")
    m = _only({"obs": TensorShape("b")}, torch.zeros(2))
    assert (m.path, m.kind) == ("", "type")
    assert "expected a TensorDict or mapping, got Tensor" in m.message


def test_extra_keys_only_with_strict(as_data):
    data = as_data({"x": torch.zeros(2), "y": torch.zeros(2), "n": {"z": torch.zeros(1)}})
    check({"x": TensorShape("b")}, data)
    err = _error(SpecDict({"x": TensorShape("b")}, strict=True), data)
    assert [(m.path, m.kind, m.message) for m in err.mismatches] == [
        ("n.z", "extra", "unexpected key"),
        ("y", "extra", "unexpected key"),
    ]


def test_strict_counts_non_tensor_entries_of_a_tensordict():
    td = TensorDict({"x": torch.zeros(2), "note": "hello"}, batch_size=[])
    m = _only(SpecDict({"x": TensorShape("b")}, strict=True), td)
    assert (m.path, m.kind) == ("note", "extra")


def test_strict_does_not_flag_entries_below_a_type_spec():
    spec = SpecDict({"x": TensorShape("b"), "cfg": TypeSpec(dict)}, strict=True)
    check(spec, {"x": torch.zeros(2), "cfg": {"lr": 1.0, "deep": {"a": 1}}})


def test_type_spec_sees_the_object_a_tensordict_wraps():
    td = TensorDict({"name": "hello", "obj": NonTensorData(3.5)}, batch_size=[])
    check({"name": TypeSpec(str), "obj": TypeSpec(float)}, td)
    m = _only({"name": TypeSpec(int)}, td)
    assert m.message == "expected int, got str"
    check({"sub": TypeSpec(TensorDict)}, TensorDict({"sub": {"a": torch.zeros(1)}}, batch_size=[]))


def test_optional_keys_may_be_absent_but_are_checked_when_present(as_data):
    spec = SpecDict({"obs": TensorShape("b, 4"), ("state", "h"): TensorShape("b, h", h=8)}, optional=["state.h"])
    assert spec.optional == frozenset({("state", "h")})
    check(spec, as_data({"obs": torch.zeros(2, 4)}))
    check(spec, as_data({"obs": torch.zeros(2, 4), "state": {"h": torch.zeros(2, 8)}}))
    m = _only(spec, as_data({"obs": torch.zeros(2, 4), "state": {"h": torch.zeros(2, 7)}}))
    assert (m.path, m.kind) == ("state.h", "dim")
    m = _only(spec, as_data({"obs": torch.zeros(2, 4), "state": {"h": torch.zeros(3, 8)}}))
    assert (m.path, m.kind) == ("state.h", "dim")


def test_unbound_dims_must_agree_across_tensors_of_one_check(as_data):
    spec = {"obs": TensorShape("b, h"), "actions": TensorShape("b"), "logp": TensorShape("b")}
    check(spec, as_data({"obs": torch.zeros(5, 3), "actions": torch.zeros(5), "logp": torch.zeros(5)}))
    err = _error(spec, as_data({"obs": torch.zeros(5, 3), "actions": torch.zeros(4), "logp": torch.zeros(6)}))
    assert [(m.path, m.kind) for m in err.mismatches] == [("actions", "dim"), ("logp", "dim")]
    assert err.mismatches[0].message == "dim 'b' (axis 0) expected 5 as at 'obs', got 4 (shape [4], expected [b])"
    assert "expected 5 as at 'obs', got 6" in err.mismatches[1].message


def test_unbound_dim_repeated_in_one_tensor():
    check({"m": TensorShape("n, n")}, {"m": torch.zeros(3, 3)})
    m = _only({"m": TensorShape("n, n")}, {"m": torch.zeros(3, 4)})
    assert "dim 'n' (axis 1) expected 3 as at 'm', got 4" in m.message


def test_bound_and_unbound_uses_of_one_name_are_independent():
    # A bound size applies to its own TensorShape; elsewhere the name is free.
    check({"x": TensorShape("b, h", h=4), "y": TensorShape("b, h")}, {"x": torch.zeros(2, 4), "y": torch.zeros(2, 9)})


def test_unbound_dims_agree_across_checks_that_share_bindings():
    bindings: dict[str, tuple[int, str]] = {}
    check({"obs": TensorShape("b, 4")}, {"obs": torch.zeros(6, 4)}, bindings=bindings)
    assert bindings == {"b": (6, "obs")}
    check({"vf_preds": TensorShape("b")}, {"vf_preds": torch.zeros(6)}, bindings=bindings)
    err = _error({"actions": TensorShape("b")}, {"actions": torch.zeros(5)}, bindings=bindings, context="f output")
    assert "expected 6 as at 'obs', got 5" in str(err)
    # Without shared bindings each check binds afresh.
    check({"actions": TensorShape("b")}, {"actions": torch.zeros(5)})


def test_each_check_binds_afresh_without_shared_bindings():
    spec = {"x": TensorShape("b")}
    check(spec, {"x": torch.zeros(3)})
    check(spec, {"x": torch.zeros(4)})


@pytest.mark.parametrize(
    "spec",
    [
        {("obs", "image"): TensorShape("b, 3"), ("obs", "pos"): TensorShape("b, 2")},
        {"obs.image": TensorShape("b, 3"), "obs.pos": TensorShape("b, 2")},
        {"obs": {"image": TensorShape("b, 3"), "pos": TensorShape("b, 2")}},
        {"obs": SpecDict({"image": TensorShape("b, 3"), "pos": TensorShape("b, 2")})},
        {"obs.image": TensorShape("b, 3"), ("obs", "pos"): TensorShape("b, 2")},
    ],
    ids=["tuples", "dotted", "nested", "nested_specdict", "mixed"],
)
def test_nested_keys_as_tuples_dotted_strings_or_nested_mappings(spec, as_data):
    sd = SpecDict(spec)
    assert sorted(sd) == [("obs", "image"), ("obs", "pos")]
    assert sd["obs.image"] == sd[("obs", "image")] == TensorShape("b, 3")
    assert "obs.pos" in sd
    assert ("obs", "pos") in sd
    assert "obs" not in sd
    assert 3 not in sd
    good = as_data({"obs": {"image": torch.zeros(2, 3), "pos": torch.zeros(2, 2)}})
    check(spec, good)
    check(sd, good)
    bad = as_data({"obs": {"image": torch.zeros(2, 4), "pos": torch.zeros(2, 2)}})
    m = _only(spec, bad)
    assert m.path == "obs.image"
    assert "'obs.image'" in str(_error(sd, bad))


def test_a_tensor_where_a_sub_dict_belongs_reads_as_missing(as_data):
    err = _error({"obs.image": TensorShape("b")}, as_data({"obs": torch.zeros(2)}))
    assert [(m.path, m.kind) for m in err.mismatches] == [("obs.image", "missing")]


def test_all_mismatches_are_listed_at_once(as_data):
    spec = SpecDict(
        {
            "obs": TensorShape("b, 4", dtype=torch.float32),
            "actions": TensorShape("b", dtype=torch.int64),
            "state": {"h": TensorShape("b, h", h=8), "c": TensorShape("b, h", h=8)},
            "logp": TensorShape("b"),
        },
        strict=True,
    )
    data = {
        "obs": torch.zeros(3, 5, dtype=torch.float64),
        "actions": torch.zeros(3, 1, dtype=torch.int64),
        "state": {"h": torch.zeros(4, 8)},
        "extra": torch.zeros(1),
    }
    err = _error(spec, as_data(data), context="M.forward_train input")
    assert [(m.path, m.kind) for m in err.mismatches] == [
        ("obs", "dim"),
        ("obs", "dtype"),
        ("actions", "rank"),
        ("state.h", "dim"),
        ("state.c", "missing"),
        ("logp", "missing"),
        ("extra", "extra"),
    ]
    text = str(err)
    assert text.startswith("M.forward_train input does not match its spec (7 mismatches):\n")
    assert len(text.splitlines()) == 8
    for m in err.mismatches:
        assert f"  - {m.path!r}: {m.message}" in text


@pytest.mark.parametrize(
    ("dims", "good", "bad", "message"),
    [
        ("..., h", [(4,), (2, 4), (2, 3, 5, 4)], [(), (4, 5)], None),
        ("b, ...", [(2,), (2, 7), (2, 7, 8)], [()], "expected rank >= 1 [b, ...], got rank 0"),
        ("b, ..., h", [(2, 4), (2, 9, 4), (2, 1, 1, 4)], [(2,), (2, 3, 5)], "expected rank >= 2"),
        ("...", [(), (1,), (2, 3, 4, 5)], [], None),
    ],
)
def test_ellipsis_matches_any_number_of_dims(dims: str, good, bad, message: str | None):
    spec = {"x": TensorShape(dims, **({"h": 4} if "h" in dims else {}))}
    for shape in good:
        check(spec, {"x": torch.zeros(shape)})
    for shape in bad:
        m = _only(spec, {"x": torch.zeros(shape)})
        assert m.kind in {"rank", "dim"}
    if message is not None:
        assert message in _only(spec, {"x": torch.zeros(bad[0])}).message


def test_dims_after_the_ellipsis_bind_from_the_end():
    spec = {"x": TensorShape("b, ..., t"), "y": TensorShape("t, b")}
    check(spec, {"x": torch.zeros(2, 9, 9, 3), "y": torch.zeros(3, 2)})
    m = _only(spec, {"x": torch.zeros(2, 9, 9, 3), "y": torch.zeros(2, 2)})
    assert "dim 't' (axis 0) expected 3 as at 'x', got 2" in m.message


def test_spec_error_is_a_value_error_with_mismatches_and_context():
    with pytest.raises(ValueError, match="does not match its spec") as info:
        check({"x": TensorShape("b")}, {}, context="Policy.forward_inference output")
    err = info.value
    assert isinstance(err, SpecError)
    assert err.context == "Policy.forward_inference output"
    assert err.mismatches == (Mismatch("x", "missing", "missing key (expected tensor [b])"),)
    assert str(err).startswith("Policy.forward_inference output does not match its spec (1 mismatch):")
    assert str(Mismatch("", "type", "boom")) == "<root>: boom"


def test_check_on_a_single_tensor_or_object():
    check(TensorShape("b, 3", dtype=torch.float32), torch.zeros(2, 3))
    m = _only(TensorShape("b, 3"), torch.zeros(2, 4))
    assert m.path == ""
    assert "<root>" in str(_error(TensorShape("b, 3"), torch.zeros(2, 4)))
    check(TypeSpec(int), 3)
    assert _only(TypeSpec(int), "3").kind == "type"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: TensorShape("b, h", k=3), ValueError, "not a dim"),
        (lambda: TensorShape("b, h", h=-1), TypeError, "non-negative"),
        (lambda: TensorShape("b, h", h=True), TypeError, "non-negative"),
        (lambda: TensorShape("b, h", h=2.0), TypeError, "non-negative"),
        (lambda: TensorShape("..., b, ..."), ValueError, "at most once"),
        (lambda: TensorShape("b h"), ValueError, "invalid dim"),
        (lambda: TensorShape("b, 2x"), ValueError, "invalid dim"),
        (lambda: TensorShape(("b", -1)), ValueError, ">= 0"),
        (lambda: TensorShape(("b", True)), TypeError, "invalid dim"),
        (lambda: TensorShape(("b", 1.5)), ValueError, "invalid dim"),
        (lambda: TypeSpec(), TypeError, "one or more classes"),
        (lambda: TypeSpec(3), TypeError, "one or more classes"),
        (lambda: SpecDict({"a": TensorShape("b"), ("a",): TensorShape("b")}), KeyError, "given twice"),
        (lambda: SpecDict({"a": TensorShape("b"), "a.c": TensorShape("b")}), KeyError, "conflicts with"),
        (lambda: SpecDict({"a": TensorShape("b")}, optional=["z"]), KeyError, "not in the spec"),
        (lambda: SpecDict({"a": 3}), TypeError, "must be a TensorShape, TypeSpec or mapping"),
        (lambda: SpecDict({(): TensorShape("b")}), TypeError, "non-empty tuple"),
        (lambda: SpecDict({("a", 1): TensorShape("b")}), TypeError, "non-empty tuple of strings"),
    ],
)
def test_construction_errors(make, error: type[Exception], match: str):
    with pytest.raises(error, match=re.escape(match)):
        make()


def test_tensor_shape_parsing_and_equality():
    a = TensorShape("b, h, 3", h=64, dtype=torch.float32)
    assert a.dims == ("b", "h", 3)
    assert a == TensorShape(["b", "h", "3"], h=64, dtype=torch.float32)
    assert hash(a) == hash(TensorShape(("b", "h", 3), h=64, dtype=torch.float32))
    assert a != TensorShape("b, h, 3", h=32, dtype=torch.float32)
    assert a != TensorShape("b, h, 3", h=64)
    assert TensorShape("b, ...") == TensorShape(("b", Ellipsis))
    assert TensorShape("") == TensorShape(())
    assert TensorShape("b", dtype=[torch.int32]).dtype == (torch.int32,)
    assert repr(a) == "TensorShape('b, h=64, 3', dtype=torch.float32)"
    assert repr(TensorShape("b, ...", dtype=FLOAT_DTYPES)) == "TensorShape('b, ...', dtype=floating)"
    assert a.describe() == "[b, h=64, 3]"


def test_spec_dict_equality_ignores_key_order_and_hashes_alike():
    a = SpecDict({"x": TensorShape("b"), "y": TypeSpec(int)}, optional=["y"])
    b = SpecDict({"y": TypeSpec(int), "x": TensorShape("b")}, optional=[("y",)])
    assert a == b
    assert hash(a) == hash(b)
    assert a != SpecDict({"x": TensorShape("b"), "y": TypeSpec(int)})
    assert a != SpecDict({"x": TensorShape("b"), "y": TypeSpec(int)}, optional=["y"], strict=True)
    assert len({a, b}) == 1


def test_spec_dict_merge_and_without():
    base = SpecDict({"obs": TensorShape("b, 4"), "state.h": TensorShape("b, h")}, optional=["state.h"], strict=True)
    merged = base.merge({"obs": TensorShape("b, 8"), "vf_preds": TensorShape("b")}, optional=["vf_preds"])
    assert merged["obs"] == TensorShape("b, 8")
    assert merged.optional == frozenset({("state", "h"), ("vf_preds",)})
    assert merged.strict
    dropped = merged.without("state.h", ("vf_preds",))
    assert sorted(dropped) == [("obs",)]
    assert dropped.optional == frozenset()
    assert "'state.h': TensorShape('b, h') (optional)" in repr(base)
    assert repr(base).endswith(", strict=True)")


def test_path_helpers():
    assert to_path("a.b.c") == ("a", "b", "c")
    assert to_path(["a", "b"]) == ("a", "b")
    assert format_path(("a", "b")) == "a.b"
    with pytest.raises(TypeError):
        to_path(())
