"""Running observation normalisation that lives inside a module and its checkpoint."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from torch import nn

from specs import Box, Composite, Spec, TensorSpec

__all__ = ["ObsNormalizer", "RunningMeanStd"]


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of tensors of one shape.

    Statistics are buffers, so they are saved, restored and moved with the
    module. ``update`` merges a batch with Chan et al.'s parallel formula.

    Examples:
        >>> rms = RunningMeanStd((2,))
        >>> rms.update(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
        >>> rms.mean.tolist(), rms.var.tolist()
        ([1.0, 2.0], [1.0, 1.0])
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, shape: tuple[int, ...] | torch.Size, *, clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.shape = torch.Size(shape)
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(self.shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``[*, *shape]`` into the statistics."""
        x = x.detach().reshape(-1, *self.shape).to(torch.float64)
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)
        b_var = x.var(0, unbiased=False)
        total = self.count + n
        delta = b_mean - self.mean
        self.mean += delta * (n / total)
        self.var.copy_((self.var * self.count + b_var * n + delta.square() * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(x - mean) / sqrt(var + eps)`` clipped to ``[-clip, clip]``, in ``x``'s dtype."""
        mean = self.mean.to(x.dtype)
        std = (self.var + self.eps).sqrt().to(x.dtype)
        return ((x - mean) / std).clamp(-self.clip, self.clip)


def _normalizable(spec: TensorSpec) -> bool:
    return isinstance(spec, Box) and spec.dtype.is_floating_point


class ObsNormalizer(nn.Module):
    """Normalise the floating ``Box`` leaves of observations; leave the rest as they are.

    Examples:
        >>> norm = ObsNormalizer(Box((3,)))
        >>> norm.update(torch.randn(100, 3) * 5 + 2)
        >>> norm(torch.randn(4, 3)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self, observation_spec: Spec, *, clip: float = 10.0, exclude: Sequence[str | tuple[str, ...]] = ()
    ) -> None:
        super().__init__()
        self.observation_spec = observation_spec
        skip = {(e,) if isinstance(e, str) else tuple(e) for e in exclude}
        #: Paths of the normalised leaves; statistics ``leaf{i}`` belong to ``paths[i]``.
        self.paths: list[tuple[str, ...]] = []
        stats: list[RunningMeanStd] = []
        if isinstance(observation_spec, Composite):
            for path, leaf in observation_spec.leaves():
                if _normalizable(leaf) and not any(path[: len(s)] == s for s in skip):
                    self.paths.append(path)
                    stats.append(RunningMeanStd(leaf.shape, clip=clip))
        elif isinstance(observation_spec, TensorSpec) and _normalizable(observation_spec):
            stats.append(RunningMeanStd(observation_spec.shape, clip=clip))
        # Positional names: any string is a valid Composite key, so joining paths could collide.
        self.stats = nn.ModuleList(stats)

    def _leaf(self, index: int) -> RunningMeanStd:
        module = self.stats[index]
        assert isinstance(module, RunningMeanStd)
        return module

    @torch.no_grad()
    def update(self, obs: torch.Tensor | TensorDictBase) -> None:
        """Fold a batch of observations into the running statistics."""
        if isinstance(obs, TensorDictBase):
            for i, path in enumerate(self.paths):
                self._leaf(i).update(obs.get(path))
        elif len(self.stats):
            self._leaf(0).update(obs)

    def forward(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor | TensorDictBase:
        """Return normalised observations (a shallow copy for TensorDicts)."""
        if isinstance(obs, TensorDictBase):
            out = obs.copy()
            for i, path in enumerate(self.paths):
                out.set(path, self._leaf(i)(obs.get(path)))
            return out
        if len(self.stats):
            normalized: torch.Tensor = self._leaf(0)(obs)
            return normalized
        return obs
