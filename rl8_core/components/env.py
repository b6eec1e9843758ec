"""``BatchedEnv``: a batch of environments stepped as whole-tensor operations."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from tensordict import TensorDictBase

from rl8_core.columns import Columns
from rl8_core.errors import ConfigError
from specs import FLOAT_DTYPES, Spec, SpecDict, SpecError, TensorShape, check
from specs.errors import Mismatch

logger = logging.getLogger(__name__)

__all__ = ["BatchedEnv", "RenderableEnv", "render_frame"]


class BatchedEnv(ABC):
    """``num_envs`` environments of one kind, reset and stepped together as tensors.

    This is the throughput path: a torch-native env keeps its state in tensors
    on ``device`` and steps every env with a few tensor ops; gymnasium envs are
    adapted to the same protocol by ``GymVectorEnv``.

    Finished envs reset themselves within ``step`` (per-env autoreset), and the
    step result keeps the two ways an episode ends apart:

    * ``terminateds``: a terminal state was reached; its value is zero;
    * ``truncateds``: the episode was cut short (time limit); learners
      bootstrap from the value of ``next_obs``, the observation it ended in.

    Subclasses set ``observation_spec`` and ``action_spec`` (for one env),
    ``num_envs`` and ``device``, and implement ``reset`` and ``step``.

    Tensors returned by ``reset`` and ``step`` belong to the caller: the env
    must not write into them afterwards (allocate new ones each step), since
    runners keep a rollout's steps and copy them into their buffers at its
    end. ``terminateds`` and ``truncateds`` may both be true (a terminal state
    reached on the time limit); termination then takes precedence. A seed
    given to the constructor seeds the first ``reset``, which must come before
    the first ``step``.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from specs import Box, Discrete
        >>> class Counter(BatchedEnv):
        ...     def __init__(self, num_envs):
        ...         self.observation_spec, self.action_spec = Box((1,)), Discrete(2)
        ...         self.num_envs, self.device = num_envs, torch.device("cpu")
        ...         self.t = torch.zeros(num_envs)
        ...     def reset(self, *, seed=None):
        ...         self.t.zero_()
        ...         return TensorDict({"obs": self.t[:, None].clone()}, [self.num_envs])
        ...     def step(self, actions):
        ...         self.t += 1
        ...         next_obs = self.t[:, None].clone()
        ...         trunc = self.t >= 3
        ...         self.t[trunc] = 0
        ...         return TensorDict({"obs": self.t[:, None].clone(), "next_obs": next_obs,
        ...             "rewards": torch.ones(self.num_envs), "terminateds": torch.zeros_like(trunc),
        ...             "truncateds": trunc}, [self.num_envs])
        >>> env = Counter(2)
        >>> _ = env.reset()
        >>> [bool(env.step(torch.zeros(2, dtype=torch.long))["truncateds"][0]) for _ in range(3)]
        [False, False, True]
    """

    #: Spec of one env's observation.
    observation_spec: Spec
    #: Spec of one env's action.
    action_spec: Spec
    #: Number of envs stepped together.
    num_envs: int
    #: Where observations, rewards and flags live.
    device: torch.device

    @abstractmethod
    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every env and return ``{obs: [n, *obs_shape]}``.

        Args:
            seed: Reseeds the env's random stream when given.
        """

    @abstractmethod
    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Apply ``actions`` ``[n, *action_shape]`` to every env and return the result.

        Returns:
            A TensorDict with batch size ``[n]`` and keys ``obs`` (what to act on
            next: a fresh reset where an episode ended), ``next_obs`` (the true
            next observation: the final one where an episode ended), ``rewards``
            (float32), ``terminateds`` and ``truncateds`` (bool).
        """

    def check_output(self, result: Any, *, method: str = "step") -> None:
        """Check what ``reset``/``step`` returned against the contract: keys, batch size, shapes and dtypes.

        ``obs`` (and ``next_obs``) must fit ``observation_spec`` with a leading
        ``[num_envs]``, ``rewards`` be float ``[num_envs]``, and the flags bool
        ``[num_envs]``. Observations outside the spec's bounds are logged once as a
        warning, not an error (many envs overshoot their declared bounds a little).
        The runner calls this on the rollouts it checks (``check_specs``).

        Raises:
            SpecError: Naming the env, the method, the key, and expected versus actual.
        """
        context = f"{type(self).__name__}.{method} output"
        if not isinstance(result, TensorDictBase):
            raise SpecError(
                [Mismatch("", "type", f"expected a TensorDict, got {type(result).__module__}.{type(result).__name__}")],
                context=context,
            )
        obs = self.observation_spec.as_io_spec(("b",))
        keys: dict[str, Any] = {Columns.OBS: obs}
        if method == "step":
            keys |= {
                Columns.NEXT_OBS: obs,
                Columns.REWARDS: TensorShape("b", dtype=FLOAT_DTYPES),
                Columns.TERMINATEDS: TensorShape("b", dtype=torch.bool),
                Columns.TRUNCATEDS: TensorShape("b", dtype=torch.bool),
            }
        check(SpecDict(keys), result, context=context, bindings={"b": (self.num_envs, "num_envs")})
        if not self._bounds_warned:
            try:
                self.observation_spec.validate(result.get(Columns.OBS), batch_shape=(self.num_envs,))
            except SpecError as exc:
                self._bounds_warned = True
                logger.warning(
                    "%s: observations outside the observation spec (%s); warned once", context, exc.mismatches[0]
                )

    #: Whether ``check_output`` has warned of out-of-bounds observations already.
    _bounds_warned: bool = False

    def close(self) -> None:  # noqa: B027 - most envs hold nothing to release
        """Release resources (worker processes, windows); a no-op by default."""

    def state_dict(self) -> dict[str, Any] | None:
        """Return everything needed to continue exactly where the env is, or ``None``.

        Torch-native envs return their state tensors and random-generator state
        so that a resumed run matches an uninterrupted one; envs that cannot
        (e.g. gymnasium processes) return ``None`` and are reset on resume.
        """
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``state_dict``."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore its state")


@runtime_checkable
class RenderableEnv(Protocol):
    """A ``BatchedEnv`` that can draw pictures of its envs: the optional ``render`` capability.

    ``render`` is not part of ``BatchedEnv`` itself, so envs without pictures
    need nothing; ``rl8 record`` and ``record.at_end`` need it
    (``render_frame`` checks for it).
    """

    def render(self, index: int = 0) -> np.ndarray:
        """Return a picture of env ``index`` in its current state: ``uint8`` ``[height, width, 3]`` (RGB)."""
        ...


def render_frame(env: BatchedEnv, index: int = 0) -> np.ndarray:
    """Return ``env.render(index)``, checked to be an RGB picture: ``uint8`` ``[height, width, 3]``.

    Raises:
        ConfigError: If the env has no ``render`` method, or it returns something else
            (naming the env and what to do).

    Examples:
        >>> import numpy as np
        >>> class Blank:
        ...     def render(self, index=0):
        ...         return np.zeros((4, 6, 3), dtype=np.uint8)
        >>> render_frame(Blank()).shape
        (4, 6, 3)
    """
    name = type(env).__name__
    render = getattr(env, "render", None)
    if not callable(render):
        raise ConfigError(
            f"env {name} cannot render frames: it has no render(index) method; give it one that returns "
            f"a uint8 [height, width, 3] numpy array of env `index`, or record an env that has one"
        )
    frame = render(index)
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
        got = f"{frame.dtype} {list(frame.shape)}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ConfigError(f"env {name}: render({index}) must return a uint8 [height, width, 3] numpy array, got {got}")
    return frame
