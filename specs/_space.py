"""Space specs: what an environment emits and accepts.

Leaves (``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``) describe one
tensor; ``Composite`` nests them by string key. Data for a leaf is a tensor of
shape ``[*batch_shape, *spec.shape]``; data for a ``Composite`` is a
``TensorDict`` with ``batch_size == batch_shape``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase

from specs._io import SpecDict, TensorShape, _not_dense, format_path
from specs.errors import Mismatch, SpecError

__all__ = [
    "Box",
    "Composite",
    "Discrete",
    "MultiBinary",
    "MultiDiscrete",
    "Spec",
    "spec_from_dict",
]

Data = torch.Tensor | TensorDictBase
BatchShape = Sequence[int] | torch.Size | int
DeviceLike = torch.device | str | None


def _size(shape: BatchShape) -> torch.Size:
    if isinstance(shape, int):
        return torch.Size([shape])
    return torch.Size(shape)


def _device(device: DeviceLike) -> torch.device:
    return torch.device("cpu") if device is None else torch.device(device)


def _dtype_from_name(name: str) -> torch.dtype:
    dtype = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype


class Spec(ABC):
    """Base of all space specs.

    Attributes:
        shape: Shape of one sample (without batch dims); ``()`` for composites.
        dtype: Dtype of a leaf's tensor; ``None`` for composites.
        device: Where ``rand`` and ``zero`` create tensors. ``validate`` ignores it.
    """

    shape: torch.Size
    dtype: torch.dtype | None
    device: torch.device

    @abstractmethod
    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> Any:
        """Return a random sample with the given batch shape; it always belongs to the spec."""

    @abstractmethod
    def zero(self, batch_shape: BatchShape = ()) -> Any:
        """Return a sample of zeros (moved into bounds where zero is outside them)."""

    @abstractmethod
    def to(self, device: DeviceLike) -> Spec:
        """Return the same spec whose samples are created on ``device``."""

    @abstractmethod
    def as_io_spec(self, batch_dims: Sequence[str] = ("b",)) -> TensorShape | SpecDict:
        """Return the I/O spec of a batch of samples, with named leading ``batch_dims``.

        Examples:
            >>> Box((3,)).as_io_spec()
            TensorShape('b, 3', dtype=torch.float32)
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description; ``spec_from_dict`` inverts it."""

    @abstractmethod
    def _first_error(self, x: Any, batch_shape: torch.Size | None, path: str) -> Mismatch | None:
        """Return the first mismatch of ``x`` with this spec, or ``None``."""

    def validate(self, x: Any, *, batch_shape: BatchShape | None = None) -> None:
        """Raise ``SpecError`` naming the first offending leaf if ``x`` does not belong.

        Shape, dtype and values are checked, so a leaf must be a dense tensor
        with data: a sparse or nested tensor is a ``type`` mismatch, and a meta
        tensor whose shape and dtype fit is a ``value`` mismatch (its values
        cannot be checked). ``as_io_spec()`` checks shape and dtype only.

        Args:
            x: A tensor (leaf) or TensorDict (composite).
            batch_shape: Expected batch dims; inferred from ``x`` when omitted.

        Examples:
            >>> Discrete(3).validate(torch.tensor([0, 2]))
            >>> Discrete(3).validate(torch.tensor([3]))
            Traceback (most recent call last):
            ...
            specs.errors.SpecError: data does not match its spec (1 mismatch):
              - <root>: value 3 outside Discrete(3) (range [0, 2])
        """
        err = self._first_error(x, None if batch_shape is None else _size(batch_shape), "")
        if err is not None:
            raise SpecError([err])

    def contains(self, x: Any, *, batch_shape: BatchShape | None = None) -> bool:
        """Return whether ``x`` belongs to this spec (see ``validate``).

        Examples:
            >>> Box((2,), low=0.0, high=1.0).contains(torch.tensor([0.5, 2.0]))
            False
        """
        return self._first_error(x, None if batch_shape is None else _size(batch_shape), "") is None

    def __contains__(self, x: Any) -> bool:
        return self.contains(x)


class TensorSpec(Spec):
    """Base of the leaf specs: one tensor of a fixed shape and dtype."""

    kind: ClassVar[str]

    def __init__(self, shape: BatchShape, dtype: torch.dtype, device: DeviceLike) -> None:
        self.shape = _size(shape)
        self.dtype: torch.dtype = dtype
        self.device = _device(device)

    def as_io_spec(self, batch_dims: Sequence[str] = ("b",)) -> TensorShape:
        return TensorShape((*batch_dims, *self.shape), dtype=self.dtype)

    @property
    def numel(self) -> int:
        """Number of scalars in one sample."""
        return math.prod(self.shape)

    def _first_error(self, x: Any, batch_shape: torch.Size | None, path: str) -> Mismatch | None:
        if not isinstance(x, torch.Tensor):
            return Mismatch(path, "type", f"expected a Tensor for {self!r}, got {type(x).__name__}")
        not_dense = _not_dense(x)
        if not_dense is not None:
            return Mismatch(path, "type", not_dense)
        n = len(self.shape)
        if x.ndim < n or x.shape[x.ndim - n :] != self.shape:
            return Mismatch(
                path,
                "rank" if x.ndim < n else "dim",
                f"expected trailing shape {list(self.shape)}, got {list(x.shape)}",
            )
        if batch_shape is not None and x.shape[: x.ndim - n] != batch_shape:
            return Mismatch(path, "dim", f"expected batch shape {list(batch_shape)}, got {list(x.shape[: x.ndim - n])}")
        if x.dtype != self.dtype:
            return Mismatch(path, "dtype", f"expected dtype {self.dtype}, got {x.dtype}")
        if x.is_meta:
            return Mismatch(
                path,
                "value",
                f"meta tensor (device meta) has no values to check against {self!r}: pass a tensor with data",
            )
        return self._value_error(x, path)

    @abstractmethod
    def _value_error(self, x: torch.Tensor, path: str) -> Mismatch | None:
        """Return a mismatch if some value of ``x`` lies outside the spec."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.shape), self.dtype))


