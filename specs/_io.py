"""I/O specs: what a forward method accepts and returns.

``TensorShape`` describes one tensor with named dimensions, ``TypeSpec`` one
object by type, and ``SpecDict`` maps (nested) keys to either. ``check`` runs a
spec against data and raises a ``SpecError`` listing every mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase, is_non_tensor

from specs.errors import Mismatch, SpecError

__all__ = [
    "FLOAT_DTYPES",
    "IOSpec",
    "SpecDict",
    "TensorShape",
    "TypeSpec",
    "check",
    "format_path",
    "to_path",
]

#: Every floating dtype; the default for outputs that may run under autocast.
FLOAT_DTYPES: tuple[torch.dtype, ...] = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = object()


def to_path(key: str | Sequence[str]) -> tuple[str, ...]:
    """Turn a key (``"a"``, dotted ``"a.b"`` or a tuple) into a tuple path.

    Examples:
        >>> to_path("a.b"), to_path(("a", "b")), to_path("obs")
        (('a', 'b'), ('a', 'b'), ('obs',))
    """
    if isinstance(key, str):
        return tuple(key.split("."))
    path = tuple(key)
    if not path or not all(isinstance(k, str) and k for k in path):
        raise TypeError(f"a key path must be a non-empty tuple of strings, got {key!r}")
    return path


def format_path(path: Sequence[str]) -> str:
    """Render a tuple path the way error messages show it (dotted).

    Examples:
        >>> format_path(("obs", "image"))
        'obs.image'
    """
    return ".".join(path)


def _dtype_name(dtype: torch.dtype | tuple[torch.dtype, ...] | None) -> str:
    if dtype is None:
        return "any"
    if isinstance(dtype, tuple):
        if dtype == FLOAT_DTYPES:
            return "floating"
        return " | ".join(str(d) for d in dtype)
    return str(dtype)


def _unwrap(value: Any) -> Any:
    """Return the object a TensorDict's non-tensor wrapper (``NonTensorData``) holds, else ``value``."""
    return value.tolist() if is_non_tensor(value) else value


def _not_dense(x: torch.Tensor) -> str | None:
    """Say why ``x`` is not a dense, strided tensor (sparse, nested, ...), or return ``None`` if it is one.

    Examples:
        >>> _not_dense(torch.zeros(2, 2).to_sparse())
        'sparse tensor (layout torch.sparse_coo) is not supported: pass a dense tensor'
        >>> _not_dense(torch.zeros(2, 2)) is None
        True
    """
    if x.is_nested:
        what = "nested tensor"
    elif x.layout is torch.strided:
        return None
    elif x.layout in _SPARSE_LAYOUTS:
        what = "sparse tensor"
    else:
        what = "tensor"
    return f"{what} (layout {x.layout}) is not supported: pass a dense tensor"


_SPARSE_LAYOUTS = frozenset({torch.sparse_coo, torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc})


