"""Envs from anywhere: gymnasium's ``module:EnvId``, ``env_config.wrappers`` and ``drop_keys``, on real MiniGrid envs.

MiniGrid registers its envs when ``minigrid`` is imported, and its observation
is a ``Dict`` with a text ``mission`` that no spec holds; the tests use it for
every path: the id form, the wrappers that turn it into an image, the key
that is dropped, and the one-line error when nothing is done about it.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from rl8_core import GymVectorEnv, make_env, make_gymnasium_env
from rl8_core.envs.gym import WrapperEntry
from rl8_core.envs.make import resolve_env
from rl8_core.errors import ConfigError, UnknownComponentError
from rl8_core.plugins.registry import get_registry
from specs import Box, Composite, Discrete

MINIGRID = "minigrid:MiniGrid-Empty-5x5-v0"
IMAGE = "minigrid.wrappers:ImgObsWrapper"
RL8 = str(Path(sys.executable).parent / "rl8")


@pytest.fixture
def closing() -> Iterator[list[GymVectorEnv]]:
    """Collect envs a test builds and close them afterwards."""
    envs: list[GymVectorEnv] = []
    yield envs
    for env in envs:
        env.close()


def _gym_env(closing: list[GymVectorEnv], name: str, env_config: dict[str, object], num_envs: int = 2) -> GymVectorEnv:
    env = make_env(name, env_config, num_envs=num_envs, seed=0)
    assert isinstance(env, GymVectorEnv)
    closing.append(env)
    return env


def _run_rl8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([RL8, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# --- module:EnvId -------------------------------------------------------------------------------


def test_module_env_id_imports_the_module_and_builds_the_gymnasium_id(closing: list[GymVectorEnv]) -> None:
    info = resolve_env(MINIGRID, get_registry())
    assert info.obj is make_gymnasium_env
    assert info.distribution == "minigrid"  # provenance: the package that registered the id
    env = _gym_env(closing, MINIGRID, {"drop_keys": ["mission"]})
    assert env.observation_spec == Composite(
        {"direction": Discrete(4), "image": Box((7, 7, 3), low=0.0, high=255.0, dtype=torch.uint8)}
    )
    assert env.action_spec == Discrete(7)
    obs = env.reset()["obs"]
    assert obs["image"].shape == (2, 7, 7, 3)
    assert obs["image"].dtype == torch.uint8


def test_import_paths_to_env_factories_still_import(closing: list[GymVectorEnv]) -> None:
    env = _gym_env(closing, "rl8_core.envs.gym:make_gymnasium_env", {"id": "CartPole-v1"})
    assert env.action_spec == Discrete(2)


ACME_GRID = """
import gymnasium

from rl8_core import make_gymnasium_env

gymnasium.register(id="AcmeCorridor", entry_point="gymnasium.envs.classic_control:CartPoleEnv")


def make_pendulum(**kwargs):
    return make_gymnasium_env(id="Pendulum-v1", **kwargs)
"""


@pytest.fixture
def acme_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A module ``acme_grid`` that registers the gymnasium id ``AcmeCorridor`` on import and has a factory."""
    (tmp_path / "acme_grid.py").write_text(ACME_GRID)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    gym.registry.pop("AcmeCorridor", None)
    sys.modules.pop("acme_grid", None)


@pytest.mark.usefixtures("acme_grid")
def test_a_module_attribute_wins_and_a_missing_one_may_be_an_id_the_module_registers(
    closing: list[GymVectorEnv],
) -> None:
    # module:attr is an import path first: the module's factory is the env ...
    pendulum = make_env("acme_grid:make_pendulum", num_envs=1)
    assert isinstance(pendulum, GymVectorEnv)
    closing.append(pendulum)
    assert isinstance(pendulum.action_spec, Box)
    # ... and a name the module lacks but registers as a gymnasium id (one without '-') is that id.
    info = resolve_env("acme_grid:AcmeCorridor", get_registry())
    assert info.obj is make_gymnasium_env
    env = _gym_env(closing, "acme_grid:AcmeCorridor", {})
    assert env.action_spec == Discrete(2)
    with pytest.raises(ImportError, match="'acme_grid' has no attribute 'NoSuchThing'"):
        make_env("acme_grid:NoSuchThing", num_envs=1)


