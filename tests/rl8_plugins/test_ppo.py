"""PPO: GAE and the loss terms against plain reference computations."""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import Columns, ConfigError
from rl8_plugins.algorithms.ppo import PPO, PPOConfig, compute_gae
from specs import Box, Discrete


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Per-env, per-step loops straight from the definitions (no vectorisation)."""
    t_len, n = rewards.shape
    adv = torch.zeros(t_len, n, dtype=torch.float64)
    for env in range(n):
        running = 0.0
        for t in reversed(range(t_len)):
            if terminated[t, env]:
                delta = rewards[t, env] - values[t, env]
                running = delta
            elif truncated[t, env]:
                delta = rewards[t, env] + gamma * next_values[t, env] - values[t, env]
                running = delta
            else:
                delta = rewards[t, env] + gamma * next_values[t, env] - values[t, env]
                running = delta + gamma * lam * running
            adv[t, env] = running
    return adv, adv + values


@pytest.mark.parametrize("seed", range(5))
def test_gae_matches_reference_with_terminations_and_truncations_mid_horizon(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    t_len, n = 7, 5
    rewards = torch.randn(t_len, n, generator=g, dtype=torch.float64)
    values = torch.randn(t_len, n, generator=g, dtype=torch.float64)
    next_values = torch.randn(t_len, n, generator=g, dtype=torch.float64)
    terminated = torch.rand(t_len, n, generator=g) < 0.2
    truncated = (torch.rand(t_len, n, generator=g) < 0.2) & ~terminated
    terminated[2, 0] = True  # termination mid-horizon
    truncated[3, 1] = True  # truncation mid-horizon
    adv, targets = compute_gae(rewards, values, next_values, terminated, truncated, gamma=0.97, gae_lambda=0.9)
    ref_adv, ref_targets = reference_gae(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    torch.testing.assert_close(adv, ref_adv)
    torch.testing.assert_close(targets, ref_targets)


def test_gae_on_a_hand_computed_episode() -> None:
    # One env, rewards 1, values 0, terminated at t=1, then a new episode truncated at t=2.
    rewards = torch.ones(3, 1)
    values = torch.zeros(3, 1)
    next_values = torch.tensor([[0.0], [99.0], [2.0]])  # value after t=1 must be ignored (terminal)
    terminated = torch.tensor([[False], [True], [False]])
    truncated = torch.tensor([[False], [False], [True]])
    adv, _ = compute_gae(rewards, values, next_values, terminated, truncated, gamma=0.5, gae_lambda=1.0)
    assert adv.squeeze(1).tolist() == [1.5, 1.0, 2.0]


class _FixedValues(ActorCriticModule):
    """An actor-critic whose value for an observation is its first feature (for exact GAE checks)."""

    def _forward_train(self, batch):
        out = super()._forward_train(batch)
        out.set(Columns.VF_PREDS, batch.get(Columns.OBS)[:, 0])
        return out


def _rollout(t_len: int, n: int, terminated: torch.Tensor, truncated: torch.Tensor) -> TensorDict:
    obs = torch.arange(t_len * n, dtype=torch.float32).reshape(t_len, n, 1).repeat(1, 1, 4)
    next_obs = obs + 0.5  # distinguishable from the next step's obs
    return TensorDict(
        {
            Columns.OBS: obs,
            Columns.NEXT_OBS: next_obs,
            Columns.ACTIONS: torch.zeros(t_len, n, dtype=torch.long),
            Columns.ACTION_LOGP: torch.zeros(t_len, n),
            Columns.VF_PREDS: obs[..., 0],
            Columns.REWARDS: torch.ones(t_len, n),
            Columns.TERMINATEDS: terminated,
            Columns.TRUNCATEDS: truncated,
        },
        batch_size=[t_len, n],
    )


def test_postprocess_bootstraps_truncations_and_the_last_step_from_next_obs() -> None:
    t_len, n = 4, 2
    terminated = torch.zeros(t_len, n, dtype=torch.bool)
    truncated = torch.zeros(t_len, n, dtype=torch.bool)
    terminated[1, 0] = True
    truncated[2, 1] = True
    rollout = _rollout(t_len, n, terminated, truncated)
    module = _FixedValues(Box((4,)), Discrete(2))
    ppo = PPO({"gamma": 0.9, "gae_lambda": 0.8})
    batch = ppo.postprocess(rollout, module)
    assert batch.batch_size == torch.Size([t_len * n])
    values = rollout[Columns.VF_PREDS].double()
    next_values = torch.zeros_like(values)
    next_values[:-1] = values[1:]
    # Truncated steps and the final step bootstrap from V(next_obs) = next_obs[..., 0].
    next_values[2, 1] = rollout[Columns.NEXT_OBS][2, 1, 0]
    next_values[-1] = rollout[Columns.NEXT_OBS][-1, :, 0]
    ref_adv, ref_targets = reference_gae(
        rollout[Columns.REWARDS].double(), values, next_values, terminated, truncated, 0.9, 0.8
    )
    torch.testing.assert_close(batch[Columns.ADVANTAGES].double(), ref_adv.reshape(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch[Columns.VALUE_TARGETS].double(), ref_targets.reshape(-1), rtol=1e-5, atol=1e-5)
    assert Columns.NEXT_OBS not in batch
    assert math.isfinite(ppo.iteration_metrics()["stats/explained_variance"])


def _loss_batch(module: ActorCriticModule, b: int = 16, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(b, 4, generator=g)
    with torch.no_grad():
        out = module.forward_exploration(TensorDict({Columns.OBS: obs}, [b]))
    return TensorDict(
        {
            Columns.OBS: obs,
            Columns.ACTIONS: out[Columns.ACTIONS],
            # Old log-probs away from the current ones so that clipping matters.
            Columns.ACTION_LOGP: out[Columns.ACTION_LOGP] + 0.5 * torch.randn(b, generator=g),
            Columns.VF_PREDS: out[Columns.VF_PREDS] + torch.randn(b, generator=g),
            Columns.ADVANTAGES: torch.randn(b, generator=g),
            Columns.VALUE_TARGETS: torch.randn(b, generator=g),
        },
        [b],
    )


@pytest.mark.parametrize(
    ("vf_clip", "dual_clip", "ent_coef"), [(None, None, 0.0), (0.2, None, 0.01), (None, 3.0, 0.0), (0.5, 2.0, 0.1)]
)
def test_loss_terms_match_a_plain_computation(vf_clip: float | None, dual_clip: float | None, ent_coef: float) -> None:
    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(3))
    batch = _loss_batch(module)
    ppo = PPO({"clip_eps": 0.2, "vf_clip": vf_clip, "dual_clip": dual_clip, "ent_coef": ent_coef, "vf_coef": 0.7})
    loss, metrics = ppo.loss(module, batch)

    with torch.no_grad():
        out = module.forward_train(batch)
    logits = out[Columns.ACTION_DIST_INPUTS].log_softmax(-1)
    logp = logits.gather(-1, batch[Columns.ACTIONS].unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(logp - batch[Columns.ACTION_LOGP])
    adv = batch[Columns.ADVANTAGES]
    expected_pg = []
    for r, a in zip(ratio.tolist(), adv.tolist(), strict=True):
        obj = min(r * a, max(min(r, 1.2), 0.8) * a)
        if dual_clip is not None and a < 0:
            obj = max(obj, dual_clip * a)
        expected_pg.append(-obj)
    expected_pg_loss = sum(expected_pg) / len(expected_pg)
    v = out[Columns.VF_PREDS]
    old_v = batch[Columns.VF_PREDS]
    target = batch[Columns.VALUE_TARGETS]
    vf_terms = []
    for vi, oi, ti in zip(v.tolist(), old_v.tolist(), target.tolist(), strict=True):
        term = (vi - ti) ** 2
        if vf_clip is not None:
            clipped = oi + max(min(vi - oi, vf_clip), -vf_clip)
            term = max(term, (clipped - ti) ** 2)
        vf_terms.append(term)
    expected_vf = 0.5 * sum(vf_terms) / len(vf_terms)
    probs = logits.exp()
    expected_entropy = float(-(probs * logits).sum(-1).mean())

    assert metrics["losses/policy"].item() == pytest.approx(expected_pg_loss, rel=1e-5, abs=1e-6)
    assert metrics["losses/vf"].item() == pytest.approx(expected_vf, rel=1e-5, abs=1e-6)
    assert metrics["losses/entropy"].item() == pytest.approx(expected_entropy, rel=1e-5)
    expected_total = expected_pg_loss + 0.7 * expected_vf - ent_coef * expected_entropy
    assert loss.item() == pytest.approx(expected_total, rel=1e-5, abs=1e-6)
    clip_fraction = sum(abs(r - 1) > 0.2 for r in ratio.tolist()) / len(ratio)
    assert metrics["stats/clip_fraction"].item() == pytest.approx(clip_fraction)
    assert metrics["stats/approx_kl"].item() == pytest.approx(float(((ratio - 1) - ratio.log()).mean()), rel=1e-5)


def test_loss_gradient_reaches_every_parameter() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    loss, _ = PPO({"ent_coef": 0.01}).loss(module, _loss_batch(module))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_target_kl_stops_epochs() -> None:
    ppo = PPO({"target_kl": 0.01})
    assert ppo.should_stop_epochs({"stats/approx_kl": torch.tensor(0.02)})
    assert not ppo.should_stop_epochs({"stats/approx_kl": torch.tensor(0.014)})
    assert not PPO().should_stop_epochs({"stats/approx_kl": torch.tensor(10.0)})


def test_schedules_follow_env_steps() -> None:
    ppo = PPO({"clip_eps_schedule": [[0, 0.2], [1000, 0.0]], "ent_coef_schedule": [[0, 0.1], [1000, 0.0]]})
    ppo.on_iteration_start(500)
    assert ppo.clip_eps == pytest.approx(0.1)
    assert ppo.ent_coef == pytest.approx(0.05)


def test_advantages_are_normalised_per_minibatch() -> None:
    batch = TensorDict({Columns.ADVANTAGES: torch.tensor([1.0, 2.0, 3.0, 10.0])}, [4])
    out = PPO().prepare_minibatch(batch)
    assert out[Columns.ADVANTAGES].mean().abs() < 1e-6
    assert out[Columns.ADVANTAGES].std().item() == pytest.approx(1.0, rel=1e-4)
    assert batch[Columns.ADVANTAGES].tolist() == [1.0, 2.0, 3.0, 10.0]  # input untouched
    same = PPO({"normalize_advantages": False}).prepare_minibatch(batch)
    assert same[Columns.ADVANTAGES].tolist() == [1.0, 2.0, 3.0, 10.0]


def test_reward_scaling_divides_by_the_std_of_discounted_returns() -> None:
    t_len, n = 50, 4
    rollout = _rollout(t_len, n, torch.zeros(t_len, n, dtype=torch.bool), torch.zeros(t_len, n, dtype=torch.bool))
    rollout[Columns.REWARDS] = torch.full((t_len, n), 10.0)
    module = _FixedValues(Box((4,)), Discrete(2))
    scaled = PPO({"reward_scaling": True, "gamma": 0.9})
    plain = PPO({"gamma": 0.9})
    a = scaled.postprocess(rollout.clone(), module)[Columns.VALUE_TARGETS]
    b = plain.postprocess(rollout.clone(), module)[Columns.VALUE_TARGETS]
    assert not torch.allclose(a, b)
    state = scaled.state_dict()
    restored = PPO({"reward_scaling": True, "gamma": 0.9})
    restored.load_state_dict(state)
    assert restored.state_dict()["return_rms"]["count"] == state["return_rms"]["count"]


@pytest.mark.parametrize(
    ("key", "value"), [("gamma", 1.5), ("num_epochs", 0), ("minibatch_size", 0), ("dual_clip", 0.5)]
)
def test_invalid_options_are_rejected_with_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=key):
        PPO({key: value})


def test_config_dataclass_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PPOConfig().gamma = 0.5  # type: ignore[misc]
