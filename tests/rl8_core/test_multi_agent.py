"""Multi-agent modules, mapping, runner, learner and trainer on the torch-native ``gather`` and ``duel`` envs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import (
    AlgorithmGroup,
    ConfigError,
    Learner,
    LearnerConfig,
    MultiRLModule,
    MultiRLModuleSpec,
    RLModule,
    RLModuleSpec,
    Trainer,
    get_registry,
    load_module,
    make_env,
    map_agents,
)
from rl8_core.cli import main
from specs import Box, Discrete, SpecError
from tests.rl8_core.test_trainer import assert_same_metrics


def two_modules(shared: tuple[str, ...] = ()) -> MultiRLModule:
    spec = RLModuleSpec(ActorCriticModule, Box((4,)), Discrete(3), {"encoder_config": {"hiddens": [16]}})
    return MultiRLModuleSpec({"red": spec, "blue": spec}, shared=shared).build()


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "env": "gather",
        "num_envs": 4,
        "horizon": 8,
        "algorithm_config": {"num_epochs": 2, "minibatch_size": 32},
        "tracking": {"enabled": False},
        "progress": "none",
        "device": "cpu",
        "checkpoint": {"dir": str(tmp_path / "ckpt")},
        "seed": 3,
        **extra,
    }


def test_forwards_are_keyed_by_module_id_and_each_module_checks_its_own_specs() -> None:
    multi = two_modules()
    out = multi.forward_exploration(
        TensorDict(
            {"red": TensorDict({"obs": torch.zeros(5, 4)}, [5]), "blue": TensorDict({"obs": torch.zeros(2, 4)}, [2])},
            [],
        )
    )
    assert out["red", "actions"].shape == (5,)
    assert out["blue", "action_logp"].shape == (2,)
    wrong_width = r"(?s)module 'blue': ActorCriticModule.forward_inference input .*'obs'.*expected 4, got 3"
    with pytest.raises(SpecError, match=wrong_width):
        multi.forward_inference(TensorDict({"blue": TensorDict({"obs": torch.zeros(2, 3)}, [2])}, []))
    with pytest.raises(SpecError, match=r"(?s)module 'red': .*'obs'.*dtype"):
        multi.forward_train(TensorDict({"red": TensorDict({"obs": torch.zeros(2, 4, dtype=torch.int64)}, [2])}, []))
    with pytest.raises(SpecError, match=r"(?s)module 'red': .*'obs': missing key"):
        multi.forward_train(TensorDict({"red": TensorDict({"x": torch.zeros(2, 4)}, [2])}, []))
    with pytest.raises(SpecError, match=r"no module 'green'; the modules are \['red', 'blue'\]"):
        multi.forward_train(TensorDict({"green": TensorDict({"obs": torch.zeros(2, 4)}, [2])}, []))


def test_module_ids_must_be_simple_names() -> None:
    module = ActorCriticModule(Box((4,)), Discrete(2))
    with pytest.raises(ConfigError, match=r"'a\.b' is not a valid id"):
        MultiRLModule({"a.b": module})


def test_shared_parts_are_one_object_listed_once() -> None:
    multi = two_modules(shared=("pi_encoder",))
    assert multi["red"].pi_encoder is multi["blue"].pi_encoder
    ids = [id(p) for p in multi.parameters()]
    assert len(ids) == len(set(ids))
    shared = {id(p) for p in multi["red"].pi_encoder.parameters()}
    own = {id(p) for p in multi["red"].parameters()} | {id(p) for p in multi["blue"].parameters()}
    assert len(own) == len(ids)
    assert shared <= own
    with pytest.raises(ConfigError, match=r"module 'red' \(ActorCriticModule\) has no part 'encoder'; its parts are: "):
        two_modules(shared=("encoder",))
    small = RLModuleSpec(ActorCriticModule, Box((4,)), Discrete(3), {"encoder_config": {"hiddens": [16]}})
    wide = RLModuleSpec(ActorCriticModule, Box((6,)), Discrete(3), {"encoder_config": {"hiddens": [16]}})
    with pytest.raises(ConfigError, match=r"modules 'a' and 'b' cannot share 'pi_encoder'"):
        MultiRLModuleSpec({"a": small, "b": wide}, shared=["pi_encoder"]).build()


def test_a_shared_encoder_gets_the_sum_of_both_modules_gradients_once() -> None:
    torch.manual_seed(0)
    multi = two_modules(shared=("pi_encoder",))
    ppo = get_registry().get("algorithm", "ppo")
    options = {"num_epochs": 1, "minibatch_size": None, "normalize_advantages": False}
    group = AlgorithmGroup({"red": ppo(options), "blue": ppo(options)})
    learner = Learner(multi, group, LearnerConfig(max_grad_norm=None))
    shared = list(multi["red"].pi_encoder.parameters())
    in_optimizer = [p for g in learner.optimizer.param_groups for p in g["params"]]
    assert sum(p is shared[0] for p in in_optimizer) == 1

    def batch(rows: int, seed: int) -> TensorDict:
        gen = torch.Generator().manual_seed(seed)
        return TensorDict(
            {
                "obs": torch.randn(rows, 4, generator=gen),
                "actions": torch.randint(0, 3, (rows,), generator=gen),
                "action_logp": torch.full((rows,), -1.1),
                "vf_preds": torch.zeros(rows),
                "advantages": torch.randn(rows, generator=gen),
                "value_targets": torch.randn(rows, generator=gen),
            },
            [rows],
        )

    batches = {"red": batch(6, 1), "blue": batch(9, 2)}
    expected = []
    for mid in ("red", "blue"):
        multi.zero_grad()
        loss, _ = group.algorithms[mid].loss(multi[mid], batches[mid])
        loss.backward()
        expected.append([p.grad.clone() for p in shared])
    multi.zero_grad()
    seen: list[list[torch.Tensor]] = []
    learner.optimizer.register_step_pre_hook(lambda *_: seen.append([p.grad.clone() for p in shared]))
    learner.update(TensorDict(batches, []))
    assert len(seen) == 1  # one joint optimiser step
    for got, red, blue in zip(seen[0], *expected, strict=True):
        torch.testing.assert_close(got, red + blue)


def test_policy_mapping_forms_and_errors() -> None:
    agents = ["adversary_0", "agent_0", "agent_1"]
    assert set(map_agents(agents, None).values()) == {"default"}
    assert map_agents(agents, {"agent_0": "solo", "*": "rest"}) == {
        "adversary_0": "rest",
        "agent_0": "solo",
        "agent_1": "rest",
    }
    assert map_agents(agents, "team_{index}")["agent_1"] == "team_2"
    assert map_agents(agents, "tests.rl8_core.test_multi_agent:side") == {
        "adversary_0": "red",
        "agent_0": "blue",
        "agent_1": "blue",
    }
    with pytest.raises(ConfigError, match=r"'agnet_\*' matches no agent of the env; its agents are"):
        map_agents(agents, {"agnet_*": "x", "*": "y"})
    with pytest.raises(ConfigError, match=r"agent 'adversary_0' is mapped to no module"):
        map_agents(agents, {"agent_*": "x"})
    with pytest.raises(ConfigError, match=r"'a\.b' is not a valid id"):
        map_agents(agents, "a.b")


def side(agent: str) -> str:
    """A policy mapping function for the test above."""
    return "red" if agent.startswith("adversary") else "blue"


def test_the_rollout_masks_steps_of_agents_that_left(tmp_path: Path) -> None:
    trainer = Trainer(config(tmp_path, horizon=16))
    rollout = trainer.runner.collect()["default"]
    mask = rollout["loss_mask"]
    assert not bool(mask.all()), "gather's agents leave at different times"
    left = ~mask
    assert bool(rollout["terminateds"][left].all())
    assert bool((rollout["rewards"][left] == 0).all())
    trainer.close()


def test_a_run_resumes_exactly_and_its_modules_load_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, multi_agent={"policy_mapping": {"agent_0": "lead", "*": "rest"}, "shared": ["pi_encoder"]})
    whole = Trainer(cfg)
    expected = [whole.step() for _ in range(4)]
    assert {"episodes/return_mean/lead", "losses/policy/rest", "agents/return_mean/agent_2"} <= set(expected[-1])
    first = Trainer(cfg)
    first.step()
    first.step()
    path = first.save_checkpoint()
    first.close()
    resumed = Trainer.from_checkpoint(path)
    assert resumed.module["lead"].pi_encoder is resumed.module["rest"].pi_encoder
    for a, b in zip(expected[2:], [resumed.step(), resumed.step()], strict=True):
        assert_same_metrics(a, b)
    for key, value in whole.module.state_dict().items():
        torch.testing.assert_close(resumed.module.state_dict()[key], value)
    whole.close()
    resumed.close()
    # The whole restores as a MultiRLModule; each policy alone as an RLModule that acts.
    multi = load_module(path / "module")
    assert isinstance(multi, MultiRLModule)
    assert multi.keys() == ["lead", "rest"]
    lead = RLModule.from_checkpoint(path / "module" / "lead")
    obs = torch.zeros(2, 3)
    torch.testing.assert_close(
        lead.forward_inference(TensorDict({"obs": obs}, [2]))["actions"],
        multi["lead"].forward_inference(TensorDict({"obs": obs}, [2]))["actions"],
    )
    # ``rl8 eval`` reports each module; ``rl8 export`` writes one policy.
    assert main(["eval", str(path), "--episodes", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 episodes: return" in out
    assert "module lead: return" in out
    assert "module rest: return" in out
    assert main(["export", str(path), str(tmp_path / "model")]) == 2
    assert "export one policy with --module ID (lead, rest)" in capsys.readouterr().err
    assert main(["export", str(path), str(tmp_path / "model"), "--module", "lead"]) == 0
    assert (tmp_path / "model" / "MLmodel").is_file()


def test_frozen_modules_act_but_do_not_change(tmp_path: Path) -> None:
    trainer = Trainer(
        config(tmp_path, env="duel", multi_agent={"policy_mapping": "{agent}", "modules_to_train": ["player_0"]})
    )
    before = {k: v.clone() for k, v in trainer.module["player_1"].state_dict().items()}
    trained = {k: v.clone() for k, v in trainer.module["player_0"].state_dict().items()}
    result = trainer.step()
    trainer.step()
    for key, value in trainer.module["player_1"].state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert any(not torch.equal(v, trained[k]) for k, v in trainer.module["player_0"].state_dict().items())
    assert "losses/policy/player_0" in result
    assert "losses/policy/player_1" not in result
    trainer.close()


def test_a_frozen_module_starts_from_a_saved_snapshot(tmp_path: Path) -> None:
    first = Trainer(config(tmp_path, env="duel", multi_agent={"policy_mapping": "{agent}"}))
    first.step()
    snapshot = first.save_checkpoint() / "module" / "player_0"
    first.close()
    opponent = {"checkpoint": str(snapshot)}
    cfg = config(
        tmp_path,
        env="duel",
        multi_agent={"policy_mapping": "{agent}", "modules": {"player_1": opponent}, "modules_to_train": ["player_0"]},
    )
    trainer = Trainer(cfg)
    saved = RLModule.from_checkpoint(snapshot).state_dict()
    for key, value in trainer.module["player_1"].state_dict().items():
        torch.testing.assert_close(value, saved[key])
    trainer.close()


@pytest.mark.parametrize(
    ("multi_agent", "message"),
    [
        ({"modules_to_train": ["nobody"]}, r"modules_to_train: no module 'nobody'; the modules are \['default'\]"),
        ({"modules": {"ghost": {}}}, r"multi_agent.modules.ghost: no agent is mapped to module 'ghost'"),
        ({"modules": {"default": {"checkpoint": "/nowhere"}}}, r"modules.default.checkpoint: cannot load /nowhere"),
        ({"shared": ["trunk"]}, r"no part 'trunk'"),
        ({"policy_mapping": {"agent_0": "x"}}, r"agent 'agent_1' is mapped to no module"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_key(tmp_path: Path, multi_agent: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Trainer(config(tmp_path, multi_agent=multi_agent))
    assert "\n" not in str(info.value)


def test_the_cli_reports_a_bad_multi_agent_config_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["train", "--set", "env=gather", "--set", "multi_agent.modules_to_train=[nobody]", "--set", "progress=none"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no module 'nobody'" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_agent_id_obs_appends_a_one_hot(tmp_path: Path) -> None:
    trainer = Trainer(config(tmp_path, multi_agent={"agent_id_obs": True}))
    assert tuple(trainer.module["default"].observation_spec.shape) == (6,)
    obs = trainer.runner.collect()["default"]["obs"]
    n = trainer.config.num_envs
    assert obs[0, n : 2 * n, 3:].tolist() == [[0.0, 1.0, 0.0]] * n
    trainer.close()


def test_per_module_minibatches_step_each_module_on_its_own(tmp_path: Path) -> None:
    def modules_per_step(minibatches: str) -> list[list[str]]:
        multi_agent = {"policy_mapping": "{agent}", "minibatches": minibatches}
        trainer = Trainer(config(tmp_path, env="duel", multi_agent=multi_agent))
        seen: list[list[str]] = []

        def record(*_: Any) -> None:
            seen.append([m for m, mod in trainer.module.items() if any(p.grad is not None for p in mod.parameters())])

        trainer.learner.optimizer.register_step_pre_hook(record)
        trainer.step()
        trainer.close()
        return seen

    assert modules_per_step("joint") == [["player_0", "player_1"]] * 4
    assert sorted(modules_per_step("per_module")) == [["player_0"]] * 2 + [["player_1"]] * 2


def test_multi_agent_runs_log_one_mlflow_model_per_module(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        multi_agent={"policy_mapping": {"agent_0": "lead", "*": "rest"}},
        stop={"env_steps": 32},
        tracking={"enabled": True, "uri": f"sqlite:///{tmp_path}/mlflow.db", "log_curves": False},
    )
    with Trainer(cfg) as trainer:
        trainer.run()
        run_id = trainer.run_id
    import mlflow

    model = mlflow.pyfunc.load_model(
        f"runs:/{run_id}/model_rest",
    )
    frame = model.predict({"obs": [[0.0, 0.5, 1.0]]})
    assert list(frame.columns) == ["actions"]
    assert json.loads(json.dumps(frame["actions"].tolist()))[0] in (0, 1, 2)


def test_a_nan_from_a_multi_agent_env_names_the_module(tmp_path: Path) -> None:
    env = make_env("gather", num_envs=2, seed=0)
    assert env.agents == ("agent_0", "agent_1", "agent_2")
    cfg = config(tmp_path, env="tests.rl8_core.test_multi_agent:nan_gather")
    with pytest.raises(Exception, match=r"returned NaN or inf to the agents of module 'default'"):
        Trainer(cfg).step()


def nan_gather(num_envs: int = 1, seed: int | None = None, device: Any = "cpu") -> Any:
    """``gather`` whose rewards turn NaN on the third step: a real env returning NaN."""
    env = make_env("gather", num_envs=num_envs, seed=seed, device=device)
    step, count = env.step, [0]

    def bad_step(actions: Any) -> Any:
        out = step(actions)
        count[0] += 1
        if count[0] == 3:
            out["agent_1", "rewards"][0] = float("nan")
        return out

    env.step = bad_step  # type: ignore[method-assign]
    return env


def test_stateful_modules_act_train_resume_and_evaluate_in_a_multi_agent_run(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        multi_agent={"policy_mapping": "{agent}"},
        model_config={"memory": "gru", "memory_config": {"hidden": 8}},
        learner={"seq_len": 4},
    )
    whole = Trainer(cfg)
    assert whole.module["agent_0"].is_stateful
    rollout = whole.runner.collect()["agent_1"]
    assert rollout["state_in", "pi", "h"].shape[:2] == (8, 4)
    whole.close()
    whole = Trainer(cfg)
    expected = [whole.step() for _ in range(3)]
    first = Trainer(cfg)
    first.step()
    path = first.save_checkpoint()
    first.close()
    resumed = Trainer.from_checkpoint(path)
    for a, b in zip(expected[1:], [resumed.step(), resumed.step()], strict=True):
        assert_same_metrics(a, b)
    assert resumed.eval(episodes=4)["eval/episodes"] == 4
    whole.close()
    resumed.close()


def test_an_env_output_with_an_agent_it_does_not_declare_is_refused_naming_it() -> None:
    env = make_env("gather", num_envs=2, seed=0)
    out = env.reset()
    out["agent_9"] = TensorDict({"obs": torch.zeros(2, 3)}, [2])
    with pytest.raises(SpecError, match=r"'agent_9': not one of the env's agents \['agent_0', 'agent_1', 'agent_2'\]"):
        env.check_output(out, method="reset")
    out = env.step(TensorDict({a: torch.ones(2, dtype=torch.int64) for a in env.agents}, [2]))
    del out["agent_1", "rewards"]
    with pytest.raises(SpecError, match=r"'agent_1\.rewards': missing key"):
        env.check_output(out)
