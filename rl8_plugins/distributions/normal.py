"""The ``normal`` distribution: a diagonal Gaussian for ``Box`` actions."""

from __future__ import annotations

import math
from typing import Any

import torch

from rl8_core import Distribution, hookimpl
from specs import Box, Spec

__all__ = ["Normal", "rl8_distributions"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _box(action_spec: Spec) -> Box:
    if not (isinstance(action_spec, Box) and action_spec.dtype.is_floating_point):
        raise TypeError(f"Normal needs a float Box action spec, got {action_spec!r}")
    return action_spec


class Normal(Distribution):
    """A diagonal Gaussian from ``[b, 2d]`` inputs: means, then log-stds (``d`` = action size).

    Actions have the Box's shape and dtype. Computes in float32.

    Examples:
        >>> d = Normal(torch.zeros(3, 4), Box((2,)))
        >>> d.sample().shape, d.logp(torch.zeros(3, 2)).shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    has_rsample = True

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        self.box = _box(action_spec)
        self.mean, self.log_std = inputs.float().chunk(2, dim=-1)
        self.std = self.log_std.exp()

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``2d``: a mean and a log-std per action element."""
        return 2 * _box(action_spec).numel

    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``d``: the log-stds may be free parameters."""
        return _box(action_spec).numel

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is a float ``Box``."""
        return isinstance(action_spec, Box) and action_spec.dtype.is_floating_point

    def _shape(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(*flat.shape[:-1], *self.box.shape).to(self.box.dtype)

    def sample(self) -> torch.Tensor:
        """Draw actions without gradient."""
        with torch.no_grad():
            return self.rsample()

    def rsample(self) -> torch.Tensor:
        """Draw ``mean + std * eps`` (differentiable in the inputs)."""
        return self._shape(self.mean + self.std * torch.randn_like(self.mean))

    def deterministic_sample(self) -> torch.Tensor:
        """Return the mean."""
        return self._shape(self.mean)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return the log-density ``[b]``, summed over action elements."""
        a = actions.reshape(*self.mean.shape).float()
        z = (a - self.mean) / self.std
        return (-0.5 * z.square() - self.log_std - _HALF_LOG_2PI).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]``."""
        return (0.5 + _HALF_LOG_2PI + self.log_std).sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return the closed-form ``KL(self || other)`` ``[b]``."""
        if not isinstance(other, Normal):
            raise TypeError(f"KL between Normal and {type(other).__name__} is not defined")
        var_ratio = (self.std / other.std).square()
        t = ((self.mean - other.mean) / other.std).square()
        return 0.5 * (var_ratio + t - 1 - var_ratio.log()).sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``normal``."""
    return {"normal": Normal}
