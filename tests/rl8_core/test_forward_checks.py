"""What a forward checks beyond its specs: that it returns a TensorDict, and that acting actions fit the action spec.

Also that ``evaluate`` (and so ``Trainer.eval`` and ``rl8 eval``) checks the deployed path under ``check_specs``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import Columns, PluginError, RLModule, TrainConfig, Trainer, evaluate
from rl8_core.envs.make import make_env
from rl8_core.testing import example_action_specs
from rl8_core.training import trainer as trainer_module
from rl8_plugins.distributions.categorical import Categorical
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, SpecError, checking

OBS = Box((4,))
B = 5
MODES = ["train", "exploration", "inference"]


def _batch(b: int = B) -> TensorDict:
    return TensorDict({Columns.OBS: OBS.rand((b,), generator=torch.Generator().manual_seed(0))}, [b])


class Edited(ActorCriticModule):
    """The default module, with each forward's output passed through ``edits[mode]``."""

    def setup(self) -> None:
        super().setup()
        self.edits: dict[str, Callable[[TensorDictBase], Any]] = {}

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("train", super()._forward_train(batch))

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("exploration", super()._forward_exploration(batch))

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("inference", super()._forward_inference(batch))

    def _edit(self, mode: str, out: TensorDictBase) -> TensorDictBase:
        edit = self.edits.get(mode)
        result: TensorDictBase = out if edit is None else edit(out)
        return result


class Fixed(RLModule):
    """A module without distribution that returns ``make(b)`` as its actions, in a TensorDict without batch dims."""

    def __init__(self, action_spec: Spec, make: Callable[[int], Any]) -> None:
        self.make = make
        super().__init__(OBS, action_spec)

    def setup(self) -> None:
        self.w = torch.nn.Parameter(torch.zeros(1))

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        return TensorDict({Columns.ACTIONS: self.make(batch.batch_size[0])}, [])

    _forward_inference = _forward_exploration


def _forward(m: RLModule, mode: str, batch: TensorDictBase) -> TensorDictBase:
    out: TensorDictBase = getattr(m, f"forward_{mode}")(batch)
    return out


# --- A forward must return a TensorDict -----------------------------------------------------------


@pytest.mark.parametrize("checks", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_a_forward_returning_a_dict_names_the_module_and_the_type(mode: str, checks: bool) -> None:
    m = Edited(OBS, Discrete(2))
    m.edits[mode] = lambda out: out.to_dict()
    with checking(checks), pytest.raises(SpecError) as info:
        _forward(m, mode, _batch())
    assert info.value.context == f"Edited.forward_{mode} output"
    assert str(info.value).splitlines()[1] == (
        f"  - <root>: _forward_{mode} must return a TensorDict (tensordict.TensorDictBase), got builtins.dict"
    )
    assert [(x.path, x.kind) for x in info.value.mismatches] == [("", "type")]


def test_a_forward_returning_a_tensor_is_named_too() -> None:
    m = Edited(OBS, Discrete(2))
    m.edits["inference"] = lambda out: out.get(Columns.ACTION_DIST_INPUTS)
    with checking(False), pytest.raises(SpecError, match=r"must return a TensorDict .*got torch\.Tensor"):
        m.forward_inference(_batch())


# --- Acting actions fit the action spec -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exploration", "inference"])
@pytest.mark.parametrize("label", sorted(example_action_specs()))
def test_the_built_in_distributions_pass_the_action_check(label: str, mode: str) -> None:
    m = ActorCriticModule(OBS, example_action_specs()[label])
    m.check_actions(mode, _forward(m, mode, _batch(64)).get(Columns.ACTIONS))


@pytest.mark.parametrize(
    ("spec", "actions", "message"),
    [
        (Discrete(2), lambda b: torch.full((b,), 2), "value 2 outside Discrete(2) (range [0, 1])"),
        (Discrete(3, start=1), lambda b: torch.zeros(b, dtype=torch.long), "value 0 outside Discrete(3, start=1)"),
        (MultiDiscrete([2, 3]), lambda b: torch.full((b, 2), 2), "value 2 at index [0, 0] outside [0, 1]"),
        (MultiBinary(3), lambda b: torch.full((b, 3), 2, dtype=torch.int8), "value 2 is not 0 or 1"),
        (Box((2,), low=0, high=9, dtype=torch.uint8), lambda b: torch.full((b, 2), 10, dtype=torch.uint8), "outside"),
    ],
)
@pytest.mark.parametrize("mode", ["exploration", "inference"])
def test_returned_actions_outside_the_space_fail(mode: str, spec: Spec, actions: Any, message: str) -> None:
    m = Fixed(spec, actions)
    out = _forward(m, mode, _batch())  # dtype and shape are right: the forward's own check passes
    with pytest.raises(SpecError) as info:
        m.check_actions(mode, out.get(Columns.ACTIONS))
    err = info.value
    assert err.context == f"Fixed.forward_{mode} output"
    ((path, kind),) = [(x.path, x.kind) for x in err.mismatches]
    assert (path, kind) == ("actions", "value")
    assert message in str(err)
    assert f"(action spec {spec!r})" in str(err)


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (lambda b: torch.zeros(b, 1, dtype=torch.long), "expected rank 1 [b], got rank 2 (shape [5, 1])"),
        (lambda b: torch.zeros(b), "expected dtype torch.int64, got torch.float32"),
        (lambda b: torch.zeros(b + 1, dtype=torch.long), "dim 'b' (axis 0) expected 5"),
    ],
)
def test_returned_actions_of_the_wrong_shape_or_dtype_fail(actions: Any, expected: str) -> None:
    with pytest.raises(SpecError, match=r"Fixed\.forward_inference output") as info:
        Fixed(Discrete(2), actions).forward_inference(_batch())
    assert expected in str(info.value)


