"""The ``Algorithm`` base class as a plugin author meets it: passes from the config, a missing default module."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from tensordict import TensorDictBase

from catalogs import ActorCriticCatalog, ActorCriticModule
from rl8_core import Algorithm, ConfigError, RLModule, TrainConfig, Trainer, get_registry, resolve_parts
from rl8_core.columns import Columns, Metrics
from rl8_core.testing import check_algorithm, fresh_registry
from specs import TensorShape


@dataclass(frozen=True, kw_only=True)
class A2CConfig:
    gamma: float = 0.99
    num_epochs: int = 1
    minibatch_size: int | None = None


class A2C(Algorithm):
    """A policy gradient on rewards, with ``num_epochs``/``minibatch_size`` fields and no ``default_module``."""

    config_class = A2CConfig

    def postprocess(self, rollout: TensorDictBase, module: RLModule) -> TensorDictBase:
        return rollout.reshape(-1)

    def loss(self, module: RLModule, minibatch: TensorDictBase) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = module.forward_train(minibatch)
        logp = module.make_action_dist(out[Columns.ACTION_DIST_INPUTS]).logp(minibatch[Columns.ACTIONS])
        loss = -(logp * minibatch[Columns.REWARDS]).mean()
        return loss, {"losses/total": loss.detach()}


@dataclass(frozen=True, kw_only=True)
class GammaOnly:
    gamma: float = 0.99


class NoPasses(A2C):
    config_class = GammaOnly


def test_num_epochs_and_minibatch_size_come_from_the_config() -> None:
    assert (A2C().num_epochs, A2C().minibatch_size) == (1, None)
    alg = A2C({"num_epochs": 3, "minibatch_size": 16})
    assert (alg.num_epochs, alg.minibatch_size) == (3, 16)
    assert (NoPasses().num_epochs, NoPasses().minibatch_size) == (1, None)


def test_the_learner_makes_the_passes_the_config_asks_for() -> None:
    metrics = check_algorithm(A2C, ActorCriticModule, config={"num_epochs": 3, "minibatch_size": 16})
    assert metrics[Metrics.EPOCHS] == 3
    assert metrics[Metrics.MINIBATCHES] > 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_epochs": 0}, r"algorithm_config\.num_epochs: must be an int >= 1, got 0"),
        ({"minibatch_size": 0}, r"algorithm_config\.minibatch_size: must be an int >= 1 or null, got 0"),
    ],
)
def test_unusable_passes_name_the_key(options: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        A2C(options)
    with pytest.raises(ConfigError, match=message):
        A2C(A2CConfig(**options))


def test_ppo_passes_are_unchanged() -> None:
    ppo_cls = get_registry().get("algorithm", "ppo")
    assert (ppo_cls().num_epochs, ppo_cls().minibatch_size) == (10, 64)
    assert (ppo_cls({"num_epochs": 4, "minibatch_size": None}).minibatch_size) is None
    with pytest.raises(ConfigError, match=r"algorithm_config\.num_epochs: must be >= 1, got 0"):
        ppo_cls({"num_epochs": 0})


def test_without_a_default_module_the_default_algorithms_module_is_used() -> None:
    config = TrainConfig.from_mapping({"algorithm": f"{__name__}:A2C"})
    parts = resolve_parts(config, get_registry())
    assert (parts.module_class, parts.catalog_class) == (ActorCriticModule, ActorCriticCatalog)


def test_no_default_module_anywhere_is_a_config_error_saying_how_to_fix_it() -> None:
    config = TrainConfig.from_mapping({"algorithm": f"{__name__}:A2C"})
    with fresh_registry() as registry, pytest.raises(ConfigError) as info:
        resolve_parts(config, registry)
    message = str(info.value)
    assert f"algorithm '{__name__}:A2C' (A2C) has no default module" in message
    assert "default algorithm 'ppo'" in message
    assert "--set module=package.module:Class" in message
    assert "default_module()" in message
    parts = resolve_parts(config.replace(module="catalogs:ActorCriticModule"), get_registry())
    assert parts.module_class is ActorCriticModule
    assert parts.catalog_class is None


class PolicyOnly(ActorCriticModule):
    """An actor-critic module whose ``forward_train`` leaves out the values PPO's loss reads."""

    def output_specs_train(self):  # type: ignore[no-untyped-def]
        return RLModule.output_specs_train(self)

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        return self._forward_inference(batch)


class ValuesAsMatrix(ActorCriticModule):
    """Declares ``vf_preds`` as ``[b, 1]`` where PPO reads ``[b]``."""

    def output_specs_train(self):  # type: ignore[no-untyped-def]
        return RLModule.output_specs_train(self).merge({"vf_preds": TensorShape("b, 1")})


def test_a_module_without_an_output_the_loss_reads_fails_at_build_naming_module_key_and_algorithm() -> None:
    config = {"env": "cartpole", "num_envs": 2, "module": f"{__name__}:PolicyOnly"}
    with pytest.raises(ConfigError) as info:
        Trainer(config)
    message = str(info.value)
    assert "PolicyOnly.forward_train does not return 'vf_preds' [b]" in message
    assert "algorithm 'ppo' (PPO) reads in its loss" in message
    assert "declare it in output_specs_train" in message


def test_a_module_declaring_another_shape_than_the_loss_reads_fails_at_build() -> None:
    with pytest.raises(
        ConfigError,
        match=r"ValuesAsMatrix.forward_train declares 'vf_preds' as \[b, 1\] but "
        r"algorithm 'ppo' \(PPO\) reads it as \[b\]",
    ):
        Trainer({"env": "cartpole", "num_envs": 2, "module": f"{__name__}:ValuesAsMatrix"})


def test_an_algorithm_reading_nothing_declared_checks_nothing() -> None:
    # A2C above declares no train outputs: the policy-only module builds (its loss reads only the logits).
    Trainer({"env": "cartpole", "num_envs": 2, "algorithm": f"{__name__}:A2C", "module": f"{__name__}:PolicyOnly"})


def test_check_algorithm_reports_a_module_missing_what_the_loss_reads() -> None:
    ppo_cls = get_registry().get("algorithm", "ppo")
    with pytest.raises(AssertionError, match=r"PolicyOnly\.forward_train does not return 'vf_preds'"):
        check_algorithm(ppo_cls, PolicyOnly)
