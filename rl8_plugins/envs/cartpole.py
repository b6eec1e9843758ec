"""The ``cartpole`` env: gymnasium's CartPole-v1 with every env in one tensor op."""

from __future__ import annotations

import math

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import BatchedEnv, Columns, hookimpl
from rl8_plugins.envs import _draw
from rl8_plugins.envs._physics import PhysicsEnv
from specs import Box, Composite, Discrete

__all__ = ["CartPoleEnv", "rl8_envs"]


class CartPoleEnv(PhysicsEnv):
    """``num_envs`` copies of gymnasium's ``CartPole-v1``, stepped as whole tensors.

    The dynamics, constants, termination thresholds (12 degrees, ``|x| > 2.4``),
    reward (1.0 per step, the terminating one included), 500-step truncation
    and reset distribution (every state variable uniform in ``[-0.05, 0.05]``)
    are those of gymnasium's ``classic_control/cartpole.py`` with the default
    euler integrator. Finished envs reset inside ``step`` (see ``BatchedEnv``).

    As in gymnasium, an episode that ends on its last allowed step is both
    terminated and truncated. Observations are float32 ``[n, 4]``
    (``x, x_dot, theta, theta_dot``); actions are ``Discrete(2)`` ``[n]``
    (0 pushes left, 1 pushes right).

    ``mask_velocity=True`` hides the velocities: observations are then float32
    ``[n, 2]`` (``x, theta``, gymnasium's indices 0 and 2), final ones
    (``next_obs``) included, and the spec's bounds are those of the kept
    entries. The physics is unchanged, but a policy must now infer the
    velocities from past observations: a partially observable task for
    recurrent or attention policies.

    Step results are fresh tensors; the env never writes into a tensor it has
    handed out, so a runner may keep them without copying.

    Args:
        num_envs: Number of envs stepped together.
        seed: Seeds the env's ``torch.Generator`` (on ``device``); ``None`` draws
            a nondeterministic seed. ``reset(seed=...)`` reseeds.
        device: Where the state, observations, rewards and flags live.
        max_episode_steps: Truncation limit (gymnasium's ``TimeLimit``).
        dtype: Precision of the physics state, ``float32`` (the throughput
            default) or ``float64`` (gymnasium's; observations stay float32).
        dict_obs: Observe a ``Composite`` ``{"cart": [x, x_dot], "pole": [theta,
            theta_dot]}`` (each float32 ``[n, 2]``) instead of one ``[n, 4]``
            vector: the same information as a nested observation.
        mask_velocity: Observe positions only: ``[n, 2]`` (``x, theta``), or with
            ``dict_obs`` ``{"cart": [x], "pole": [theta]}`` (each ``[n, 1]``).

    Examples:
        >>> env = CartPoleEnv(num_envs=3, seed=0)
        >>> env.reset()["obs"].shape
        torch.Size([3, 4])
        >>> out = env.step(torch.tensor([0, 1, 1]))
        >>> out["rewards"].tolist(), out["terminateds"].tolist()
        ([1.0, 1.0, 1.0], [False, False, False])
        >>> CartPoleEnv(num_envs=3, seed=0, dict_obs=True).reset()["obs", "pole"].shape
        torch.Size([3, 2])
        >>> CartPoleEnv(num_envs=3, seed=0, mask_velocity=True).reset()["obs"].shape  # x, theta
        torch.Size([3, 2])
    """

    #: Gravity (m/s^2).
    gravity = 9.8
    #: Mass of the cart (kg).
    masscart = 1.0
    #: Mass of the pole (kg).
    masspole = 0.1
    #: Half the pole's length (m).
    length = 0.5
    #: Magnitude of the force an action applies (N).
    force_mag = 10.0
    #: Seconds between state updates.
    tau = 0.02
    #: Pole angle beyond which an episode terminates (12 degrees, in rad).
    theta_threshold_radians = 12 * 2 * math.pi / 360
    #: Cart position beyond which an episode terminates.
    x_threshold = 2.4
    #: Physics state: ``x, x_dot, theta, theta_dot``.
    state_dim = 4
    #: Size of a ``render`` picture (gymnasium's).
    screen_width, screen_height = 600, 400

    def __init__(
        self,
        *,
        num_envs: int,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        max_episode_steps: int = 500,
        dtype: str | torch.dtype = torch.float32,
        dict_obs: bool = False,
        mask_velocity: bool = False,
    ) -> None:
        super().__init__(num_envs=num_envs, seed=seed, device=device, max_episode_steps=max_episode_steps, dtype=dtype)
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
        # Observation bounds as gymnasium computes them (float32), so that specs compare equal.
        high = torch.tensor(
            [self.x_threshold * 2, math.inf, self.theta_threshold_radians * 2, math.inf], dtype=torch.float32
        )
        self.dict_obs = bool(dict_obs)
        self.mask_velocity = bool(mask_velocity)
        if self.mask_velocity:
            high = high[::2]  # x, theta
        # Entries per part (cart, pole) of a dict observation: 2, or 1 without the velocities.
        part = high.numel() // 2
        self.observation_spec: Box | Composite = Box(tuple(high.shape), -high, high, torch.float32, device=self.device)
        if self.dict_obs:
            self.observation_spec = Composite(
                {
                    "cart": Box((part,), -high[:part], high[:part], torch.float32),
                    "pole": Box((part,), -high[part:], high[part:], torch.float32),
                },
                device=self.device,
            )
        self.action_spec = Discrete(2, device=self.device)
        const = self._const
        self._c_gravity = const(self.gravity)
        self._c_masspole = const(self.masspole)
        self._c_length = const(self.length)
        self._c_total_mass = const(self.total_mass)
        self._c_polemass_length = const(self.polemass_length)
        self._c_four_thirds = const(4.0 / 3.0)
        self._c_tau = const(self.tau)
        self._force_right, self._force_left = const(self.force_mag), const(-self.force_mag)
        self._push_right = torch.tensor(1, device=self.device)
        # |x| and |theta| beyond these terminate (gymnasium: x < -2.4 or x > 2.4, likewise theta).
        self._limits = torch.tensor(
            [self.x_threshold, self.theta_threshold_radians], dtype=self.dtype, device=self.device
        )

    def _initial_states(self, n: int) -> torch.Tensor:
        """Draw ``n`` reset states ``[n, 4]``, each variable uniform in ``[-0.05, 0.05]``."""
        out = torch.empty((n, 4), dtype=self.dtype, device=self.device)
        return out.uniform_(-0.05, 0.05, generator=self._generator)

    def _obs(self, state: torch.Tensor) -> torch.Tensor | TensorDict:
        obs = state if self.dtype == torch.float32 else state.to(torch.float32)
        if self.mask_velocity:
            # x, theta; a copy, so that the flat observation is contiguous.
            obs = obs[:, ::2].contiguous()
        if not self.dict_obs:
            return obs
        # Views of a tensor the env never writes into again (see the class docstring).
        part = obs.shape[1] // 2
        return TensorDict(
            {"cart": obs[:, :part], "pole": obs[:, part:]}, batch_size=self._batch_size, device=self.device
        )

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        """Push every cart with ``actions`` ``[n]`` (0 or 1) and return the step result.

        Returns:
            ``obs`` and ``next_obs`` ``[n, 4]`` (``[n, 2]`` with ``mask_velocity``;
            float32; they differ only where an episode ended: ``obs`` is then the
            reset observation, ``next_obs`` the final one), ``rewards`` ``[n]``
            (float32, all 1.0), ``terminateds`` and ``truncateds`` ``[n]`` (bool).
        """
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"CartPoleEnv takes a tensor of actions, got {type(actions).__name__}")
        state = self._state
        _, x_dot, theta, theta_dot = state.unbind(1)
        # gymnasium: force_mag if action == 1 else -force_mag. An elementwise select: indexing a
        # [-f, f] table goes through torch's multithreaded gather, which stalls on busy cores.
        force = torch.where(actions.reshape(self.num_envs) == self._push_right, self._force_right, self._force_left)
        # gymnasium's CartPoleEnv.step, expression by expression in the same order (so that
        # float64 states agree to rounding), with the constants as 0-dim tensors.
        total_mass, polemass_length = self._c_total_mass, self._c_polemass_length
        # cos of a strided column takes a multithreaded path even for a few thousand envs,
        # which stalls on busy cores (ms instead of us); a contiguous copy avoids it.
        theta_c = theta.contiguous()
        costheta = torch.cos(theta_c)
        sintheta = torch.sin(theta_c)
        temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
        thetaacc = (self._c_gravity * sintheta - costheta * temp) / (
            self._c_length * (self._c_four_thirds - self._c_masspole * (costheta * costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        # Euler: (x, x_dot, theta, theta_dot) + tau * (x_dot, xacc, theta_dot, thetaacc).
        final = state + self._c_tau * torch.stack((x_dot, xacc, theta_dot, thetaacc), dim=1)
        terminated = (final[:, ::2].abs() > self._limits).any(1)
        self._steps += self._one
        truncated = self._steps >= self._max_steps
        done = terminated | truncated
        self._steps.masked_fill_(done, 0)
        if self._sparse_reset:
            index = done.nonzero().squeeze(1)
            state = final.index_copy(0, index, self._initial_states(index.numel()))
        else:
            state = torch.where(done.unsqueeze(1), self._initial_states(self.num_envs), final)
        self._state = state
        return TensorDict(
            {
                Columns.OBS: self._obs(state),
                Columns.NEXT_OBS: self._obs(final),
                Columns.REWARDS: torch.ones(self.num_envs, dtype=torch.float32, device=self.device),
                Columns.TERMINATEDS: terminated,
                Columns.TRUNCATEDS: truncated,
            },
            batch_size=self._batch_size,
            device=self.device,
        )

    def render(self, index: int = 0) -> np.ndarray:
        """Return env ``index`` as gymnasium draws CartPole: ``uint8`` ``[400, 600, 3]``.

        The track, the cart at ``x`` and the pole tilted by ``theta`` (to the
        right for ``theta > 0``), with gymnasium's sizes and colours.

        Examples:
            >>> env = CartPoleEnv(num_envs=2, seed=0)
            >>> _ = env.reset()
            >>> env.render(1).shape
            (400, 600, 3)
        """
        x, _, theta, _ = self._state[index].tolist()
        width, height = self.screen_width, self.screen_height
        scale = width / (self.x_threshold * 2)
        pole_width, pole_len = 10.0, scale * (2 * self.length)
        cart_width, cart_height = 50.0, 30.0
        # gymnasium draws with y up and the track 100 pixels above the bottom; rows here count down.
        track_y = height - 100.0
        cart_x = x * scale + width / 2
        picture = _draw.canvas(height, width)
        _draw.line(picture, (0, track_y), (width, track_y), 1, (0, 0, 0))
        _draw.fill_rect(
            picture,
            cart_x - cart_width / 2,
            track_y - cart_height / 2,
            cart_x + cart_width / 2,
            track_y + cart_height / 2,
            (0, 0, 0),
        )
        axle_y = track_y - cart_height / 4
        cos, sin = math.cos(theta), math.sin(theta)
        corners = [(-pole_width / 2, -pole_width / 2), (-pole_width / 2, pole_len - pole_width / 2)]
        corners += [(pole_width / 2, pole_len - pole_width / 2), (pole_width / 2, -pole_width / 2)]
        # Along the pole (v) up from the axle, tilted clockwise by theta; u across it.
        pole = [(cart_x + u * cos + v * sin, axle_y + u * sin - v * cos) for u, v in corners]
        _draw.fill_polygon(picture, pole, (202, 152, 101))
        _draw.fill_circle(picture, cart_x, axle_y, pole_width / 2, (129, 132, 203))
        return picture


@hookimpl
def rl8_envs() -> dict[str, type[BatchedEnv]]:
    """Register ``cartpole``."""
    return {"cartpole": CartPoleEnv}