def test_float_box_actions_outside_the_bounds_pass_but_not_a_wrong_dtype() -> None:
    spec = Box((2,), low=-1.0, high=1.0)
    m = Fixed(spec, lambda b: torch.full((b, 2), 5.0))
    m.check_actions("exploration", m.forward_exploration(_batch()).get(Columns.ACTIONS))  # Gaussians sample there
    with pytest.raises(SpecError, match=r"'actions': expected dtype torch\.float32, got torch\.float64"):
        m.check_actions("exploration", torch.zeros(B, 2, dtype=torch.float64))
    with pytest.raises(SpecError, match=r"'actions': expected dtype torch\.float32, got torch\.float64"):
        Fixed(spec, lambda b: torch.zeros(b, 2, dtype=torch.float64)).forward_exploration(_batch())


def test_composite_actions_are_checked_leaf_by_leaf() -> None:
    spec = Composite({"move": Box((2,), low=-1.0, high=1.0), "fire": Discrete(2)})

    def actions(fire: int) -> Callable[[int], TensorDict]:
        return lambda b: TensorDict({"move": torch.full((b, 2), 3.0), "fire": torch.full((b,), fire)}, [b])

    m = Fixed(spec, actions(1))
    m.check_actions("inference", m.forward_inference(_batch()).get(Columns.ACTIONS))
    m = Fixed(spec, actions(2))
    with pytest.raises(SpecError) as info:
        m.check_actions("inference", m.forward_inference(_batch()).get(Columns.ACTIONS))
    assert [(x.path, x.kind) for x in info.value.mismatches] == [("actions.fire", "value")]
    assert "value 2 outside Discrete(2)" in str(info.value)


class Shifted(Categorical):
    """A broken distribution: its greedy action is two past the argmax."""

    def deterministic_sample(self) -> torch.Tensor:
        return super().deterministic_sample() + 2


class ShiftedModule(ActorCriticModule):
    def get_action_dist_cls(self) -> type[Categorical]:
        return Shifted


def test_a_distribution_whose_greedy_actions_leave_the_space_fails_when_the_module_is_built() -> None:
    with pytest.raises(PluginError) as info:
        ShiftedModule(OBS, Discrete(2))
    message = str(info.value)
    assert message.startswith(f"distribution {__name__}:Shifted (rl8-core ")
    assert "with 2 action_dist_inputs (its required_inputs for Discrete(2)) gives no valid action" in message
    assert "'actions': value 2 outside Discrete(2) (range [0, 1])" in message
    assert "\n" not in message


# --- evaluate, Trainer.eval and rl8 eval check the deployed path ------------------------------------


class Drifting(ActorCriticModule):
    """Acts well for ``good_steps`` inference calls, then returns int32 actions (CartPole accepts them)."""

    good_steps = 0

    def setup(self) -> None:
        super().setup()
        self.calls = 0

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        out = super()._forward_inference(batch)
        self.calls += 1
        if self.calls > self.good_steps:
            out.set(Columns.ACTIONS, out.get(Columns.ACTION_DIST_INPUTS).argmax(-1).to(torch.int32))
        return out


@pytest.mark.parametrize(
    ("check_specs", "good_steps", "fails"),
    [("first", 0, True), ("first", 3, False), ("always", 3, True), ("never", 0, False)],
)
def test_evaluate_checks_steps_under_check_specs(check_specs: Any, good_steps: int, fails: bool) -> None:
    env = make_env("CartPole-v1", num_envs=2, seed=0)
    module = Drifting(OBS, Discrete(2))
    module.good_steps = good_steps
    try:
        if fails:
            with pytest.raises(SpecError, match=r"Drifting\.forward_inference output .*\n.*'actions': expected dtype"):
                evaluate(module, env, episodes=2, seed=0, check_specs=check_specs)
        else:
            assert evaluate(module, env, episodes=2, seed=0, check_specs=check_specs)["eval/episodes"] == 2
    finally:
        env.close()


