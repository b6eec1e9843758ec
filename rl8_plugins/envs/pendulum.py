"""The ``pendulum`` env: gymnasium's Pendulum-v1 with every env in one tensor op."""

from __future__ import annotations

import math

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns, hookimpl
from rl8_plugins.envs import _draw
from rl8_plugins.envs._physics import PhysicsEnv
from specs import Box

__all__ = ["PendulumEnv", "rl8_envs"]


class PendulumEnv(PhysicsEnv):
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

    ``mask_velocity=True`` drops ``thdot``: observations are then float32
    ``[n, 2]`` (``cos th, sin th``, gymnasium's indices 0 and 1), final ones
    (``next_obs``) included, with the spec's bounds of those entries. The
    physics and rewards are unchanged; a policy must infer the angular speed
    from past observations (a task for recurrent or attention policies).

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
        mask_velocity: Observe ``[n, 2]`` (``cos th, sin th``) without ``thdot``.

    Examples:
        >>> env = PendulumEnv(num_envs=2, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([2, 3])
        >>> out = env.step(torch.tensor([[5.0], [-1.0]]))  # 5.0 acts as 2.0
        >>> out["rewards"].shape, out["terminateds"].any().item()
        (torch.Size([2]), False)
        >>> PendulumEnv(num_envs=2, seed=0, mask_velocity=True).reset()["obs"].shape  # cos th, sin th
        torch.Size([2, 2])
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
    #: Physics state: ``th, thdot``.
    state_dim = 2
    #: Side of a (square) ``render`` picture (gymnasium's).
    screen_dim = 500

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        g: float = 10.0,
        max_episode_steps: int = 200,
        dtype: str | torch.dtype = torch.float32,
        mask_velocity: bool = False,
    ) -> None:
        super().__init__(num_envs=num_envs, seed=seed, device=device, max_episode_steps=max_episode_steps, dtype=dtype)
        self.g = float(g)
        self.mask_velocity = bool(mask_velocity)
        high = torch.tensor([1.0, 1.0, self.max_speed], dtype=torch.float32)
        if self.mask_velocity:
            high = high[:2]  # cos th, sin th
        self.observation_spec = Box(tuple(high.shape), -high, high, torch.float32, device=self.device)
        self.action_spec = Box((1,), -self.max_torque, self.max_torque, torch.float32, device=self.device)
        const = self._const
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

    def _initial_states(self, n: int) -> torch.Tensor:
        """Draw ``n`` reset states ``[n, 2]``: ``th ~ U(-pi, pi)``, ``thdot ~ U(-1, 1)``."""
        u = torch.rand((n, 2), dtype=self.dtype, device=self.device, generator=self._generator)
        return torch.addcmul(self._reset_low, u, self._reset_span)

    def _obs(self, state: torch.Tensor) -> torch.Tensor:
        """Return ``[cos th, sin th, thdot]`` ``[n, 3]`` (float32) for states ``[n, 2]``.

        With ``mask_velocity``, ``[cos th, sin th]`` ``[n, 2]``.
        """
        th, thdot = state.unbind(1)
        # Contiguous: cos of a strided column takes a multithreaded path even for a few
        # thousand envs, which stalls on busy cores.
        return self._observe(th.contiguous(), thdot)

    def _observe(self, th: torch.Tensor, thdot: torch.Tensor) -> torch.Tensor:
        """Return the float32 observations ``[n, 3]`` (``[n, 2]`` with ``mask_velocity``) of ``th, thdot`` ``[n]``."""
        columns = (torch.cos(th), torch.sin(th)) if self.mask_velocity else (torch.cos(th), torch.sin(th), thdot)
        return torch.stack(columns, dim=1).to(torch.float32)

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Apply torques ``actions`` ``[n, 1]`` (clipped to ``[-2, 2]``) and return the step result.

        Returns:
            ``obs`` and ``next_obs`` ``[n, 3]`` (``[n, 2]`` with ``mask_velocity``;
            float32; they differ only where an episode ended: ``obs`` is then the
            reset observation, ``next_obs`` the final one), ``rewards`` ``[n]``
            (float32), ``terminateds`` (always false) and ``truncateds`` ``[n]`` (bool).
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
        final_obs = self._observe(newth, newthdot)
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

    def render(self, index: int = 0) -> np.ndarray:
        """Return env ``index`` as gymnasium draws Pendulum (without the torque arrow): ``uint8`` ``[500, 500, 3]``.

        A red rod from the centre at the angle ``th`` (0 points up, positive
        angles turn it anticlockwise), with a black axle.

        Examples:
            >>> env = PendulumEnv(num_envs=1, seed=0)
            >>> _ = env.reset()
            >>> env.render().shape
            (500, 500, 3)
        """
        th = float(self._state[index, 0])
        side = self.screen_dim
        scale = side / 4.4  # gymnasium: the picture spans [-2.2, 2.2]
        centre = side / 2
        rod_len, rod_width = self.l * scale, 0.2 * scale
        end = (centre - rod_len * math.sin(th), centre - rod_len * math.cos(th))
        picture = _draw.canvas(side, side)
        _draw.line(picture, (centre, centre), end, rod_width, (204, 77, 77))
        _draw.fill_circle(picture, centre, centre, rod_width / 2, (204, 77, 77))
        _draw.fill_circle(picture, *end, rod_width / 2, (204, 77, 77))
        _draw.fill_circle(picture, centre, centre, 0.05 * scale, (0, 0, 0))
        return picture


@hookimpl
def rl8_envs() -> dict[str, type[BatchedEnv]]:
    """Register ``pendulum``."""
    return {"pendulum": PendulumEnv}
