"""The ``Algorithm`` base class as a plugin author meets it: passes from the config, a missing default module."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from tensordict import TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import Algorithm, ConfigError, RLModule, TrainConfig, get_registry, resolve_parts
from rl8_core.columns import Columns, Metrics
from rl8_core.testing import check_algorithm


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
    with pytest.raises(ConfigError, match="num_epochs must be >= 1"):
        ppo_cls({"num_epochs": 0})


def test_no_default_module_and_no_module_is_a_config_error_saying_how_to_fix_it() -> None:
    config = TrainConfig.from_mapping({"algorithm": f"{__name__}:A2C"})
    with pytest.raises(ConfigError) as info:
        resolve_parts(config, get_registry())
    message = str(info.value)
    assert f"algorithm '{__name__}:A2C' (A2C) has no default module" in message
    assert "--set module=package.module:Class" in message
    assert "default_module()" in message
    parts = resolve_parts(config.replace(module="catalogs:ActorCriticModule"), get_registry())
    assert parts.module_class is ActorCriticModule
    assert parts.catalog_class is None