def test_a_module_that_is_not_installed_is_named_with_pip_install() -> None:
    with pytest.raises(UnknownComponentError) as info:
        make_env("minigridx:MiniGrid-Empty-5x5-v0", num_envs=1)
    message = str(info.value)
    assert "module 'minigridx' is not installed" in message
    assert "pip install minigridx" in message
    assert "\n" not in message


def test_an_id_the_module_does_not_register_lists_close_matches() -> None:
    with pytest.raises(UnknownComponentError) as info:
        make_env("minigrid:MiniGrid-Empty-5x5-v9", num_envs=1)
    message = str(info.value)
    assert "importing module 'minigrid' did not register the gymnasium id 'MiniGrid-Empty-5x5-v9'" in message
    assert "close matches: MiniGrid-Empty-5x5-v0" in message
    assert "\n" not in message


def test_an_unknown_id_suggests_the_module_form_but_a_misspelt_name_does_not() -> None:
    with pytest.raises(UnknownComponentError) as info:
        make_env("Acme-Maze-v0", num_envs=1)
    message = str(info.value)
    assert message.startswith("unknown env 'Acme-Maze-v0'.")
    assert message.endswith("If a package registers it, name it as package:EnvId, e.g. minigrid:MiniGrid-Empty-5x5-v0.")
    with pytest.raises(UnknownComponentError) as info:
        make_env("cartpol", num_envs=1)
    assert str(info.value).endswith("It is not a registered gymnasium id either.")


# --- wrappers and drop_keys ---------------------------------------------------------------------


