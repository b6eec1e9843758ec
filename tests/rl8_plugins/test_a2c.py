"""A2C, the second built-in algorithm: its contract, its config, and learning CartPole from ``rl8 train`` by name."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import (
    BUILTIN_DISTRIBUTION,
    QUICKSTART,
    Algorithm,
    Columns,
    ConfigError,
    Registry,
    TrainConfig,
    compute_gae,
    get_registry,
    hookimpl,
    resolve_parts,
)
from rl8_core.testing import check_algorithm
from rl8_plugins.algorithms.a2c import A2C, A2CConfig
from rl8_plugins.algorithms.ppo import PPO
from rl8_plugins.algorithms.ppo import compute_gae as ppo_compute_gae
from specs import Box, Discrete

RL8 = str(Path(sys.executable).parent / "rl8")
#: Options that keep a CLI run quiet and self-contained (no MLflow store, no checkpoint in the working directory).
QUIET = ("--set", "progress=none", "--set", "tracking.enabled=false", "--set", "checkpoint.at_end=false")


def rl8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's ``rl8`` script as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    return subprocess.run([RL8, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_a2c_keeps_the_algorithm_contract_with_the_fallback_module() -> None:
    assert A2C.default_module() is None
    metrics = check_algorithm(get_registry().get("algorithm", "a2c"))
    assert {"losses/policy", "losses/value", "losses/entropy", "losses/total"} <= set(metrics)
    assert (metrics["learner/epochs"], metrics["learner/minibatches"]) == (1.0, 1.0)
    # Without a module in the config, the run trains the default algorithm's actor-critic module.
    parts = resolve_parts(TrainConfig.from_mapping({"algorithm": "a2c"}), get_registry())
    assert (parts.module_class, parts.algorithm_class) == (ActorCriticModule, A2C)


def test_the_config_validates_with_the_key_named() -> None:
    with pytest.raises(ConfigError, match=r"algorithm_config: unknown key 'ent_coeff' \(did you mean 'ent_coef'\?\)"):
        A2C({"ent_coeff": 0.1})
    with pytest.raises(ConfigError, match=r"algorithm_config\.gamma: must be <= 1, got 1\.5"):
        A2C({"gamma": 1.5})
    with pytest.raises(ConfigError, match=r"algorithm_config\.gae_lambda: expected float"):
        A2C({"gae_lambda": "high"})
    assert A2C().config == A2CConfig()
    assert (A2CConfig().gae_lambda, A2CConfig().num_epochs, A2CConfig().minibatch_size) == (1.0, 1, None)


def test_compute_gae_is_public_in_the_core_and_still_importable_from_ppo() -> None:
    assert ppo_compute_gae is compute_gae


def test_postprocess_bootstraps_truncations_but_not_terminations() -> None:
    module = ActorCriticModule(Box((3,)), Discrete(2))
    t, n = 3, 2
    obs = torch.randn(t, n, 3)
    with torch.no_grad():
        out = module.forward_exploration(TensorDict({Columns.OBS: obs.reshape(t * n, 3)}, [t * n]))
    rollout = out.reshape(t, n)
    done_at_1 = torch.zeros(t, n, dtype=torch.bool)
    done_at_1[1] = True
    rollout.update(
        {
            Columns.OBS: obs,
            Columns.NEXT_OBS: torch.randn(t, n, 3),
            Columns.REWARDS: torch.ones(t, n),
            Columns.TERMINATEDS: done_at_1 & torch.tensor([True, False]),  # env 0 terminates at step 1
            Columns.TRUNCATEDS: done_at_1 & torch.tensor([False, True]),  # env 1 is cut short there
        }
    )
    a2c = A2C({"gamma": 0.9})
    batch = a2c.postprocess(rollout.clone(), module)
    assert batch.batch_size == (t * n,)
    with torch.no_grad():
        next_v = module.forward_train(TensorDict({Columns.OBS: rollout[Columns.NEXT_OBS][1]}, [n]))[Columns.VF_PREDS]
    targets = batch[Columns.VALUE_TARGETS].reshape(t, n)
    # gae_lambda=1: the target of a last step is its reward plus the discounted bootstrap, if any.
    torch.testing.assert_close(targets[1, 0], torch.tensor(1.0))
    torch.testing.assert_close(targets[1, 1], 1.0 + 0.9 * next_v[1])
    adv = batch[Columns.ADVANTAGES].reshape(t, n)
    torch.testing.assert_close(adv, targets - rollout[Columns.VF_PREDS])


def test_the_loss_is_the_policy_gradient_plus_value_loss_minus_entropy() -> None:
    module = ActorCriticModule(Box((3,)), Discrete(2))
    obs = torch.randn(8, 3)
    with torch.no_grad():
        batch = module.forward_exploration(TensorDict({Columns.OBS: obs}, [8]))
    batch.set(Columns.OBS, obs)
    batch.set(Columns.ADVANTAGES, torch.randn(8))
    batch.set(Columns.VALUE_TARGETS, torch.randn(8))
    a2c = A2C({"vf_coef": 0.7, "ent_coef": 0.1})
    loss, stats = a2c.loss(module, batch)
    out = module.forward_train(batch)
    dist = module.make_action_dist(out[Columns.ACTION_DIST_INPUTS])
    policy = -(dist.logp(batch[Columns.ACTIONS]) * batch[Columns.ADVANTAGES]).mean()
    value = 0.5 * (out[Columns.VF_PREDS] - batch[Columns.VALUE_TARGETS]).square().mean()
    entropy = dist.entropy().mean()
    torch.testing.assert_close(loss, policy + 0.7 * value - 0.1 * entropy)
    assert set(stats) == {"losses/policy", "losses/value", "losses/entropy", "losses/total"}
    assert not any(v.requires_grad for v in stats.values())
    torch.testing.assert_close(stats["losses/value"], value.detach())


def test_the_quickstart_tuning_applies_to_a2c_only_when_it_is_the_algorithm() -> None:
    a2c = TrainConfig.quickstart(["algorithm=a2c"])
    assert (a2c.num_envs, a2c.horizon, a2c.learner.max_grad_norm) == (16, 8, None)
    assert a2c.algorithm_config["ent_coef"] == 0.01
    A2C(a2c.algorithm_config)  # the tuning is valid A2C options
    assert TrainConfig.quickstart() == TrainConfig.from_mapping(QUICKSTART)  # PPO's quickstart is unchanged
    assert TrainConfig.quickstart(["algorithm=a2c", "horizon=4"]).horizon == 4  # --set still wins


def test_help_lists_the_options_of_a2c_not_ppo(tmp_path: Path) -> None:
    proc = rl8("train", "--help", "--set", "algorithm=a2c", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "algorithm_config options of algorithm 'a2c'" in proc.stdout
    for option in ("gamma", "gae_lambda", "vf_coef", "ent_coef", "normalize_advantages", "num_epochs"):
        assert f"algorithm_config.{option} (" in proc.stdout, option
    assert "algorithm_config.gae_lambda (float, default 1.0)" in proc.stdout
    assert "clip_eps" not in proc.stdout


def test_rl8_plugins_lists_a2c_as_a_built_in(tmp_path: Path) -> None:
    proc = rl8("plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (a2c,) = [p for p in json.loads(proc.stdout) if p["name"] == "a2c"]
    assert (a2c["distribution"], a2c["status"], a2c["contributions"]) == ("rl8-core", "ok", {"algorithm": ["a2c"]})
    assert get_registry().info("algorithm", "a2c").distribution == BUILTIN_DISTRIBUTION


def test_the_name_a2c_is_reserved_for_the_built_in() -> None:
    class Impostor:
        @hookimpl
        def rl8_algorithms(self) -> dict[str, type[Algorithm]]:
            return {"a2c": PPO}

    registry = Registry()  # with the built-ins, from rl8-core's entry points
    info = registry.register_plugin(Impostor(), name="impostor")
    assert info.status == "failed"
    assert "registers algorithm 'a2c', reserved for the built-ins of rl8-core" in (info.reason or "")
    assert registry.get("algorithm", "a2c") is A2C


@pytest.mark.slow
def test_rl8_train_a2c_by_name_solves_cartpole(tmp_path: Path) -> None:
    """The quickstart with ``--set algorithm=a2c`` on the torch-native CartPole-v1: solved, not just run.

    One thread: the networks are tiny, so more threads only add overhead, and the
    run is the same on every machine. Seeds 0, 1 and 2 stop at 85k, 58k and 36k
    env steps with a greedy evaluation return of 500, in 12-24 s on two (shared) cores.
    """
    one_thread = ("--set", "seed=0", "--set", "num_threads=1")
    proc = rl8("train", "--set", "algorithm=a2c", "--set", "env=cartpole", *one_thread, *QUIET, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["counters/env_steps"] < 200_000, result  # stopped by the return, not by the step budget
    assert result["episodes/return_mean"] >= 475.0, result
    assert result["eval/return_mean"] >= 475.0, result
    assert "losses/value" in result


def test_docs_algorithms_md_lists_every_option_with_its_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "algorithms.md").read_text()
    section = text[text.index("## A2C's options") :]
    cells = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    rows = {cell[1].strip(): cell[2].strip() for cell in cells}
    shown = {"True": "true", "None": "null"}
    for field in dataclasses.fields(A2CConfig):
        assert f"`{field.name}`" in rows, f"docs/algorithms.md: no row for A2CConfig.{field.name}"
        default = str(field.default)
        assert rows[f"`{field.name}`"] == f"`{shown.get(default, default)}`", field.name