class TensorShape:
    """A tensor with named dimensions and, optionally, a dtype.

    Dimensions are given as a comma-separated string or a sequence. Each is a
    name, an integer, or ``...`` (any number of dims, at most once). A name
    bound through a keyword is fixed; an unbound name takes its size from the
    first tensor it meets and must agree across all tensors of one ``check``.

    Args:
        dims: The dimensions, e.g. ``"b, h"`` or ``("b", 84, 84, 3)``.
        dtype: A dtype, a tuple of accepted dtypes, or ``None`` for any.
        **sizes: Fixed sizes for named dims, e.g. ``h=64``.

    Only the shape and the dtype are checked, never the values: a sparse or a
    meta tensor whose shape and dtype fit passes. A tensor without a shape (a
    strided nested tensor) is a mismatch.

    Examples:
        >>> TensorShape("b, h", h=64, dtype=torch.float32)
        TensorShape('b, h=64', dtype=torch.float32)
        >>> check(TensorShape("b, 3"), torch.zeros(5, 3))
        >>> TensorShape("b, 3").matches(torch.zeros(5, 3, device="meta"))
        True
    """

    __slots__ = ("_ellipsis", "_fixed", "_named", "_rank", "dims", "dtype", "sizes")

    def __init__(
        self,
        dims: str | Sequence[Any],
        /,
        *,
        dtype: torch.dtype | tuple[torch.dtype, ...] | None = None,
        **sizes: int,
    ) -> None:
        parsed = self._parse(dims)
        names = {d for d in parsed if isinstance(d, str)}
        for name, size in sizes.items():
            if name not in names:
                raise ValueError(f"size given for {name!r}, which is not a dim of {dims!r}")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise TypeError(f"size of dim {name!r} must be a non-negative int, got {size!r}")
        if isinstance(dtype, list):  # lists from YAML-minded callers
            dtype = tuple(dtype)  # type: ignore[unreachable]
        self.dims: tuple[Any, ...] = parsed
        self.dtype = dtype
        self.sizes: dict[str, int] = dict(sizes)
        ellipsis_at = [i for i, d in enumerate(parsed) if d is Ellipsis]
        if len(ellipsis_at) > 1:
            raise ValueError(f"'...' may appear at most once in {dims!r}")
        self._ellipsis = ellipsis_at[0] if ellipsis_at else -1
        self._rank = len(parsed) - (1 if ellipsis_at else 0)
        # Precompute (axis, size) for fixed dims and (axis, name) for free names so
        # that a check is a few comparisons. Axes after '...' are negative.
        fixed: list[tuple[int, str, int]] = []
        named: list[tuple[int, str]] = []
        for i, d in enumerate(parsed):
            if d is Ellipsis:
                continue
            axis = i if self._ellipsis < 0 or i < self._ellipsis else i - len(parsed)
            if isinstance(d, int):
                fixed.append((axis, str(d), d))
            elif d in self.sizes:
                fixed.append((axis, d, self.sizes[d]))
            else:
                named.append((axis, d))
        self._fixed = tuple(fixed)
        self._named = tuple(named)

    @staticmethod
    def _parse(dims: str | Sequence[Any]) -> tuple[Any, ...]:
        items: Sequence[Any]
        items = ([s.strip() for s in dims.split(",")] if dims.strip() else []) if isinstance(dims, str) else list(dims)
        out: list[Any] = []
        for item in items:
            if item is Ellipsis or item == "...":
                out.append(Ellipsis)
            elif isinstance(item, bool):
                raise TypeError(f"invalid dim {item!r}")
            elif isinstance(item, int):
                if item < 0:
                    raise ValueError(f"dim sizes must be >= 0, got {item}")
                out.append(item)
            elif isinstance(item, str) and item.isdigit():
                out.append(int(item))
            elif isinstance(item, str) and _NAME.match(item):
                out.append(item)
            else:
                raise ValueError(f"invalid dim {item!r} in {dims!r}")
        return tuple(out)

    def describe(self) -> str:
        """Render the dims as in messages, e.g. ``[b, h=64]``."""
        parts = []
        for d in self.dims:
            if d is Ellipsis:
                parts.append("...")
            elif isinstance(d, str) and d in self.sizes:
                parts.append(f"{d}={self.sizes[d]}")
            else:
                parts.append(str(d))
        return "[" + ", ".join(parts) + "]"

    def __repr__(self) -> str:
        dt = "" if self.dtype is None else f", dtype={_dtype_name(self.dtype)}"
        return f"TensorShape({self.describe()[1:-1]!r}{dt})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorShape)
            and self.dims == other.dims
            and self.sizes == other.sizes
            and self.dtype == other.dtype
        )

    def __hash__(self) -> int:
        return hash((self.dims, tuple(sorted(self.sizes.items())), self.dtype))

    def _check(
        self,
        value: Any,
        path: str,
        bindings: dict[str, tuple[int, str]],
        out: list[Mismatch],
    ) -> None:
        if not isinstance(value, torch.Tensor):
            what = type(_unwrap(value)).__name__
            out.append(Mismatch(path, "type", f"expected a Tensor {self.describe()}, got {what}"))
            return
        try:
            shape = value.shape
        except RuntimeError:  # a strided nested tensor has no shape
            out.append(Mismatch(path, "type", _not_dense(value) or f"tensor without a shape for {self.describe()}"))
            return
        ndim = len(shape)
        if ndim != self._rank and (self._ellipsis < 0 or ndim < self._rank):
            want = f"rank {self._rank}" if self._ellipsis < 0 else f"rank >= {self._rank}"
            out.append(
                Mismatch(
                    path,
                    "rank",
                    f"expected {want} {self.describe()}, got rank {ndim} (shape {list(shape)})",
                )
            )
            return
        for axis, name, size in self._fixed:
            if shape[axis] != size:
                out.append(
                    Mismatch(
                        path,
                        "dim",
                        f"dim {name!r} (axis {axis % ndim}) expected {size}, got {shape[axis]} "
                        f"(shape {list(shape)}, expected {self.describe()})",
                    )
                )
        for axis, name in self._named:
            got = shape[axis]
            seen = bindings.get(name)
            if seen is None:
                bindings[name] = (got, path)
            elif seen[0] != got:
                out.append(
                    Mismatch(
                        path,
                        "dim",
                        f"dim {name!r} (axis {axis % ndim}) expected {seen[0]} as at {seen[1]!r}, "
                        f"got {got} (shape {list(shape)}, expected {self.describe()})",
                    )
                )
        dtype = self.dtype
        accepted = dtype is None or value.dtype is dtype or (isinstance(dtype, tuple) and value.dtype in dtype)
        if not accepted:
            out.append(Mismatch(path, "dtype", f"expected dtype {_dtype_name(dtype)}, got {value.dtype}"))

    def matches(self, value: Any, bindings: dict[str, tuple[int, str]] | None = None) -> bool:
        """Return whether ``value`` matches; cheap, with no message (``check`` explains a mismatch).

        Examples:
            >>> TensorShape("b, 2").matches(torch.zeros(3, 2)), TensorShape("b, 2").matches(torch.zeros(3))
            (True, False)
        """
        return self._ok(value, "", {} if bindings is None else bindings)

    def _ok(self, value: Any, name: str, bindings: dict[str, tuple[int, str]]) -> bool:
        """Return whether ``value`` matches, binding free dims; no messages (the fast path)."""
        if not isinstance(value, torch.Tensor):
            return False
        try:
            shape = value.shape
        except RuntimeError:  # a strided nested tensor has no shape (free when nothing is raised)
            return False
        ndim = len(shape)
        if ndim != self._rank and (self._ellipsis < 0 or ndim < self._rank):
            return False
        for axis, _, size in self._fixed:
            if shape[axis] != size:
                return False
        for axis, dim in self._named:
            seen = bindings.get(dim)
            if seen is None:
                bindings[dim] = (shape[axis], name)
            elif seen[0] != shape[axis]:
                return False
        dtype = self.dtype
        return dtype is None or value.dtype is dtype or (isinstance(dtype, tuple) and value.dtype in dtype)


