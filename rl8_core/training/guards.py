"""Finite guards: a run that goes NaN or inf stops with the culprit named instead of training on garbage.

Three places are checked, each with one host sync: a rollout's rewards and
float observations (one fused ``isfinite`` per rollout), each optimiser step's
loss and gradient norm (a step that is not finite is skipped and counted), and
the weights after each update. ``guards:`` in a train config tunes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from rl8_core.config import check_range
from rl8_core.errors import NonFiniteError

__all__ = ["GuardsConfig", "NonFiniteError", "all_finite", "describe_nonfinite"]


@dataclass(frozen=True, kw_only=True)
class GuardsConfig:
    """Finite checks of a run (``guards:``); each costs one host sync where it runs."""

    env: bool = True
    """Check each rollout's rewards and float observations; a NaN or inf stops the run naming the key."""
    updates: bool = True
    """Skip an optimiser step whose loss or gradient norm is NaN or inf, and count it."""
    max_skipped_updates: int = 10
    """Stop the run after this many skipped optimiser steps in a row."""
    weights: bool = True
    """Check the weights after each update; non-finite weights stop the run (and are never saved)."""

    def __post_init__(self) -> None:
        check_range(self, "max_skipped_updates", ge=1)


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Return whether every float element of ``tensors`` is finite, with one host sync.

    Examples:
        >>> all_finite([torch.ones(3), torch.tensor([1, 2])]), all_finite([torch.tensor([0.0, float("nan")])])
        (True, False)
    """
    flags = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
    return not flags or bool(torch.stack(flags).all())


def describe_nonfinite(named: Mapping[str, torch.Tensor]) -> str | None:
    """Name the first non-finite value of ``named`` as ``key[index] = value``, or ``None`` if all are finite.

    Examples:
        >>> describe_nonfinite({"rewards": torch.tensor([[0.0, 1.0], [float("inf"), 0.0]])})
        'rewards[1, 0] = inf'
    """
    for key, tensor in named.items():
        if not tensor.is_floating_point():
            continue
        bad = (~torch.isfinite(tensor)).nonzero()
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            value = float(tensor[index])
            where = f"[{', '.join(str(i) for i in index)}]" if index else ""
            return f"{key}{where} = {value}"
    return None
