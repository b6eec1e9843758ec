"""Learning with env runners: the quickstart CartPole and an LSTM on ``memory_cue``, each with 2 runners on Ray.

Each run trains in a process of its own beside the suite (``memory_runs.RUNS``,
see ``conftest.py``), starting and stopping a local Ray of its own, and must
meet the bar its single-process run meets.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import BackgroundRuns


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cartpole-runners"])
def test_two_env_runners_solve_cartpole(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["episodes/return_mean"] >= 475, result
    assert result["eval/return_mean"] >= 475, result
    assert result["env_runners/restarts"] == 0, result


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cue-lstm-runners"])
def test_an_lstm_recalls_the_cue_with_two_env_runners(memory_run: BackgroundRuns, run: str) -> None:
    result = memory_run.result(run)
    assert result["eval/return_mean"] >= 0.95, result