class TypeSpec:
    """An object that must be an instance of a class (or one of several).

    Examples:
        >>> check(TypeSpec(int), 3)
    """

    __slots__ = ("types",)

    def __init__(self, *types: type) -> None:
        if not types or not all(isinstance(t, type) for t in types):
            raise TypeError(f"TypeSpec needs one or more classes, got {types!r}")
        self.types = types

    def __repr__(self) -> str:
        return f"TypeSpec({', '.join(t.__name__ for t in self.types)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypeSpec) and self.types == other.types

    def __hash__(self) -> int:
        return hash(self.types)

    def _check(
        self,
        value: Any,
        path: str,
        bindings: dict[str, tuple[int, str]],
        out: list[Mismatch],
    ) -> None:
        value = _unwrap(value)
        if not isinstance(value, self.types):
            names = " | ".join(t.__name__ for t in self.types)
            out.append(Mismatch(path, "type", f"expected {names}, got {type(value).__name__}"))

    def matches(self, value: Any, bindings: dict[str, tuple[int, str]] | None = None) -> bool:
        """Return whether ``value`` (or the object a TensorDict wraps in it) is an instance of the types.

        Examples:
            >>> from tensordict import NonTensorData
            >>> TypeSpec(str).matches("a"), TypeSpec(str).matches(NonTensorData("a")), TypeSpec(str).matches(1)
            (True, True, False)
        """
        return isinstance(_unwrap(value), self.types)

    def _ok(self, value: Any, name: str, bindings: dict[str, tuple[int, str]]) -> bool:
        """Return whether ``value`` matches (the fast path); sees through TensorDict's non-tensor wrappers."""
        return isinstance(_unwrap(value), self.types)


Leaf = TensorShape | TypeSpec


