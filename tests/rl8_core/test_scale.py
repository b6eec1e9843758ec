"""Scale-out: env runners on a local Ray (2 CPUs) and data-parallel learners on gloo loopback.

The runners' tests share one local Ray for the module; each trainer starts and
stops its own runner actors in it. The learners' tests start real learner
processes (``LearnerGroup``) and compare them with one learner on the same batch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from catalogs import ActorCriticModule
from rl8_core import ConfigError, RLModuleSpec, TrainConfig, Trainer, get_registry
from rl8_core.cli import _run_ended
from rl8_core.errors import EnvRunnerError
from rl8_core.training.distributed import LearnerGroup
from rl8_core.training.env_runners import RESTARTS, EnvRunnerGroup
from rl8_core.training.learner import Learner, LearnerConfig
from rl8_core.training.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
QUIET: dict[str, Any] = {"tracking": {"enabled": False}, "progress": "none", "device": "cpu", "seed": 0}
CRASHING = "tests.rl8_core.crashing_env:crashing_cartpole"


def cartpole(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A fast CartPole run on the torch-native env: 8 envs over 2 runners, quickstart PPO."""
    return {
        **QUIET,
        "env": "cartpole",
        "num_envs": 8,
        "horizon": 32,
        "algorithm_config": {"num_epochs": 4, "minibatch_size": 128},
        "learner": {"lr": 4e-3},
        "checkpoint": {"dir": str(tmp_path / "ckpt"), "at_end": False},
        "eval": {"at_end": False},
        "scale": {"env_runners": 2},
        **extra,
    }


# --- env runners ---------------------------------------------------------------------------------------------------


def test_runners_share_the_envs_with_distinct_seeds_and_keep_module_states(local_ray: Any) -> None:
    config = TrainConfig.from_mapping(
        {
            **QUIET,
            "env": "memory_cue",
            "env_config": {"num_cues": 2, "delay": 2},
            "num_envs": 8,
            "horizon": 16,
            "model_config": {"memory": "lstm", "encoder_config": {"hiddens": [16]}},
            "scale": {"env_runners": 2},
        }
    )
    env = get_registry().get("env", "memory_cue")(num_envs=4, seed=0, num_cues=2, delay=2)
    spec = RLModuleSpec(ActorCriticModule, env.observation_spec, env.action_spec, config.model_config)
    group = EnvRunnerGroup(config, spec.build())
    try:
        assert group.steps_per_rollout == 128
        rollout = group.collect()
    finally:
        group.close()
    assert rollout.batch_size == torch.Size([16, 8])
    # Runner i's 4 envs are seeded seed + 4i (reproducibly: see the checkpoint test below).
    for i in range(2):
        first = get_registry().get("env", "memory_cue")(num_envs=4, seed=4 * i, num_cues=2, delay=2).reset(seed=4 * i)
        assert torch.equal(rollout["obs"][0, 4 * i : 4 * i + 4], first["obs"])
    assert not torch.equal(rollout["obs"][:, :4], rollout["obs"][:, 4:])
    # Each step's state_in is the state its runner carried from the step before, reset where an episode ended.
    done = rollout["terminateds"] | rollout["truncateds"]
    carried = ~done[:-1]
    assert bool(carried.any())
    assert bool(done.any())
    for key in rollout["state_in"].keys(include_nested=True, leaves_only=True):
        assert torch.equal(rollout["state_in"][key][1:][carried], rollout["state_out"][key][:-1][carried]), key


