"""Drawing for the built-in envs' ``render``: filled shapes on a numpy ``uint8`` picture, no pygame.

Pictures are ``[height, width, 3]`` RGB arrays with row 0 at the top;
coordinates are ``(x, y)`` in pixels with ``y`` pointing down. A pixel is
painted when its centre lies inside the shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["Color", "canvas", "fill_circle", "fill_polygon", "fill_rect", "line", "upscale"]

#: An RGB colour.
Color = tuple[int, int, int]


def canvas(height: int, width: int, color: Color = (255, 255, 255)) -> np.ndarray:
    """Return a picture ``[height, width, 3]`` (uint8) filled with ``color``.

    Examples:
        >>> canvas(2, 3).shape
        (2, 3, 3)
    """
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[:] = color
    return picture


def _window(
    picture: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Return the rows and columns of ``picture`` whose pixel centres may lie in ``[x0, x1] x [y0, y1]``.

    Also returns the centres' coordinates: ``xs`` ``[1, w]`` and ``ys`` ``[h, 1]``.
    """
    height, width = picture.shape[:2]
    c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)) + 1, width)
    r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)) + 1, height)
    xs = np.arange(c0, max(c1, c0), dtype=np.float64)[None, :] + 0.5
    ys = np.arange(r0, max(r1, r0), dtype=np.float64)[:, None] + 0.5
    return slice(r0, max(r1, r0)), slice(c0, max(c1, c0)), xs, ys


def fill_rect(picture: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
    """Paint the axis-aligned rectangle ``[x0, x1] x [y0, y1]`` into ``picture`` (in place).

    Examples:
        >>> p = canvas(4, 4, (0, 0, 0))
        >>> fill_rect(p, 1, 1, 3, 3, (255, 0, 0))
        >>> p[:, :, 0].tolist()
        [[0, 0, 0, 0], [0, 255, 255, 0], [0, 255, 255, 0], [0, 0, 0, 0]]
    """
    rows, cols, xs, ys = _window(picture, x0, y0, x1, y1)
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    picture[rows, cols][inside] = color


def fill_polygon(picture: np.ndarray, points: Sequence[tuple[float, float]], color: Color) -> None:
    """Paint the convex polygon with corners ``points`` ``(x, y)`` (either winding) into ``picture`` (in place)."""
    corners = np.asarray(points, dtype=np.float64)
    rows, cols, xs, ys = _window(picture, *corners.min(0), *corners.max(0))
    # A point is inside a convex polygon when it lies on the same side of every edge.
    sides = []
    for (ax, ay), (bx, by) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        sides.append((bx - ax) * (ys - ay) - (by - ay) * (xs - ax))
    stacked = np.stack(np.broadcast_arrays(*sides))
    inside = (stacked >= 0).all(0) | (stacked <= 0).all(0)
    picture[rows, cols][inside] = color


def line(picture: np.ndarray, start: tuple[float, float], end: tuple[float, float], width: float, color: Color) -> None:
    """Paint a straight stroke ``width`` pixels wide from ``start`` to ``end`` (square ends), in place."""
    (x0, y0), (x1, y1) = start, end
    length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
    # Half the width along the stroke's normal.
    nx, ny = -(y1 - y0) / length * width / 2, (x1 - x0) / length * width / 2
    fill_polygon(picture, [(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)], color)


def fill_circle(picture: np.ndarray, cx: float, cy: float, radius: float, color: Color) -> None:
    """Paint the disc of ``radius`` around ``(cx, cy)`` into ``picture`` (in place)."""
    rows, cols, xs, ys = _window(picture, cx - radius, cy - radius, cx + radius, cy + radius)
    inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    picture[rows, cols][inside] = color


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Return ``picture`` with each pixel as a ``factor x factor`` block.

    Examples:
        >>> upscale(canvas(2, 3), 4).shape
        (8, 12, 3)
    """
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
