"""The ``ppo`` algorithm: Proximal Policy Optimization (Schulman et al., 2017)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDictBase

from catalogs import ActorCriticCatalog, ActorCriticModule
from rl8_core import (
    Algorithm,
    Columns,
    RLModule,
    RunningMeanStd,
    Schedule,
    check_range,
    compute_gae,
    hookimpl,
    next_values,
    standardize_advantages,
    training_batch,
    valid_steps,
)
from specs import FLOAT_DTYPES, TensorShape

__all__ = ["PPO", "PPOConfig", "compute_gae", "rl8_algorithms"]


@dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """Options of PPO (``algorithm_config:`` in a train config)."""

    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's lambda: 0 is one-step TD, 1 is Monte Carlo."""
    clip_eps: float = 0.2
    """Clip range of the probability ratio (PPO paper, eq. 7)."""
    clip_eps_schedule: tuple[tuple[float, float], ...] | None = None
    """Piecewise-linear ``[[env_steps, clip_eps], ...]``; overrides ``clip_eps``."""
    dual_clip: float | None = None
    """Dual-clip bound c > 1 for negative advantages (Ye et al., 2020); ``null`` disables."""
    vf_clip: float | None = None
    """Clip value predictions to within this of the old ones (as in the PPO baselines); ``null`` disables."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    ent_coef_schedule: tuple[tuple[float, float], ...] | None = None
    """Piecewise-linear ``[[env_steps, ent_coef], ...]``; overrides ``ent_coef``."""
    target_kl: float | None = None
    """Stop the epochs once a minibatch's approximate KL exceeds 1.5x this (as SB3); ``null`` disables."""
    num_epochs: int = 10
    """Passes over each rollout."""
    minibatch_size: int | None = 64
    """Samples per gradient step; ``null`` uses the whole rollout."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    reward_scaling: bool = False
    """Divide rewards by a running std of the discounted return (Engstrom et al., 2020)."""

    def __post_init__(self) -> None:
        check_range(self, "gamma", ge=0, le=1)
        check_range(self, "gae_lambda", ge=0, le=1)
        check_range(self, "clip_eps", gt=0)
        check_range(self, "dual_clip", gt=1)
        check_range(self, "vf_clip", gt=0)
        check_range(self, "vf_coef", ge=0)
        check_range(self, "ent_coef", ge=0)
        check_range(self, "target_kl", gt=0)
        check_range(self, "num_epochs", ge=1)
        check_range(self, "minibatch_size", ge=1)


class PPO(Algorithm):
    """Clipped-surrogate PPO with GAE, value clipping, dual clip, entropy bonus and target-KL stop.

    Examples:
        >>> ppo = PPO({"num_epochs": 4, "minibatch_size": None})
        >>> ppo.num_epochs, ppo.minibatch_size
        (4, None)
    """

    config_class = PPOConfig
    config: PPOConfig

    def __init__(self, config: PPOConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self._clip_schedule = Schedule(cfg.clip_eps_schedule, default=cfg.clip_eps)
        self._ent_schedule = Schedule(cfg.ent_coef_schedule, default=cfg.ent_coef)
        self.clip_eps = self._clip_schedule(0)
        self.ent_coef = self._ent_schedule(0)
        self._return_rms = RunningMeanStd(())
        self._running_return: torch.Tensor | None = None
        self._metrics: dict[str, float] = {}

    @classmethod
    def default_module(cls) -> tuple[type[RLModule], Callable[..., Any] | None]:
        """Return the actor-critic module and catalog."""
        return ActorCriticModule, ActorCriticCatalog

    def train_output_specs(self) -> dict[str, TensorShape]:
        """The loss reads ``action_dist_inputs [b, a]`` and ``vf_preds [b]`` from ``forward_train``."""
        return {
            Columns.ACTION_DIST_INPUTS: TensorShape("b, a", dtype=FLOAT_DTYPES),
            Columns.VF_PREDS: TensorShape("b", dtype=FLOAT_DTYPES),
        }

    def on_iteration_start(self, env_steps: int) -> None:
        """Apply the clip-range and entropy schedules."""
        self.clip_eps = self._clip_schedule(env_steps)
        self.ent_coef = self._ent_schedule(env_steps)

    def _scale_rewards(self, rewards: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        # Engstrom et al. (2020), "Implementation Matters": divide by the std of
        # the running discounted return, whose statistics persist across rollouts.
        if self._running_return is None or self._running_return.shape != rewards.shape[1:]:
            self._running_return = torch.zeros_like(rewards[0], dtype=torch.float64)
        returns = torch.empty_like(rewards, dtype=torch.float64)
        running = self._running_return.to(rewards.device)
        for t in range(rewards.shape[0]):
            running = running * self.config.gamma + rewards[t]
            returns[t] = running
            running = running * (~done[t])
        self._running_return = running
        self._return_rms.update(returns.cpu())
        std = float((self._return_rms.var + 1e-8).sqrt())
        return rewards / std

    def postprocess(self, rollout: TensorDictBase, module: RLModule) -> TensorDictBase:
        """Add GAE ``advantages`` and ``value_targets`` and flatten ``[t, n]`` to ``[t * n]``.

        Values of truncated episodes' final observations and of the observations
        after the last step come from one extra ``forward_train`` on just those.
        """
        cfg = self.config
        rewards = rollout.get(Columns.REWARDS).float()
        terminateds = rollout.get(Columns.TERMINATEDS)
        truncateds = rollout.get(Columns.TRUNCATEDS) & ~terminateds
        done = terminateds | truncateds
        if cfg.reward_scaling:
            rewards = self._scale_rewards(rewards, done)
        values = rollout.get(Columns.VF_PREDS).float()
        advantages, targets = compute_gae(
            rewards,
            values,
            next_values(rollout, module),
            terminateds,
            truncateds,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
        )
        var_targets = targets.var()
        explained = 1.0 - (targets - values).var() / var_targets if var_targets > 0 else torch.tensor(float("nan"))
        self._metrics = {"stats/explained_variance": float(explained)}
        return training_batch(rollout, advantages, targets)

    def prepare_minibatch(self, minibatch: TensorDictBase) -> TensorDictBase:
        """Standardise the minibatch's advantages (before any split for accumulation)."""
        return standardize_advantages(minibatch) if self.config.normalize_advantages else minibatch

    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the PPO loss: clipped surrogate + ``vf_coef`` * value loss - ``ent_coef`` * entropy.

        ``ratio = exp(logp - old_logp)``; the surrogate is
        ``min(ratio * adv, clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv)``
        (PPO paper, eq. 7), bounded below by ``dual_clip * adv`` for negative
        advantages when dual clipping is on.
        """
        cfg = self.config
        # A minibatch of sequences (stateful modules) becomes its real steps: padding enters no term.
        minibatch, out = valid_steps(minibatch, module.forward_train(minibatch))
        dist = module.make_action_dist(out.get(Columns.ACTION_DIST_INPUTS))
        logp = dist.logp(minibatch.get(Columns.ACTIONS))
        logratio = logp - minibatch.get(Columns.ACTION_LOGP).float()
        ratio = logratio.exp()
        adv = minibatch.get(Columns.ADVANTAGES)
        eps = self.clip_eps
        surrogate = torch.min(ratio * adv, ratio.clamp(1.0 - eps, 1.0 + eps) * adv)
        if cfg.dual_clip is not None:
            surrogate = torch.where(adv < 0, torch.max(surrogate, cfg.dual_clip * adv), surrogate)
        policy_loss = -surrogate.mean()

        values = out.get(Columns.VF_PREDS).float()
        targets = minibatch.get(Columns.VALUE_TARGETS)
        vf_loss_per = (values - targets).square()
        if cfg.vf_clip is not None:
            old = minibatch.get(Columns.VF_PREDS).float()
            clipped = old + (values - old).clamp(-cfg.vf_clip, cfg.vf_clip)
            vf_loss_per = torch.max(vf_loss_per, (clipped - targets).square())
        vf_loss = 0.5 * vf_loss_per.mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.vf_coef * vf_loss - self.ent_coef * entropy
        with torch.no_grad():
            metrics = {
                "losses/total": loss.detach(),
                "losses/policy": policy_loss.detach(),
                "losses/vf": vf_loss.detach(),
                "losses/entropy": entropy.detach(),
                # Schulman's unbiased, low-variance estimator of KL(old || new).
                "stats/approx_kl": ((ratio - 1.0) - logratio).mean(),
                "stats/clip_fraction": ((ratio - 1.0).abs() > eps).float().mean(),
            }
        return loss, metrics

    def should_stop_epochs(self, metrics: Mapping[str, torch.Tensor]) -> bool:
        """Stop when the approximate KL exceeds 1.5x ``target_kl`` (SB3's rule)."""
        if self.config.target_kl is None:
            return False
        return bool(metrics["stats/approx_kl"] > 1.5 * self.config.target_kl)

    def iteration_metrics(self) -> dict[str, float]:
        """Return metrics of the last postprocessing and the current coefficients."""
        return {**self._metrics, "stats/clip_eps": self.clip_eps, "stats/ent_coef": self.ent_coef}

    def state_dict(self) -> dict[str, Any]:
        """Return the reward-scaling statistics."""
        return {"return_rms": self._return_rms.state_dict(), "running_return": self._running_return}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the reward-scaling statistics."""
        self._return_rms.load_state_dict(state["return_rms"])
        self._running_return = state["running_return"]


@hookimpl
def rl8_algorithms() -> dict[str, type[Algorithm]]:
    """Register ``ppo``."""
    return {"ppo": PPO}