def _broadcast_bound(name: str, bound: Any, shape: torch.Size) -> torch.Tensor:
    t = torch.as_tensor(bound, dtype=torch.float64)
    try:
        return torch.broadcast_to(t, shape).clone()
    except RuntimeError:
        raise ValueError(f"Box {name} of shape {list(t.shape)} does not fit shape {list(shape)}") from None


def _bounds_in_dtype(low: torch.Tensor, high: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Return float64 bounds that ``dtype`` represents exactly, so that samples in ``dtype`` can reach them.

    Floating bounds are rounded to the nearest value of ``dtype`` (as gymnasium
    does; ``Box(low=0.7)`` in float32 holds float32's 0.7), finite ones clamped to
    its range. Integer bounds are rounded inwards and clamped to the dtype's range,
    which keeps exactly the same set of integers.
    """
    if dtype.is_floating_point:
        fmax = torch.finfo(dtype).max

        def cast(t: torch.Tensor) -> torch.Tensor:
            return torch.where(t.isfinite(), t.clamp(-fmax, fmax), t).to(dtype).to(torch.float64)

        return cast(low), cast(high)
    info = torch.iinfo(dtype)
    # float64 cannot hold int64's maximum; use the largest float64 below it.
    top = float(info.max) if int(float(info.max)) <= info.max else math.nextafter(float(info.max), 0.0)
    return torch.ceil(low).clamp(min=float(info.min)), torch.floor(high).clamp(max=top)


def _bound_to_json(t: torch.Tensor) -> Any:
    flat = t.flatten()
    if flat.numel() > 0 and bool((flat == flat[0]).all()):
        return float(flat[0])
    return t.tolist()


class Box(TensorSpec):
    """A tensor with optional elementwise bounds (continuous vectors, images).

    Args:
        shape: Shape of one sample.
        low: Lower bound, a scalar or anything broadcastable to ``shape``.
        high: Upper bound, likewise.
        dtype: Element dtype; integer dtypes (e.g. ``uint8`` images) need finite bounds.
        device: Where ``rand`` and ``zero`` create tensors.

    Examples:
        >>> box = Box((2,), low=-1.0, high=1.0)
        >>> box.rand((5,)).shape
        torch.Size([5, 2])
        >>> box.contains(torch.zeros(5, 2))
        True
    """

    kind = "box"

    def __init__(
        self,
        shape: BatchShape,
        low: float | Sequence[Any] | torch.Tensor = -math.inf,
        high: float | Sequence[Any] | torch.Tensor = math.inf,
        dtype: torch.dtype = torch.float32,
        *,
        device: DeviceLike = None,
    ) -> None:
        super().__init__(shape, dtype, device)
        if dtype == torch.bool:
            raise TypeError("use MultiBinary for boolean tensors")
        # Bounds are kept in float64: exact for every integer dtype we accept.
        lo, hi = (_broadcast_bound(name, b, self.shape) for name, b in (("low", low), ("high", high)))
        if bool(lo.isnan().any() or hi.isnan().any()):
            raise ValueError(f"Box bounds must not be NaN, got low={low!r}, high={high!r}")
        if bool((lo > hi).any()):
            raise ValueError(f"Box low must be <= high, got low={low!r}, high={high!r}")
        if not dtype.is_floating_point and not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ValueError(f"an integer Box ({dtype}) needs finite bounds")
        self.low, self.high = _bounds_in_dtype(lo, hi, dtype)
        if bool((self.low > self.high).any()):
            raise ValueError(f"an integer Box ({dtype}) with low={low!r}, high={high!r} contains no value")

    @property
    def is_bounded(self) -> bool:
        """Whether every element has a finite lower and upper bound."""
        return bool(torch.isfinite(self.low).all() and torch.isfinite(self.high).all())

    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = _size(batch_shape) + self.shape
        low, high = self.low.to(self.device), self.high.to(self.device)
        if not self.dtype.is_floating_point:
            u = torch.rand(shape, generator=generator, dtype=torch.float64, device=self.device)
            return torch.floor(low + u * (high - low + 1)).clamp(low, high).to(self.dtype)
        u = torch.rand(shape, generator=generator, dtype=torch.float64, device=self.device)
        n = torch.randn(shape, generator=generator, dtype=torch.float64, device=self.device)
        e = -torch.log1p(-u)  # exponential(1) from the same uniform draw
        lo_fin, hi_fin = torch.isfinite(low), torch.isfinite(high)
        # A convex combination, because ``high - low`` overflows for bounds near float64's maximum.
        bounded = low * (1 - u) + high * u
        out = torch.where(
            lo_fin & hi_fin,
            bounded,
            torch.where(lo_fin, low + e, torch.where(hi_fin, high - e, n)),
        )
        # Rounding to the target dtype may step just outside the bounds.
        lo_t = torch.where(lo_fin, low, torch.full_like(low, -math.inf))
        return out.to(self.dtype).clamp(lo_t.to(self.dtype), high.to(self.dtype))

    def zero(self, batch_shape: BatchShape = ()) -> torch.Tensor:
        z = torch.zeros(self.shape, dtype=torch.float64).clamp(self.low, self.high)
        return z.to(self.dtype).to(self.device).expand(_size(batch_shape) + self.shape).clone()

    def to(self, device: DeviceLike) -> Box:
        return Box(self.shape, self.low, self.high, self.dtype, device=device)

    def _value_error(self, x: torch.Tensor, path: str) -> Mismatch | None:
        xd = x.detach().to("cpu", torch.float64)
        bad = ~((xd >= self.low) & (xd <= self.high))  # also catches NaN
        if bool(bad.any()):
            idx = tuple(int(i) for i in bad.nonzero()[0])
            elem = idx[x.ndim - len(self.shape) :]
            return Mismatch(
                path,
                "value",
                f"value {xd[idx].item()} at index {list(idx)} outside [{self.low[elem].item()}, "
                f"{self.high[elem].item()}]",
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Box",
            "shape": list(self.shape),
            "low": _bound_to_json(self.low),
            "high": _bound_to_json(self.high),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def __repr__(self) -> str:
        lo, hi = _bound_to_json(self.low), _bound_to_json(self.high)
        bounds = f", low={lo}, high={hi}" if isinstance(lo, float) and isinstance(hi, float) else ""
        return f"Box({tuple(self.shape)}{bounds}, dtype={self.dtype})"


class Discrete(TensorSpec):
    """One integer in ``[start, start + n)`` (a scalar per sample).

    Examples:
        >>> Discrete(3, start=1).rand((4,)).shape
        torch.Size([4])
    """

    kind = "discrete"

    def __init__(self, n: int, *, start: int = 0, dtype: torch.dtype = torch.int64, device: DeviceLike = None) -> None:
        if n < 1:
            raise ValueError(f"Discrete needs n >= 1, got {n}")
        super().__init__((), dtype, device)
        self.n = int(n)
        self.start = int(start)

    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(
            self.start,
            self.start + self.n,
            _size(batch_shape),
            generator=generator,
            dtype=self.dtype,
            device=self.device,
        )

    def zero(self, batch_shape: BatchShape = ()) -> torch.Tensor:
        return torch.full(_size(batch_shape), self.start, dtype=self.dtype, device=self.device)

    def to(self, device: DeviceLike) -> Discrete:
        return Discrete(self.n, start=self.start, dtype=self.dtype, device=device)

    def _value_error(self, x: torch.Tensor, path: str) -> Mismatch | None:
        bad = (x < self.start) | (x >= self.start + self.n)
        if bool(bad.any()):
            v = x[bad][0].item()
            return Mismatch(
                path, "value", f"value {v} outside {self!r} (range [{self.start}, {self.start + self.n - 1}])"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Discrete", "n": self.n, "start": self.start, "dtype": str(self.dtype).removeprefix("torch.")}

    def __repr__(self) -> str:
        return f"Discrete({self.n}{f', start={self.start}' if self.start else ''})"


class MultiDiscrete(TensorSpec):
    """A tensor of integers, element ``i`` in ``[start[i], start[i] + nvec[i])``.

    Examples:
        >>> MultiDiscrete([2, 3]).rand((5,)).shape
        torch.Size([5, 2])
    """

    kind = "multi_discrete"

    def __init__(
        self,
        nvec: Sequence[Any] | torch.Tensor,
        *,
        start: Sequence[Any] | torch.Tensor | None = None,
        dtype: torch.dtype = torch.int64,
        device: DeviceLike = None,
    ) -> None:
        nv = torch.as_tensor(nvec, dtype=torch.int64)
        if nv.numel() == 0 or nv.ndim == 0 or bool((nv < 1).any()):
            raise ValueError(f"MultiDiscrete needs a non-empty nvec of positive ints, got {nvec!r}")
        super().__init__(nv.shape, dtype, device)
        self.nvec = nv
        self.start = (
            torch.zeros_like(nv) if start is None else torch.as_tensor(start, dtype=torch.int64).expand_as(nv).clone()
        )

    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = _size(batch_shape) + self.shape
        u = torch.rand(shape, generator=generator, device=self.device, dtype=torch.float64)
        nv, st = self.nvec.to(self.device), self.start.to(self.device)
        return (torch.floor(u * nv).clamp(max=nv - 1) + st).to(self.dtype)

    def zero(self, batch_shape: BatchShape = ()) -> torch.Tensor:
        return self.start.to(self.device, self.dtype).expand(_size(batch_shape) + self.shape).clone()

    def to(self, device: DeviceLike) -> MultiDiscrete:
        return MultiDiscrete(self.nvec, start=self.start, dtype=self.dtype, device=device)

    def _value_error(self, x: torch.Tensor, path: str) -> Mismatch | None:
        xc = x.detach().cpu().to(torch.int64)
        bad = (xc < self.start) | (xc >= self.start + self.nvec)
        if bool(bad.any()):
            idx = tuple(int(i) for i in bad.nonzero()[0])
            elem = idx[x.ndim - len(self.shape) :]
            lo = int(self.start[elem])
            return Mismatch(
                path,
                "value",
                f"value {int(xc[idx])} at index {list(idx)} outside [{lo}, {lo + int(self.nvec[elem]) - 1}]",
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "MultiDiscrete",
            "nvec": self.nvec.tolist(),
            "start": self.start.tolist(),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def __repr__(self) -> str:
        start = f", start={self.start.tolist()}" if bool(self.start.any()) else ""
        return f"MultiDiscrete({self.nvec.tolist()}{start})"


class MultiBinary(TensorSpec):
    """A tensor of zeros and ones (``int8`` like gymnasium's ``MultiBinary``).

    Examples:
        >>> MultiBinary(3).rand((2,)).shape
        torch.Size([2, 3])
    """

    kind = "multi_binary"

    def __init__(self, n: int | Sequence[int], *, dtype: torch.dtype = torch.int8, device: DeviceLike = None) -> None:
        shape = _size(n)
        if len(shape) == 0 or any(d < 1 for d in shape):
            raise ValueError(f"MultiBinary needs positive sizes, got {n!r}")
        super().__init__(shape, dtype, device)

    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(
            0, 2, _size(batch_shape) + self.shape, generator=generator, dtype=self.dtype, device=self.device
        )

    def zero(self, batch_shape: BatchShape = ()) -> torch.Tensor:
        return torch.zeros(_size(batch_shape) + self.shape, dtype=self.dtype, device=self.device)

    def to(self, device: DeviceLike) -> MultiBinary:
        return MultiBinary(list(self.shape), dtype=self.dtype, device=device)

    def _value_error(self, x: torch.Tensor, path: str) -> Mismatch | None:
        bad = (x != 0) & (x != 1)
        if bool(bad.any()):
            return Mismatch(path, "value", f"value {x[bad][0].item()} is not 0 or 1")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "MultiBinary", "shape": list(self.shape), "dtype": str(self.dtype).removeprefix("torch.")}

    def __repr__(self) -> str:
        return f"MultiBinary({list(self.shape)})"


class Composite(Spec):
    """Named sub-specs, nested to any depth; samples are ``TensorDict``s.

    A gymnasium ``Tuple`` becomes a ``Composite`` made by ``Composite.from_tuple``:
    its keys are ``"0"``, ``"1"``, ... and ``is_tuple`` is set, so that data can
    be turned back into tuples for the environment.

    Args:
        specs: Mapping from string keys to specs; nested plain mappings become
            ``Composite``s.
        device: Where ``rand`` and ``zero`` create tensors; when given, every
            entry is moved there too.
        is_tuple: Whether the entries stand for a tuple (in key order) rather
            than a dict when data crosses to gymnasium; ``from_tuple`` sets it.
        **kwargs: More entries, as keywords (``device`` and ``is_tuple`` are
            taken by the arguments above, not as entries).

    Attributes:
        is_tuple: See the argument.

    Raises:
        ValueError: For no entries, or a key that is empty or holds a ``.``.
        TypeError: For an entry that is no spec, or an ``is_tuple`` that is no bool.

    Examples:
        >>> c = Composite({"pos": Box((2,)), "mode": Discrete(3)})
        >>> td = c.rand((4,))
        >>> td.batch_size, td["pos"].shape
        (torch.Size([4]), torch.Size([4, 2]))
        >>> c.contains(td)
        True
        >>> t = Composite({"0": Discrete(2), "1": MultiBinary(3)}, is_tuple=True)
        >>> t.is_tuple, t == Composite.from_tuple([Discrete(2), MultiBinary(3)])
        (True, True)
    """

    kind: ClassVar[str] = "composite"

    def __init__(
        self,
        specs: Mapping[str, Spec | Mapping[str, Any]] | None = None,
        /,
        *,
        device: DeviceLike = None,
        is_tuple: bool = False,
        **kwargs: Spec,
    ) -> None:
        if not isinstance(is_tuple, bool):
            raise TypeError(f"Composite is_tuple must be a bool, got {type(is_tuple).__name__}")
        entries: dict[str, Spec] = {}
        for key, value in {**(specs or {}), **kwargs}.items():
            if not isinstance(key, str) or not key or "." in key:
                raise ValueError(f"Composite keys must be non-empty strings without '.', got {key!r}")
            if isinstance(value, Mapping):
                value = Composite(value, device=device)
            if not isinstance(value, Spec):
                raise TypeError(f"Composite entry {key!r} must be a Spec, got {type(value).__name__}")
            entries[key] = value if device is None else value.to(device)
        if not entries:
            raise ValueError("a Composite needs at least one entry")
        self._specs = entries
        self.shape = torch.Size()
        self.dtype = None
        self.device = _device(device)
        self.is_tuple = is_tuple

    @classmethod
    def from_tuple(cls, specs: Sequence[Spec], *, device: DeviceLike = None) -> Composite:
        """Build the composite for a tuple of specs (keys ``"0"``, ``"1"``, ...).

        Examples:
            >>> Composite.from_tuple([Discrete(2), Box((1,))]).keys()
            ['0', '1']
        """
        return cls({str(i): s for i, s in enumerate(specs)}, device=device, is_tuple=True)

    def keys(self) -> list[str]:
        """Return the top-level keys in order."""
        return list(self._specs)

    def items(self) -> list[tuple[str, Spec]]:
        """Return the top-level ``(key, spec)`` pairs in order."""
        return list(self._specs.items())

    def leaves(self) -> list[tuple[tuple[str, ...], TensorSpec]]:
        """Return ``(path, leaf)`` for every leaf, depth first in key order.

        Examples:
            >>> [p for p, _ in Composite({"a": {"b": Discrete(2)}, "c": Box((1,))}).leaves()]
            [('a', 'b'), ('c',)]
        """
        out: list[tuple[tuple[str, ...], TensorSpec]] = []
        for key, spec in self._specs.items():
            if isinstance(spec, Composite):
                out.extend(((key, *p), leaf) for p, leaf in spec.leaves())
            else:
                assert isinstance(spec, TensorSpec)
                out.append(((key,), spec))
        return out

    def __getitem__(self, key: str | tuple[str, ...]) -> Spec:
        if isinstance(key, str):
            return self._specs[key]
        spec: Spec = self
        for part in key:
            if not isinstance(spec, Composite):
                raise KeyError(key)
            spec = spec._specs[part]
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def rand(self, batch_shape: BatchShape = (), *, generator: torch.Generator | None = None) -> TensorDict:
        b = _size(batch_shape)
        return TensorDict({k: s.rand(b, generator=generator) for k, s in self._specs.items()}, batch_size=b)

    def zero(self, batch_shape: BatchShape = ()) -> TensorDict:
        b = _size(batch_shape)
        return TensorDict({k: s.zero(b) for k, s in self._specs.items()}, batch_size=b)

    def to(self, device: DeviceLike) -> Composite:
        return Composite({k: s.to(device) for k, s in self._specs.items()}, device=device, is_tuple=self.is_tuple)

    def without(self, *keys: str) -> Composite:
        """Return a copy without the top-level ``keys``; ``is_tuple`` and ``device`` stay.

        The other entries keep their keys and order (a tuple's are not
        renumbered) and are shared with this spec; this spec is left as it is.

        Args:
            *keys: Top-level keys to leave out.

        Raises:
            KeyError: For a key that is not there, naming it and the known keys.
            ValueError: If no entry would be left.

        Examples:
            >>> c = Composite({"obs": Box((2,)), "action_mask": MultiBinary(3)})
            >>> c.without("action_mask")
            Composite({'obs': Box((2,), low=-inf, high=inf, dtype=torch.float32)})
            >>> Composite.from_tuple([Discrete(2), Discrete(3), Discrete(4)]).without("1")
            Composite({'0': Discrete(2), '2': Discrete(4)}, is_tuple=True)
            >>> c.without("mask")
            Traceback (most recent call last):
            ...
            KeyError: "Composite has no key 'mask'; its keys are ['obs', 'action_mask']"
        """
        for key in keys:
            if key not in self._specs:
                raise KeyError(f"Composite has no key {key!r}; its keys are {self.keys()}")
        out = Composite({k: s for k, s in self._specs.items() if k not in keys}, is_tuple=self.is_tuple)
        # Set rather than passed: ``device=`` would move the entries, which stay as they are.
        out.device = self.device
        return out

    def as_io_spec(self, batch_dims: Sequence[str] = ("b",)) -> SpecDict:
        return SpecDict({k: s.as_io_spec(batch_dims) for k, s in self._specs.items()})

    def _first_error(self, x: Any, batch_shape: torch.Size | None, path: str) -> Mismatch | None:
        if not isinstance(x, TensorDictBase):
            return Mismatch(path, "type", f"expected a TensorDict for a Composite, got {type(x).__name__}")
        if batch_shape is None:
            batch_shape = x.batch_size
        elif x.batch_size != batch_shape:
            return Mismatch(path, "dim", f"expected batch shape {list(batch_shape)}, got {list(x.batch_size)}")
        for key, spec in self._specs.items():
            sub = format_path((path, key)) if path else key
            if key not in x:
                return Mismatch(sub, "missing", f"missing key (expected {spec!r})")
            err = spec._first_error(x.get(key), batch_shape, sub)
            if err is not None:
                return err
        extra = [k for k in x.keys() if k not in self._specs]  # noqa: SIM118 - iterating a TensorDict splits its batch
        if extra:
            sub = format_path((path, extra[0])) if path else extra[0]
            return Mismatch(sub, "extra", "unexpected key")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Composite",
            "is_tuple": self.is_tuple,
            "specs": {k: s.to_dict() for k, s in self._specs.items()},
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Composite) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self._specs))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {s!r}" for k, s in self._specs.items())
        return f"Composite({{{inner}}}{', is_tuple=True' if self.is_tuple else ''})"


def spec_from_dict(data: Mapping[str, Any]) -> Spec:
    """Rebuild a spec from ``Spec.to_dict()`` output.

    Examples:
        >>> s = Composite({"a": Box((2,), low=0.0, high=1.0), "b": Discrete(4, start=1)})
        >>> spec_from_dict(s.to_dict()) == s
        True
    """
    kind = data.get("type")
    if kind == "Box":
        return Box(data["shape"], data["low"], data["high"], _dtype_from_name(data["dtype"]))
    if kind == "Discrete":
        return Discrete(data["n"], start=data.get("start", 0), dtype=_dtype_from_name(data["dtype"]))
    if kind == "MultiDiscrete":
        return MultiDiscrete(data["nvec"], start=data.get("start"), dtype=_dtype_from_name(data["dtype"]))
    if kind == "MultiBinary":
        return MultiBinary(data["shape"], dtype=_dtype_from_name(data["dtype"]))
    if kind == "Composite":
        sub = {k: spec_from_dict(v) for k, v in data["specs"].items()}
        if data.get("is_tuple"):
            return Composite.from_tuple(list(sub.values()))
        return Composite(sub)
    raise ValueError(f"unknown spec type {kind!r} in {dict(data)!r}")
