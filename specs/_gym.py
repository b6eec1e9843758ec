"""Conversion between gymnasium spaces and specs, and between their data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from specs._space import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, TensorSpec
from specs.errors import UnsupportedSpaceError

__all__ = ["from_gymnasium", "from_numpy", "to_gymnasium", "to_numpy"]

_SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple"


def _torch_dtype(dtype: Any) -> torch.dtype:
    return torch.from_numpy(np.zeros((), dtype=dtype)).dtype


def _numpy_dtype(dtype: torch.dtype) -> np.dtype[Any]:
    return np.dtype(torch.zeros((), dtype=dtype).numpy().dtype)


def from_gymnasium(space: gym.Space[Any]) -> Spec:
    """Convert a gymnasium space (nested ``Dict``/``Tuple`` included) to a spec.

    Raises:
        UnsupportedSpaceError: For spaces with no spec counterpart (``Text``,
            ``Graph``, ``Sequence``, ``OneOf``, a boolean ``Box``, a ``Dict`` key
            with a ``.``, an empty ``Dict`` or ``Tuple``), naming the space and its path.

    Examples:
        >>> from_gymnasium(gym.spaces.Discrete(3, start=1))
        Discrete(3, start=1)
        >>> from_gymnasium(gym.spaces.Dict({"a": gym.spaces.MultiBinary(2)}))
        Composite({'a': MultiBinary([2])})
    """
    return _from_gym(space, "")


def _from_gym(space: gym.Space[Any], path: str) -> Spec:
    try:
        return _convert(space, path)
    except UnsupportedSpaceError:
        raise
    except (TypeError, ValueError) as e:
        # A supported kind that no spec can hold (a bool Box, a Dict key with '.', an empty Tuple).
        where = f" at {path!r}" if path else ""
        raise UnsupportedSpaceError(
            f"gymnasium space {type(space).__name__}{where} ({space!r}) has no spec: {e}"
        ) from e


def _convert(space: gym.Space[Any], path: str) -> Spec:
    s = gym.spaces
    if isinstance(space, s.Box):
        return Box(
            space.shape,
            torch.from_numpy(space.low.astype(np.float64)),
            torch.from_numpy(space.high.astype(np.float64)),
            _torch_dtype(space.dtype),
        )
    if isinstance(space, s.Discrete):
        return Discrete(int(space.n), start=int(space.start), dtype=_torch_dtype(space.dtype))
    if isinstance(space, s.MultiDiscrete):
        return MultiDiscrete(
            torch.from_numpy(space.nvec.astype(np.int64)),
            start=torch.from_numpy(space.start.astype(np.int64)),
            dtype=_torch_dtype(space.dtype),
        )
    if isinstance(space, s.MultiBinary):
        return MultiBinary(list(space.shape), dtype=_torch_dtype(space.dtype))
    if isinstance(space, s.Dict):
        return Composite({k: _from_gym(v, f"{path}.{k}" if path else k) for k, v in space.spaces.items()})
    if isinstance(space, s.Tuple):
        return Composite.from_tuple(
            [_from_gym(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(space.spaces)]
        )
    where = f" at {path!r}" if path else ""
    raise UnsupportedSpaceError(
        f"gymnasium space {type(space).__name__}{where} ({space!r}) is not supported; "
        f"rl8 supports {_SUPPORTED}, nested to any depth"
    )


def to_gymnasium(spec: Spec) -> gym.Space[Any]:
    """Convert a spec back to the equivalent gymnasium space.

    Examples:
        >>> to_gymnasium(Box((2,), low=-1.0, high=1.0))
        Box(-1.0, 1.0, (2,), float32)
    """
    s = gym.spaces
    if isinstance(spec, Box):
        npd = _numpy_dtype(spec.dtype)
        return s.Box(spec.low.numpy().astype(npd), spec.high.numpy().astype(npd), tuple(spec.shape), npd)
    if isinstance(spec, Discrete):
        if spec.dtype == torch.int64:
            return s.Discrete(spec.n, start=spec.start)
        # Older gymnasium versions take no dtype here (their Discrete is always int64).
        return s.Discrete(spec.n, start=spec.start, dtype=_numpy_dtype(spec.dtype))
    if isinstance(spec, MultiDiscrete):
        return s.MultiDiscrete(spec.nvec.numpy(), dtype=_numpy_dtype(spec.dtype), start=spec.start.numpy())
    if isinstance(spec, MultiBinary):
        shape = list(spec.shape)
        return s.MultiBinary(shape[0] if len(shape) == 1 else shape)
    if isinstance(spec, Composite):
        if spec.is_tuple:
            return s.Tuple([to_gymnasium(v) for _, v in spec.items()])
        return s.Dict({k: to_gymnasium(v) for k, v in spec.items()})
    raise TypeError(f"cannot convert {spec!r} to a gymnasium space")


def from_numpy(
    spec: Spec,
    data: Any,
    *,
    batch_shape: tuple[int, ...] | torch.Size = (),
    device: torch.device | str | None = None,
) -> torch.Tensor | TensorDict:
    """Turn gymnasium data (arrays, nested dicts/tuples of arrays) into spec data.

    Leaves become tensors with the spec's dtype; dicts and tuples become
    ``TensorDict``s keyed as in the spec. Memory is shared where dtypes agree.

    Examples:
        >>> spec = Composite.from_tuple([Discrete(2), Box((2,))])
        >>> td = from_numpy(spec, (np.array([1, 0]), np.zeros((2, 2), np.float32)), batch_shape=(2,))
        >>> td["0"].tolist(), td["1"].shape
        ([1, 0], torch.Size([2, 2]))
    """
    if isinstance(spec, Composite):
        items = spec.items()
        if spec.is_tuple:
            values = list(data)
        elif isinstance(data, Mapping):
            values = [data[k] for k, _ in items]
        else:
            raise TypeError(f"expected a mapping for {spec!r}, got {type(data).__name__}")
        return TensorDict(
            {
                k: from_numpy(s, v, batch_shape=batch_shape, device=device)
                for (k, s), v in zip(items, values, strict=True)
            },
            batch_size=batch_shape,
        )
    if not isinstance(spec, TensorSpec) or spec.dtype is None:
        raise TypeError(f"unsupported spec {spec!r}")
    return torch.as_tensor(np.asarray(data), device=device).to(spec.dtype)


def to_numpy(spec: Spec, data: torch.Tensor | TensorDictBase) -> Any:
    """Turn spec data into what a gymnasium env accepts (arrays, dicts, tuples).

    Examples:
        >>> to_numpy(Discrete(3), torch.tensor([2, 1])).tolist()
        [2, 1]
    """
    if isinstance(spec, Composite):
        if not isinstance(data, TensorDictBase):
            raise TypeError(f"expected a TensorDict for {spec!r}, got {type(data).__name__}")
        out = {k: to_numpy(s, data.get(k)) for k, s in spec.items()}
        return tuple(out.values()) if spec.is_tuple else out
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"expected a Tensor for {spec!r}, got {type(data).__name__}")
    return data.detach().cpu().numpy()