def test_evaluate_checks_the_first_step_by_default() -> None:
    env = make_env("CartPole-v1", num_envs=2, seed=0)
    try:
        with pytest.raises(SpecError, match=r"Drifting\.forward_inference output"):
            evaluate(Drifting(OBS, Discrete(2)), env, episodes=2, seed=0)
    finally:
        env.close()


BAD_MODULE = """
import torch
from catalogs import ActorCriticModule


class BadInference(ActorCriticModule):
    def _forward_inference(self, batch):
        out = super()._forward_inference(batch)
        out.set("actions", torch.full_like(out.get("action_dist_inputs")[:, 0], 7, dtype=torch.int64))
        return out
"""


def test_trainer_eval_and_rl8_eval_check_the_deployed_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad_mod.py").write_text(BAD_MODULE)
    (tmp_path / "tiny.yaml").write_text(
        "env: cartpole\nmodule: bad_mod:BadInference\nnum_envs: 2\nhorizon: 8\nstop:\n  env_steps: 16\n"
        "algorithm_config:\n  num_epochs: 1\neval:\n  at_end: false\n  episodes: 2\n  num_envs: 2\n"
        "tracking:\n  enabled: false\nprogress: none\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    rl8 = str(Path(sys.executable).parent / "rl8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([rl8, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    proc = run("train", "tiny.yaml")  # exploration and train are fine: only inference is broken
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "checkpoints").iterdir()
    proc = run("eval", str(run_dir), "--episodes", "2")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "rl8 eval: error: BadInference.forward_inference output does not match its spec: 'actions': value 7 "
        "outside Discrete(2) (range [0, 1]) (action spec Discrete(2))"
    ]
    # Exploration acts with the sampled actions, which are fine; ``never`` lets the bad ones through to
    # the env (CartPole takes any nonzero action as 1), which is what the check is for. (In this process:
    # the same command without ~6 s of start-up each.)
    from rl8_core.cli import main

    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["eval", str(run_dir), "--episodes", "2", "--stochastic"]) == 0
    assert main(["eval", str(run_dir), "--episodes", "2", "--set", "check_specs=never"]) == 0


def test_trainer_eval_passes_the_configs_check_specs(monkeypatch: pytest.MonkeyPatch) -> None:

    seen: list[Any] = []

    def fake_evaluate(*args: Any, check_specs: Any, **kwargs: Any) -> dict[str, float]:
        seen.append(check_specs)
        return {}

    monkeypatch.setattr(trainer_module, "evaluate", fake_evaluate)
    config = TrainConfig.from_mapping(
        {"env": "cartpole", "num_envs": 2, "horizon": 8, "check_specs": "always", "tracking": {"enabled": False}}
    )
    with Trainer(config) as trainer:
        trainer.eval(episodes=2)
    assert seen == ["always"]


class OutOfRange(ActorCriticModule):
    """Returns action 2 for a two-action space from its exploration forward (no distribution involved)."""

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        out = super()._forward_exploration(batch)
        out.set(Columns.ACTIONS, torch.full(batch.batch_size, 2, dtype=torch.int64))
        out.set(Columns.ACTION_LOGP, torch.zeros(batch.batch_size))
        return out


@pytest.mark.parametrize(("check_specs", "fails"), [("first", True), ("always", True), ("never", False)])
def test_the_runner_checks_actions_before_the_env_sees_them(check_specs: Any, fails: bool) -> None:
    from rl8_core import Runner

    env = make_env("cartpole", num_envs=2, seed=0)
    runner = Runner(env, OutOfRange(OBS, Discrete(2)), horizon=4, check_specs=check_specs, seed=0)
    if not fails:
        runner.collect()  # the torch-native cartpole takes any integer: nothing stops a wrong action
        return
    with pytest.raises(SpecError) as info:
        runner.collect()
    assert info.value.context == "OutOfRange.forward_exploration output"
    assert "'actions': value 2 outside Discrete(2) (range [0, 1])" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch", [{"obs": torch.zeros(B, 4)}, torch.zeros(B, 4), None], ids=["dict", "tensor", "none"])
def test_a_forward_given_anything_but_a_tensordict_says_so(mode: str, batch: Any) -> None:
    m = ActorCriticModule(OBS, Discrete(2))
    with pytest.raises(SpecError) as info:
        getattr(m, f"forward_{mode}")(batch)
    assert info.value.context == f"ActorCriticModule.forward_{mode} input"
    assert f"forward_{mode} takes a TensorDict with batch dims, got " in str(info.value)
