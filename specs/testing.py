"""Hypothesis strategies for specs, their data and single faults in that data.

This module is optional: it is the only part of ``specs`` that imports
``hypothesis``, so it needs the ``dev`` extra. Plugin authors use it to test
components against random specs; rl8's own tests use it for the properties of
the spec language.

* Space specs: ``boxes``, ``discretes``, ``multi_discretes``, ``multi_binaries``,
  ``leaf_specs``, ``composites`` (nested dicts and tuples) and ``space_specs``;
  ``batch_shapes``, ``samples`` and ``specs_with_samples`` for their data;
  ``gymnasium_spaces`` for the gymnasium spaces that ``from_gymnasium`` accepts.
* I/O specs: ``io_specs_with_data`` draws a ``SpecDict`` (named, bound and
  unbound dims, ``...``, dtypes, nested keys, optional keys, ``strict``) together
  with data that passes ``check``; ``single_faults`` breaks such data in exactly
  one way and describes the break as a ``Fault``.

Examples:
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(specs_with_samples())
    ... def test_samples_belong(case):
    ...     spec, batch_shape, x = case
    ...     spec.validate(x, batch_shape=batch_shape)
    >>> test_samples_belong()
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from hypothesis import strategies as st
from tensordict import TensorDict, TensorDictBase

from specs._io import FLOAT_DTYPES, SpecDict, TensorShape, TypeSpec, _dtype_name, _leaf_text, format_path
from specs._space import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, TensorSpec

__all__ = [
    "BOX_FLOAT_DTYPES",
    "BOX_INT_DTYPES",
    "DIM_NAMES",
    "FAULT_KINDS",
    "IO_DTYPES",
    "Fault",
    "batch_shapes",
    "boxes",
    "composites",
    "discretes",
    "gymnasium_spaces",
    "io_specs_with_data",
    "leaf_specs",
    "multi_binaries",
    "multi_discretes",
    "samples",
    "single_faults",
    "space_specs",
    "specs_with_samples",
]

#: The kinds of fault ``single_faults`` makes; each is the ``Mismatch.kind`` it causes.
FAULT_KINDS: tuple[str, ...] = ("missing", "dim", "rank", "dtype", "type")

#: Float dtypes of ``Box`` specs (bfloat16 has no numpy counterpart).
BOX_FLOAT_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
#: Integer dtypes of ``Box`` specs.
BOX_INT_DTYPES: tuple[torch.dtype, ...] = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
#: Dtypes that I/O data is drawn from and that dtype faults switch to.
IO_DTYPES: tuple[torch.dtype, ...] = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
)
#: Dim names that I/O specs draw from, as the docs use them (``b`` batch, ``t`` time, ``h`` hidden, ...).
DIM_NAMES: tuple[str, ...] = ("b", "t", "h", "a", "n")

_KEY_NAMES = ("obs", "actions", "a", "b", "x", "state_in", "mask", "0")
_SEEDS = st.integers(0, 2**32 - 1)

Shape = tuple[int, ...]
Data = torch.Tensor | TensorDictBase


@dataclass(frozen=True)
class Fault:
    """One fault that ``single_faults`` put into valid data.

    The error ``check`` raises for the faulty data names ``path`` and shows
    ``expected`` and ``actual`` in the message of a mismatch of kind ``kind``.
    That mismatch is at ``path``, except when a ``dim`` fault resized the
    tensor that first binds an unbound dim: then the other tensors with that
    dim disagree, and their mismatches name ``path`` as where the size came from.

    Attributes:
        kind: The ``Mismatch.kind`` the fault causes (one of ``FAULT_KINDS``).
        path: Dotted key path of the mutated entry.
        expected: What the spec asks for, as the message shows it.
        actual: What the faulty data holds, as the message shows it.
    """

    #: The ``Mismatch.kind`` the fault causes.
    kind: str
    #: Dotted key path of the mutated entry.
    path: str
    #: What the spec asks for, as the message shows it.
    expected: str
    #: What the faulty data holds, as the message shows it.
    actual: str

    def __str__(self) -> str:
        return f"{self.kind} fault at {self.path!r}: expected {self.expected}, got {self.actual}"


# Strategies are built once per set of arguments: hypothesis validates each new
# strategy object, which costs more than drawing from it.
_cache = functools.lru_cache(maxsize=None)


@_cache
def _shapes(*, min_rank: int = 0, max_rank: int = 3, max_side: int = 3) -> st.SearchStrategy[Shape]:
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


@_cache
def _float_bounds(dtype: torch.dtype, numel: int) -> st.SearchStrategy[tuple[Any, Any]]:
    """Draw ``(low, high)``: bounded, half-bounded, unbounded, extreme or per element."""
    big = torch.finfo(dtype).max
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    width = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)
    bounded = st.tuples(finite, width).map(lambda t: (t[0], t[0] + t[1]))
    element = st.one_of(
        bounded,
        finite.map(lambda lo: (lo, math.inf)),
        finite.map(lambda hi: (-math.inf, hi)),
        st.just((-math.inf, math.inf)),
        st.just((-big, big)),
    )
    per_element = st.lists(element, min_size=numel, max_size=numel).map(
        lambda pairs: ([lo for lo, _ in pairs], [hi for _, hi in pairs])
    )
    return st.one_of(element, per_element) if numel > 1 else element


@_cache
def _int_bounds(dtype: torch.dtype) -> st.SearchStrategy[tuple[int, int]]:
    info = torch.iinfo(dtype)
    low = st.integers(max(info.min, -100), min(info.max, 100))
    ranged = st.tuples(low, st.integers(0, 50)).map(lambda t: (t[0], min(t[0] + t[1], info.max)))
    return st.one_of(ranged, st.just((info.min, info.max)))


@st.composite
def boxes(
    draw: st.DrawFn,
    *,
    dtypes: Sequence[torch.dtype] = BOX_FLOAT_DTYPES + BOX_INT_DTYPES,
    shapes: st.SearchStrategy[Shape] | None = None,
) -> Box:
    """Draw a ``Box``: float boxes bounded, half-bounded or unbounded (also per element), integer boxes bounded.

    Args:
        draw: Supplied by hypothesis.
        dtypes: The dtypes to draw from.
        shapes: Strategy for the sample shape; ranks 0 to 3 by default.

    Examples:
        >>> from hypothesis import find
        >>> find(boxes(dtypes=[torch.uint8]), lambda b: b.is_bounded).dtype
        torch.uint8
    """
    dtype = draw(st.sampled_from(tuple(dtypes)))
    shape = draw(shapes if shapes is not None else _shapes())
    if dtype.is_floating_point:
        low, high = draw(_float_bounds(dtype, math.prod(shape)))
    else:
        low, high = draw(_int_bounds(dtype))
    return Box(shape, _bound(low, shape), _bound(high, shape), dtype)


def _bound(value: Any, shape: Shape) -> torch.Tensor:
    t = torch.tensor(value, dtype=torch.float64)
    return t.reshape(shape) if t.ndim else t


@st.composite
def discretes(draw: st.DrawFn, *, max_n: int = 6) -> Discrete:
    """Draw a ``Discrete`` with ``n`` in ``[1, max_n]``, a start in ``[-5, 5]`` and an integer dtype.

    Examples:
        >>> from hypothesis import find
        >>> find(discretes(), lambda d: d.start < 0).contains(torch.tensor(-1))
        True
    """
    n = draw(st.integers(1, max_n))
    start = draw(st.integers(-5, 5))
    dtype = draw(st.sampled_from([torch.int64, torch.int32, torch.int8]))
    return Discrete(n, start=start, dtype=dtype)


@st.composite
def multi_discretes(draw: st.DrawFn, *, max_n: int = 5) -> MultiDiscrete:
    """Draw a ``MultiDiscrete`` (``nvec`` of rank 1 or 2), with or without a start per element.

    Examples:
        >>> from hypothesis import find
        >>> len(find(multi_discretes(), lambda m: m.nvec.ndim == 2).shape)
        2
    """
    shape = draw(_shapes(min_rank=1, max_rank=2))
    nvec = draw(st.lists(st.integers(1, max_n), min_size=math.prod(shape), max_size=math.prod(shape)))
    start = draw(st.none() | st.lists(st.integers(-3, 3), min_size=len(nvec), max_size=len(nvec)))
    dtype = draw(st.sampled_from([torch.int64, torch.int32]))
    return MultiDiscrete(
        torch.tensor(nvec).reshape(shape),
        start=None if start is None else torch.tensor(start).reshape(shape),
        dtype=dtype,
    )


@st.composite
def multi_binaries(draw: st.DrawFn) -> MultiBinary:
    """Draw a ``MultiBinary`` of rank 1 or 2 with dtype ``int8``, ``uint8`` or ``bool``.

    Examples:
        >>> from hypothesis import find
        >>> find(multi_binaries(), lambda m: m.dtype == torch.bool).zero().dtype
        torch.bool
    """
    shape = draw(_shapes(min_rank=1, max_rank=2))
    dtype = draw(st.sampled_from([torch.int8, torch.uint8, torch.bool]))
    return MultiBinary(list(shape), dtype=dtype)


def leaf_specs() -> st.SearchStrategy[TensorSpec]:
    """Draw any leaf spec: ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``.

    Examples:
        >>> from hypothesis import find
        >>> isinstance(find(leaf_specs(), lambda s: True), TensorSpec)
        True
    """
    return st.one_of(boxes(), discretes(), multi_discretes(), multi_binaries())


@_cache
def _keys() -> st.SearchStrategy[str]:
    return st.sampled_from(_KEY_NAMES) | st.text("abcxyz_", min_size=1, max_size=3)


def composites(
    leaves: st.SearchStrategy[Spec] | None = None,
    *,
    max_leaves: int = 6,
) -> st.SearchStrategy[Composite]:
    """Draw a nested ``Composite`` of dicts and tuples (``Composite.from_tuple``).

    Args:
        leaves: Strategy for the leaf specs; ``leaf_specs()`` by default.
        max_leaves: Roughly how many leaves a composite has at most.

    Examples:
        >>> from hypothesis import find
        >>> c = find(composites(), lambda c: any(isinstance(s, Composite) for _, s in c.items()))
        >>> len(c.leaves()) >= 1
        True
    """
    base = leaves if leaves is not None else leaf_specs()

    def extend(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
        as_dict = st.dictionaries(_keys(), children, min_size=1, max_size=3).map(Composite)
        as_tuple = st.lists(children, min_size=1, max_size=3).map(Composite.from_tuple)
        return st.one_of(as_dict, as_tuple)

    # Wrapping the recursive strategy once more makes the top level a Composite.
    return extend(st.recursive(base, extend, max_leaves=max_leaves))  # type: ignore[return-value]


def space_specs(*, max_leaves: int = 6) -> st.SearchStrategy[Spec]:
    """Draw a leaf spec or a nested ``Composite``.

    Examples:
        >>> from hypothesis import find
        >>> isinstance(find(space_specs(), lambda s: True), Spec)
        True
    """
    return st.one_of(leaf_specs(), composites(max_leaves=max_leaves))


def batch_shapes(*, max_dims: int = 2, min_side: int = 0, max_side: int = 3) -> st.SearchStrategy[Shape]:
    """Draw a batch shape of up to ``max_dims`` dims (zero-sized dims included by default).

    Examples:
        >>> from hypothesis import find
        >>> len(find(batch_shapes(), lambda b: len(b) == 2))
        2
    """
    return st.lists(st.integers(min_side, max_side), max_size=max_dims).map(tuple)


_default_space_specs = _cache(space_specs)
_default_batch_shapes = _cache(batch_shapes)


def samples(spec: Spec, batch_shape: Shape = ()) -> st.SearchStrategy[Data]:
    """Draw data of ``spec`` for ``batch_shape``: ``spec.rand`` with a seeded generator, or ``spec.zero``.

    Examples:
        >>> from hypothesis import find
        >>> find(samples(Discrete(3), (2,)), lambda x: True).shape
        torch.Size([2])
    """

    def rand(seed: int) -> Data:
        generator = torch.Generator(spec.device).manual_seed(seed)
        return spec.rand(batch_shape, generator=generator)  # type: ignore[no-any-return]

    zero = st.builds(lambda: spec.zero(batch_shape))
    return st.one_of(_SEEDS.map(rand), zero)


@st.composite
def specs_with_samples(
    draw: st.DrawFn,
    specs: st.SearchStrategy[Spec] | None = None,
    shapes: st.SearchStrategy[Shape] | None = None,
) -> tuple[Spec, Shape, Data]:
    """Draw ``(spec, batch_shape, data)`` where ``data`` belongs to ``spec``.

    Args:
        draw: Supplied by hypothesis.
        specs: Strategy for the spec; ``space_specs()`` by default.
        shapes: Strategy for the batch shape; ``batch_shapes()`` by default.

    Examples:
        >>> from hypothesis import find
        >>> spec, batch_shape, x = find(specs_with_samples(), lambda case: True)
        >>> spec.contains(x, batch_shape=batch_shape)
        True
    """
    spec = draw(specs if specs is not None else _default_space_specs())
    batch_shape = draw(shapes if shapes is not None else _default_batch_shapes())
    if draw(st.integers(0, 4)) == 0:
        return spec, batch_shape, spec.zero(batch_shape)
    generator = torch.Generator(spec.device).manual_seed(draw(_SEEDS))
    return spec, batch_shape, spec.rand(batch_shape, generator=generator)


@st.composite
def _gym_boxes(draw: st.DrawFn) -> gym.spaces.Box:
    npd: np.dtype[Any] = np.dtype(
        draw(st.sampled_from(["float32", "float64", "float16", "uint8", "int8", "int32", "int64"]))
    )
    shape = draw(_shapes(max_rank=2))
    if npd.kind == "f":
        low, high = draw(_float_bounds(torch.float64, math.prod(shape)))
        # At most float32's maximum (as CartPole has): gymnasium's own sampling
        # overflows for wider bounds.
        big = min(float(np.finfo(npd).max), float(np.finfo(np.float32).max))
        low = np.clip(_array(low, shape), -big, math.inf).astype(npd)
        high = np.clip(_array(high, shape), -math.inf, big).astype(npd)
        return gym.spaces.Box(low, high, shape, npd)
    info = np.iinfo(npd)
    if npd.kind == "i" and draw(st.booleans()):
        return gym.spaces.Box(-math.inf, math.inf, shape, npd)
    lo = draw(st.integers(max(int(info.min), -100), min(int(info.max), 100)))
    hi = min(lo + draw(st.integers(0, 50)), int(info.max))
    return gym.spaces.Box(lo, hi, shape, npd)


def _array(value: Any, shape: Shape) -> np.ndarray[Any, Any]:
    a = np.asarray(value, dtype=np.float64)
    return a.reshape(shape) if a.ndim else np.full(shape, a)


@st.composite
def _gym_discretes(draw: st.DrawFn) -> gym.spaces.Discrete:
    n, start = draw(st.integers(1, 6)), draw(st.integers(-5, 5))
    if draw(st.booleans()):
        return gym.spaces.Discrete(n, start=start)
    try:
        return gym.spaces.Discrete(n, start=start, dtype=np.int32)  # type: ignore[call-arg,arg-type,unused-ignore]
    except TypeError:  # gymnasium before Discrete had a dtype
        return gym.spaces.Discrete(n, start=start)


@st.composite
def _gym_multi_discretes(draw: st.DrawFn) -> gym.spaces.MultiDiscrete:
    shape = draw(_shapes(min_rank=1, max_rank=2))
    size = math.prod(shape)
    nvec = np.asarray(draw(st.lists(st.integers(1, 5), min_size=size, max_size=size))).reshape(shape)
    start = np.asarray(draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size))).reshape(shape)
    npd: Any = draw(st.sampled_from([np.int64, np.int32]))
    return gym.spaces.MultiDiscrete(nvec, dtype=npd, start=start)


def _gym_multi_binaries() -> st.SearchStrategy[gym.spaces.MultiBinary]:
    # One dim as an int: gymnasium's MultiBinary([3]) (``n == (3,)``) is unequal to
    # MultiBinary(3), which is what ``to_gymnasium`` gives for one dim.
    return st.one_of(st.integers(1, 4), _shapes(min_rank=2, max_rank=2).map(list)).map(gym.spaces.MultiBinary)


def gymnasium_spaces(*, max_leaves: int = 6) -> st.SearchStrategy[gym.Space[Any]]:
    """Draw a gymnasium space that ``from_gymnasium`` supports, nested ``Dict``/``Tuple`` included.

    Examples:
        >>> from hypothesis import find
        >>> space = find(gymnasium_spaces(), lambda s: isinstance(s, gym.spaces.Tuple))
        >>> len(space.spaces) >= 1
        True
    """
    leaves = st.one_of(_gym_boxes(), _gym_discretes(), _gym_multi_discretes(), _gym_multi_binaries())

    def extend(children: st.SearchStrategy[gym.Space[Any]]) -> st.SearchStrategy[gym.Space[Any]]:
        as_dict = st.dictionaries(_keys(), children, min_size=1, max_size=3).map(gym.spaces.Dict)
        as_tuple = st.lists(children, min_size=1, max_size=3).map(gym.spaces.Tuple)
        return st.one_of(as_dict, as_tuple)

    return st.recursive(leaves, extend, max_leaves=max_leaves)


_Tree = dict[str, Any]


@_cache
def _key_trees(max_keys: int) -> st.SearchStrategy[_Tree]:
    """Draw a nested dict whose leaves are ``None``: the key layout of a ``SpecDict``."""
    leaf = st.none()

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.dictionaries(_keys(), children, min_size=1, max_size=3)

    return st.dictionaries(_keys(), st.recursive(leaf, extend, max_leaves=max_keys), min_size=1, max_size=3)


def _paths(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.extend(_paths(value, (*prefix, key)))
        else:
            out.append((*prefix, key))
    return out


_TOKENS = st.lists(st.one_of(st.sampled_from(DIM_NAMES), st.integers(0, 4)), max_size=4)
_SPEC_DTYPES = st.one_of(
    st.none(),
    st.sampled_from(IO_DTYPES),
    st.just(FLOAT_DTYPES),
    st.just((torch.int32, torch.int64)),
)
_ELLIPSIS_SIZES = st.lists(st.integers(0, 3), max_size=2)


def _draw_tensor_leaf(draw: st.DrawFn, sizes: Mapping[str, int]) -> tuple[TensorShape, torch.Tensor]:
    """Draw a ``TensorShape`` and a tensor that matches it, with named dims sized as in ``sizes``."""
    tokens: list[Any] = draw(_TOKENS)
    if draw(st.booleans()):
        tokens.insert(draw(st.integers(0, len(tokens))), Ellipsis)
    names = {t for t in tokens if isinstance(t, str)}
    bound = {n: sizes[n] for n in sorted(names) if draw(st.booleans())}
    dtype = draw(_SPEC_DTYPES)
    shape: list[int] = []
    for t in tokens:
        if t is Ellipsis:
            shape.extend(draw(_ELLIPSIS_SIZES))
        else:
            shape.append(t if isinstance(t, int) else sizes[t])
    if dtype is None:
        data_dtype = draw(st.sampled_from(IO_DTYPES))
    elif isinstance(dtype, tuple):
        data_dtype = draw(st.sampled_from(dtype))
    else:
        data_dtype = dtype
    as_text = draw(st.booleans())
    dims = ", ".join("..." if t is Ellipsis else str(t) for t in tokens) if as_text else tokens
    return TensorShape(dims, dtype=dtype, **bound), torch.zeros(shape, dtype=data_dtype)


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


@st.composite
def io_specs_with_data(
    draw: st.DrawFn,
    *,
    max_keys: int = 5,
    as_tensordict: bool | None = None,
) -> tuple[SpecDict, dict[str, Any] | TensorDict]:
    """Draw a ``SpecDict`` and data that passes ``check`` against it.

    Keys are nested and spelled as tuples, dotted strings or nested mappings;
    leaves are ``TensorShape``s (fixed, bound and unbound named dims, ``...``,
    a dtype, a tuple of dtypes or none) and now and then a ``TypeSpec(str)``.
    Some keys are optional (and then present or absent) and some specs are
    strict. Every unbound dim name has one size across all tensors.

    Args:
        draw: Supplied by hypothesis.
        max_keys: Roughly how many keys the spec has at most.
        as_tensordict: Give the data as a ``TensorDict`` (``batch_size=[]``) or as
            nested plain dicts; drawn when ``None``.

    Examples:
        >>> from hypothesis import find
        >>> from specs import check
        >>> spec, data = find(io_specs_with_data(), lambda case: len(case[0]) > 1)
        >>> check(spec, data)
    """
    sizes = {name: draw(st.integers(0, 4)) for name in DIM_NAMES}
    paths = _paths(draw(_key_trees(max_keys)))
    leaves: dict[tuple[str, ...], TensorShape | TypeSpec] = {}
    values: dict[tuple[str, ...], Any] = {}
    for path in paths:
        if draw(st.integers(0, 9)) == 0:
            leaves[path], values[path] = TypeSpec(str), "text"
        else:
            leaves[path], values[path] = _draw_tensor_leaf(draw, sizes)
    optional = [p for p in paths[1:] if draw(st.integers(0, 3)) == 0]  # the first key stays required
    layout = draw(st.sampled_from(["tuple", "dotted", "nested", "mixed"]))
    raw: dict[Any, Any] = {}
    for path, leaf in leaves.items():
        style = draw(st.sampled_from(["tuple", "dotted", "nested"])) if layout == "mixed" else layout
        if style == "nested":
            _set(raw, path, leaf)
        else:
            raw[path if style == "tuple" else format_path(path)] = leaf
    spec = SpecDict(
        raw,
        optional=[format_path(p) if draw(st.booleans()) else p for p in optional],
        strict=draw(st.booleans()),
    )
    data: dict[str, Any] = {}
    for path in paths:
        if path not in optional or draw(st.booleans()):
            _set(data, path, values[path])
    if as_tensordict is None:
        as_tensordict = draw(st.booleans())
    return spec, (TensorDict(data, batch_size=[]) if as_tensordict else data)


_MISSING = object()


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for i, key in enumerate(path):
        if isinstance(data, TensorDictBase):
            rest = path[i:]
            return data.get(rest if len(rest) > 1 else key, _MISSING)
        if not isinstance(data, Mapping) or key not in data:
            return _MISSING
        data = data[key]
    return data


def _to_plain(data: Any) -> Any:
    """Copy a TensorDict (or nested mapping) into nested dicts, sharing the leaves."""
    if isinstance(data, TensorDictBase):
        return {k: _to_plain(data.get(k)) for k in data.keys()}  # noqa: SIM118 (iterating a TensorDict splits its batch)
    if isinstance(data, Mapping):
        return {k: _to_plain(v) for k, v in data.items()}
    return data


def _replace(data: Any, path: tuple[str, ...], value: Any) -> Any:
    """Return a copy of ``data`` with ``path`` set to ``value`` (removed for ``_MISSING``)."""
    if isinstance(data, TensorDictBase):
        plain = _replace(_to_plain(data), path, value)
        return TensorDict(plain, batch_size=[], device=data.device)
    out = dict(data)
    if len(path) == 1:
        if value is _MISSING:
            del out[path[0]]
        else:
            out[path[0]] = value
    else:
        out[path[0]] = _replace(out[path[0]], path[1:], value)
    return out


def _type_names(types: Sequence[type]) -> str:
    return " | ".join(t.__name__ for t in types)


@dataclass(frozen=True)
class _Candidate:
    kind: str
    path: tuple[str, ...]
    leaf: TensorShape | TypeSpec
    value: Any
    axis: int = -1  # for dim faults: the axis of the tensor to resize


def _axes(leaf: TensorShape, ndim: int) -> list[tuple[int, Any]]:
    """Return ``(axis, token)`` for the named/fixed dims of a tensor of rank ``ndim``."""
    extra = ndim - (len(leaf.dims) - (1 if Ellipsis in leaf.dims else 0))
    out: list[tuple[int, Any]] = []
    axis = 0
    for token in leaf.dims:
        if token is Ellipsis:
            axis += extra
            continue
        out.append((axis, token))
        axis += 1
    return out


def _candidates(spec: SpecDict, data: Any) -> list[_Candidate]:
    present = {p: _get(data, p) for p in spec}
    present = {p: v for p, v in present.items() if v is not _MISSING}
    # How often each unbound name occurs in the data: resizing one occurrence is
    # detected only if the name occurs again somewhere.
    unbound: dict[str, int] = {}
    for path, value in present.items():
        leaf = spec[path]
        if isinstance(leaf, TensorShape) and isinstance(value, torch.Tensor):
            for _, token in _axes(leaf, value.ndim):
                if isinstance(token, str) and token not in leaf.sizes:
                    unbound[token] = unbound.get(token, 0) + 1
    out: list[_Candidate] = []
    for path, leaf in spec.items():
        value = present.get(path, _MISSING)
        if value is _MISSING or (isinstance(leaf, TensorShape) and not isinstance(value, torch.Tensor)):
            continue
        if path not in spec.optional:
            out.append(_Candidate("missing", path, leaf, value))
        if isinstance(leaf, TypeSpec):
            if not isinstance(torch.zeros(()), leaf.types):
                out.append(_Candidate("type", path, leaf, value))
            continue
        out.append(_Candidate("type", path, leaf, value))
        if leaf.dtype is not None:
            out.append(_Candidate("dtype", path, leaf, value))
        has_ellipsis = Ellipsis in leaf.dims
        if not has_ellipsis or len(leaf.dims) > 1:
            out.append(_Candidate("rank", path, leaf, value))
        for axis, token in _axes(leaf, value.ndim):
            if isinstance(token, int) or token in leaf.sizes or unbound.get(token, 0) > 1:
                out.append(_Candidate("dim", path, leaf, value, axis))
    return out


@st.composite
def _apply(draw: st.DrawFn, data: Any, c: _Candidate) -> tuple[Any, Fault]:
    where = format_path(c.path)
    if c.kind == "missing":
        return _replace(data, c.path, _MISSING), Fault("missing", where, _leaf_text(c.leaf), "missing key")
    if isinstance(c.leaf, TypeSpec):
        fault = Fault("type", where, _type_names(c.leaf.types), "Tensor")
        return _replace(data, c.path, torch.zeros(())), fault
    value: torch.Tensor = c.value
    if c.kind == "type":
        return _replace(data, c.path, "not a tensor"), Fault("type", where, "Tensor", "str")
    if c.kind == "dtype":
        accepted = c.leaf.dtype if isinstance(c.leaf.dtype, tuple) else (c.leaf.dtype,)
        dtype = draw(st.sampled_from([d for d in IO_DTYPES if d not in accepted]))
        fault = Fault("dtype", where, _dtype_name(c.leaf.dtype), str(dtype))
        return _replace(data, c.path, torch.zeros(value.shape, dtype=dtype)), fault
    if c.kind == "rank":
        rank = len(c.leaf.dims)
        if Ellipsis in c.leaf.dims:
            rank -= 1
            shape, want = tuple(value.shape[: rank - 1]), f"rank >= {rank}"
        elif rank > 0 and draw(st.booleans()):
            shape, want = tuple(value.shape[:-1]), f"rank {rank}"
        else:
            shape, want = (*value.shape, 1), f"rank {rank}"
        fault = Fault("rank", where, want, f"rank {len(shape)}")
        return _replace(data, c.path, torch.zeros(shape, dtype=value.dtype)), fault
    old = int(value.shape[c.axis])
    new = draw(st.sampled_from([s for s in (old - 1, old + 1, old + 2) if s >= 0]))
    resized = list(value.shape)
    resized[c.axis] = new
    fault = Fault("dim", where, str(old), str(new))
    return _replace(data, c.path, torch.zeros(resized, dtype=value.dtype)), fault


def single_faults(
    spec: SpecDict,
    data: Any,
    *,
    kinds: Sequence[str] = FAULT_KINDS,
) -> st.SearchStrategy[tuple[Any, Fault]]:
    """Draw ``(faulty_data, fault)``: ``data`` with exactly one fault that ``check`` must report.

    ``data`` must pass ``check(spec, data)``. The faults are: drop a required
    key (``missing``); resize one fixed, bound, or shared unbound dim (``dim``);
    add or remove a dim (``rank``); switch to a dtype the spec refuses
    (``dtype``); put a string where a tensor belongs or a tensor where a
    ``TypeSpec`` refuses one (``type``). ``data`` itself is not changed. A
    ``TensorDict`` comes back as a ``TensorDict`` with ``batch_size=[]``.

    Args:
        spec: The spec that ``data`` passes.
        data: Nested dicts or a ``TensorDict``.
        kinds: The kinds of fault to draw from.

    Returns:
        A strategy; it draws nothing if ``data`` has no place for such a fault.

    Examples:
        >>> from hypothesis import find
        >>> spec = SpecDict({"obs": TensorShape("b, h", h=4)})
        >>> bad, fault = find(single_faults(spec, {"obs": torch.zeros(2, 4)}), lambda f: f[1].kind == "dim")
        >>> fault
        Fault(kind='dim', path='obs', expected='4', actual='3')
    """
    candidates = [c for c in _candidates(spec, data) if c.kind in kinds]
    if not candidates:
        return st.nothing()
    return st.sampled_from(candidates).flatmap(lambda c: _apply(data, c))
