"""Gymnasium wrappers for ``env_config.wrappers``: ``MaskVelocity`` hides velocities, making a task need memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from rl8_core.errors import ConfigError

__all__ = ["KNOWN_POSITIONS", "MaskVelocity"]

#: The observation indices ``MaskVelocity`` keeps by default, by gymnasium env id.
KNOWN_POSITIONS: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (0, 2),  # x, theta (of x, x_dot, theta, theta_dot)
    "Pendulum-v1": (0, 1),  # cos th, sin th (of cos th, sin th, thdot)
}


class MaskVelocity(
    gym.ObservationWrapper[NDArray[Any], Any, NDArray[Any]],
    gym.utils.RecordConstructorArgs,
):
    """Keep only some entries of a 1-D ``Box`` observation, e.g. the positions but not the velocities.

    Without the velocities, a classic-control task is partially observable: a
    policy must infer them from past observations, which tests recurrent and
    attention policies. The torch-native ``cartpole`` and ``pendulum`` envs do
    the same with their ``mask_velocity`` option; this wrapper is for gymnasium
    envs, named in a train config by import path::

        env: CartPole-v1
        env_config:
          wrappers: ["rl8_plugins.envs.wrappers:MaskVelocity"]

    or ``{wrapper: rl8_plugins.envs.wrappers:MaskVelocity, keep: [0, 2]}`` for
    an env it does not know. The observation space becomes a ``Box`` of the
    kept entries (their bounds, the same dtype), in the order of ``keep``.

    Args:
        env: A gymnasium env with a 1-D ``Box`` observation.
        keep: The observation indices to keep. ``None`` looks the env's spec id
            up in ``KNOWN_POSITIONS``: ``CartPole-v1`` keeps ``[0, 2]`` (``x,
            theta``), ``Pendulum-v1`` keeps ``[0, 1]`` (``cos th, sin th``).

    Raises:
        ConfigError: If the observation is not a 1-D ``Box``, if ``keep`` is
            empty, repeats an index or holds one outside the observation, or if
            ``keep`` is ``None`` for an env not in ``KNOWN_POSITIONS``.

    Examples:
        >>> env = MaskVelocity(gym.make("CartPole-v1"))
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape, env.observation_space.shape
        ((2,), (2,))
        >>> MaskVelocity(gym.make("Pendulum-v1"), keep=[2]).observation_space.shape  # thdot only
        (1,)
    """

    def __init__(self, env: gym.Env[NDArray[Any], Any], keep: Sequence[int] | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, keep=None if keep is None else list(keep))
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"MaskVelocity: needs a 1-D Box observation, got {space}; flatten it first "
                f"(gymnasium.wrappers:FlattenObservation) or choose another wrapper"
            )
        env_id = env.spec.id if env.spec is not None else None
        if keep is None:
            if env_id not in KNOWN_POSITIONS:
                raise ConfigError(
                    f"MaskVelocity: knows which entries to keep only for {', '.join(KNOWN_POSITIONS)}, "
                    f"not for env {env_id!r}; pass keep=[...] with the observation indices to keep"
                )
            keep = KNOWN_POSITIONS[env_id]
        size = space.shape[0]
        indices = list(keep)
        if (
            not indices
            or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices)
            or not all(0 <= i < size for i in indices)
            or len(set(indices)) != len(indices)
        ):
            raise ConfigError(
                f"MaskVelocity: keep must be a non-empty list of distinct indices in [0, {size}) (the observation "
                f"has {size} entries), got {list(keep)!r}; pass keep=[...] with the entries to keep"
            )
        #: The kept observation indices, in order.
        self.keep: tuple[int, ...] = tuple(int(i) for i in indices)
        self._index = np.asarray(self.keep, dtype=np.intp)
        self.observation_space = gym.spaces.Box(space.low[self._index], space.high[self._index], dtype=space.dtype)

    def observation(self, observation: NDArray[Any]) -> NDArray[Any]:
        """Return the kept entries of ``observation`` (a new array, in the order of ``keep``)."""
        return observation[self._index]
