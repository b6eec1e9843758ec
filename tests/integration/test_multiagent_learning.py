"""Multi-agent learning: a cooperative team with one shared module, a duel against a frozen opponent, agents leaving.

The simple_spread run trains in the background beside the rest of the suite
(``memory_runs.RUNS["spread-shared"]``, see ``conftest.py``); the others are
seconds long on the torch-native ``duel`` and ``gather`` envs.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tensordict import TensorDict

from rl8_core import ALL_DONE, MultiAgentBatchedEnv, Trainer, make_env
from tests.integration.conftest import BackgroundRuns

QUIET = {"tracking": {"enabled": False}, "progress": "none", "device": "cpu", "num_threads": 1, "seed": 0}
SPREAD = {"env": "mpe2.simple_spread_v3", "N": 3, "continuous_actions": False}


def random_team_return(env: MultiAgentBatchedEnv, episodes: int, seed: int = 0) -> float:
    """Mean team return (summed over agents) of ``episodes`` episodes of uniformly random actions."""
    gen = torch.Generator().manual_seed(seed)
    env.reset(seed=seed)
    team = torch.zeros(env.num_envs, dtype=torch.float64)
    returns: list[float] = []
    while len(returns) < episodes:
        n = env.num_envs
        out = env.step(TensorDict({a: env.action_specs[a].rand((n,), generator=gen) for a in env.agents}, [n]))
        team += sum(out[a, "rewards"].double() for a in env.agents)
        done = out[ALL_DONE]
        returns += team[done].tolist()
        team[done] = 0.0
    env.close()
    return sum(returns[:episodes]) / episodes


@pytest.mark.slow
@pytest.mark.parametrize("run", ["spread-shared"])
def test_simple_spread_with_one_shared_module_beats_random_play(memory_run: BackgroundRuns, run: str) -> None:
    env = make_env("pettingzoo", SPREAD, num_envs=8, seed=1)
    assert isinstance(env, MultiAgentBatchedEnv)
    baseline = random_team_return(env, episodes=48)  # about -81
    result = memory_run.result(run)
    # 64k env steps bring the team from about -81 to about -60 (the mean of 48 sampled episodes);
    # 12 above random is four times the spread of a 48-episode mean of random play.
    assert result["eval/return_mean"] > baseline + 12, (baseline, result)
    assert result["eval/return_mean/default"] == result["eval/return_mean"], result


def test_a_trained_duelist_beats_a_frozen_random_opponent() -> None:
    config: dict[str, Any] = {
        **QUIET,
        "env": "duel",
        "num_envs": 16,
        "horizon": 32,
        "algorithm_config": {"num_epochs": 4, "minibatch_size": 256},
        "learner": {"lr": 3e-3},
        "multi_agent": {"policy_mapping": "{agent}", "modules_to_train": ["player_0"]},
    }
    with Trainer(config) as trainer:
        # The untrained, near-uniform policies win as rarely as each other.
        before = trainer.eval(episodes=64, deterministic=False)
        assert abs(before["eval/return_mean/player_0"]) < 0.3, before
        while trainer.env_steps < 12_000:
            trainer.step()
        after = trainer.eval(episodes=64, deterministic=False)
    # +1 a win, -1 a loss, 0 a draw: "always forward" wins 97% of games against random play.
    assert after["eval/return_mean/player_0"] > 0.7, after
    assert after["eval/return_mean/player_1"] == -after["eval/return_mean/player_0"], after


def test_agents_that_leave_at_different_times_learn_to_reach_their_targets() -> None:
    config: dict[str, Any] = {
        **QUIET,
        "env": "gather",
        "num_envs": 16,
        "horizon": 32,
        "algorithm_config": {"num_epochs": 4, "minibatch_size": 256},
        "learner": {"lr": 3e-3},
    }
    with Trainer(config) as trainer:
        assert not bool(trainer.runner.collect()["default"]["loss_mask"].all()), "agents leave before the others"
        while trainer.env_steps < 8_000:
            trainer.step()
        result = trainer.eval(episodes=48)
    # Random play scores -0.06 per agent, stepping straight to the target +0.9 (gather's docstring).
    for agent in ("agent_0", "agent_1", "agent_2"):
        assert result[f"eval/agents/return_mean/{agent}"] > 0.75, result
