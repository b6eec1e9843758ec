"""Discounted returns and advantages of a rollout ``[t, n]``, shared by the actor-critic algorithms."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.module import RLModule

__all__ = ["compute_gae", "next_values", "standardize_advantages", "training_batch"]


def next_values(rollout: TensorDictBase, module: RLModule) -> torch.Tensor:
    """Return ``[t, n]`` values of the observation each step of ``rollout`` led to, for ``compute_gae``.

    That is the next step's ``vf_preds``, except after a truncation (the
    episode's final observation, ``next_obs``) and after the rollout's last
    step: those come from one ``forward_train`` without gradient on just
    those observations (for a stateful module, as sequences of one step
    from the ``state_out`` of the step that led there). After a termination
    the value is unused.

    Examples:
        >>> from catalogs import ActorCriticModule
        >>> from rl8_core import Runner, make_env
        >>> env = make_env("cartpole", num_envs=2, seed=0)
        >>> module = ActorCriticModule(env.observation_spec, env.action_spec)
        >>> next_values(Runner(env, module, horizon=4).collect(), module).shape
        torch.Size([4, 2])
    """
    terminateds = rollout.get(Columns.TERMINATEDS)
    truncateds = rollout.get(Columns.TRUNCATEDS) & ~terminateds
    values = rollout.get(Columns.VF_PREDS).float()
    out = torch.zeros_like(values)
    out[:-1] = values[1:]
    need = truncateds.clone()
    need[-1] |= ~(terminateds[-1] | truncateds[-1])
    if bool(need.any()):
        obs = rollout.get(Columns.NEXT_OBS)[need]
        k = need.sum().item()
        if module.is_stateful:
            batch = TensorDict(
                {Columns.OBS: obs.unsqueeze(1), Columns.STATE_IN: rollout.get(Columns.STATE_OUT)[need]},
                batch_size=[k],
            )
        else:
            batch = TensorDict({Columns.OBS: obs}, batch_size=[k])
        with torch.no_grad():
            values_there = module.forward_train(batch).get(Columns.VF_PREDS).float()
        out[need] = values_there[:, 0] if module.is_stateful else values_there
    return out


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


def training_batch(rollout: TensorDictBase, advantages: torch.Tensor, value_targets: torch.Tensor) -> TensorDictBase:
    """Flatten a rollout ``[t, n]`` into the training batch ``[t * n]`` with ``advantages`` and ``value_targets``.

    ``next_obs`` and ``rewards`` are left out: the returns hold what the loss needs of them.
    The rollout of a stateful module (it has ``state_in``) stays ``[t, n]``
    (without ``state_out``): the learner cuts it into sequences (``cut_sequences``).

    Examples:
        >>> rollout = TensorDict({"obs": torch.zeros(3, 2, 4), "rewards": torch.ones(3, 2)}, [3, 2])
        >>> batch = training_batch(rollout, torch.ones(3, 2), torch.ones(3, 2))
        >>> batch.batch_size, sorted(batch.keys())
        (torch.Size([6]), ['advantages', 'obs', 'value_targets'])
    """
    if Columns.STATE_IN in rollout:
        batch = rollout.exclude(Columns.NEXT_OBS, Columns.REWARDS, Columns.STATE_OUT)
        batch.set(Columns.ADVANTAGES, advantages)
        batch.set(Columns.VALUE_TARGETS, value_targets)
        return batch
    batch = rollout.exclude(Columns.NEXT_OBS, Columns.REWARDS).reshape(-1)
    batch.set(Columns.ADVANTAGES, advantages.reshape(-1))
    batch.set(Columns.VALUE_TARGETS, value_targets.reshape(-1))
    return batch


def standardize_advantages(minibatch: TensorDictBase) -> TensorDictBase:
    """Return ``minibatch`` with its ``advantages`` standardised (mean 0, std 1); one sample is left as is.

    In a minibatch of sequences only the real steps (``loss_mask``) count.

    Examples:
        >>> mb = TensorDict({"advantages": torch.tensor([1.0, 3.0])}, [2])
        >>> [round(a, 4) for a in standardize_advantages(mb)["advantages"].tolist()]
        [-0.7071, 0.7071]
    """
    adv = minibatch.get(Columns.ADVANTAGES)
    real = adv if Columns.LOSS_MASK not in minibatch else adv[minibatch.get(Columns.LOSS_MASK)]
    if real.numel() < 2:
        return minibatch
    out = minibatch.copy()
    out.set(Columns.ADVANTAGES, (adv - real.mean()) / (real.std() + 1e-8))
    return out
