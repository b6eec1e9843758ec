"""acme-a2c's own tests: registration, the algorithm contract and config validation."""

from __future__ import annotations

import acme_a2c
import pytest

from rl8_core import ConfigError
from rl8_core.testing import check_algorithm, fresh_registry


def test_the_hook_registers_the_algorithm() -> None:
    with fresh_registry(plugins=[acme_a2c]) as registry:  # in-process: no entry-point scan
        assert registry.get("algorithm", "acme_a2c") is acme_a2c.A2C


def test_the_installed_entry_point_is_found() -> None:
    with fresh_registry(entry_points=True) as registry:  # what `rl8 plugins` and the Trainer see
        info = registry.info("algorithm", "acme_a2c")
    assert (info.plugin, info.distribution) == ("acme_a2c", "acme-a2c")


def test_a2c_keeps_the_algorithm_contract() -> None:
    # No module_class: default_module() returns None, so rl8-core's default module is trained.
    metrics = check_algorithm(acme_a2c.A2C)
    assert {"losses/policy", "losses/value", "losses/entropy", "losses/total"} <= set(metrics)


def test_the_config_rejects_typos_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'gama' \(did you mean 'gamma'\?\)"):
        acme_a2c.A2C({"gama": 0.9})
    with pytest.raises(ConfigError, match=r"gamma must be in \[0, 1\]"):
        acme_a2c.A2C({"gamma": 1.5})