def test_make_gymnasium_env_takes_wrappers_and_drop_keys_by_name() -> None:
    params = inspect.signature(make_gymnasium_env).parameters
    for name in ("wrappers", "drop_keys"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is None
        assert name in (make_gymnasium_env.__doc__ or "")


def test_wrappers_by_import_path_apply_in_order(closing: list[GymVectorEnv]) -> None:
    env = _gym_env(closing, MINIGRID, {"wrappers": [IMAGE]})
    assert env.observation_spec == Box((7, 7, 3), low=0.0, high=255.0, dtype=torch.uint8)
    env = _gym_env(closing, MINIGRID, {"wrappers": [IMAGE, "gymnasium.wrappers:FlattenObservation"]})
    assert env.observation_spec == Box((147,), low=0.0, high=255.0, dtype=torch.uint8)
    assert env.reset()["obs"].shape == (2, 147)


def test_a_wrapper_mapping_passes_its_options(closing: list[GymVectorEnv]) -> None:
    wrappers = [{"wrapper": "minigrid.wrappers:RGBImgPartialObsWrapper", "tile_size": 2}, IMAGE]
    env = _gym_env(closing, MINIGRID, {"wrappers": wrappers})
    assert env.observation_spec == Box((14, 14, 3), low=0.0, high=255.0, dtype=torch.uint8)
    assert env.reset()["obs"].shape == (2, 14, 14, 3)


def test_wrappers_and_drop_keys_apply_to_factory_envs_and_async_workers(closing: list[GymVectorEnv]) -> None:
    wrappers: list[WrapperEntry] = [{"wrapper": "minigrid.wrappers:RGBImgPartialObsWrapper", "tile_size": 1}]
    by_factory = make_gymnasium_env(
        num_envs=2, seed=0, factory="minigrid.envs:EmptyEnv", size=5, wrappers=wrappers, drop_keys=["mission"]
    )
    closing.append(by_factory)
    assert isinstance(by_factory.observation_spec, Composite)
    assert by_factory.observation_spec.keys() == ["direction", "image"]
    assert by_factory.observation_spec["image"].shape == (7, 7, 3)
    # The per-env constructor is plain data, so async workers rebuild the same wrapped env.
    options = {"wrappers": wrappers, "drop_keys": ["mission"]}
    sync = _gym_env(closing, MINIGRID, options)
    async_ = _gym_env(closing, MINIGRID, {**options, "vectorization": "async"})
    assert async_.observation_spec == sync.observation_spec
    assert (async_.reset()["obs"] == sync.reset()["obs"]).all()
    actions = torch.tensor([2, 1])
    assert (async_.step(actions) == sync.step(actions)).all()


def test_a_bad_wrapper_path_names_its_entry() -> None:
    with pytest.raises(ConfigError) as info:
        make_env(MINIGRID, {"wrappers": [IMAGE, "minigrid.wrappers:NoSuchWrapper"]}, num_envs=1)
    message = str(info.value)
    assert message.startswith("env_config.wrappers[1]: cannot import 'minigrid.wrappers:NoSuchWrapper'")
    assert "gymnasium.wrappers:FlattenObservation" in message
    with pytest.raises(ConfigError, match=r"^env_config\.wrappers\[0\]: minigrid\.wrappers is not callable"):
        make_env(MINIGRID, {"wrappers": ["minigrid.wrappers"]}, num_envs=1)
    with pytest.raises(ConfigError, match=r"^env_config\.wrappers: expected a list of wrappers"):
        make_env(MINIGRID, {"wrappers": IMAGE}, num_envs=1)
    with pytest.raises(ConfigError, match=r"^env_config\.wrappers\[0\]: a mapping needs the key 'wrapper'"):
        make_env(MINIGRID, {"wrappers": [{"tile_size": 2}]}, num_envs=1)


def test_an_option_the_wrapper_rejects_names_its_entry_and_parameters() -> None:
    wrapper = {"wrapper": "minigrid.wrappers:RGBImgPartialObsWrapper", "tile": 2}
    with pytest.raises(ConfigError) as info:
        make_env(MINIGRID, {"wrappers": [wrapper]}, num_envs=1)
    message = str(info.value)
    assert message.startswith("env_config.wrappers[0]: minigrid.wrappers:RGBImgPartialObsWrapper rejects the options")
    assert "'tile'" in message
    assert "tile_size=8" in message
    assert "\n" not in message


def test_a_wrapper_that_fails_on_the_observation_names_its_entry() -> None:
    # FlattenObservation cannot flatten MiniGrid's text mission; ImgObsWrapper has to come first.
    with pytest.raises(ConfigError) as info:
        make_env(MINIGRID, {"wrappers": ["gymnasium.wrappers:FlattenObservation"]}, num_envs=1)
    message = str(info.value)
    assert message.startswith("env_config.wrappers[0]: gymnasium.wrappers:FlattenObservation(env) failed")
    assert "\n" not in message


def test_drop_keys_removes_mission(closing: list[GymVectorEnv]) -> None:
    env = _gym_env(closing, MINIGRID, {"drop_keys": ["mission", "direction"]})
    assert isinstance(env.observation_spec, Composite)
    assert env.observation_spec.keys() == ["image"]
    assert list(env.reset()["obs"].keys()) == ["image"]
    out = env.step(torch.tensor([2, 2]))
    assert list(out["next_obs"].keys()) == ["image"]


def test_drop_keys_with_an_unknown_key_lists_the_keys() -> None:
    with pytest.raises(ConfigError) as info:
        make_env(MINIGRID, {"drop_keys": ["missions"]}, num_envs=1)
    assert str(info.value) == (
        "env_config.drop_keys: the observation has no key 'missions'; its keys are direction, image, mission"
    )
    with pytest.raises(ConfigError, match=r"^env_config\.drop_keys: \['mission'\] needs a Dict observation"):
        make_env(MINIGRID, {"wrappers": [IMAGE], "drop_keys": ["mission"]}, num_envs=1)


# --- unsupported spaces -------------------------------------------------------------------------


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_the_text_mission_is_unsupported_in_one_line_naming_the_fixes(vectorization: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_env(MINIGRID, {"vectorization": vectorization}, num_envs=2)
    message = str(info.value)
    assert message.startswith("observation['mission']: MissionSpace(")
    assert "is not supported (rl8 supports Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple)" in message
    assert "env_config.drop_keys: [mission]" in message
    assert (
        "env_config.wrappers (e.g. minigrid.wrappers:ImgObsWrapper or gymnasium.wrappers:FlattenObservation)" in message
    )
    assert "\n" not in message


def test_the_cli_prints_env_errors_in_one_line_with_exit_2(tmp_path: Path) -> None:
    proc = _run_rl8("train", "--set", f"env={MINIGRID}", "--set", "tracking.enabled=false", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("rl8 train: error: observation['mission']: MissionSpace(")
    assert "env_config.drop_keys: [mission]" in line
    # A fresh process has not imported minigrid: the bare id is unknown, and the message says how to name it.
    proc = _run_rl8("train", "--set", "env=MiniGrid-Empty-5x5-v0", "--set", "tracking.enabled=false", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("rl8 train: error: unknown env 'MiniGrid-Empty-5x5-v0'.")
    assert line.endswith("name it as minigrid:MiniGrid-Empty-5x5-v0 (gymnasium's module:EnvId form).")
