"""An env that breaks the ``BatchedEnv`` contract is named on its first steps, not deep inside the learner.

Each case wraps the real torch-native cartpole and breaks one thing about
what ``step`` returns (the fault trial's list: wrong observation shape, a
missing ``next_obs``, rewards shaped ``[n, 1]``, int done flags, float64
observations). With ``check_specs`` on (the default checks the first
rollout), training stops with a ``SpecError`` naming the env, the key and both
shapes; observations far outside the declared bounds are logged once.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDictBase

from rl8_core import BatchedEnv, Trainer, make_env
from specs import SpecError

RL8 = str(Path(sys.executable).with_name("rl8"))


class Broken(BatchedEnv):
    """The built-in cartpole with ``edit`` applied to every step result."""

    edit: Callable[[TensorDictBase], TensorDictBase] = staticmethod(lambda out: out)

    def __init__(self, *, num_envs: int, seed: int | None = None, device: Any = "cpu") -> None:
        self.inner = make_env("cartpole", num_envs=num_envs, seed=seed, device=device)
        self.observation_spec, self.action_spec = self.inner.observation_spec, self.inner.action_spec
        self.num_envs, self.device = num_envs, self.inner.device

    def reset(self, *, seed: int | None = None) -> TensorDictBase:
        return self.inner.reset(seed=seed)

    def step(self, actions: torch.Tensor | TensorDictBase) -> TensorDictBase:
        return type(self).edit(self.inner.step(actions))


class WideObs(Broken):
    edit = staticmethod(lambda out: out.set("obs", torch.cat([out["obs"], out["obs"][:, :1]], -1)))


class NoNextObs(Broken):
    edit = staticmethod(lambda out: out.exclude("next_obs"))


class ColumnRewards(Broken):
    @staticmethod
    def edit(out: TensorDictBase) -> TensorDictBase:
        rewards = out.pop("rewards")
        out.batch_size = []
        out.set("rewards", rewards[:, None])
        out.batch_size = [rewards.shape[0]]
        return out


class IntDones(Broken):
    edit = staticmethod(lambda out: out.set("terminateds", out["terminateds"].long()))


class DoubleObs(Broken):
    edit = staticmethod(lambda out: out.set("obs", out["obs"].double()))


class FarOut(Broken):
    edit = staticmethod(lambda out: out.set("obs", out["obs"] * 1e6))


CASES = [
    (WideObs, "'obs': dim '4' (axis 1) expected 4, got 5"),
    (NoNextObs, "'next_obs': missing key"),
    (ColumnRewards, "'rewards': expected rank 1 [b], got rank 2"),
    (IntDones, "'terminateds': expected dtype torch.bool, got torch.int64"),
    (DoubleObs, "'obs': expected dtype torch.float32, got torch.float64"),
]


def _config(env: str, **changes: Any) -> dict[str, Any]:
    return {
        "env": env,
        "num_envs": 4,
        "horizon": 8,
        "tracking": {"enabled": False},
        "progress": "none",
        **changes,
    }


@pytest.mark.parametrize(("env_class", "finding"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_a_contract_breach_is_named_on_the_first_rollout(env_class: type[Broken], finding: str) -> None:
    with Trainer(_config(f"{__name__}:{env_class.__name__}")) as trainer, pytest.raises(SpecError) as info:
        trainer.step()
    assert info.value.context == f"{env_class.__name__}.step output"
    assert finding in str(info.value)


def test_with_checks_off_nothing_is_checked() -> None:
    with Trainer(_config(f"{__name__}:DoubleObs", check_specs="never")) as trainer:
        trainer.step()  # float64 observations pass unchecked (and the module copes)


def test_observations_outside_the_bounds_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), Trainer(_config(f"{__name__}:FarOut", check_specs="always")) as trainer:
        trainer.step()
        trainer.step()
    warnings = [r for r in caplog.records if "outside the observation spec" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("FarOut.step output: observations outside the observation spec (")


def test_the_cli_names_the_env_and_the_key_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "wide_env.py").write_text(
        "import torch\nfrom rl8_core import make_env\n\n"
        "def make(*, num_envs, seed=None, device='cpu'):\n"
        "    env = make_env('cartpole', num_envs=num_envs, seed=seed, device=device)\n"
        "    inner = env.step\n"
        "    env.step = lambda a: (lambda out: out.set('obs', torch.cat([out['obs'], out['obs']], -1)))(inner(a))\n"
        "    return env\n"
    )
    proc = subprocess.run(
        [RL8, "train", "--set", "env=wide_env:make", "--set", "tracking.enabled=false", "--set", "progress=none"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("rl8 train: error: CartPoleEnv.step output does not match its spec: 'obs': dim '4'"), line
    assert "nothing was saved (no iteration had completed)" in line
