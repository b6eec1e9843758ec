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

    Examples:
        >>> TensorShape("b, h", h=64, dtype=torch.float32)
        TensorShape('b, h=64', dtype=torch.float32)
        >>> check(TensorShape("b, 3"), torch.zeros(5, 3))
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
            out.append(Mismatch(path, "type", f"expected a Tensor {self.describe()}, got {type(value).__name__}"))
            return
        shape = value.shape
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
        shape = value.shape
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
        if not isinstance(value, self.types):
            names = " | ".join(t.__name__ for t in self.types)
            out.append(Mismatch(path, "type", f"expected {names}, got {type(value).__name__}"))

    def matches(self, value: Any, bindings: dict[str, tuple[int, str]] | None = None) -> bool:
        """Return whether ``value`` is an instance of the types."""
        return isinstance(value, self.types)

    def _ok(self, value: Any, name: str, bindings: dict[str, tuple[int, str]]) -> bool:
        """Return whether ``value`` matches (the fast path); wrapped non-tensors take the full path."""
        return isinstance(value, self.types) and not (isinstance(value, TensorDictBase) and is_non_tensor(value))


Leaf = TensorShape | TypeSpec


class SpecDict(Mapping[tuple[str, ...], Leaf]):
    """Keys (nested as tuples or dotted paths) mapped to ``TensorShape``/``TypeSpec``.

    Nested mappings and ``SpecDict`` values are flattened, so a ``SpecDict`` is
    always a flat mapping from tuple paths to leaf specs.

    Args:
        spec: Mapping from keys to leaf specs or nested mappings of them.
        optional: Keys that may be absent; checked only when present. A prefix of
            nested keys makes each leaf below it optional.
        strict: Whether keys not in the spec are errors.

    Examples:
        >>> s = SpecDict({"obs": TensorShape("b, 4"), ("extra", "mask"): TensorShape("b, 2")})
        >>> sorted(s)
        [('extra', 'mask'), ('obs',)]
        >>> check(s, {"obs": torch.zeros(3, 4), "extra": {"mask": torch.ones(3, 2)}})
    """

    __slots__ = ("_fast", "_items", "_leaves", "_optional", "strict")

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
        Strict specs and wrapped non-tensor values take the full path.
        """
        if self.strict:
            return False
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
        return True

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
            if not isinstance(value, torch.Tensor) and is_non_tensor(value):
                # A TensorDict wraps strings and other objects; TypeSpec checks the object.
                value = value.tolist()
            leaf._check(value, full, bindings, out)
        if self.strict:
            for extra in sorted(_leaf_keys(data) - set(self._leaves)):
                # A key below a TypeSpec'd sub-dict is not extra.
                if any(extra[: len(p)] == p for p in self._leaves):
                    continue
                full = format_path(extra)
                out.append(Mismatch(f"{path}.{full}" if path else full, "extra", "unexpected key"))


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


def _leaf_keys(data: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    if isinstance(data, TensorDictBase):
        # Not ``keys(leaves_only=True)``: that skips non-tensor entries, which are keys too.
        for k in data.keys():  # noqa: SIM118 (iterating a TensorDict splits its batch)
            v = data.get(k)
            if isinstance(v, TensorDictBase) and not is_non_tensor(v):
                keys |= _leaf_keys(v, (*prefix, k))
            else:
                keys.add((*prefix, k))
        return keys
    for k, v in data.items():
        if isinstance(v, (Mapping, TensorDictBase)):
            keys |= _leaf_keys(v, (*prefix, k))
        else:
            keys.add((*prefix, k))
    return keys


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
