"""Stateful modules: the runner's state handling, sequences, training, checkpoints and spec errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticCatalog, ActorCriticModule
from rl8_core import (
    Columns,
    ConfigError,
    Learner,
    LearnerConfig,
    RLModule,
    Runner,
    Trainer,
    cut_sequences,
    get_registry,
    make_env,
    valid_steps,
)
from rl8_core.cli import main
from specs import FLOAT_DTYPES, SpecError, TensorShape
from tests.rl8_core.test_trainer import assert_same_metrics

MEMORIES = ["lstm", "gru", "attention"]


class StepCounter(RLModule):
    """A stateful module whose state counts the steps since its env's last reset; it acts uniformly at random."""

    default_catalog_class = ActorCriticCatalog

    def setup(self) -> None:
        self.logits = torch.nn.Parameter(torch.zeros(self.num_action_dist_inputs))

    def get_initial_state(self) -> TensorDictBase:
        return TensorDict({"count": {"steps": torch.zeros((), dtype=torch.int64)}}, batch_size=[])

    def _outputs(self, batch: TensorDictBase, dims: torch.Size) -> dict[str, Any]:
        return {
            Columns.ACTION_DIST_INPUTS: self.logits.expand(*dims, -1),
            Columns.VF_PREDS: self.logits.sum() * torch.zeros(dims),
        }

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        steps = batch.get((Columns.STATE_IN, "count", "steps"))
        out = self._outputs(batch, batch.batch_size)
        out[Columns.STATE_OUT] = {"count": {"steps": steps + 1}}
        return TensorDict(out, batch_size=batch.batch_size)

    _forward_inference = _forward_exploration

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        dims = batch.get(Columns.OBS).shape[:2]
        return TensorDict(self._outputs(batch, dims), batch_size=batch.batch_size)

    def output_specs_train(self) -> Any:
        return super().output_specs_train().merge({Columns.VF_PREDS: TensorShape("b, t", dtype=FLOAT_DTYPES)})


def memory_module(memory: str, env: Any, **config: Any) -> ActorCriticModule:
    options = {"window": 6, "dim": 16} if memory == "attention" else {"hidden": 16}
    return ActorCriticModule(
        env.observation_spec,
        env.action_spec,
        {"memory": memory, "memory_config": options, "encoder_config": {"hiddens": [16]}, **config},
    )


