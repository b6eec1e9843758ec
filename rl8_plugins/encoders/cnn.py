"""The ``cnn`` encoder: image observations through convolutions and one dense layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from rl8_core import Encoder, build_mlp, get_activation, hookimpl
from specs import Box, Spec

__all__ = ["NATURE_FILTERS", "SMALL_FILTERS", "TINY_FILTERS", "CNNEncoder", "default_filters", "rl8_encoders"]

#: The Nature DQN stack (Mnih et al., 2015), for images of at least 64 pixels a side.
NATURE_FILTERS: tuple[tuple[int, ...], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
#: Strided 3x3 convolutions (padding 1) halving the size three times, for 16 to 63 pixels a side.
SMALL_FILTERS: tuple[tuple[int, ...], ...] = ((32, 3, 2, 1), (64, 3, 2, 1), (64, 3, 2, 1))
#: Size-preserving 3x3 convolutions (padding 1), for grids under 16 cells a side (MiniGrid's 7x7).
TINY_FILTERS: tuple[tuple[int, ...], ...] = ((16, 3, 1, 1), (32, 3, 1, 1))

_CHANNEL_SIZES = (1, 3, 4)


def default_filters(height: int, width: int) -> tuple[tuple[tuple[int, ...], ...], int]:
    """Return the default ``(filters, hidden)`` for an image of ``height x width`` pixels.

    Examples:
        >>> default_filters(84, 84)[1], default_filters(7, 7)[0] == TINY_FILTERS
        (512, True)
    """
    side = min(height, width)
    if side >= 64:
        return NATURE_FILTERS, 512
    if side >= 16:
        return SMALL_FILTERS, 256
    return TINY_FILTERS, 256


def _channels_last(shape: Sequence[int], channels: str) -> bool:
    if channels == "last":
        return True
    if channels == "first":
        return False
    if channels != "auto":
        raise ValueError(f"channels must be 'auto', 'last' or 'first', got {channels!r}")
    first, last = shape[0] in _CHANNEL_SIZES, shape[-1] in _CHANNEL_SIZES
    if first != last:
        return last
    if first:  # both ends could hold the channels, e.g. (3, 7, 3): channels first, as torch lays images out
        return False
    # Neither end is 1, 3 or 4 (stacked frames, e.g. (84, 84, 6)): the smaller end holds the channels.
    return shape[-1] < shape[0]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class CNNEncoder(Encoder):
    """Convolutions over an image ``Box`` of rank 3, then a dense layer of ``hidden`` units.

    ``uint8`` images are scaled to ``[0, 1]``; other dtypes are cast to float
    as they are. Layers use orthogonal init with gain ``sqrt(2)`` and zero
    biases, as ``build_mlp`` does. Observations may have any number of leading
    batch dims.

    Args:
        observation_spec: A ``Box`` of rank 3: ``[h, w, c]`` or ``[c, h, w]``.
        filters: One ``[out_channels, kernel, stride]`` or
            ``[out_channels, kernel, stride, padding]`` per convolution. Default
            by image size (the smaller side): ``NATURE_FILTERS`` from 64
            pixels, ``SMALL_FILTERS`` from 16, ``TINY_FILTERS`` below.
        hidden: Units of the final dense layer, which is ``output_dim``;
            default 512 with the Nature stack, else 256.
        activation: Activation after every convolution and the dense layer
            (see ``rl8_core.ACTIVATIONS``).
        channels: Where the channels are: ``"last"`` (gymnasium's ``[h, w, c]``),
            ``"first"`` (``[c, h, w]``), or ``"auto"``: last if only the last dim
            is 1, 3 or 4, first if only the first is, first if both are, and the
            smaller end if neither is.

    Raises:
        TypeError: If ``observation_spec`` is not a ``Box`` of rank 3.
        ValueError: If a filter is malformed or the image is too small for the filters.

    Examples:
        >>> enc = CNNEncoder(Box((84, 84, 3), low=0, high=255, dtype=torch.uint8))
        >>> enc.output_dim, enc(torch.zeros(2, 84, 84, 3, dtype=torch.uint8)).shape
        (512, torch.Size([2, 512]))
        >>> CNNEncoder(Box((7, 7, 3)), hidden=64, activation="elu").output_dim
        64
    """

    def __init__(
        self,
        observation_spec: Spec,
        *,
        filters: Sequence[Sequence[int]] | None = None,
        hidden: int | None = None,
        activation: str = "relu",
        channels: Literal["auto", "last", "first"] = "auto",
    ) -> None:
        if not (isinstance(observation_spec, Box) and len(observation_spec.shape) == 3):
            raise TypeError(f"CNNEncoder needs a Box of rank 3 (an image), got {observation_spec!r}")
        super().__init__(observation_spec)
        shape = tuple(int(d) for d in observation_spec.shape)
        #: Whether observations are ``[..., h, w, c]`` (permuted to ``[n, c, h, w]`` for the convolutions).
        self.channels_last = _channels_last(shape, channels)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        default, default_hidden = default_filters(h, w)
        #: The convolutions as ``(out_channels, kernel, stride, padding)``.
        self.filters = tuple(_filter(f, i) for i, f in enumerate(default if filters is None else filters))
        if not self.filters:
            raise ValueError("CNNEncoder needs at least one filter")
        hidden = default_hidden if hidden is None else int(hidden)
        if hidden < 1:
            raise ValueError(f"CNNEncoder hidden must be positive, got {hidden}")
        #: Whether ``uint8`` pixels are scaled from ``[0, 255]`` to ``[0, 1]``.
        self.scale_uint8 = observation_spec.dtype == torch.uint8
        layers: list[nn.Module] = []
        size = (h, w)
        for out_channels, kernel, stride, padding in self.filters:
            conv = nn.Conv2d(c, out_channels, kernel, stride=stride, padding=padding)
            nn.init.orthogonal_(conv.weight, math.sqrt(2))
            assert conv.bias is not None  # Conv2d has a bias unless told otherwise
            nn.init.zeros_(conv.bias)
            layers += [conv, get_activation(activation)]
            size = (_conv_out(size[0], kernel, stride, padding), _conv_out(size[1], kernel, stride, padding))
            if min(size) < 1:
                raise ValueError(
                    f"CNNEncoder: a {h}x{w} image is too small for filters {[list(f) for f in self.filters]} "
                    f"(nothing is left after filter {len(layers) // 2 - 1}); pass smaller kernels or strides"
                )
            c = out_channels
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.dense = build_mlp(c * size[0] * size[1], [hidden], activation=activation)
        self.output_dim = hidden
        self._ndim = 3

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Return features ``[*b, output_dim]`` for images ``[*b, *obs_shape]``."""
        batch = obs.shape[: obs.ndim - self._ndim]
        x = obs.reshape(-1, *obs.shape[obs.ndim - self._ndim :]).to(torch.get_default_dtype())
        if self.scale_uint8:
            x = x.mul_(1.0 / 255.0)  # ``to`` made a copy (uint8 -> float), so scaling in place is safe
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        out: torch.Tensor = self.dense(self.convs(x))
        return out.reshape(*batch, self.output_dim)


def _filter(spec: Sequence[int], index: int) -> tuple[int, int, int, int]:
    values = tuple(spec)
    if len(values) not in (3, 4) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(
            f"CNNEncoder filter {index} must be [out_channels, kernel, stride] or "
            f"[out_channels, kernel, stride, padding] of ints, got {list(values)!r}"
        )
    out_channels, kernel, stride = values[:3]
    padding = values[3] if len(values) == 4 else 0
    if out_channels < 1 or kernel < 1 or stride < 1 or padding < 0:
        raise ValueError(f"CNNEncoder filter {index} needs positive sizes and padding >= 0, got {list(values)!r}")
    return out_channels, kernel, stride, padding


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``cnn``."""
    return {"cnn": CNNEncoder}
