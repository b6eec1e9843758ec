"""Each check of ``rl8_core.testing`` catches the planted bug it is meant for, and passes a correct component.

The encoder cases live with the other broken encoders in ``test_contracts.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import BatchedEnv, RLModule
from rl8_core.testing import check_algorithm, check_distribution, check_env
from rl8_plugins.algorithms.ppo import PPO, PPOConfig
from rl8_plugins.distributions.categorical import Categorical
from specs import Box, Discrete, Spec

# --- distributions ----------------------------------------------------------------------------


class TooFewLogits(Categorical):
    """One logit short: the last action can never be sampled and has no logp."""

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        return super().required_inputs(action_spec) - 1


@pytest.mark.parametrize("spec", [Discrete(4), Discrete(3, start=1)], ids=repr)
def test_check_distribution_catches_too_few_logits(spec: Spec) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check_distribution(TooFewLogits, [spec])
    assert f"distribution TooFewLogits on {spec!r}: logp of every valid action" in str(excinfo.value)
    assert "does required_inputs count an input for each action?" in str(excinfo.value)


# --- envs -------------------------------------------------------------------------------------


class Walk(BatchedEnv):
    """A correct env: a noisy walk that terminates beyond +-3 and truncates after 10 steps."""

    limit = 10

    def __init__(self, *, num_envs: int, seed: int | None = None, device: str | torch.device = "cpu") -> None:
        self.num_envs, self.device = num_envs, torch.device(device)
        self.observation_spec, self.action_spec = Box((2,), low=-100.0, high=100.0), Discrete(2)
        self.gen = torch.Generator().manual_seed(0 if seed is None else seed)
        self.pos = torch.zeros(num_envs)
        self.steps = torch.zeros(num_envs, dtype=torch.long)

    def _obs(self) -> torch.Tensor:
        return torch.stack([self.pos, self.steps.float()], 1)

    def _noise(self) -> torch.Tensor:
        return torch.rand(self.num_envs, generator=self.gen) - 0.5

    def _reset_rows(self, rows: torch.Tensor) -> None:
        self.pos = torch.where(rows, self._noise(), self.pos)
        self.steps = torch.where(rows, 0, self.steps)

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        if seed is not None:
            self.gen.manual_seed(seed)
        self._reset_rows(torch.ones(self.num_envs, dtype=torch.bool))
        return TensorDict({"obs": self._obs()}, [self.num_envs])

    def _move(self, actions: torch.Tensor) -> None:
        self.pos = self.pos + (actions.float() * 2 - 1) + self._noise()
        self.steps = self.steps + 1

    def _flags(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pos.abs() >= 3, self.steps >= self.limit

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        assert isinstance(actions, torch.Tensor)
        self._move(actions)
        next_obs, rewards = self._obs(), -self.pos.abs()
        terminateds, truncateds = self._flags()
        self._reset_rows(terminateds | truncateds)
        return self._result(next_obs, rewards, terminateds, truncateds)

    def _result(self, next_obs: Any, rewards: Any, terminateds: Any, truncateds: Any) -> TensorDictBase:
        return TensorDict(
            {
                "obs": self._obs(),
                "next_obs": next_obs,
                "rewards": rewards,
                "terminateds": terminateds,
                "truncateds": truncateds,
            },
            [self.num_envs],
        )

    def state_dict(self) -> dict[str, Any] | None:
        return {"pos": self.pos.clone(), "steps": self.steps.clone(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos, self.steps = state["pos"].clone(), state["steps"].clone()
        self.gen.set_state(state["gen"])


class NoReset(Walk):
    def _reset_rows(self, rows: torch.Tensor) -> None:
        if bool(rows.all()):  # only reset() resets
            super()._reset_rows(rows)


class Float64Rewards(Walk):
    def _result(self, next_obs: Any, rewards: Any, terminateds: Any, truncateds: Any) -> TensorDictBase:
        return super()._result(next_obs, rewards.double(), terminateds, truncateds)


class GlobalRng(Walk):
    def _noise(self) -> torch.Tensor:
        return torch.rand(self.num_envs) - 0.5  # the global RNG, not the seeded generator


class WritesIntoResults(Walk):
    """Hands out one observation buffer and overwrites it every step."""

    def _obs(self) -> torch.Tensor:
        if not hasattr(self, "buffer"):
            self.buffer = torch.zeros(self.num_envs, 2)
        self.buffer.copy_(super()._obs())
        return self.buffer

    def _result(self, next_obs: Any, rewards: Any, terminateds: Any, truncateds: Any) -> TensorDictBase:
        return super()._result(next_obs.clone(), rewards, terminateds, truncateds)


class UnflaggedTruncation(Walk):
    limit = 3

    def _flags(self) -> tuple[torch.Tensor, torch.Tensor]:
        terminateds, truncateds = super()._flags()
        self._truncated = truncateds
        return terminateds, torch.zeros_like(truncateds)

    def _reset_rows(self, rows: torch.Tensor) -> None:
        super()._reset_rows(rows | getattr(self, "_truncated", torch.zeros_like(rows)))


class OneFlag(Walk):
    def _flags(self) -> tuple[torch.Tensor, torch.Tensor]:
        terminateds, truncateds = super()._flags()
        done = terminateds | truncateds
        return done, done


class ForgetsTheGenerator(Walk):
    def state_dict(self) -> dict[str, Any] | None:
        return {"pos": self.pos.clone(), "steps": self.steps.clone(), "gen": torch.Generator().get_state()}


class NeverEnds(Walk):
    def _flags(self) -> tuple[torch.Tensor, torch.Tensor]:
        none = torch.zeros(self.num_envs, dtype=torch.bool)
        return none, none.clone()


class NoState(Walk):
    def state_dict(self) -> dict[str, Any] | None:
        return None


def test_check_env_passes_a_correct_env_with_or_without_state() -> None:
    assert check_env(Walk) > 0
    assert check_env(NoState, num_envs=2, seed=3) > 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (NoReset, "obs equals next_obs in all"),
        (NoReset, "finished envs must reset inside step"),
        (Float64Rewards, "step 0['rewards'] is torch.float64 [4], expected float32 [4]"),
        (GlobalRng, "two envs built with seed=0 gave different reset observations"),
        (WritesIntoResults, "reset()'s 'obs' was written into after it was returned"),
        (UnflaggedTruncation, "although neither terminateds nor truncateds is set"),
        (OneFlag, "step 0: terminateds and truncateds are one tensor"),
        (ForgetsTheGenerator, "after load_state_dict of a state saved at step"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_check_env_catches(env: type[Walk], message: str) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check_env(env)
    assert str(excinfo.value).startswith(f"env {env.__qualname__}: ")
    assert message in str(excinfo.value)


def test_check_env_says_when_no_episode_ends() -> None:
    with pytest.raises(AssertionError, match=r"env NeverEnds: no episode ended in 20 steps of random actions"):
        check_env(NeverEnds, max_steps=20)


def test_check_env_passes_options_and_names_a_crash() -> None:
    with pytest.raises(AssertionError, match=r"env Walk: building raised TypeError: .*unexpected keyword argument"):
        check_env(Walk, width=3)


def test_check_env_restores_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_env(Walk)
    assert torch.equal(torch.rand(3), expected)


# --- algorithms -------------------------------------------------------------------------------

FAST = {"num_epochs": 2, "minibatch_size": None}


class NotScalar(PPO):
    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, stats = super().loss(module, minibatch)
        return loss * torch.ones(2), stats


class NanStats(PPO):
    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, stats = super().loss(module, minibatch)
        return loss, {**stats, "stats/broken": torch.tensor(float("nan"))}


class UngroupedStats(PPO):
    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, _ = super().loss(module, minibatch)
        return loss, {"total": loss.detach()}


class DetachedLoss(PPO):
    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, stats = super().loss(module, minibatch)
        return loss.detach(), stats


class AcceptsUnknownKeys(PPO):
    def __init__(self, config: PPOConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, Mapping):
            known = {f.name for f in fields(PPOConfig)}
            config = {key: value for key, value in config.items() if key in known}
        super().__init__(config)


class NotFlat(PPO):
    def postprocess(self, rollout: TensorDictBase, module: RLModule) -> TensorDictBase:
        return rollout


def test_check_algorithm_passes_ppo_with_the_actor_critic_module() -> None:
    metrics = check_algorithm(PPO, ActorCriticModule, config=FAST)
    assert {"losses/total", "stats/approx_kl", "learner/epochs"} <= set(metrics)
    assert metrics["learner/epochs"] == 2.0


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        (NotScalar, "loss has shape [2], expected a scalar []"),
        (NanStats, "loss metrics: 'stats/broken' is not finite: nan"),
        (UngroupedStats, "loss metrics: name 'total' is not like 'group/name'"),
        (DetachedLoss, "loss does not require grad"),
        (AcceptsUnknownKeys, "its config accepted the unknown key 'rl8_no_such_option'"),
        (NotFlat, "postprocess returned a TensorDict [16, 4], expected a flat TensorDict [b]"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_check_algorithm_catches(algorithm: type[PPO], message: str) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check_algorithm(algorithm, ActorCriticModule, config=FAST)
    assert str(excinfo.value).startswith(f"algorithm {algorithm.__qualname__}: ")
    assert message in str(excinfo.value)


def test_check_algorithm_names_a_loss_that_does_not_decrease() -> None:
    with pytest.raises(AssertionError, match="did not decrease the algorithm's own loss"):
        check_algorithm(PPO, ActorCriticModule, config=FAST, lr=1e-12)


def test_check_algorithm_takes_an_env_factory() -> None:
    from rl8_core import get_registry

    pixels = get_registry().get("env", "pixels")
    assert check_algorithm(PPO, config=FAST, env=pixels, num_envs=2, horizon=8)
