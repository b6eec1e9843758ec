"""Envs that fail inside env runners, for the fault tests of ``scale.env_runners`` (imported by Ray's workers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDictBase

from rl8_core import BatchedEnv, get_registry


class CrashingCartPole(BatchedEnv):
    """The torch-native ``cartpole`` that raises ``RuntimeError`` at its ``crash_at``-th step, as ``mode`` says.

    ``once``: the first env of any process to get there creates the ``marker`` file and
    crashes; no other env ever does (a rare simulator fault). ``stays``: an env getting
    there creates the marker, and every env crashes at each step while it exists (a
    fault that a restart does not fix, such as a lost licence server).
    """

    def __init__(
        self, *, num_envs: int, seed: int | None, device: torch.device, crash_at: int, marker: str, mode: str
    ) -> None:
        self.inner = get_registry().get("env", "cartpole")(num_envs=num_envs, seed=seed, device=device)
        self.observation_spec, self.action_spec = self.inner.observation_spec, self.inner.action_spec
        self.num_envs, self.device = num_envs, self.inner.device
        self.crash_at, self.marker, self.mode, self.steps = crash_at, Path(marker), mode, 0

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        return self.inner.reset(seed=seed)

    def step(self, actions: Any) -> TensorDictBase:
        self.steps += 1
        if self.mode == "stays" and self.marker.exists():
            raise RuntimeError(f"simulated crash at step {self.steps}, the fault stays")
        if self.steps == self.crash_at:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))  # one process wins the race
            except FileExistsError:
                return self.inner.step(actions)
            raise RuntimeError(f"simulated crash at step {self.steps}")
        return self.inner.step(actions)

    def state_dict(self) -> Any:
        return self.inner.state_dict()

    def load_state_dict(self, state: Any) -> None:
        self.inner.load_state_dict(state)


def crashing_cartpole(
    num_envs: int,
    seed: int | None = None,
    device: torch.device | str = "cpu",
    *,
    crash_at: int,
    marker: str,
    mode: str = "once",
) -> CrashingCartPole:
    """Build a ``CrashingCartPole`` (the env factory ``env: tests.rl8_core.crashing_env:crashing_cartpole``)."""
    return CrashingCartPole(
        num_envs=num_envs, seed=seed, device=torch.device(device), crash_at=crash_at, marker=marker, mode=mode
    )