@settings(max_examples=15, deadline=None)
@given(
    horizon=st.integers(1, 9),
    max_steps=st.integers(1, 8),
    num_envs=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_every_stored_state_counts_the_steps_since_its_envs_last_reset(
    horizon: int, max_steps: int, num_envs: int, seed: int
) -> None:
    # Truncations every max_steps steps, terminations from random actions, rollouts that end mid-episode.
    env = make_env("cartpole", {"max_episode_steps": max_steps}, num_envs=num_envs, seed=seed)
    runner = Runner(env, StepCounter(env.observation_spec, env.action_spec), horizon=horizon, seed=seed)
    expected = torch.zeros(num_envs, dtype=torch.int64)
    ends = 0
    for _ in range(2 * max_steps // horizon + 2):
        rollout = runner.collect()
        stored = rollout.get((Columns.STATE_IN, "count", "steps"))
        after = rollout.get((Columns.STATE_OUT, "count", "steps"))
        for t in range(horizon):
            assert stored[t].tolist() == expected.tolist()
            assert after[t].tolist() == (expected + 1).tolist()
            done = rollout.get(Columns.TERMINATEDS)[t] | rollout.get(Columns.TRUNCATEDS)[t]
            ends += int(done.sum())
            expected = torch.where(done, 0, expected + 1)
    assert ends > 0


@pytest.mark.parametrize("memory", MEMORIES)
def test_training_sequences_give_what_acting_step_by_step_gave(memory: str) -> None:
    # Episodes end inside the rollout (max 7 steps): sequences are cut there and restart from the initial state.
    env = make_env("cartpole", {"max_episode_steps": 7}, num_envs=3, seed=1)
    module = memory_module(memory, env)
    rollout = Runner(env, module, horizon=20, seed=1).collect()
    assert bool((rollout.get(Columns.TERMINATEDS) | rollout.get(Columns.TRUNCATEDS)).any())
    sequences = cut_sequences(rollout, seq_len=5)
    assert bool((~sequences.get(Columns.LOSS_MASK)).any())  # some padding
    with torch.no_grad():
        steps, out = valid_steps(sequences, module.forward_train(sequences))
    assert steps.batch_size[0] == 60
    torch.testing.assert_close(out.get(Columns.VF_PREDS), steps.get(Columns.VF_PREDS), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        out.get(Columns.ACTION_DIST_INPUTS), steps.get(Columns.ACTION_DIST_INPUTS), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("memory", MEMORIES)
def test_forward_train_on_a_sequence_equals_step_by_step_exploration(memory: str) -> None:
    env = make_env("cartpole", num_envs=2, seed=0)
    module = memory_module(memory, env)
    obs = torch.randn(2, 9, 4)
    state = module.initial_state(2)
    state.get("pi").apply_(lambda x: x.float().normal_().to(x.dtype) if x.is_floating_point() else x.fill_(True))
    state_in = state.clone()
    stepped = []
    with torch.no_grad():
        for t in range(9):
            out = module.forward_exploration(TensorDict({Columns.OBS: obs[:, t], Columns.STATE_IN: state}, [2]))
            stepped.append(out.get(Columns.VF_PREDS))
            state = out.get(Columns.STATE_OUT)
        train = module.forward_train(TensorDict({Columns.OBS: obs, Columns.STATE_IN: state_in}, [2]))
    torch.testing.assert_close(train.get(Columns.VF_PREDS), torch.stack(stepped, 1), rtol=1e-4, atol=1e-5)


def test_cut_sequences_splits_at_episode_ends_and_every_seq_len_steps() -> None:
    done = torch.zeros(7, 2, dtype=torch.bool)
    done[2, 0] = True  # env 0: episodes of steps 0-2 and 3-6
    batch = TensorDict(
        {
            Columns.OBS: torch.arange(14.0).view(7, 2, 1),
            Columns.TERMINATEDS: done,
            Columns.TRUNCATEDS: torch.zeros(7, 2, dtype=torch.bool),
            Columns.STATE_IN: {"h": torch.arange(14.0).view(7, 2, 1)},
            Columns.STATE_OUT: {"h": torch.zeros(7, 2, 1)},
        },
        [7, 2],
    )
    seqs = cut_sequences(batch, seq_len=3)
    # env 0: [0, 1, 2], [3, 4, 5], [6]; env 1: [0, 1, 2], [3, 4, 5], [6] (obs = 2 * step + env)
    assert seqs.get(Columns.OBS)[..., 0].tolist() == [
        [0.0, 2.0, 4.0],
        [6.0, 8.0, 10.0],
        [12.0, 12.0, 12.0],
        [1.0, 3.0, 5.0],
        [7.0, 9.0, 11.0],
        [13.0, 13.0, 13.0],
    ]
    assert seqs.get(Columns.LOSS_MASK).sum(1).tolist() == [3, 3, 1, 3, 3, 1]
    assert seqs.get((Columns.STATE_IN, "h"))[:, 0].tolist() == [0.0, 6.0, 12.0, 1.0, 7.0, 13.0]
    assert Columns.STATE_OUT not in seqs
    done[1, 1] = True  # env 1 ends at step 1: [0, 1], [2, 3, 4], [5, 6]
    seqs = cut_sequences(batch, seq_len=3)
    assert seqs.get(Columns.LOSS_MASK).sum(1).tolist() == [3, 3, 1, 2, 3, 2]


@pytest.mark.parametrize("memory", MEMORIES)
def test_a_memory_module_trains_with_ppo_and_evaluates(memory: str) -> None:
    options = {"window": 4, "dim": 16} if memory == "attention" else {"hidden": 16}
    trainer = Trainer(
        {
            "env": "cartpole",
            "env_config": {"mask_velocity": True},
            "num_envs": 4,
            "horizon": 16,
            "model_config": {"memory": memory, "memory_config": options},
            "learner": {"seq_len": 4},
            "algorithm_config": {"num_epochs": 2, "minibatch_size": 32},
            "check_specs": "always",
            "tracking": {"enabled": False},
            "progress": "none",
        }
    )
    result = trainer.step()
    assert result["learner/minibatches"] >= 2
    assert torch.isfinite(torch.tensor(result["losses/total"]))
    assert trainer.eval(episodes=2)["eval/episodes"] == 2
    trainer.close()


@pytest.mark.parametrize(
    "changes",
    [
        {"algorithm_config": {"vf_clip": 0.2, "dual_clip": 3.0, "target_kl": 0.001, "num_epochs": 3}},
        {"learner": {"grad_accumulation": 2, "amp": "bf16", "seq_len": 4}},
        {  # the LSTM reads the raw float32 observation under bf16 autocast
            "learner": {"amp": "bf16"},
            "model_config": {"memory": "lstm", "encoder_config": {"hiddens": []}, "shared_encoder": True},
        },
        {"algorithm": "a2c"},
    ],
    ids=["clipping-target-kl", "accumulation-bf16", "bf16-raw-obs", "a2c"],
)
def test_every_ppo_option_and_a2c_run_on_a_stateful_module(changes: dict[str, Any]) -> None:
    config: dict[str, Any] = {
        "env": "cartpole",
        "num_envs": 4,
        "horizon": 16,
        "model_config": {"memory": "lstm", "memory_config": {"hidden": 8}},
        "tracking": {"enabled": False},
        "progress": "none",
    }
    config.update(changes)
    with Trainer(config) as trainer:
        result = trainer.step()
    assert torch.isfinite(torch.tensor(result["losses/total"]))


def test_gradient_accumulation_counts_real_steps_only() -> None:
    env = make_env("cartpole", {"max_episode_steps": 5}, num_envs=3, seed=2)
    grads = []
    for accumulate in (1, 3):
        torch.manual_seed(0)
        module = memory_module("gru", env)
        ppo = get_registry().get("algorithm", "ppo")({"num_epochs": 1, "minibatch_size": None})
        learner = Learner(module, ppo, LearnerConfig(seq_len=4, grad_accumulation=accumulate, max_grad_norm=None))
        torch.manual_seed(1)
        batch = ppo.postprocess(Runner(env, module, horizon=12, seed=2).collect(), module)
        learner.optimizer.step = lambda *a, **k: None  # type: ignore[method-assign]  # keep the gradients
        learner.optimizer.zero_grad = lambda *a, **k: None  # type: ignore[method-assign]
        learner.update(batch)
        grads.append([p.grad.clone() for p in module.parameters() if p.grad is not None])
    for one, three in zip(*grads, strict=True):
        torch.testing.assert_close(one, three, rtol=1e-4, atol=1e-6)


def test_a_stateful_module_needs_a_batch_it_can_cut() -> None:
    env = make_env("cartpole", num_envs=2, seed=0)
    module = memory_module("lstm", env)
    ppo = get_registry().get("algorithm", "ppo")()
    batch = ppo.postprocess(Runner(env, module, horizon=4).collect(), module)
    with pytest.raises(ConfigError, match=r"stateful and trains on sequences.*\[8\]"):
        Learner(module, ppo).update(batch.reshape(-1))


@pytest.mark.parametrize("memory", MEMORIES)
def test_a_recurrent_run_resumes_exactly_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], memory: str
) -> None:
    options = {"window": 3, "dim": 8, "num_heads": 1} if memory == "attention" else {"hidden": 8}
    config = {
        "env": "cartpole",
        "env_config": {"mask_velocity": True},
        "num_envs": 3,
        "horizon": 10,
        "model_config": {"memory": memory, "memory_config": options},
        "learner": {"seq_len": 4},
        "algorithm_config": {"num_epochs": 2, "minibatch_size": 12},
        "tracking": {"enabled": False},
        "progress": "none",
        "checkpoint": {"dir": str(tmp_path / "ckpt")},
        "seed": 3,
    }
    whole = Trainer(config)
    expected = [whole.step() for _ in range(4)]
    first = Trainer(config)
    first.step()
    first.step()
    path = first.save_checkpoint()
    first.close()
    resumed = Trainer.from_checkpoint(path)
    for a, b in zip(expected[2:], [resumed.step(), resumed.step()], strict=True):
        assert_same_metrics(a, b)
    torch.testing.assert_close(
        resumed.runner.state_dict()["state"].to_dict(), whole.runner.state_dict()["state"].to_dict()
    )
    module = RLModule.from_checkpoint(path / "module")
    assert module.is_stateful
    assert sorted(module.get_initial_state().keys()) == ["pi", "vf"]
    whole.close()
    resumed.close()
    # ``rl8 eval`` carries the state through its episodes too.
    assert main(["eval", str(path), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["eval/episodes"] == 2


def test_state_spec_errors_name_the_key() -> None:
    env = make_env("cartpole", num_envs=2, seed=0)
    module = memory_module("lstm", env)
    obs = torch.zeros(2, 4)
    with pytest.raises(SpecError, match=r"'state_in\.pi\.h': missing key \(expected tensor \[b, 1, 16\]"):
        module.forward_exploration(TensorDict({Columns.OBS: obs}, [2]))
    state = module.initial_state(2)
    state.set(("vf", "c"), torch.zeros(2, 1, 15))
    with pytest.raises(SpecError, match=r"'state_in\.vf\.c'.*16.*15"):
        module.forward_inference(TensorDict({Columns.OBS: obs, Columns.STATE_IN: state}, [2]))
    with pytest.raises(SpecError, match=r"'obs'"):
        module.forward_train(TensorDict({Columns.OBS: obs, Columns.STATE_IN: module.initial_state(2)}, [2]))


def test_catalog_builds_memory_by_switch_or_by_name() -> None:
    env = make_env("cartpole", num_envs=2, seed=0)
    by_switch = ActorCriticModule(
        env.observation_spec,
        env.action_spec,
        {"memory": "gru", "memory_config": {"hidden": 24}, "encoder_config": {"hiddens": [32]}, "shared_encoder": True},
    )
    assert type(by_switch.pi_encoder).__name__ == "GRUEncoder"
    assert by_switch.pi_encoder.output_dim == 24
    assert by_switch.pi_encoder.inner.output_dim == 32
    assert sorted(by_switch.get_initial_state().keys()) == ["pi"]
    by_name = ActorCriticModule(
        env.observation_spec,
        env.action_spec,
        {"encoder": "lstm", "encoder_config": {"inner": "mlp", "inner_config": {"hiddens": [8]}, "hidden": 12}},
    )
    assert by_name.pi_encoder.output_dim == 12
    assert by_name.pi_encoder.inner.output_dim == 8
    assert by_name.vf_encoder is not None
    assert by_name.vf_encoder is not by_name.pi_encoder


@pytest.mark.parametrize(
    ("model_config", "message"),
    [
        (
            {"memory": "lstm", "memory_config": {"hiden": 8}},
            r"model_config\.memory_config\.hiden.*did you mean 'hidden'",
        ),
        ({"memory": "lstm", "encoder_config": {"hiden": [8]}}, r"model_config\.encoder_config\.hiden: encoder 'mlp'"),
        ({"memory": "mlp"}, r"model_config\.memory: encoder 'mlp'.* is not a memory encoder"),
        ({"memory": "lstm", "memory_config": {"inner": "lstm"}}, r"itself a memory encoder"),
        (
            {"encoder": "gru", "encoder_config": {"inner_config": {"hiden": 8}}},
            r"model_config\.encoder_config\.inner_config\.hiden",
        ),
    ],
)
def test_memory_config_errors_name_the_option(model_config: dict[str, Any], message: str) -> None:
    env = make_env("cartpole", num_envs=2, seed=0)
    with pytest.raises(ConfigError, match=message):
        ActorCriticModule(env.observation_spec, env.action_spec, model_config)


@pytest.mark.parametrize("env_name", ["dict_cartpole", "pixels"])
def test_memory_wraps_composite_and_image_encoders(env_name: str) -> None:
    if env_name == "dict_cartpole":
        env = make_env("cartpole", {"dict_obs": True}, num_envs=2, seed=0)
    else:
        env = make_env("pixels", num_envs=2, seed=0)
    module = ActorCriticModule(env.observation_spec, env.action_spec, {"memory": "lstm"})
    rollout = Runner(env, module, horizon=3).collect()
    out = module.forward_train(cut_sequences(rollout, 3))
    assert out.get(Columns.VF_PREDS).shape == (2, 3)
