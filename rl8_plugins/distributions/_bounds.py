"""The checks on a float ``Box`` and its bounds, and the affine map between ``[-1, 1]`` and ``[low, high]``.

Shared by ``normal`` (with ``bounds="rescale"``) and ``squashed_normal``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, TypeGuard

import torch

from specs import Box, Spec

__all__ = ["Affine", "affine", "bounded_box", "flat_bounds", "float_box", "has_finite_range", "is_float_box"]


def is_float_box(spec: Spec) -> TypeGuard[Box]:
    """Return whether ``spec`` is a ``Box`` of a floating dtype, the only actions a Gaussian can produce.

    Examples:
        >>> is_float_box(Box((2,))), is_float_box(Box((2,), low=0, high=5, dtype=torch.int64))
        (True, False)
    """
    return isinstance(spec, Box) and spec.dtype.is_floating_point


def float_box(action_spec: Spec, who: str) -> Box:
    """Return ``action_spec`` if it is a float ``Box``, so that ``who``'s constructor and sizes share one check.

    Raises:
        TypeError: ``"{who} needs a float Box action spec, got ..."``.
    """
    if not is_float_box(action_spec):
        raise TypeError(f"{who} needs a float Box action spec, got {action_spec!r}")
    return action_spec


def has_finite_range(box: Box) -> bool:
    """Return whether every element has finite bounds with ``high > low``: where the affine map exists.

    Examples:
        >>> has_finite_range(Box((2,), -1.0, 1.0)), has_finite_range(Box((2,))), has_finite_range(Box((1,), 1.0, 1.0))
        (True, False, False)
    """
    return box.is_bounded and bool((box.high > box.low).all())


def bounded_box(box: Box, who: str) -> Box:
    """Return ``box`` if ``has_finite_range(box)``, for whoever needs the affine map.

    Raises:
        ValueError: ``"{who} needs a Box with finite bounds and high > low, got ..."``.
    """
    if not has_finite_range(box):
        raise ValueError(f"{who} needs a Box with finite bounds and high > low, got {box!r}")
    return box


def flat_bounds(box: Box) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Return ``low`` and ``high`` flattened to ``d`` Python floats: the hashable keys of the cached maps.

    Examples:
        >>> flat_bounds(Box((2, 1), low=[[0.0], [-1.0]], high=1.0))
        ((0.0, -1.0), (1.0, 1.0))
    """
    return tuple(box.low.flatten().tolist()), tuple(box.high.flatten().tolist())


class Affine(NamedTuple):
    """The map ``center + half_range * x`` from ``[-1, 1]`` onto ``[low, high]``, float32 on one device.

    Examples:
        >>> m = affine(*flat_bounds(Box((2,), low=[0.0, -4.0], high=[10.0, 0.0])), torch.device("cpu"))
        >>> m.to_box(torch.tensor([[-1.0, 1.0]])), m.from_box(torch.tensor([[5.0, -2.0]]))
        (tensor([[0., 0.]]), tensor([[0., 0.]]))
    """

    #: ``(low + high) / 2`` ``[d]``.
    center: torch.Tensor
    #: ``(high - low) / 2`` ``[d]``.
    half_range: torch.Tensor
    #: ``sum(log half_range)``, a scalar: the log-Jacobian of ``to_box``.
    log_det: torch.Tensor

    def to_box(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` ``[b, d]`` from ``[-1, 1]`` to ``[low, high]`` (float32 ``[b, d]``)."""
        return self.center + self.half_range * x

    def from_box(self, actions: torch.Tensor) -> torch.Tensor:
        """Map float ``actions`` ``[b, d]`` from ``[low, high]`` back to ``[-1, 1]`` (``[b, d]``)."""
        return (actions - self.center) / self.half_range


@functools.lru_cache(maxsize=64)
def affine(low: tuple[float, ...], high: tuple[float, ...], device: torch.device) -> Affine:
    """Return the ``Affine`` of ``flat_bounds`` ``low``, ``high`` on ``device``, computed in float64.

    Built once per bounds and device, so that a forward pays no host-to-device copy.
    """
    lo, hi = torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    half_range = (hi - lo) / 2
    return Affine(
        ((lo + hi) / 2).to(device, torch.float32),
        half_range.to(device, torch.float32),
        half_range.log().sum().to(device, torch.float32),
    )