class SpecDict(Mapping[tuple[str, ...], Leaf]):
    """Keys (nested as tuples or dotted paths) mapped to ``TensorShape``/``TypeSpec``.

    Nested mappings and ``SpecDict`` values are flattened, so a ``SpecDict`` is
    always a flat mapping from tuple paths to leaf specs.

    Args:
        spec: Mapping from keys to leaf specs or nested mappings of them.
        optional: Keys that may be absent; checked only when present. A prefix of
            nested keys makes each leaf below it optional.
        strict: Whether keys not in the spec are errors. Keys of the data must be
            strings; a strict spec reports any other key (``1``, ``None``, a
            tuple) as unexpected, naming it.

    Examples:
        >>> s = SpecDict({"obs": TensorShape("b, 4"), ("extra", "mask"): TensorShape("b, 2")})
        >>> sorted(s)
        [('extra', 'mask'), ('obs',)]
        >>> check(s, {"obs": torch.zeros(3, 4), "extra": {"mask": torch.ones(3, 2)}})
    """

    __slots__ = ("_fast", "_items", "_leaves", "_optional", "_tree", "strict")

    def __init__(
        self,
        spec: Mapping[Any, Any] | None = None,
        /,
        *,
        optional: Iterable[str | Sequence[str]] = (),
        strict: bool = False,
    ) -> None:
        self._leaves: dict[tuple[str, ...], Leaf] = {}
        opt: set[tuple[str, ...]] = set()
        self._flatten(spec or {}, (), opt)
        for key in optional:
            path = to_path(key)
            # A prefix of nested keys makes every leaf below it optional.
            below = [p for p in self._leaves if p[: len(path)] == path]
            if not below:
                raise KeyError(f"optional key {format_path(path)!r} is not in the spec")
            opt.update(below)
        self._optional = frozenset(opt)
        self.strict = strict
        self._items = tuple(
            (path[0] if len(path) == 1 else path, format_path(path), leaf, path in self._optional)
            for path, leaf in self._leaves.items()
        )
        # The fast path's view: bound ``_ok`` methods and whether the key is nested.
        self._fast = tuple(
            (key, name, leaf._ok, optional, not isinstance(key, str)) for key, name, leaf, optional in self._items
        )
        # The keys as a tree, for finding extra keys: a dict per level, ``None`` at a leaf.
        self._tree: dict[str, Any] = {}
        for path in self._leaves:
            node = self._tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = None

    def _flatten(self, spec: Mapping[Any, Any], prefix: tuple[str, ...], opt: set[tuple[str, ...]]) -> None:
        if isinstance(spec, SpecDict):
            for path, leaf in spec._leaves.items():
                self._add(prefix + path, leaf)
            opt.update(prefix + p for p in spec._optional)
            return
        for key, value in spec.items():
            path = prefix + to_path(key)
            if isinstance(value, (TensorShape, TypeSpec)):
                self._add(path, value)
            elif isinstance(value, Mapping):
                self._flatten(value, path, opt)
            else:
                raise TypeError(
                    f"spec for {format_path(path)!r} must be a TensorShape, TypeSpec or mapping, "
                    f"got {type(value).__name__}"
                )

    def _add(self, path: tuple[str, ...], leaf: Leaf) -> None:
        if path in self._leaves:
            raise KeyError(f"key {format_path(path)!r} given twice")
        for other in self._leaves:
            if other[: len(path)] == path or path[: len(other)] == other:
                raise KeyError(f"key {format_path(path)!r} conflicts with {format_path(other)!r}")
        self._leaves[path] = leaf

    @property
    def optional(self) -> frozenset[tuple[str, ...]]:
        """The keys that may be absent."""
        return self._optional

    def __getitem__(self, key: str | Sequence[str]) -> Leaf:
        return self._leaves[to_path(key)]

    def __contains__(self, key: object) -> bool:
        try:
            return to_path(key) in self._leaves  # type: ignore[arg-type]
        except TypeError:
            return False

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SpecDict)
            and self._leaves == other._leaves
            and self._optional == other._optional
            and self.strict == other.strict
        )

    def __hash__(self) -> int:
        # A frozenset, because equality ignores the order of the keys.
        return hash((frozenset(self._leaves.items()), self._optional, self.strict))

    def __repr__(self) -> str:
        body = ", ".join(
            f"{format_path(p)!r}: {leaf!r}{' (optional)' if p in self._optional else ''}"
            for p, leaf in self._leaves.items()
        )
        return f"SpecDict({{{body}}}{', strict=True' if self.strict else ''})"

    def merge(self, other: Mapping[Any, Any], *, optional: Iterable[str | Sequence[str]] = ()) -> SpecDict:
        """Return a new ``SpecDict`` with ``other``'s keys added (replacing equal keys).

        Examples:
            >>> SpecDict({"a": TensorShape("b")}).merge({"c": TensorShape("b")})
            SpecDict({'a': TensorShape('b'), 'c': TensorShape('b')})
        """
        added = other if isinstance(other, SpecDict) else SpecDict(other, optional=optional)
        leaves = {p: v for p, v in self._leaves.items() if p not in added._leaves}
        opt = {p for p in self._optional if p in leaves} | set(added._optional) | {to_path(k) for k in optional}
        leaves.update(added._leaves)
        return SpecDict(leaves, optional=opt, strict=self.strict)

    def without(self, *keys: str | Sequence[str]) -> SpecDict:
        """Return a new ``SpecDict`` without the given keys."""
        drop = {to_path(k) for k in keys}
        leaves = {p: v for p, v in self._leaves.items() if p not in drop}
        return SpecDict(leaves, optional=[p for p in self._optional if p in leaves], strict=self.strict)

    def matches(self, data: Any, bindings: dict[str, tuple[int, str]] | None = None) -> bool:
        """Return whether ``data`` matches; cheap, with no message (``check`` explains a mismatch).

        Args:
            data: A TensorDict or (nested) mapping.
            bindings: Sizes of unbound dims seen so far; updated in place, as by ``check``.

        Examples:
            >>> SpecDict({"obs": TensorShape("b, 4")}).matches({"obs": torch.zeros(2, 4)})
            True
        """
        return self._ok(data, "", {} if bindings is None else bindings)

    def _ok(self, data: Any, name: str, bindings: dict[str, tuple[int, str]]) -> bool:
        """Return whether ``data`` matches, without building messages (the fast path).

        One ``items()`` call reads every top-level entry of a TensorDict: far
        cheaper than a ``get`` per key, which dominated the cost of a check.
        It must agree exactly with ``_check``: ``True`` if and only if
        ``_check`` finds no mismatch, binding the same dims.
        """
        if type(data) is TensorDict:
            # The TensorDict's own key -> value dict: no copy, no per-key dispatch.
            entries: Mapping[Any, Any] = getattr(data, "_tensordict", None) or dict(data.items())
        elif isinstance(data, TensorDictBase):
            entries = dict(data.items())
        elif isinstance(data, Mapping):
            entries = data
        else:
            return False
        for key, full, ok, optional, nested in self._fast:
            value = _lookup(data, key) if nested else entries.get(key, _MISSING)
            if value is _MISSING:
                if optional:
                    continue
                return False
            if not ok(value, full, bindings):
                return False
        return not self.strict or not _has_extra(entries, self._tree)

    def _check(
        self,
        data: Any,
        path: str,
        bindings: dict[str, tuple[int, str]],
        out: list[Mismatch],
    ) -> None:
        is_td = isinstance(data, TensorDictBase)
        if not is_td and not isinstance(data, Mapping):
            out.append(Mismatch(path, "type", f"expected a TensorDict or mapping, got {type(data).__name__}"))
            return
        for key, name, leaf, optional in self._items:
            value = data.get(key, _MISSING) if is_td else _lookup(data, key)
            full = f"{path}.{name}" if path else name
            if value is _MISSING:
                if not optional:
                    out.append(Mismatch(full, "missing", f"missing key (expected {_leaf_text(leaf)})"))
                continue
            leaf._check(value, full, bindings, out)
        if self.strict:
            extras: list[tuple[tuple[str, ...], Any]] = []
            _extra_keys(data, self._tree, (), extras)
            # Sorted by path; the repr orders non-string keys of one mapping (they may not compare).
            for where, key in sorted(extras, key=lambda e: (e[0], "" if e[1] is _MISSING else repr(e[1]))):
                full = format_path(where)
                full = f"{path}.{full}" if path and full else full or path
                if key is _MISSING:
                    out.append(Mismatch(full, "extra", "unexpected key"))
                else:
                    message = f"unexpected key {key!r} ({type(key).__name__}): keys must be strings"
                    out.append(Mismatch(full, "extra", message))


