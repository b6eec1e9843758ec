"""The ``normal`` distribution: a diagonal Gaussian for ``Box`` actions."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from rl8_core import Distribution, hookimpl
from rl8_plugins.distributions._bounds import Affine, affine, bounded_box, flat_bounds, float_box, is_float_box
from specs import Box, Spec

__all__ = ["Normal", "rl8_distributions"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

Bounds = Literal["clip", "rescale"]
_BOUNDS = ("clip", "rescale")


def _box(action_spec: Spec, bounds: str = "clip") -> Box:
    box = float_box(action_spec, "Normal")
    if bounds not in _BOUNDS:
        raise ValueError(f"Normal option bounds must be one of {', '.join(map(repr, _BOUNDS))}, got {bounds!r}")
    if bounds == "rescale":
        bounded_box(box, "Normal with bounds='rescale'")
    return box


class Normal(Distribution):
    """A diagonal Gaussian from ``[b, 2d]`` inputs: means, then log-stds (``d`` = action size).

    Actions have the Box's shape and dtype. Computes in float32.

    With ``bounds="clip"`` (the default) the Gaussian lives in action
    coordinates and ignores the Box's bounds: samples may fall outside them.
    The runner stores those unclipped actions (so ``logp`` of a stored action
    is the density it was sampled from), and the env boundary clips them before
    stepping (``GymVectorEnv(clip_actions=True)``, and torch-native envs such
    as ``pendulum`` clip themselves).

    With ``bounds="rescale"`` the Gaussian lives in normalised coordinates
    where the Box spans ``[-1, 1]``: an action is ``center + half_range * x``
    for ``x ~ N(mean, std)``, with ``center = (low + high) / 2`` and
    ``half_range = (high - low) / 2``, so the same initial log-std explores
    every dimension in proportion to its range. ``logp`` and ``entropy`` carry
    the ``-sum(log half_range)`` / ``+sum(log half_range)`` of the affine map;
    ``kl`` is unchanged by it. Samples may still leave the bounds (and are
    clipped at the env boundary as above). Needs finite bounds with
    ``high > low``.

    Args:
        inputs: Means then log-stds ``[b, 2d]``.
        action_spec: A float ``Box``.
        bounds: ``"clip"`` or ``"rescale"``, see above.
        **config: Rejected (no other options).

    Examples:
        >>> d = Normal(torch.zeros(3, 4), Box((2,)))
        >>> d.sample().shape, d.logp(torch.zeros(3, 2)).shape
        (torch.Size([3, 2]), torch.Size([3]))
        >>> Normal(torch.zeros(1, 2), Box((1,), 0.0, 10.0), bounds="rescale").deterministic_sample()
        tensor([[5.]])
    """

    has_rsample = True

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, *, bounds: Bounds = "clip", **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        self.box = _box(action_spec, bounds)
        #: ``"clip"`` or ``"rescale"``.
        self.bounds = bounds
        self.mean, self.log_std = inputs.float().chunk(2, dim=-1)
        self.std = self.log_std.exp()
        #: ``(center, half_range, sum(log half_range))`` of the ``"rescale"`` map, else ``None``.
        self.affine: Affine | None = None
        if bounds == "rescale":
            self.affine = affine(*flat_bounds(self.box), inputs.device)

    @classmethod
    def required_inputs(cls, action_spec: Spec, *, bounds: Bounds = "clip", **config: Any) -> int:
        """Return ``2d``: a mean and a log-std per action element."""
        return 2 * _box(action_spec, bounds).numel

    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, *, bounds: Bounds = "clip", **config: Any) -> int:
        """Return ``d``: the log-stds may be free parameters."""
        return _box(action_spec, bounds).numel

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is a float ``Box``."""
        return is_float_box(action_spec)

    def _shape(self, flat: torch.Tensor) -> torch.Tensor:
        if self.affine is not None:
            flat = self.affine.to_box(flat)
        return flat.reshape(*flat.shape[:-1], *self.box.shape).to(self.box.dtype)

    def _log_det(self) -> torch.Tensor | float:
        """Return ``sum(log half_range)``, the log-Jacobian of the ``"rescale"`` map (0 for ``"clip"``)."""
        return 0.0 if self.affine is None else self.affine.log_det

    def sample(self) -> torch.Tensor:
        """Draw actions without gradient."""
        with torch.no_grad():
            return self.rsample()

    def rsample(self) -> torch.Tensor:
        """Draw ``mean + std * eps`` (differentiable in the inputs)."""
        return self._shape(self.mean + self.std * torch.randn_like(self.mean))

    def deterministic_sample(self) -> torch.Tensor:
        """Return the mean (mapped to action coordinates for ``"rescale"``)."""
        return self._shape(self.mean)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return the log-density ``[b]`` of actions, summed over action elements."""
        a = actions.reshape(*self.mean.shape).float()
        if self.affine is not None:
            a = self.affine.from_box(a)
        z = (a - self.mean) / self.std
        return (-0.5 * z.square() - self.log_std - _HALF_LOG_2PI).sum(-1) - self._log_det()

    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]`` of the actions."""
        return (0.5 + _HALF_LOG_2PI + self.log_std).sum(-1) + self._log_det()

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return the closed-form ``KL(self || other)`` ``[b]`` (the ``"rescale"`` map leaves it unchanged)."""
        if not isinstance(other, Normal):
            raise TypeError(f"KL between Normal and {type(other).__name__} is not defined")
        if other.bounds != self.bounds:
            raise ValueError(f"KL between Normals with bounds={self.bounds!r} and {other.bounds!r} is not defined")
        var_ratio = (self.std / other.std).square()
        t = ((self.mean - other.mean) / other.std).square()
        return 0.5 * (var_ratio + t - 1 - var_ratio.log()).sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``normal``."""
    return {"normal": Normal}
