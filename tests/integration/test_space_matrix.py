"""Every space, end to end: each observation kind x each action kind trains, saves, reloads and acts.

The issue: a user points the Trainer at any gymnasium env whose spaces are
Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple, nested to any depth,
for observations and for actions, and the Catalog assembles a working module
with no code. Each cell registers a synthetic env (``synthetic.py``) under its
own name, runs ``Trainer.run`` for two tiny iterations with spec checks on in
every forward, then restores the saved module in this process and checks that
it acts inside the action spec exactly as the trained one does.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from catalogs import Catalog
from rl8_core import Columns, ConfigError, GymVectorEnv, RLModule, RunningMeanStd, Trainer, get_registry
from specs import Composite, Spec, TensorSpec


def load_synthetic() -> ModuleType:
    """Import ``synthetic.py`` next to this file (``tests/`` is not a package)."""
    name = "rl8_tests_integration_synthetic"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("synthetic.py"))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


synthetic = load_synthetic()

NUM_ENVS = 2
HORIZON = 8
ITERATIONS = 2


def _vector_env_factory(make_env: Any, *, num_envs: int, seed: int | None = None, device: Any = "cpu") -> GymVectorEnv:
    return GymVectorEnv(make_env, num_envs=num_envs, seed=seed, device=device)


def _register(name: str, make_env: Any) -> None:
    get_registry().register("env", name, functools.partial(_vector_env_factory, make_env))


def _config(env: str, tmp_path: Path, model_config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "model_config": model_config or {},
        "env": env,
        "num_envs": NUM_ENVS,
        "horizon": HORIZON,
        "algorithm_config": {"num_epochs": 2, "minibatch_size": 8},
        "stop": {"env_steps": ITERATIONS * NUM_ENVS * HORIZON},
        "eval": {"episodes": 2, "num_envs": 2},
        "checkpoint": {"dir": str(tmp_path)},
        "tracking": {"enabled": False},
        "progress": "none",
        "check_specs": "always",
        "device": "cpu",
        "seed": 3,
        # Tiny networks: one thread is fastest, and two stall badly when the other core is busy.
        "num_threads": 1,
    }


@pytest.fixture(autouse=True)
def _restore_num_threads() -> Any:
    """``Trainer`` applies ``num_threads`` to the whole process; give the next tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _describe(module: RLModule) -> dict[str, Any]:
    assert isinstance(module.catalog, Catalog)
    return module.catalog.describe()


