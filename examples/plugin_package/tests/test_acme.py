"""acme-rl8's own tests: registration, the component contracts, and use through a catalog."""

from __future__ import annotations

import acme_rl8
import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core.testing import check_distribution, check_encoder, fresh_registry
from specs import Box, Discrete


def test_the_hooks_register_both_components() -> None:
    with fresh_registry(plugins=[acme_rl8]) as registry:  # in-process: no entry-point scan
        assert registry.get("encoder", "acme_flat_tanh") is acme_rl8.FlatTanh
        assert registry.get("distribution", "acme_tempered_categorical") is acme_rl8.TemperedCategorical


def test_the_installed_entry_point_is_found() -> None:
    with fresh_registry(entry_points=True) as registry:  # what `rl8 plugins` and the Trainer see
        info = registry.info("encoder", "acme_flat_tanh")
    assert (info.plugin, info.distribution) == ("acme", "acme-rl8")


def test_flat_tanh_keeps_the_encoder_contract() -> None:
    accepted = check_encoder(acme_rl8.FlatTanh, width=8)
    assert all(isinstance(spec, Box) for spec in accepted)


def test_tempered_categorical_keeps_the_distribution_contract() -> None:
    assert check_distribution(acme_rl8.TemperedCategorical, temperature=2.0)


def test_a_module_uses_both_when_model_config_names_them() -> None:
    with fresh_registry(plugins=[acme_rl8], entry_points=True):
        model_config = {
            "encoder": "acme_flat_tanh",
            "encoder_config": {"width": 8},
            "action_dist": "acme_tempered_categorical",
            "action_dist_config": {"temperature": 0.5},
        }
        module = ActorCriticModule(Box((4,)), Discrete(3), model_config)
    assert isinstance(module.pi_encoder, acme_rl8.FlatTanh)
    out = module.forward_exploration(TensorDict({"obs": torch.zeros(5, 4)}, [5]))
    assert out["actions"].shape == (5,)
