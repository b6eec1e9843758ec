"""The ``squashed_normal`` distribution: a tanh-squashed diagonal Gaussian for bounded ``Box`` actions."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F

from rl8_core import Distribution, hookimpl
from rl8_plugins.distributions._bounds import (
    affine,
    bounded_box,
    flat_bounds,
    float_box,
    has_finite_range,
    is_float_box,
)
from specs import Box, Spec

__all__ = ["SquashedNormal", "rl8_distributions"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_LOG_2 = math.log(2.0)
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
#: ``logp`` reads actions clamped to ``(1 - EPS) * half_range`` around the center
#: before ``atanh``: an action on a bound (``tanh`` saturates to exactly 1 in
#: float32 for ``|u| > 9``) would otherwise give ``u = inf``. ``atanh(1 - 1e-6)``
#: is about 7.25, so the correction stays finite (at least about -13.1 per
#: element). A much smaller value would be below float32's resolution near 1
#: (6e-8) and the rounding of ``(a - center) / half_range``.
EPS = 1e-6
#: Gauss-Hermite nodes of ``E[log(1 - tanh(u)^2)]`` where ``std <= _SWITCH_STD``.
_NODES = 24
#: Above this std the expectation uses its large-std expansion instead (both are
#: within about 1e-3 of the exact value there; quadrature degrades beyond it).
_SWITCH_STD = 2.0
# ``c_k`` of ``E[r(u)] ~ sum_k c_k He_2k(m / s) phi(m / s) / s^(2k + 1)`` for the narrow bump
# ``r(u) = log(1 - tanh(u)^2) - 2 log 2 + 2 |u| = -2 log(1 + exp(-2 |u|))``:
# ``c_k = int u^2k r(u) du / (2k)! = -2 eta(2k + 2) / 4^k`` (eta: Dirichlet's eta function).
_C0 = -(math.pi**2) / 6
_C1 = -7 * math.pi**4 / 1440
_C2 = -31 * math.pi**6 / 241920


def _bounded_box(action_spec: Spec) -> Box:
    return bounded_box(float_box(action_spec, "SquashedNormal"), "SquashedNormal")


@functools.lru_cache(maxsize=64)
def _clamp_bounds(
    low: tuple[float, ...], high: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``low``, ``high`` ``[d]`` in the Box's ``dtype`` on ``device``, to clamp actions to.

    Built once per bounds, dtype and device, so that a forward pays no host-to-device copy.
    """
    lo, hi = torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    return lo.to(device, dtype), hi.to(device, dtype)