def _leaves(x: torch.Tensor | TensorDictBase) -> dict[str, torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return {"": x}
    out = {}
    for key, value in x.items(include_nested=True, leaves_only=True):
        assert isinstance(value, torch.Tensor)
        out[".".join(key)] = value
    return out


def _train_reload_act(
    env_name: str, tmp_path: Path, model_config: dict[str, Any] | None = None
) -> tuple[Trainer, RLModule, TensorDictBase, TensorDictBase]:
    """Run two iterations, reload the saved module, act with both on fresh observations."""
    trainer = Trainer(_config(env_name, tmp_path, model_config))
    try:
        result = trainer.run()
    finally:
        trainer.close()
    assert trainer.iteration == ITERATIONS
    assert result["counters/env_steps"] == ITERATIONS * NUM_ENVS * HORIZON
    assert result["eval/episodes"] == 2
    for key in ("losses/policy", "losses/vf", "losses/entropy"):
        assert torch.isfinite(torch.tensor(result[key])), (key, result)
    assert trainer.run_dir is not None
    checkpoint = trainer.run_dir / (trainer.run_dir / "latest").read_text().strip()
    restored = RLModule.from_checkpoint(checkpoint / "module")
    assert type(restored) is type(trainer.module)
    assert restored.observation_spec == trainer.module.observation_spec
    assert restored.action_spec == trainer.module.action_spec

    obs_spec: Spec = trainer.module.observation_spec
    obs = obs_spec.rand((5,), generator=torch.Generator().manual_seed(0))
    batch = TensorDict({Columns.OBS: obs}, batch_size=[5])
    with torch.no_grad():
        original = trainer.module.forward_inference(batch.clone()).get(Columns.ACTIONS)
        again = restored.forward_inference(batch.clone()).get(Columns.ACTIONS)
    return trainer, restored, original, again


def _check_actions(action_spec: Spec, original: Any, again: Any) -> None:
    # A Normal's deterministic action is its mean, which nothing clips; with the
    # small initial policy gain it lies well inside these [-1, 1] boxes.
    assert action_spec.contains(again, batch_shape=(5,)), (action_spec, again)
    assert isinstance(again, Composite) == isinstance(original, Composite)
    mine, theirs = _leaves(original), _leaves(again)
    assert mine.keys() == theirs.keys()
    for key in mine:
        torch.testing.assert_close(theirs[key], mine[key], rtol=0, atol=0, msg=f"action leaf {key!r} differs")


@pytest.mark.parametrize("action_kind", list(synthetic.ACTION_SPACES))
@pytest.mark.parametrize("obs_kind", list(synthetic.OBSERVATION_SPACES))
def test_cell_trains_saves_reloads_and_acts(obs_kind: str, action_kind: str, tmp_path: Path) -> None:
    obs_space = synthetic.OBSERVATION_SPACES[obs_kind]
    action_space = synthetic.ACTION_SPACES[action_kind]
    name = f"synthetic_{obs_kind}_{action_kind}"
    _register(name, functools.partial(synthetic.SyntheticEnv, obs_space, action_space))

    trainer, restored, original, again = _train_reload_act(name, tmp_path)

    described = _describe(trainer.module)
    expected_encoder = {"image": "cnn", "dict": "composite", "tuple": "composite", "nested": "composite"}
    assert described["encoder"] == expected_encoder.get(obs_kind, "mlp"), described
    expected_dist = {
        "discrete": "categorical",
        "box": "normal",
        "multidiscrete": "multi_categorical",
        "multibinary": "bernoulli",
    }
    assert described["action_dist"] == expected_dist.get(action_kind, "composite"), described
    assert _describe(restored) == described
    _check_actions(trainer.module.action_spec, original, again)


def test_the_image_inside_a_dict_gets_the_cnn(tmp_path: Path) -> None:
    space = synthetic.OBSERVATION_SPACES["dict"]
    _register("synthetic_dict_image", functools.partial(synthetic.SyntheticEnv, space, synthetic.ACTION_SPACES["box"]))
    trainer, *_ = _train_reload_act("synthetic_dict_image", tmp_path)
    tree = _describe(trainer.module)["encoder_tree"]
    assert {key: child["component"] for key, child in tree["children"].items()} == {
        "pos": "mlp",
        "img": "cnn",
        "mode": "mlp",
        "bits": "mlp",
        "cells": "mlp",
        "count": "mlp",
    }


@pytest.mark.parametrize("action_kind", ["discrete", "multidiscrete"])
def test_masked_actions_are_never_taken(action_kind: str, tmp_path: Path) -> None:
    from gymnasium import spaces

    nvec = [5] if action_kind == "discrete" else [3, 4]
    action_space = spaces.Discrete(5) if action_kind == "discrete" else spaces.MultiDiscrete(nvec)
    _register(f"masked_{action_kind}", functools.partial(synthetic.MaskedEnv, action_space))

    # The env raises TakenMaskedActionError from inside training or evaluation if a masked action is taken.
    trainer, restored, original, again = _train_reload_act(f"masked_{action_kind}", tmp_path)

    described = _describe(trainer.module)
    assert described["action_mask"] is not None
    assert described["action_mask"]["key"] == "action_mask"
    _check_actions(trainer.module.action_spec, original, again)
    # The reloaded module masks too: with one allowed action per (sub-)action, it must take that one.
    obs_spec = trainer.module.observation_spec
    assert isinstance(obs_spec, Composite)
    mask_spec = obs_spec["action_mask"]
    assert isinstance(mask_spec, TensorSpec)
    mask = torch.zeros(4, mask_spec.numel, dtype=mask_spec.dtype)
    allowed = []
    start = 0
    for n in nvec:
        choice = torch.arange(4) % n
        mask[torch.arange(4), start + choice] = 1
        allowed.append(choice)
        start += n
    obs = obs_spec.rand((4,))
    obs.set("action_mask", mask)
    with torch.no_grad():
        for module in (trainer.module, restored):
            for forward in (module.forward_inference, module.forward_exploration):
                actions = forward(TensorDict({Columns.OBS: obs}, batch_size=[4])).get(Columns.ACTIONS)
                expected = allowed[0] if action_kind == "discrete" else torch.stack(allowed, dim=-1)
                assert torch.equal(actions.long(), expected)


def test_an_unmasked_policy_would_be_caught(tmp_path: Path) -> None:
    """The masked cells have teeth: with masking off, the env sees a masked action at once."""
    from gymnasium import spaces

    _register("masked_off", functools.partial(synthetic.MaskedEnv, spaces.Discrete(5)))
    config = {**_config("masked_off", tmp_path), "model_config": {"action_mask_key": None}}
    trainer = Trainer(config)
    try:
        with pytest.raises(synthetic.TakenMaskedActionError):
            trainer.run()
    finally:
        trainer.close()


def test_options_on_nested_spaces(tmp_path: Path) -> None:
    """Per-leaf overrides, a shared encoder and observation normalisation on nested spaces."""
    env = functools.partial(
        synthetic.SyntheticEnv, synthetic.OBSERVATION_SPACES["dict"], synthetic.ACTION_SPACES["dict"]
    )
    _register("synthetic_options", env)
    model_config: dict[str, Any] = {
        "shared_encoder": True,
        "normalize_obs": True,
        "encoder_config": {"hiddens": [32]},
        "leaf_encoders": {"img": {"encoder_config": {"filters": [[8, 3, 2]], "hidden": 32}}, "pos": {"encoder": "cnn"}},
        "leaf_action_dists": {"move": {"action_dist": "squashed_normal"}},
        "pi_hiddens": [16],
    }
    with pytest.raises(ConfigError, match=r"leaf_encoders\['pos'\].*CNNEncoder needs a Box of rank 3"):
        Trainer({**_config("synthetic_options", tmp_path), "model_config": model_config}).close()
    del model_config["leaf_encoders"]["pos"]
    trainer = Trainer({**_config("synthetic_options", tmp_path), "model_config": model_config})
    described = _describe(trainer.module)
    assert described["encoder_tree"]["children"]["img"]["options"] == {"filters": [[8, 3, 2]], "hidden": 32}
    assert described["action_dist_tree"]["leaves"]["move"]["component"] == "squashed_normal"
    trainer.close()
    trainer, restored, original, again = _train_reload_act("synthetic_options", tmp_path, model_config)
    assert restored.obs_normalizer is not None
    assert trainer.module.obs_normalizer is not None
    stats = trainer.module.obs_normalizer.stats[0]
    assert isinstance(stats, RunningMeanStd)
    assert float(stats.count) > 0
    _check_actions(trainer.module.action_spec, original, again)


def test_a_gymnasium_factory_by_import_path_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """The config-only route: the ``gymnasium`` env plugin with ``factory`` as an import path."""
    config = {
        **_config("gymnasium", tmp_path),
        "env_config": {"factory": f"{synthetic.__name__}:make", "obs": "nested", "action": "tuple"},
    }
    trainer = Trainer(config)
    trainer.run()
    trainer.close()
    assert trainer.run_dir is not None
    resumed = Trainer.from_checkpoint(trainer.run_dir, overrides=[f"stop.env_steps={3 * NUM_ENVS * HORIZON}"])
    try:
        assert resumed.iteration == ITERATIONS
        torch.testing.assert_close(resumed.module.get_state(), trainer.module.get_state(), rtol=0, atol=0)
        result = resumed.run()
    finally:
        resumed.close()
    assert resumed.iteration == ITERATIONS + 1
    assert result["counters/env_steps"] == 3 * NUM_ENVS * HORIZON
