"""TrainConfig: files, overrides, and errors that name the bad key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl8_core import ConfigError, TrainConfig, apply_overrides, get_registry, resolve_parts


def test_defaults_train_cartpole_with_ppo() -> None:
    cfg = TrainConfig()
    assert (cfg.env, cfg.algorithm) == ("CartPole-v1", "ppo")


def test_yaml_and_json_files_with_overrides(tmp_path: Path) -> None:
    y = tmp_path / "run.yaml"
    y.write_text("env: cartpole\nnum_envs: 16\nlearner:\n  lr: 1.0e-3\nstop:\n  env_steps: 1e5\n")
    cfg = TrainConfig.from_file(y, ["learner.max_grad_norm=null", "algorithm_config.clip_eps=0.1", "seed=3"])
    assert cfg.env == "cartpole"
    assert cfg.num_envs == 16
    assert cfg.learner.lr == 1e-3
    assert cfg.learner.max_grad_norm is None
    assert cfg.stop.env_steps == 100_000  # "1e5" is a string in YAML 1.1; numbers are accepted
    assert cfg.algorithm_config == {"clip_eps": 0.1}
    assert cfg.seed == 3
    j = tmp_path / "run.json"
    j.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_file(j) == cfg


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = TrainConfig.from_mapping({"env": "pendulum", "learner": {"lr_schedule": [[0, 1e-3], [1000, 0.0]]}})
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert TrainConfig.from_file(path) == cfg


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lerner": {}}, r"unknown key 'lerner' \(did you mean 'learner'\?\)"),
        ({"learner": {"lrr": 1}}, r"c\.yaml\.learner: unknown key 'lrr' \(did you mean 'lr'\?\)"),
        ({"num_envs": "many"}, r"c\.yaml\.num_envs: expected int, got 'many' \(str\)"),
        ({"num_envs": 0}, r"num_envs: must be >= 1, got 0"),
        ({"check_specs": "sometimes"}, r"check_specs: expected one of 'first', 'always', 'never'"),
        ({"stop": {"env_steps": [1]}}, r"stop\.env_steps: expected int or null"),
        ({"learner": {"max_grad_norm": True}}, r"learner\.max_grad_norm"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, data: dict[str, object], message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_file(path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        TrainConfig.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_file(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        TrainConfig.from_file(listing)


def test_overrides_are_parsed_as_yaml_values() -> None:
    out = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d=true", "e=3e-4", "f=text"])
    assert out == {"a": {"b": 2, "c": [1, 2]}, "d": True, "e": 3e-4, "f": "text"}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_component_options_are_validated_before_anything_runs() -> None:
    registry = get_registry()
    cfg = TrainConfig.from_mapping({"algorithm_config": {"clip_esp": 0.1}})
    with pytest.raises(ConfigError, match=r"algorithm_config: unknown key 'clip_esp' \(did you mean 'clip_eps'\?\)"):
        resolve_parts(cfg, registry)
    cfg = TrainConfig.from_mapping({"model_config": {"encoder_confg": {}}})
    with pytest.raises(ConfigError, match=r"model_config: unknown key 'encoder_confg'"):
        resolve_parts(cfg, registry)
    cfg = TrainConfig.from_mapping({"algorithm_config": {"gamma": "high"}})
    with pytest.raises(ConfigError, match=r"algorithm_config\.gamma: expected float"):
        resolve_parts(cfg, registry)


def test_the_quickstart_tuning_applies_only_to_ppo() -> None:
    ppo = TrainConfig.quickstart()
    assert ppo.algorithm_config == {"gamma": 0.99, "gae_lambda": 0.95, "num_epochs": 4, "minibatch_size": 256}
    assert ppo.learner.lr == 4.0e-3
    assert TrainConfig.quickstart(["algorithm_config.num_epochs=2"]).algorithm_config["num_epochs"] == 2
    other = TrainConfig.quickstart(["algorithm=acme_a2c", "learner.max_grad_norm=1.0"])
    assert other.algorithm_config == {}
    assert other.learner.lr == TrainConfig().learner.lr
    assert other.learner.max_grad_norm == 1.0
    assert (other.env, other.num_envs, other.stop) == (ppo.env, ppo.num_envs, ppo.stop)
    with pytest.raises(ConfigError, match=r"^quickstart.num_envs: must be >= 1, got 0 \(quickstart: the config"):
        TrainConfig.quickstart(["num_envs=0"])