def _leaf_text(leaf: Leaf) -> str:
    if isinstance(leaf, TensorShape):
        dt = "" if leaf.dtype is None else f" {_dtype_name(leaf.dtype)}"
        return f"tensor {leaf.describe()}{dt}"
    return repr(leaf)


def _lookup(data: Mapping[Any, Any], key: str | tuple[str, ...]) -> Any:
    if isinstance(key, str):
        return data.get(key, _MISSING)
    value: Any = data
    for i, part in enumerate(key):
        if isinstance(value, TensorDictBase):
            return value.get(key[i:], _MISSING)
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _is_container(value: Any) -> bool:
    """Return whether ``value`` holds keys: a TensorDict or mapping, but no non-tensor wrapper."""
    return isinstance(value, (Mapping, TensorDictBase)) and not is_non_tensor(value)


def _entries(data: Any) -> Iterable[tuple[Any, Any]]:
    """Return ``(key, value)`` for the top-level entries of a TensorDict or mapping."""
    if isinstance(data, TensorDictBase):
        # A TensorDict's own key -> value dict where it has one (as in ``SpecDict._ok``); else
        # ``keys()`` and ``get``, since iterating a TensorDict splits its batch.
        inner = getattr(data, "_tensordict", None) if type(data) is TensorDict else None
        if isinstance(inner, dict):
            return inner.items()
        return [(k, data.get(k)) for k in data.keys()]  # noqa: SIM118
    return data.items()  # type: ignore[no-any-return]


