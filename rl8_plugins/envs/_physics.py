"""What the built-in torch envs share.

Argument checks and a seeded generator for all of them; for the classic-control
ones, the ``[n, state_dim]`` physics state with reset and checkpointing.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns

__all__ = ["PhysicsEnv", "check_positive", "physics_dtype", "seeded_generator"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` naming the first of ``values`` below 1 (``num_envs``, ``max_episode_steps``, ...)."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def seeded_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """Return a ``torch.Generator`` on ``device`` seeded with ``seed`` (``None``: nondeterministically)."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def physics_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Accept ``torch.float32``/``torch.float64`` or their names (as configs spell them)."""
    resolved = _DTYPES.get(dtype.removeprefix("torch.")) if isinstance(dtype, str) else dtype
    if resolved is None or resolved not in _DTYPES.values():
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


class PhysicsEnv(BatchedEnv):
    """Base of the classic-control envs: a physics state ``[n, state_dim]``, step counters, a generator.

    Subclasses set ``state_dim`` and implement ``_initial_states``, ``_obs`` and
    ``step``; ``reset``, ``state_dict`` and ``load_state_dict`` come from here.
    Constants used in ``step`` are 0-dim tensors (``self._const``): such an
    operand costs half of what a Python float does (no wrapping per call).
    """

    #: Width of the physics state (4 for CartPole: x, x_dot, theta, theta_dot).
    state_dim: ClassVar[int]

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None,
        device: str | torch.device,
        max_episode_steps: int,
        dtype: str | torch.dtype,
    ) -> None:
        check_positive(num_envs=num_envs, max_episode_steps=max_episode_steps)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.max_episode_steps = int(max_episode_steps)
        self.dtype = physics_dtype(dtype)
        self._batch_size = torch.Size([self.num_envs])
        self._max_steps = torch.tensor(self.max_episode_steps, dtype=torch.int32, device=self.device)
        self._one = torch.tensor(1, dtype=torch.int32, device=self.device)
        # On the CPU, finding the finished envs costs nothing extra (there is no device to
        # wait for), so only they draw reset states; elsewhere every env draws one and
        # torch.where picks, which keeps step free of host-device syncs.
        self._sparse_reset = self.device.type == "cpu"
        self._generator = seeded_generator(self.device, seed)
        # Drawing nothing here makes ``Env(seed=s).reset()`` equal ``Env().reset(seed=s)``;
        # ``reset`` draws the first states.
        self._state = torch.zeros((self.num_envs, self.state_dim), dtype=self.dtype, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)

    def _const(self, value: float) -> torch.Tensor:
        """Return ``value`` as a 0-dim tensor of the physics dtype on the env's device."""
        return torch.tensor(value, dtype=self.dtype, device=self.device)

    @abstractmethod
    def _initial_states(self, n: int) -> torch.Tensor:
        """Draw ``n`` reset states ``[n, state_dim]`` from the env's generator."""

    @abstractmethod
    def _obs(self, state: torch.Tensor) -> torch.Tensor | TensorDictBase:
        """Return the (float32) observations of states ``[n, state_dim]``."""

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every env and return ``{obs: ...}``; ``seed`` reseeds the generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._state = self._initial_states(self.num_envs)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        return TensorDict({Columns.OBS: self._obs(self._state)}, batch_size=self._batch_size, device=self.device)

    def state_dict(self) -> dict[str, Any]:
        """Return the physics state ``[n, state_dim]``, the step counters ``[n]`` and the generator state."""
        return {
            "state": self._state.clone(),
            "steps": self._steps.clone(),
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` so that the env continues exactly where it was.

        Raises:
            ValueError: If the state was saved from a different number of envs.
        """
        physics, steps = state["state"], state["steps"]
        if tuple(physics.shape) != (self.num_envs, self.state_dim) or tuple(steps.shape) != (self.num_envs,):
            raise ValueError(
                f"state for {physics.shape[0]} envs cannot be loaded into a {type(self).__name__} "
                f"of {self.num_envs} envs"
            )
        self._state = physics.to(self.device, self.dtype, copy=True)
        self._steps = steps.to(self.device, torch.int32, copy=True)
        self._generator.set_state(state["generator"])
