"""The ``a2c`` algorithm: synchronous advantage actor-critic (Mnih et al., 2016).

Written against the public algorithm contract only (``rl8_core`` and
``specs``), as a third-party algorithm would be; ``examples/a2c_package`` is
the same algorithm shipped as a package of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase

from rl8_core import (
    Algorithm,
    Columns,
    RLModule,
    check_range,
    compute_gae,
    hookimpl,
    next_values,
    standardize_advantages,
    training_batch,
    valid_steps,
)
from specs import FLOAT_DTYPES, TensorShape

__all__ = ["A2C", "A2CConfig", "rl8_algorithms"]


@dataclass(frozen=True, kw_only=True)
class A2CConfig:
    """Options of A2C (``algorithm_config:`` in a train config)."""

    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE's lambda: 1 gives A2C's n-step returns (bootstrapped at the rollout's end), 0 one-step TD."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    num_epochs: int = 1
    """Passes over each rollout (A2C makes one: its gradient is on-policy only for the first step)."""
    minibatch_size: int | None = None
    """Samples per gradient step; ``null`` uses the whole rollout."""

    def __post_init__(self) -> None:
        check_range(self, "gamma", ge=0, le=1)
        check_range(self, "gae_lambda", ge=0, le=1)
        check_range(self, "vf_coef", ge=0)
        check_range(self, "ent_coef", ge=0)
        check_range(self, "num_epochs", ge=1)
        check_range(self, "minibatch_size", ge=1)


class A2C(Algorithm):
    """Advantage actor-critic: policy gradient weighted by advantages, a value loss and an entropy bonus.

    ``postprocess`` estimates advantages with ``compute_gae`` (``gae_lambda=1``
    by default: n-step returns); ``loss`` is
    ``-mean(logp * adv) + vf_coef * 0.5 * mean((v - target)^2) - ent_coef * entropy``.
    It keeps the default of ``default_module()`` (``None``), so a config that
    names no module trains the default algorithm's actor-critic module.

    Examples:
        >>> a2c = A2C({"gamma": 0.95})
        >>> a2c.config.gamma, a2c.num_epochs, a2c.minibatch_size
        (0.95, 1, None)
        >>> sorted(a2c.train_output_specs())
        ['action_dist_inputs', 'vf_preds']
    """

    config_class = A2CConfig
    config: A2CConfig

    def train_output_specs(self) -> dict[str, TensorShape]:
        """The loss reads ``action_dist_inputs [b, a]`` and ``vf_preds [b]`` from ``forward_train``."""
        return {
            Columns.ACTION_DIST_INPUTS: TensorShape("b, a", dtype=FLOAT_DTYPES),
            Columns.VF_PREDS: TensorShape("b", dtype=FLOAT_DTYPES),
        }

    def postprocess(self, rollout: TensorDictBase, module: RLModule) -> TensorDictBase:
        """Add ``advantages`` and ``value_targets`` to a rollout ``[t, n]`` and flatten it to ``[t * n]``.

        A truncated episode (a time limit) bootstraps from the value of its
        final observation, a terminated one does not (Pardo et al., 2018); the
        observations after the rollout's last step bootstrap too. Those values
        come from one extra ``forward_train`` on just those observations.
        """
        cfg = self.config
        rewards = rollout.get(Columns.REWARDS).float()
        terminateds = rollout.get(Columns.TERMINATEDS)
        # An episode that ends on its last allowed step is both: the termination wins (no bootstrap).
        truncateds = rollout.get(Columns.TRUNCATEDS) & ~terminateds
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
        return training_batch(rollout, advantages, targets)

    def prepare_minibatch(self, minibatch: TensorDictBase) -> TensorDictBase:
        """Standardise the minibatch's advantages when ``normalize_advantages`` is on."""
        return standardize_advantages(minibatch) if self.config.normalize_advantages else minibatch

    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return policy-gradient loss + ``vf_coef`` * value loss - ``ent_coef`` * entropy, and its parts."""
        cfg = self.config
        # A minibatch of sequences (stateful modules) becomes its real steps: padding enters no term.
        minibatch, out = valid_steps(minibatch, module.forward_train(minibatch))
        dist = module.make_action_dist(out.get(Columns.ACTION_DIST_INPUTS))
        logp = dist.logp(minibatch.get(Columns.ACTIONS))
        policy_loss = -(logp * minibatch.get(Columns.ADVANTAGES)).mean()
        values = out.get(Columns.VF_PREDS).float()
        value_loss = 0.5 * (values - minibatch.get(Columns.VALUE_TARGETS)).square().mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        metrics = {
            "losses/policy": policy_loss.detach(),
            "losses/value": value_loss.detach(),
            "losses/entropy": entropy.detach(),
            "losses/total": loss.detach(),
        }
        return loss, metrics


@hookimpl
def rl8_algorithms() -> dict[str, type[Algorithm]]:
    """Register ``a2c``."""
    return {"a2c": A2C}
