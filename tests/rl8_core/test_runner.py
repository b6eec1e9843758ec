"""The runner: buffers, episode bookkeeping across rollouts, spec checks on the first rollout."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import BatchedEnv, Columns, Runner, evaluate
from specs import Box, Discrete, SpecError, is_checking


class ScriptedEnv(BatchedEnv):
    """Rewards and episode ends drawn from a seeded generator; observations count steps."""

    def __init__(self, num_envs: int, seed: int = 0) -> None:
        self.observation_spec = Box((2,))
        self.action_spec = Discrete(2)
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.gen = torch.Generator().manual_seed(seed)
        self.t = 0
        self.log: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.checked: list[bool] = []

    def _obs(self) -> torch.Tensor:
        return torch.full((self.num_envs, 2), float(self.t))

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        return TensorDict({Columns.OBS: self._obs()}, [self.num_envs])

    def step(self, actions: torch.Tensor) -> TensorDictBase:
        self.checked.append(is_checking())
        self.t += 1
        rewards = torch.randint(0, 5, (self.num_envs,), generator=self.gen).float()
        terminated = torch.rand(self.num_envs, generator=self.gen) < 0.15
        truncated = (torch.rand(self.num_envs, generator=self.gen) < 0.1) & ~terminated
        self.log.append((rewards, terminated, truncated))
        obs = self._obs()
        return TensorDict(
            {
                Columns.OBS: obs,
                Columns.NEXT_OBS: obs + 0.5,
                Columns.REWARDS: rewards,
                Columns.TERMINATEDS: terminated,
                Columns.TRUNCATEDS: truncated,
            },
            [self.num_envs],
        )


def reference_episodes(
    log: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], n: int
) -> list[list[tuple[float, int]]]:
    """Per-step, per-env loop: the episodes finished at each step, in env order."""
    ret = [0.0] * n
    length = [0] * n
    per_step = []
    for rewards, terminated, truncated in log:
        finished = []
        for i in range(n):
            ret[i] += float(rewards[i])
            length[i] += 1
            if terminated[i] or truncated[i]:
                finished.append((ret[i], length[i]))
                ret[i], length[i] = 0.0, 0
        per_step.append(finished)
    return per_step


def test_episode_returns_and_lengths_match_a_plain_loop_across_rollouts() -> None:
    env = ScriptedEnv(5)
    runner = Runner(env, ActorCriticModule(env.observation_spec, env.action_spec), horizon=7)
    got: list[tuple[float, int]] = []
    for _ in range(6):
        runner.collect()
        got.extend(zip(runner.episodes.returns, runner.episodes.lengths, strict=True))
    expected = [ep for step in reference_episodes(env.log, 5) for ep in step]
    assert len(expected) > 10
    assert got == expected


def test_rollout_buffer_holds_each_step_in_order() -> None:
    env = ScriptedEnv(3)
    runner = Runner(env, ActorCriticModule(env.observation_spec, env.action_spec), horizon=4)
    first = runner.collect()
    assert first.batch_size == torch.Size([4, 3])
    assert first[Columns.OBS][:, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert first[Columns.NEXT_OBS][:, 0, 0].tolist() == [1.5, 2.5, 3.5, 4.5]
    torch.testing.assert_close(first[Columns.REWARDS], torch.stack([r for r, _, _ in env.log]))
    second = runner.collect()
    assert second is first  # the same preallocated buffer, refilled
    assert second[Columns.OBS][:, 0, 0].tolist() == [4.0, 5.0, 6.0, 7.0]


def test_spec_checks_run_on_the_first_rollout_only_by_default() -> None:
    env = ScriptedEnv(2)
    module = ActorCriticModule(env.observation_spec, env.action_spec)
    runner = Runner(env, module, horizon=3)
    runner.collect()
    runner.collect()
    assert env.checked == [True] * 3 + [False] * 3
    always = Runner(env, module, horizon=2, check_specs="always")
    env.checked.clear()
    always.collect()
    always.collect()
    assert env.checked == [True] * 4


def test_a_module_breaking_its_spec_fails_in_the_first_rollout() -> None:
    env = ScriptedEnv(2)

    class Wrong(ActorCriticModule):
        def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
            out = super()._forward_exploration(batch)
            out.set(Columns.VF_PREDS, out[Columns.VF_PREDS].unsqueeze(-1))
            return out

    runner = Runner(env, Wrong(env.observation_spec, env.action_spec), horizon=2)
    with pytest.raises(SpecError, match=r"(?s)Wrong\.forward_exploration output.*'vf_preds': expected rank 1"):
        runner.collect()


def test_horizon_must_be_positive() -> None:
    env = ScriptedEnv(1)
    with pytest.raises(ValueError, match="horizon"):
        Runner(env, ActorCriticModule(env.observation_spec, env.action_spec), horizon=0)


def test_evaluate_counts_the_first_episodes_of_each_env() -> None:
    env = ScriptedEnv(4)
    result = evaluate(ActorCriticModule(env.observation_spec, env.action_spec), env, episodes=10)
    assert result["eval/episodes"] == 10
    assert result["eval/return_min"] <= result["eval/return_mean"] <= result["eval/return_max"]