def test_a_killed_runner_and_a_crashed_env_are_restarted_and_training_reaches_its_stop(
    local_ray: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    # One env (of whichever runner gets there first) crashes once, at its 100th step (iteration 4).
    env_config = {"crash_at": 100, "marker": str(marker)}
    config = cartpole(tmp_path, env=CRASHING, env_config=env_config, stop={"return_mean": 120, "env_steps": 60_000})
    with Trainer(config) as trainer:
        trainer.step()
        pids = local_ray.get([actor.ready.remote() for actor in trainer.runner._actors])
        os.kill(pids[0], signal.SIGKILL)  # runner 0's process dies as to the OOM killer: no Python cleanup
        result = trainer.run()
    assert marker.exists()
    assert result[RESTARTS] == 2, result
    assert result["episodes/return_mean"] >= 120, result


def test_a_runner_failing_every_time_stops_the_run_with_a_checkpoint(local_ray: Any, tmp_path: Path) -> None:
    # One runner (each restart is a new process: one runner keeps this test short). Its env breaks at its 40th
    # step, and from then on crashes at once: iteration 1 completes, the second cannot.
    config = cartpole(
        tmp_path,
        env=CRASHING,
        env_config={"crash_at": 40, "marker": str(tmp_path / "broken"), "mode": "stays"},
        num_envs=4,
        stop={"env_steps": 10_000},
        scale={"env_runners": 1, "max_restarts": 1},
        checkpoint={"dir": str(tmp_path / "ckpt"), "every": 1},
    )
    with Trainer(config) as trainer, pytest.raises(EnvRunnerError) as info:
        trainer.run()
    message = str(info.value)
    assert message.startswith("env runner 0 failed 2 times in a row (scale.max_restarts: 1), the last time with ")
    assert message.endswith(
        "RuntimeError: simulated crash at step 1, the fault stays; fix the env, or raise scale.max_restarts"
    ), message
    assert trainer.saved_on_exit is not None
    assert trainer.saved_on_exit.name == "iter_000001"
    assert json.loads((trainer.saved_on_exit / "meta.json").read_text())["iteration"] == 1
    # From the CLI: one line, exit 2, no traceback.
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert _run_ended(info.value, trainer.saved_on_exit) == 2
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith(f"rl8 train: error: {message}; the last completed iteration is saved in")


def test_config_and_spec_errors_inside_a_runner_are_not_retried(local_ray: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="env_config"):
        Trainer(cartpole(tmp_path, env=CRASHING, env_config={"crash_at": 1, "marker": "m", "colour": "red"}))
    with pytest.raises(ConfigError, match=r"num_envs \(6\) does not split evenly over 4 env runners"):
        Trainer(cartpole(tmp_path, num_envs=6, scale={"env_runners": 4}))
    with pytest.raises(ConfigError, match=r"need 3 CPUs, but the local Ray has 2; lower scale\.env_runners"):
        Trainer(cartpole(tmp_path, num_envs=6, scale={"env_runners": 3}))


def test_a_multi_agent_module_trains_with_two_runners(local_ray: Any, tmp_path: Path) -> None:
    config = {
        **QUIET,
        "env": "gather",
        "num_envs": 16,
        "horizon": 32,
        "algorithm_config": {"num_epochs": 4, "minibatch_size": 256},
        "learner": {"lr": 3e-3},
        "scale": {"env_runners": 2},
    }
    with Trainer(config) as trainer:
        while trainer.env_steps < 8_000:
            result = trainer.step()
        evaluation = trainer.eval(episodes=48)
    assert result["agents/return_mean/agent_0"] > 0.5, result
    # Random play scores -0.06 per agent, stepping straight to the target +0.9.
    for agent in ("agent_0", "agent_1", "agent_2"):
        assert evaluation[f"eval/agents/return_mean/{agent}"] > 0.75, evaluation


# --- learners ------------------------------------------------------------------------------------------------------


def _one_update(module: Any, algorithm: Any, batch: Any, learners: int) -> list[dict[str, Any]]:
    learner = Learner(copy.deepcopy(module), copy.deepcopy(algorithm), LearnerConfig(lr=1e-2))
    data = learner.algorithm.postprocess(batch, learner.module)
    group = LearnerGroup(learner, learners) if learners > 1 else None
    try:
        torch.manual_seed(1)  # the minibatches' draw
        learner.update(data)
        if group is None:
            return [{"module": learner.module.state_dict(), "optimizer": learner.optimizer.state_dict()}]
        return group.gather()
    finally:
        if group is not None:
            group.close()


def test_two_learners_take_the_step_one_learner_takes_on_sequences() -> None:
    env = get_registry().get("env", "memory_cue")(num_envs=8, seed=0, num_cues=2, delay=2)
    model_config = {"encoder_config": {"hiddens": [32]}, "memory": "lstm"}
    spec = RLModuleSpec(ActorCriticModule, env.observation_spec, env.action_spec, model_config)
    torch.manual_seed(0)
    module = spec.build()
    # 8 sequences of 16 steps in minibatches of 3, 3 and 2 sequences, sharded 2 + 1 and 1 + 1: unequal shares,
    # weighted by their real (unpadded) steps.
    ppo = get_registry().get("algorithm", "ppo")({"num_epochs": 2, "minibatch_size": 43})
    rollout = Runner(env, copy.deepcopy(module), horizon=16).collect().clone()
    (single,) = _one_update(module, ppo, rollout, 1)
    ranks = _one_update(module, ppo, rollout, 2)
    for key, value in single["module"].items():
        assert torch.equal(ranks[0]["module"][key], ranks[1]["module"][key]), f"ranks differ at {key}"
        torch.testing.assert_close(ranks[0]["module"][key], value, rtol=1e-5, atol=1e-6, msg=key)
        assert not torch.equal(value, module.state_dict()[key]) or key.endswith("count"), f"{key} did not train"
    assert ranks[0]["optimizer"]["state"][0]["step"] == single["optimizer"]["state"][0]["step"]


def test_two_learners_train_a_multi_agent_module_as_one(tmp_path: Path) -> None:
    # Three modules sharing their policy encoder, in joint steps of about 4 samples: a module's slice of a step
    # is one or two rows, so rank 1 often has none of it (it steps on one row with share 0).
    mapping = {"policy_mapping": "{agent}", "shared": ["pi_encoder"]}
    config = {**QUIET, "env": "gather", "num_envs": 4, "horizon": 16, "multi_agent": mapping}
    config["algorithm_config"] = {"num_epochs": 2, "minibatch_size": 4}
    results = []
    for learners in (1, 2):
        with Trainer({**config, "scale": {"learners": learners}}) as trainer:
            trainer.step()
            results.append(trainer.module.state_dict())
            if learners == 2:
                assert trainer.learner_group is not None
                ranks = trainer.learner_group.gather()
                for key, value in ranks[0]["module"].items():
                    assert torch.equal(value, ranks[1]["module"][key]), key
    for key, value in results[0].items():
        torch.testing.assert_close(results[1][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_a_killed_learner_process_stops_the_run_with_a_checkpoint(tmp_path: Path) -> None:
    config = cartpole(tmp_path, scale={"learners": 2}, checkpoint={"dir": str(tmp_path / "ckpt"), "every": 1})
    with Trainer(config) as trainer:
        trainer.step()
        assert trainer.learner_group is not None
        os.kill(trainer.learner_group.link.processes[0].pid, signal.SIGKILL)
        with pytest.raises(RuntimeError) as info:
            trainer.run()
    message = str(info.value)
    assert message.startswith("scale.learners: learner process 1 (exit -9) stopped, so the update cannot go on ("), (
        message
    )
    assert message.endswith("); resume the run from its last checkpoint"), message
    assert trainer.saved_on_exit is not None
    assert trainer.saved_on_exit.name == "iter_000001"


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return copy.deepcopy(trainer.module.state_dict())


def _assert_same(weights: dict[str, torch.Tensor], trainer: Trainer) -> None:
    for key, value in weights.items():
        assert torch.equal(trainer.module.state_dict()[key], value), key


def test_checkpoints_move_between_distributed_and_single_process_runs(local_ray: Any, tmp_path: Path) -> None:
    distributed = ["scale.env_runners=2", "scale.learners=2"]
    with Trainer(cartpole(tmp_path, scale={"env_runners": 2, "learners": 2}, stop={"env_steps": 512})) as first:
        first.run()
        saved = first.save_checkpoint()
        at_save = _weights(first)
        # Saving asks nothing of the runners: the run goes on as if it had not saved.
        while first.env_steps < 768:
            first.step()
        straight = _weights(first)
    # Rank 0 alone writes: one run directory with one checkpoint, holding rank 0's weights.
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == [saved.parent.name]
    assert sorted(p.name for p in saved.parent.iterdir() if p.is_dir()) == [saved.name]

    # The same layout resumes exactly: the runners' envs, states and sampling continue.
    with Trainer.from_checkpoint(saved, overrides=[*distributed, "stop.env_steps=768"]) as resumed:
        _assert_same(at_save, resumed)
        resumed.run()
        for key, value in straight.items():
            torch.testing.assert_close(resumed.module.state_dict()[key], value, msg=key)
        assert resumed.learner_group is not None
        ranks = resumed.learner_group.gather()
        for key, value in resumed.module.state_dict().items():
            assert torch.equal(ranks[1]["module"][key], value), key

    # Distributed -> one process, and back.
    overrides = ["scale.env_runners=0", "scale.learners=1", "stop.env_steps=768"]
    with Trainer.from_checkpoint(saved, overrides=overrides) as single:
        _assert_same(at_save, single)
        single.run()
        assert single.env_steps == 768
        back = single.save_checkpoint(tmp_path / "single")
        at_back = _weights(single)
    with Trainer.from_checkpoint(back, overrides=["scale.env_runners=2", "stop.env_steps=1024"]) as again:
        _assert_same(at_back, again)
        again.run()
        assert again.env_steps == 1024


# --- Ray as an optional extra --------------------------------------------------------------------------------------


def test_without_ray_installed_runners_fail_in_one_line_naming_the_extra(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['ray'] = None\n"  # an import of ray now fails as if it were not installed
        "from rl8_core import Trainer, ConfigError\n"
        "base = {'env': 'cartpole', 'num_envs': 4, 'horizon': 8, 'tracking': {'enabled': False}, 'progress': 'none'}\n"
        "with Trainer(base) as t: t.step()\n"
        "print('ray' in sys.modules and sys.modules['ray'] is not None)\n"
        "try: Trainer({**base, 'scale': {'env_runners': 2}})\n"
        "except ConfigError as e: print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    imported, message = out.stdout.strip().splitlines()
    assert imported == "False"  # a run without env runners never imports Ray
    assert message == (
        "scale.env_runners: 2 env runners need Ray, which is not installed; "
        "install it with pip install 'rl8-core[ray]', or set scale.env_runners: 0"
    )