def _has_extra(data: Any, tree: Mapping[str, Any]) -> bool:
    """Return whether ``data`` has a key that ``tree`` does not name (what ``_extra_keys`` would list).

    Anything below a leaf of ``tree`` belongs to that leaf (a ``TypeSpec``'d
    sub-dict). Below a key that ``tree`` does not name, everything is extra,
    an empty sub-dict included; where ``tree`` expects nested keys, an entry
    holding no keys (a tensor) is extra.
    """
    for key, value in _entries(data):
        if not isinstance(key, str):
            return True
        sub = tree.get(key, _MISSING)
        if sub is None:
            continue
        if sub is _MISSING or not _is_container(value) or _has_extra(value, sub):
            return True
    return False


def _extra_keys(
    data: Any, tree: Mapping[str, Any], prefix: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]
) -> None:
    """Append each key of ``data`` that ``tree`` does not name (see ``_has_extra``).

    A string key is appended as ``(path, _MISSING)``, its leaves (or itself,
    if it holds none) for a sub-dict; any other key as ``(path of its
    mapping, key)``, since it has no place in a dotted path.
    """
    for key, value in _entries(data):
        if not isinstance(key, str):
            out.append((prefix, key))
            continue
        sub = tree.get(key, _MISSING)
        if sub is None:
            continue
        if sub is _MISSING:
            _all_keys(value, (*prefix, key), out)
        elif _is_container(value):
            _extra_keys(value, sub, (*prefix, key), out)
        else:
            out.append(((*prefix, key), _MISSING))


def _all_keys(value: Any, path: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    """Append ``path`` itself, or the leaves below it if ``value`` holds keys, as ``_extra_keys`` does."""
    entries = list(_entries(value)) if _is_container(value) else []
    if not entries:
        out.append((path, _MISSING))
    for key, sub in entries:
        if isinstance(key, str):
            _all_keys(sub, (*path, key), out)
        else:
            out.append((path, key))


IOSpec = TensorShape | TypeSpec | SpecDict


def check(
    spec: IOSpec | Mapping[Any, Any],
    data: Any,
    *,
    context: str | None = None,
    bindings: dict[str, tuple[int, str]] | None = None,
) -> None:
    """Check ``data`` against ``spec`` and raise ``SpecError`` listing every mismatch.

    Args:
        spec: A ``SpecDict`` (or a plain mapping, converted), ``TensorShape`` or ``TypeSpec``.
        data: A TensorDict, a (nested) mapping of tensors, or a tensor.
        context: Prefix for the error, e.g. ``"MyModule.forward_train output"``.
        bindings: Sizes of unbound dims seen so far, shared between checks that
            must agree (for example a forward's input and output); updated in place.

    Raises:
        SpecError: Listing each missing key, extra key (strict specs), wrong type,
            wrong rank, wrong size of a named dim and wrong dtype.

    Examples:
        >>> check({"obs": TensorShape("b, 4")}, {"obs": torch.zeros(2, 3)})
        Traceback (most recent call last):
        ...
        specs.errors.SpecError: data does not match its spec (1 mismatch):
          - 'obs': dim '4' (axis 1) expected 4, got 3 (shape [2, 3], expected [b, 4])
    """
    if not isinstance(spec, (SpecDict, TensorShape, TypeSpec)):
        spec = SpecDict(spec)
    if bindings is None:
        bindings = {}
    # Matching data (the common case) takes the fast path; only a failure pays for
    # the full pass that collects every mismatch with its message. Names the fast
    # path bound carry the same sizes and paths the full pass would record.
    if spec._ok(data, "", bindings):
        return
    out: list[Mismatch] = []
    spec._check(data, "", bindings, out)
    if out:
        raise SpecError(out, context=context)
