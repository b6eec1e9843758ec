"""The ``pendulum`` env: gymnasium's Pendulum-v1 with every env in one tensor op."""

from __future__ import annotations

import math
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns, hookimpl
from specs import Box

__all__ = ["PendulumEnv", "rl8_envs"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _physics_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Accept ``torch.float32``/``torch.float64`` or their names (as configs spell them)."""
    resolved = _DTYPES.get(dtype.removeprefix("torch.")) if isinstance(dtype, str) else dtype
    if resolved is None or resolved not in _DTYPES.values():
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


class PendulumEnv(BatchedEnv):
    """``num_envs`` copies of gymnasium's ``Pendulum-v1``, stepped as whole tensors.

    The dynamics and constants (``max_speed`` 8, ``max_torque`` 2, ``dt`` 0.05,
    ``m = l = 1``, ``g`` 10 by default), the reward
    ``-(angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2)`` of the state the
    torque is applied in, the reset distribution (``th ~ U(-pi, pi)``,
    ``thdot ~ U(-1, 1)``) and the 200-step truncation are those of gymnasium's
    ``classic_control/pendulum.py``. The pendulum never terminates. Finished
    envs reset inside ``step`` (see ``BatchedEnv``).

    Observations are float32 ``[n, 3]`` (``cos th, sin th, thdot``); actions are
    torques ``[n, 1]`` in ``Box((1,), -2, 2)``. Torques outside the box are
    clipped before they act (and before they are charged for), as gymnasium
    does, so a Gaussian policy may send unclipped samples.

    Step results are fresh tensors; the env never writes into a tensor it has
    handed out, so a runner may keep them without copying.

    Args:
        num_envs: Number of envs stepped together.
        seed: Seeds the env's ``torch.Generator`` (on ``device``); ``None`` draws
            a nondeterministic seed. ``reset(seed=...)`` reseeds.
        device: Where the state, observations, rewards and flags live.
        g: Gravitational acceleration.
        max_episode_steps: Truncation limit (gymnasium's ``TimeLimit``).
        dtype: Precision of the physics state, ``float32`` (the throughput
            default) or ``float64`` (gymnasium's; observations stay float32).

    Examples:
        >>> env = PendulumEnv(num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 3])
        >>> out = env.step(torch.tensor([[5.0], [-1.0]]))  # 5.0 acts as 2.0
        >>> out["rewards"].shape, out["terminateds"].any().item()
        (torch.Size([2]), False)
    """

    #: Largest angular speed (rad/s); faster states are clipped.
    max_speed = 8.0
    #: Largest torque; actions are clipped to ``[-max_torque, max_torque]``.
    max_torque = 2.0
    #: Seconds between state updates.
    dt = 0.05
    #: Mass of the pendulum.
    m = 1.0
    #: Length of the pendulum.
    l = 1.0  # noqa: E741 (gymnasium's name)

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        g: float = 10.0,
        max_episode_steps: int = 200,
        dtype: str | torch.dtype = torch.float32,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.g = float(g)
        self.max_episode_steps = int(max_episode_steps)
        self.dtype = _physics_dtype(dtype)
        high = torch.tensor([1.0, 1.0, self.max_speed], dtype=torch.float32)
        self.observation_spec = Box((3,), -high, high, torch.float32, device=self.device)
        self.action_spec = Box((1,), -self.max_torque, self.max_torque, torch.float32, device=self.device)
        self._batch_size = torch.Size([self.num_envs])

        def const(value: float) -> torch.Tensor:
            # A 0-dim tensor operand costs half of what a Python float does (no wrapping per call).
            return torch.tensor(value, dtype=self.dtype, device=self.device)

        # The coefficients as gymnasium's step computes them in Python floats.
        self._c_gravity_term = const(3 * self.g / (2 * self.l))
        self._c_torque_term = const(3.0 / (self.m * self.l**2))
        self._c_dt = const(self.dt)
        self._c_min_speed, self._c_max_speed = const(-self.max_speed), const(self.max_speed)
        self._c_pi, self._c_two_pi = const(math.pi), const(2 * math.pi)
        self._c_speed_cost, self._c_torque_cost = const(0.1), const(0.001)
        self._min_torque = torch.tensor(-self.max_torque, dtype=torch.float32, device=self.device)
        self._max_torque = torch.tensor(self.max_torque, dtype=torch.float32, device=self.device)
        # Reset states: low + (high - low) * U[0, 1) for (th, thdot), as numpy's uniform.
        self._reset_low = torch.tensor([-math.pi, -1.0], dtype=self.dtype, device=self.device)
        self._reset_span = torch.tensor([2 * math.pi, 2.0], dtype=self.dtype, device=self.device)
        self._max_steps = torch.tensor(self.max_episode_steps, dtype=torch.int32, device=self.device)
        self._one = torch.tensor(1, dtype=torch.int32, device=self.device)
        # On the CPU, finding the finished envs costs nothing extra (there is no device to
        # wait for), so only they draw reset states; elsewhere every env draws one and
        # torch.where picks, which keeps step free of host-device syncs.
        self._sparse_reset = self.device.type == "cpu"
        self._generator = torch.Generator(device=self.device)
        if seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(seed)
        # Drawing nothing here makes ``Env(seed=s).reset()`` equal ``Env().reset(seed=s)``;
        # ``reset`` draws the first states.
        self._state = torch.zeros((self.num_envs, 2), dtype=self.dtype, device=self.device)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)

    def _initial_states(self, n: int) -> torch.Tensor:
        """Draw ``n`` reset states ``[n, 2]``: ``th ~ U(-pi, pi)``, ``thdot ~ U(-1, 1)``."""
        u = torch.rand((n, 2), dtype=self.dtype, device=self.device, generator=self._generator)
        return torch.addcmul(self._reset_low, u, self._reset_span)

    @staticmethod
    def _obs(state: torch.Tensor) -> torch.Tensor:
        """Return ``[cos th, sin th, thdot]`` ``[n, 3]`` (float32) for states ``[n, 2]``."""
        th, thdot = state.unbind(1)
        # Contiguous: cos of a strided column takes a multithreaded path even for a few
        # thousand envs, which stalls on busy cores.
        th = th.contiguous()
        return torch.stack((torch.cos(th), torch.sin(th), thdot), dim=1).to(torch.float32)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        """Reset every env and return ``{obs: [n, 3]}``; ``seed`` reseeds the generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._state = self._initial_states(self.num_envs)
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        return TensorDict({Columns.OBS: self._obs(self._state)}, batch_size=self._batch_size, device=self.device)

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Apply torques ``actions`` ``[n, 1]`` (clipped to ``[-2, 2]``) and return the step result.

        Returns:
            ``obs`` and ``next_obs`` ``[n, 3]`` (float32; they differ only where an
            episode ended: ``obs`` is then the reset observation, ``next_obs`` the
            final one), ``rewards`` ``[n]`` (float32), ``terminateds`` (always
            false) and ``truncateds`` ``[n]`` (bool).
        """
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"PendulumEnv takes a tensor of actions, got {type(actions).__name__}")
        th, thdot = self._state.unbind(1)
        th = th.contiguous()  # see _obs
        # gymnasium clips the (float32) action before using and charging for it.
        u = torch.clamp(actions.reshape(self.num_envs), self._min_torque, self._max_torque).to(self.dtype)
        # gymnasium's PendulumEnv.step, expression by expression in the same order.
        th_normalized = torch.remainder(th + self._c_pi, self._c_two_pi) - self._c_pi
        costs = th_normalized * th_normalized + self._c_speed_cost * (thdot * thdot) + self._c_torque_cost * (u * u)
        newthdot = thdot + (self._c_gravity_term * torch.sin(th) + self._c_torque_term * u) * self._c_dt
        newthdot = torch.clamp(newthdot, self._c_min_speed, self._c_max_speed)
        newth = th + newthdot * self._c_dt
        final = torch.stack((newth, newthdot), dim=1)
        final_obs = torch.stack((torch.cos(newth), torch.sin(newth), newthdot), dim=1).to(torch.float32)
        self._steps += self._one
        truncated = self._steps >= self._max_steps
        self._steps.masked_fill_(truncated, 0)
        if self._sparse_reset:
            index = truncated.nonzero().squeeze(1)
            fresh = self._initial_states(index.numel())
            state = final.index_copy(0, index, fresh)
            obs = final_obs.index_copy(0, index, self._obs(fresh))
        else:
            fresh = self._initial_states(self.num_envs)
            done = truncated.unsqueeze(1)
            state = torch.where(done, fresh, final)
            obs = torch.where(done, self._obs(fresh), final_obs)
        self._state = state
        return TensorDict(
            {
                Columns.OBS: obs,
                Columns.NEXT_OBS: final_obs,
                Columns.REWARDS: (-costs).to(torch.float32),
                Columns.TERMINATEDS: torch.zeros(self.num_envs, dtype=torch.bool, device=self.device),
                Columns.TRUNCATEDS: truncated,
            },
            batch_size=self._batch_size,
            device=self.device,
        )

    def state_dict(self) -> dict[str, Any]:
        """Return the physics state ``[n, 2]``, the step counters ``[n]`` and the generator state."""
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
        if tuple(physics.shape) != (self.num_envs, 2) or tuple(steps.shape) != (self.num_envs,):
            raise ValueError(
                f"state for {physics.shape[0]} envs cannot be loaded into a PendulumEnv of {self.num_envs} envs"
            )
        self._state = physics.to(self.device, self.dtype, copy=True)
        self._steps = steps.to(self.device, torch.int32, copy=True)
        self._generator.set_state(state["generator"])


@hookimpl
def rl8_envs() -> dict[str, type[BatchedEnv]]:
    """Register ``pendulum``."""
    return {"pendulum": PendulumEnv}
