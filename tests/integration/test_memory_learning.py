"""Learning with memory: what a feed-forward policy cannot do, lstm, gru and attention do.

Velocity-masked CartPole (positions only) and Pendulum, and ``memory_cue`` (a
cue shown once, asked for later). Each run (``memory_runs.RUNS``) is seeded,
trains in a process of its own beside the rest of the suite (see
``conftest.py``), and stops
when both the last 20 training episodes and a deterministic evaluation reach
the bar, or at its env-step budget.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import BackgroundRuns


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cartpole-lstm", "cartpole-gru", "cartpole-attention"])
def test_memory_solves_cartpole_without_velocities(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["eval/return_mean"] >= 475, result


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cartpole-feed-forward"])
def test_a_feed_forward_policy_cannot_balance_cartpole_without_velocities(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["episodes/return_mean"] < 200, result
    assert result["eval/return_mean"] < 200, result


@pytest.mark.slow
@pytest.mark.parametrize("run", ["pendulum-lstm"])
def test_lstm_swings_up_pendulum_without_its_velocity(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["eval/return_mean"] >= -300, result


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cue-attention", "cue-lstm"])
def test_memory_recalls_the_cue(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["eval/return_mean"] >= 0.95, result


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cue-feed-forward"])
def test_a_feed_forward_policy_can_only_guess_the_cue(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["eval/return_mean"] <= 0.75, result
