"""Learning beyond CartPole: continuous actions, images and Dict observations, from the example configs.

Each slow test trains one example config with a fixed seed until its stop
condition (the training return, then a deterministic evaluation, reach the
threshold) or a fixed env-step budget, and asserts the evaluation return and
that the budget was not used up. Seeds 0-5 solve every config well inside its
budget (see the figures next to each one); torch runs on one thread, which is
fastest for these small networks and keeps a busy second core from stalling it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from catalogs import Catalog
from rl8_core import Columns, RLModule, TrainConfig, Trainer, get_registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def _restore_num_threads() -> Iterator[None]:
    """``Trainer`` applies ``num_threads`` to the whole process; give the next tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _describe(module: RLModule) -> dict[str, Any]:
    assert isinstance(module.catalog, Catalog)
    return module.catalog.describe()


def _train(example: str, tmp_path: Path, *, seed: int, budget: int) -> tuple[Trainer, dict[str, float]]:
    config = TrainConfig.from_file(
        EXAMPLES / example,
        [
            f"seed={seed}",
            f"stop.env_steps={budget}",
            "num_threads=1",
            "progress=none",
            "tracking.enabled=false",
            f"checkpoint.dir={tmp_path}",
            "checkpoint.at_end=false",
        ],
    )
    trainer = Trainer(config)
    try:
        result = trainer.run()
    finally:
        trainer.close()
    return trainer, result


@pytest.mark.parametrize("example", ["pendulum.yaml", "pendulum_gym.yaml", "pixels.yaml", "dict_cartpole.yaml"])
def test_example_configs_build(example: str) -> None:
    config = TrainConfig.from_file(
        EXAMPLES / example, ["tracking.enabled=false", "progress=none", "num_envs=2", "num_threads=1"]
    )
    with Trainer(config) as trainer:
        assert trainer.step()["counters/env_steps"] == 2 * config.horizon


def test_pendulum_gym_is_pendulum_on_gymnasium() -> None:
    torch_cfg: dict[str, Any] = yaml.safe_load((EXAMPLES / "pendulum.yaml").read_text())
    gym_cfg: dict[str, Any] = yaml.safe_load((EXAMPLES / "pendulum_gym.yaml").read_text())
    assert gym_cfg == {**torch_cfg, "env": "Pendulum-v1"}


def test_dict_cartpole_splits_the_vector_observation() -> None:
    flat = get_registry().get("env", "cartpole")(num_envs=4, seed=0)
    split = get_registry().get("env", "cartpole")(num_envs=4, seed=0, dict_obs=True)
    assert split.observation_spec.keys() == ["cart", "pole"]
    obs, obs_split = flat.reset()[Columns.OBS], split.reset()[Columns.OBS]
    assert split.observation_spec.contains(obs_split, batch_shape=(4,))
    torch.testing.assert_close(torch.cat([obs_split["cart"], obs_split["pole"]], 1), obs, rtol=0, atol=0)
    actions = torch.tensor([0, 1, 1, 0])
    for _ in range(30):
        out, out_split = flat.step(actions), split.step(actions)
        for key in (Columns.OBS, Columns.NEXT_OBS):
            torch.testing.assert_close(out_split[key, "cart"], out[key][:, :2], rtol=0, atol=0)
            torch.testing.assert_close(out_split[key, "pole"], out[key][:, 2:], rtol=0, atol=0)
        assert torch.equal(out_split[Columns.TERMINATEDS], out[Columns.TERMINATEDS])


@pytest.mark.slow
def test_pendulum_continuous_actions(tmp_path: Path) -> None:
    # Seeds 0-3 stop (training and deterministic evaluation >= -250) after 66k-90k env steps.
    trainer, result = _train("pendulum.yaml", tmp_path, seed=0, budget=200_000)
    assert _describe(trainer.module)["action_dist"] == "normal"
    assert trainer.stopped_by == ["ReturnReached(-250.0, key='eval/return_mean')"], result
    assert result["episodes/return_mean"] >= -250, result
    assert result["eval/return_mean"] >= -250, result
    assert result["counters/env_steps"] < 200_000


@pytest.mark.slow
def test_pixels_learned_through_the_cnn(tmp_path: Path) -> None:
    # Seeds 0-3 stop after 15k-16k env steps with an evaluation return of 0.8-0.9; random play scores ~0.2.
    trainer, result = _train("pixels.yaml", tmp_path, seed=0, budget=100_000)
    described = _describe(trainer.module)
    assert described["encoder"] == "cnn", described
    assert described["encoder_tree"]["reason"] == "rule: Box of rank 3 (an image)"
    assert trainer.stopped_by == ["ReturnReached(0.75, key='eval/return_mean')"], result
    assert result["eval/return_mean"] >= 0.75, result
    assert result["counters/env_steps"] < 100_000


@pytest.mark.slow
def test_dict_observations_through_the_composite_encoder(tmp_path: Path) -> None:
    # Seeds 0-5 stop (training and evaluation >= 475) after 79k-163k env steps.
    trainer, result = _train("dict_cartpole.yaml", tmp_path, seed=0, budget=200_000)
    tree = _describe(trainer.module)["encoder_tree"]
    assert tree["component"] == "composite"
    assert {key: child["component"] for key, child in tree["children"].items()} == {"cart": "mlp", "pole": "mlp"}
    assert trainer.stopped_by == ["ReturnReached(475.0, key='eval/return_mean')"], result
    assert result["eval/return_mean"] >= 475, result
    assert result["counters/env_steps"] < 200_000
