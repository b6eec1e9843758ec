"""Discounted returns and advantages of a rollout ``[t, n]``, shared by the actor-critic algorithms."""

from __future__ import annotations

import torch

__all__ = ["compute_gae"]


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminateds: torch.Tensor,
    truncateds: torch.Tensor,
    *,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(advantages, value_targets)`` ``[t, n]`` by generalised advantage estimation.

    All inputs are ``[t, n]`` (time, env): float ``rewards``, ``values`` and
    ``next_values``, bool ``terminateds`` and ``truncateds``. ``next_values[t]``
    is the value of the observation step ``t`` led to (the final observation
    where an episode ended). A termination contributes no bootstrap; a
    truncation bootstraps from ``next_values``; either ends the recursion, so
    advantages never leak across episodes (Schulman et al., 2016, eq. 16, with
    the time-limit handling of Pardo et al., 2018). ``gae_lambda=1`` gives
    Monte Carlo returns bootstrapped at the rollout's end (A2C's n-step
    returns), ``gae_lambda=0`` one-step TD errors. ``value_targets`` is
    ``advantages + values``.

    It lives in the core so that every algorithm plugin, built-in or
    third-party, computes returns the same way from the public API.

    Examples:
        >>> z = torch.zeros(2, 1, dtype=torch.bool)
        >>> adv, tgt = compute_gae(torch.ones(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), z, z,
        ...                        gamma=0.5, gae_lambda=1.0)
        >>> adv.squeeze(1).tolist()
        [1.5, 1.0]
    """
    not_terminal = (~terminateds).to(values.dtype)
    not_done = (~(terminateds | truncateds)).to(values.dtype)
    deltas = rewards + gamma * next_values * not_terminal - values
    advantages = torch.empty_like(values)
    last = torch.zeros_like(values[0])
    discount = gamma * gae_lambda
    for t in range(values.shape[0] - 1, -1, -1):
        last = deltas[t] + discount * not_done[t] * last
        advantages[t] = last
    return advantages, advantages + values