@functools.lru_cache(maxsize=8)
def _hermite(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Gauss-Hermite nodes and weights ``[n]`` for ``E[f(z)]``, ``z ~ N(0, 1)`` (Golub-Welsch)."""
    off = torch.arange(1, n, dtype=torch.float64).sqrt()
    nodes, vectors = torch.linalg.eigh(torch.diag(off, 1) + torch.diag(off, -1))
    return nodes.to(device, torch.float32), vectors[0].square().to(device, torch.float32)


def _log_dtanh(u: torch.Tensor) -> torch.Tensor:
    """Return ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, finite for every finite ``u``."""
    return 2 * (_LOG_2 - u - F.softplus(-2 * u))


def _expected_log_dtanh(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Return ``E[log(1 - tanh(u)^2)]`` for ``u ~ N(mean, std)``, elementwise, within about 1e-3.

    Gauss-Hermite quadrature for ``std <= 2``. For larger stds the integrand
    looks like ``2 log 2 - 2|u|`` (whose expectation is the folded-normal mean,
    in closed form) plus the narrow bump ``r(u)``, whose expectation is a short
    series in ``1 / std`` (expanding the Gaussian density around ``u = 0``).
    """
    nodes, weights = _hermite(_NODES, mean.device)
    quadrature = (_log_dtanh(mean.unsqueeze(-1) + std.unsqueeze(-1) * nodes) * weights).sum(-1)
    # Clamping keeps the unused branch (and so its gradient) finite.
    s = std.clamp(min=_SWITCH_STD)
    x = (mean / s).clamp(-30.0, 30.0)
    x2 = x.square()
    phi = _INV_SQRT_2PI * torch.exp(-0.5 * x2)
    bump = phi / s * (_C0 + _C1 * (x2 - 1) / s.square() + _C2 * (x2.square() - 6 * x2 + 3) / s.pow(4))
    abs_mean = 2 * s * phi + mean * torch.erf(x / _SQRT_2)
    expansion = 2 * _LOG_2 - 2 * abs_mean + bump
    return torch.where(std > _SWITCH_STD, expansion, quadrature)


class SquashedNormal(Distribution):
    """A tanh-squashed diagonal Gaussian on a bounded ``Box``, from ``[b, 2d]`` inputs: means, then log-stds.

    An action is ``a = center + half_range * tanh(u)`` for ``u ~ N(mean, std)``,
    with ``center = (low + high) / 2`` and ``half_range = (high - low) / 2``, so
    every sample lies inside the bounds (as in SAC, Haarnoja et al. 2018,
    appendix C). ``logp`` applies the exact change of variables; ``kl`` is the
    KL of the Gaussians over ``u``, which the shared bijection leaves unchanged.
    Computes in float32; actions have the Box's shape and dtype.

    Examples:
        >>> d = SquashedNormal(torch.zeros(3, 4), Box((2,), -2.0, 2.0))
        >>> d.deterministic_sample()[0].tolist(), d.logp(d.sample()).shape
        ([0.0, 0.0], torch.Size([3]))
    """

    has_rsample = True

    def __init__(self, inputs: torch.Tensor, action_spec: Spec, **config: Any) -> None:
        super().__init__(inputs, action_spec, **config)
        self.box = _bounded_box(action_spec)
        #: Mean and log-std ``[b, d]`` of the Gaussian over ``u`` (float32).
        self.mean, self.log_std = inputs.float().chunk(2, dim=-1)
        self.std = self.log_std.exp()
        low, high = flat_bounds(self.box)
        #: ``(center, half_range, sum(log half_range))``: the map from ``tanh(u)`` to actions.
        self.affine = affine(low, high, inputs.device)
        #: The bounds ``[d]`` in the Box's dtype, to clamp actions to.
        self.low, self.high = _clamp_bounds(low, high, self.box.dtype, inputs.device)

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``2d``: a mean and a log-std per action element."""
        return 2 * _bounded_box(action_spec).numel

    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, **config: Any) -> int:
        """Return ``d``: the log-stds may be free parameters."""
        return _bounded_box(action_spec).numel

    @classmethod
    def supports(cls, action_spec: Spec) -> bool:
        """Return whether ``action_spec`` is a float ``Box`` with finite bounds and ``high > low``."""
        return is_float_box(action_spec) and has_finite_range(action_spec)

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        """Map ``u`` ``[b, d]`` to actions ``[b, *shape]`` in the Box's dtype, clamped to its bounds."""
        a = self.affine.to_box(torch.tanh(u)).to(self.box.dtype)
        # Rounding (of center + half_range, or to the Box's dtype) may step just past a bound.
        a = a.clamp(self.low, self.high)
        return a.reshape(*a.shape[:-1], *self.box.shape)

    def _logp_u(self, u: torch.Tensor) -> torch.Tensor:
        """Return ``log p(a(u))`` ``[b]`` for pre-squash values ``u`` ``[b, d]``."""
        z = (u - self.mean) / self.std
        log_normal = -0.5 * z.square() - self.log_std - _HALF_LOG_2PI
        return (log_normal - _log_dtanh(u)).sum(-1) - self.affine.log_det

    def sample(self) -> torch.Tensor:
        """Draw actions without gradient."""
        with torch.no_grad():
            return self.rsample()

    def rsample(self) -> torch.Tensor:
        """Draw ``center + half_range * tanh(mean + std * eps)`` (differentiable in the inputs)."""
        return self._squash(self.mean + self.std * torch.randn_like(self.mean))

    def rsample_and_logp(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw reparameterised actions and their exact ``logp`` ``[b]``, as SAC's losses need.

        Unlike ``logp(rsample())`` this uses the pre-squash ``u`` itself, so it is
        exact even where ``tanh`` saturates and ``atanh`` would need the clamp.
        """
        u = self.mean + self.std * torch.randn_like(self.mean)
        return self._squash(u), self._logp_u(u)

    def deterministic_sample(self) -> torch.Tensor:
        """Return ``center + half_range * tanh(mean)``: the squashed mean of ``u`` (SAC's deterministic action)."""
        return self._squash(self.mean)

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``log p(actions)`` ``[b]``: the Gaussian density of ``u = atanh(x)`` minus the log-Jacobian.

        ``x = (a - center) / half_range`` is clamped to ``[-1 + EPS, 1 - EPS]``
        first, and ``log |da/du| = sum(log half_range + log(1 - tanh(u)^2))``.
        """
        x = self.affine.from_box(actions.reshape(*self.mean.shape).float())
        return self._logp_u(torch.atanh(x.clamp(-1 + EPS, 1 - EPS)))

    def entropy(self) -> torch.Tensor:
        """Return the entropy ``[b]`` of the actions: ``H(u) + E[log |da/du|]``.

        ``H(u)`` is the Gaussian's closed form. ``E[log |da/du|]`` has no closed
        form, but it is a sum of one-dimensional expectations
        ``E[log(1 - tanh(u_i)^2)]`` (plus ``sum(log half_range)``), computed
        deterministically to about 1e-3 per element (Gauss-Hermite quadrature,
        or a large-std expansion) rather than estimated from a sample: the same
        inputs give the same entropy, differentiable in mean and log-std.
        """
        expected = _expected_log_dtanh(self.mean, self.std)
        return (0.5 + _HALF_LOG_2PI + self.log_std + expected).sum(-1) + self.affine.log_det

    def kl(self, other: Distribution) -> torch.Tensor:
        """Return ``KL(self || other)`` ``[b]``: the closed form of the Gaussians over ``u``."""
        if not isinstance(other, SquashedNormal):
            raise TypeError(f"KL between SquashedNormal and {type(other).__name__} is not defined")
        var_ratio = (self.std / other.std).square()
        t = ((self.mean - other.mean) / other.std).square()
        return 0.5 * (var_ratio + t - 1 - var_ratio.log()).sum(-1)


@hookimpl
def rl8_distributions() -> dict[str, type[Distribution]]:
    """Register ``squashed_normal``."""
    return {"squashed_normal": SquashedNormal}
