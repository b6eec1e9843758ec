"""The learner: accumulation equals one batch, clipping, schedules, AMP."""

from __future__ import annotations

import copy

import pytest
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import (
    Columns,
    ConfigError,
    Learner,
    LearnerConfig,
    Runner,
    RunningMeanStd,
    Schedule,
    config_from_mapping,
    get_registry,
)
from rl8_plugins.algorithms.ppo import PPO
from specs import Box, Discrete


def _batch(module: ActorCriticModule, b: int = 64, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(b, 4, generator=g)
    with torch.no_grad():
        out = module.forward_exploration(TensorDict({Columns.OBS: obs}, [b]))
    return TensorDict(
        {
            Columns.OBS: obs,
            Columns.ACTIONS: out[Columns.ACTIONS],
            Columns.ACTION_LOGP: out[Columns.ACTION_LOGP],
            Columns.VF_PREDS: out[Columns.VF_PREDS],
            Columns.ADVANTAGES: torch.randn(b, generator=g),
            Columns.VALUE_TARGETS: torch.randn(b, generator=g),
        },
        [b],
    )


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_gradient_accumulation_matches_one_batch() -> None:
    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(2))
    twin = copy.deepcopy(module)
    batch = _batch(module)
    ppo = PPO({"num_epochs": 2, "minibatch_size": None, "ent_coef": 0.01})
    whole = Learner(module, ppo, LearnerConfig(lr=1e-2, max_grad_norm=0.5))
    accumulated = Learner(twin, ppo, LearnerConfig(lr=1e-2, max_grad_norm=0.5, grad_accumulation=4))
    m1 = whole.update(batch)
    m2 = accumulated.update(batch)
    for a, b in zip(_params(module), _params(twin), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert m1["losses/policy"] == pytest.approx(m2["losses/policy"], rel=1e-5, abs=1e-7)
    assert m1["learner/minibatches"] == m2["learner/minibatches"] == 2


def test_update_changes_weights_and_reports_metrics() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    before = _params(module)
    learner = Learner(module, PPO({"num_epochs": 3, "minibatch_size": 16}), LearnerConfig(lr=1e-3))
    metrics = learner.update(_batch(module))
    assert any(not torch.equal(a, b) for a, b in zip(before, _params(module), strict=True))
    assert metrics["learner/minibatches"] == 12  # 3 epochs x 64 / 16
    assert metrics["learner/epochs"] == 3
    for key in ("losses/policy", "losses/vf", "losses/entropy", "stats/approx_kl", "stats/clip_fraction"):
        assert key in metrics


def test_gradient_norm_is_clipped_before_the_optimiser_step() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    batch = _batch(module)
    batch[Columns.VALUE_TARGETS] = batch[Columns.VALUE_TARGETS] * 1e4  # huge value loss
    learner = Learner(module, PPO({"num_epochs": 1, "minibatch_size": None}), LearnerConfig(max_grad_norm=0.1))
    seen: list[float] = []

    def record(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    learner.optimizer.register_step_pre_hook(record)
    metrics = learner.update(batch)
    assert metrics["learner/grad_norm"] > 1.0  # the norm before clipping is reported
    assert seen == [pytest.approx(0.1, rel=1e-4)]


def test_target_kl_stops_early() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    batch = _batch(module)
    batch[Columns.ACTION_LOGP] = batch[Columns.ACTION_LOGP] - 1.0  # far from the current policy
    learner = Learner(module, PPO({"num_epochs": 10, "minibatch_size": 16, "target_kl": 1e-4}))
    metrics = learner.update(batch)
    assert metrics["learner/minibatches"] == 1
    assert metrics["learner/epochs"] == 1


def test_learning_rate_schedule_follows_env_steps() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    learner = Learner(module, PPO(), LearnerConfig(lr=1.0, lr_schedule=((0, 1e-3), (100, 0.0))))
    learner.set_env_steps(50)
    assert learner.lr == pytest.approx(5e-4)
    learner.set_env_steps(1000)
    assert learner.lr == 0.0


def test_bf16_autocast_on_cpu_trains() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    learner = Learner(module, PPO({"num_epochs": 1, "minibatch_size": None}), LearnerConfig(amp="bf16"))
    assert learner.amp_dtype is torch.bfloat16
    metrics = learner.update(_batch(module))
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(p.dtype is torch.float32 for p in module.parameters())


def test_auto_amp_is_off_on_cpu_and_fp16_needs_cuda() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    assert Learner(module, PPO(), LearnerConfig(amp="auto")).amp_dtype is None
    with pytest.raises(ValueError, match="fp16"):
        Learner(module, PPO(), LearnerConfig(amp="fp16"))


def test_learner_state_round_trips() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    learner = Learner(module, PPO({"num_epochs": 1}), LearnerConfig())
    learner.update(_batch(module))
    other = Learner(copy.deepcopy(module), PPO(), LearnerConfig())
    other.load_state_dict(learner.state_dict())
    assert other.optimizer.state_dict()["state"].keys() == learner.optimizer.state_dict()["state"].keys()


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="grad_accumulation"):
        config_from_mapping(LearnerConfig, {"grad_accumulation": 0}, path="learner")
    with pytest.raises(ConfigError, match=r"learner\.amp"):
        config_from_mapping(LearnerConfig, {"amp": "fp8"}, path="learner")


def test_schedule_interpolates_and_validates() -> None:
    s = Schedule([[10, 1.0], [20, 3.0]], default=0.0)
    assert (s(0), s(15), s(30)) == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="increase"):
        Schedule([[10, 1.0], [5, 2.0]], default=0.0)
    with pytest.raises(ValueError, match="pairs"):
        Schedule([[10, 1.0, 2.0]], default=0.0)


def test_a_hand_written_runner_and_learner_loop_keeps_the_observation_normaliser_current() -> None:
    """The learner folds each batch into the statistics after its update; no Trainer is needed for that."""

    class WatchedPPO(PPO):
        """PPO whose loss checks that the statistics are still those the rollout was collected with."""

        stats: RunningMeanStd
        collected_with: tuple[torch.Tensor, torch.Tensor]

        def loss(self, module, minibatch):  # type: ignore[no-untyped-def]
            assert torch.equal(self.stats.mean, self.collected_with[0])
            assert torch.equal(self.stats.count, self.collected_with[1])
            return super().loss(module, minibatch)

    env = get_registry().get("env", "cartpole")(num_envs=4, seed=0)
    module = ActorCriticModule(env.observation_spec, env.action_spec, {"normalize_obs": True})
    assert module.obs_normalizer is not None
    algorithm = WatchedPPO({"num_epochs": 2, "minibatch_size": 16})
    algorithm.stats = stats = module.obs_normalizer.stats[0]
    runner, learner = Runner(env, module, horizon=8), Learner(module, algorithm)
    seen = []
    for _ in range(3):
        rollout = runner.collect()
        seen.append(rollout.get(Columns.OBS).reshape(-1, 4).clone())
        algorithm.collected_with = (stats.mean.clone(), stats.count.clone())
        learner.update(algorithm.postprocess(rollout, module))
    every = torch.cat(seen).double()
    assert stats.count.item() == 3 * 8 * 4
    torch.testing.assert_close(stats.mean, every.mean(0))
    torch.testing.assert_close(stats.var, every.var(0, unbiased=False))
