"""Mistakes a plugin author makes, caught when the module is built, with the culprit named.

Sizes: an encoder whose ``output_dim`` is wrong, a distribution whose
``required_inputs`` is one short or one too many, a module whose policy head
has the wrong width. Options: typos and wrong types in ``encoder_config``,
``action_dist_config`` and ``env_config``, named by dotted path with the
closest known option. The components come from real packages installed with
pip (``tests/plugin_pkgs/wrong_sizes`` and the example package acme-rl8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import Columns, ConfigError, PluginError, TrainConfig, Trainer, resolve_parts
from rl8_core.cli import main
from rl8_core.plugins.registry import get_registry
from specs import Box, Discrete

from .conftest import PluginSite

TINY = {"env": "cartpole", "num_envs": 2, "horizon": 8}


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run ``rl8 train`` in this process (the plugin site is on ``sys.path``); return its one stderr line.

    In-process: a subprocess would add ~6 s of imports per call and test nothing more.
    """
    status = main(["train", *args])
    _, err = capsys.readouterr()
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- Sizes -------------------------------------------------------------------------------------


def test_an_encoder_with_a_wrong_output_dim_is_named_with_its_plugin_and_both_sizes(
    plugin_site: Callable[..., PluginSite],
) -> None:
    plugin_site("wrong_sizes")
    with pytest.raises(PluginError) as info:
        ActorCriticModule(Box((4,)), Discrete(2), {"encoder": "wrong_width"})
    assert str(info.value) == (
        "encoder 'wrong_width' of plugin 'test_wrong_sizes' (rl8-test-wrong-sizes 0.1.0) declares output_dim 16 "
        "but returns features of shape [2, 8] for 2 observations of Box((4,), low=-inf, high=inf, "
        "dtype=torch.float32); its output_dim must be the size of the last feature dim, and features [b, d]"
    )


def test_a_leaf_encoder_with_a_wrong_output_dim_is_named_at_its_path(plugin_site: Callable[..., PluginSite]) -> None:
    plugin_site("wrong_sizes")
    from specs import Composite

    obs = Composite({"pos": Box((2,)), "vel": Box((3,))})
    with pytest.raises(PluginError, match=r"^encoder 'wrong_width' of plugin 'test_wrong_sizes' .* at 'vel' \(Box"):
        ActorCriticModule(obs, Discrete(2), {"leaf_encoders": {"vel": {"encoder": "wrong_width"}}})


@pytest.mark.parametrize(
    ("dist", "finding"),
    [
        (
            "few_logits",
            "with 2 action_dist_inputs (its required_inputs for Discrete(3)) cannot give every valid action a finite "
            "logp; is required_inputs too small (one input per action)?",
        ),
        (
            "many_logits",
            "with 4 action_dist_inputs (its required_inputs for Discrete(3)) gives no valid action: 'actions': value 3 "
            "outside Discrete(3) (range [0, 2]) (action spec Discrete(3)); is required_inputs too large?",
        ),
    ],
)
def test_a_distribution_with_too_few_or_too_many_inputs_fails_at_build(
    plugin_site: Callable[..., PluginSite], dist: str, finding: str
) -> None:
    plugin_site("wrong_sizes")
    with pytest.raises(PluginError) as info:
        ActorCriticModule(Box((4,)), Discrete(3), {"action_dist": dist})
    assert (
        str(info.value) == f"distribution {dist!r} of plugin 'test_wrong_sizes' (rl8-test-wrong-sizes 0.1.0) {finding}"
    )


class WideHead(ActorCriticModule):
    """Gives one logit more than the distribution takes: a head sized by hand."""

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        out = super()._forward_exploration(batch)
        logits = out.get(Columns.ACTION_DIST_INPUTS)
        return TensorDict({Columns.ACTION_DIST_INPUTS: torch.cat([logits, logits[:, :1]], -1)}, out.batch_size)


def test_a_policy_head_of_the_wrong_width_names_the_module_the_distribution_and_both_sizes() -> None:
    with pytest.raises(PluginError) as info:
        WideHead(Box((4,)), Discrete(2))
    assert str(info.value) == (
        "WideHead's policy head gives 3 action_dist_inputs but distribution 'categorical' of plugin 'categorical' "
        "(rl8-core 0.1.0) needs 2 for Discrete(2) (its required_inputs); size the head with "
        "self.num_action_dist_inputs"
    )


def test_the_cli_names_the_culprit_in_one_line(
    plugin_site: Callable[..., PluginSite], capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_site("wrong_sizes")
    line = _one_line_exit_2(capsys, ["--set", "model_config.encoder=wrong_width"])
    assert line.startswith("rl8 train: error: encoder 'wrong_width' of plugin 'test_wrong_sizes'")
    assert "declares output_dim 16 but returns features of shape [2, 8]" in line
    line = _one_line_exit_2(capsys, ["--set", "model_config.action_dist=few_logits"])
    assert line.startswith("rl8 train: error: distribution 'few_logits' of plugin 'test_wrong_sizes'")


def test_the_checks_leave_no_trace_in_the_module() -> None:
    torch.manual_seed(0)
    a = ActorCriticModule(Box((4,)), Discrete(2), {"encoder_config": {"hiddens": [8]}})
    assert a.training  # put back in train mode after the check ran in eval mode
    assert all(p.grad is None for p in a.parameters())


# --- Options ---------------------------------------------------------------------------------


def test_an_action_dist_config_typo_names_the_dotted_key_the_distribution_and_the_closest_option(
    plugin_site: Callable[..., PluginSite],
) -> None:
    plugin_site("acme")
    config = {"action_dist": "acme_tempered_categorical", "action_dist_config": {"temperture": 0.5}}
    with pytest.raises(ConfigError) as info:
        ActorCriticModule(Box((4,)), Discrete(2), config)
    assert str(info.value) == (
        "model_config.action_dist_config.temperture: distribution 'acme_tempered_categorical' of plugin 'acme' "
        "(acme-rl8 0.1.0) takes no option 'temperture' (did you mean 'temperature'?); its options: temperature"
    )
    config["action_dist_config"] = {"temperature": "hot"}
    with pytest.raises(ConfigError, match=r"^model_config\.action_dist_config\.temperature: expected float, got 'hot'"):
        ActorCriticModule(Box((4,)), Discrete(2), config)


def test_options_of_a_distribution_taking_any_keywords_are_tried_at_build() -> None:
    # The built-in categorical takes ``**config`` and rejects what it does not know: found at build, not in a rollout.
    with pytest.raises(ConfigError) as info:
        ActorCriticModule(Box((4,)), Discrete(2), {"action_dist_config": {"temperture": 0.5}})
    assert str(info.value) == (
        "model_config.action_dist_config: distribution 'categorical' of plugin 'categorical' (rl8-core 0.1.0) "
        "rejects these options: Categorical got unknown options: temperture"
    )


def test_a_leaf_distribution_option_typo_names_its_path() -> None:
    from specs import Composite

    action = Composite({"move": Discrete(3), "aim": Box((1,), -1.0, 1.0)})
    config: dict[str, Any] = {"leaf_action_dists": {"move": {"action_dist_config": {"temperture": 2}}}}
    with pytest.raises(ConfigError, match=r"^model_config\.leaf_action_dists\['move'\]\.action_dist_config: "):
        ActorCriticModule(Box((4,)), action, config)


@pytest.mark.parametrize(
    ("env", "env_config", "message"),
    [
        (
            "cartpole",
            {"max_episode_step": 100},
            "env_config.max_episode_step: env 'cartpole' of plugin 'cartpole' (rl8-core 0.1.0) takes no option "
            "'max_episode_step' (did you mean 'max_episode_steps'?)",
        ),
        ("cartpole", {"max_episode_steps": "long"}, "env_config.max_episode_steps: expected int, got 'long'"),
        (
            "CartPole-v1",
            {"render_mod": "rgb_array"},
            "env_config.render_mod: gymnasium env 'CartPole-v1' takes no option 'render_mod' (did you mean "
            "'render_mode'?); its options: factory, vectorization, clip_actions",
        ),
        ("CartPole-v1", {"sutton_barto_reward": "yes"}, "env_config.sutton_barto_reward: expected bool"),
        ("cartpole", {"num_envs": 3}, "env_config.num_envs: set by rl8-core for env 'cartpole'"),
        ("CartPole-v1", {"vectorization": 3}, "env_config.vectorization: expected one of 'sync', 'async', got 3"),
    ],
)
def test_env_config_is_checked_against_the_factory_before_any_env_starts(
    env: str, env_config: dict[str, Any], message: str
) -> None:
    config = TrainConfig.from_mapping({"env": env, "env_config": env_config})
    with pytest.raises(ConfigError) as info:
        resolve_parts(config, get_registry())
    assert str(info.value).startswith(message)


def test_the_cli_reports_an_option_typo_in_one_line(
    plugin_site: Callable[..., PluginSite], capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_site("acme")
    line = _one_line_exit_2(capsys, ["--set", "env_config.render_mod=human"])
    assert line.startswith("rl8 train: error: env_config.render_mod: gymnasium env 'CartPole-v1' takes no option")
    assert "(did you mean 'render_mode'?)" in line
    args = ["--set", "model_config.action_dist=acme_tempered_categorical"]
    line = _one_line_exit_2(capsys, [*args, "--set", "model_config.action_dist_config.temperture=0.5"])
    assert line.startswith("rl8 train: error: model_config.action_dist_config.temperture: distribution")
    assert "(did you mean 'temperature'?)" in line


def test_a_trainer_with_a_good_plugin_config_builds(plugin_site: Callable[..., PluginSite]) -> None:
    plugin_site("acme")
    model = {"action_dist": "acme_tempered_categorical", "action_dist_config": {"temperature": 0.5}}
    trainer = Trainer({**TINY, "model_config": model})
    try:
        assert trainer.module.get_action_dist_config() == {"temperature": 0.5}
    finally:
        trainer.close()


def test_an_option_an_env_passes_on_is_named_when_the_env_rejects_it() -> None:
    # MiniGrid's envs take ``**kwargs``: the signature cannot tell, so the env's own rejection is reported.
    from rl8_core import make_env

    wrappers = ["minigrid.wrappers:ImgObsWrapper"]
    with pytest.raises(ConfigError) as info:
        make_env("minigrid:MiniGrid-Empty-5x5-v0", {"sizee": 3, "wrappers": wrappers}, num_envs=1)
    message = str(info.value)
    assert message.startswith("env_config: env 'minigrid:MiniGrid-Empty-5x5-v0' (")
    assert "rejects an option: MiniGridEnv.__init__() got an unexpected keyword argument 'sizee'" in message


def test_options_of_a_named_component_are_checked_before_any_env_starts(
    plugin_site: Callable[..., PluginSite],
) -> None:
    # This env cannot even be built (its text 'mission' has no spec): the option typo is reported first.
    plugin_site("acme")
    model = {"action_dist": "acme_tempered_categorical", "action_dist_config": {"temperture": 0.5}}
    with pytest.raises(ConfigError) as info:
        Trainer({**TINY, "env": "minigrid:MiniGrid-Empty-5x5-v0", "model_config": model})
    assert str(info.value).startswith(
        "model_config.action_dist_config.temperture: distribution 'acme_tempered_categorical' of plugin 'acme'"
    )
    leaf = {"leaf_encoders": {"image": {"encoder": "cnn", "encoder_config": {"filtres": []}}}}
    with pytest.raises(ConfigError, match=r"^model_config\.leaf_encoders\['image'\]\.encoder_config\.filtres: "):
        Trainer({**TINY, "env": "minigrid:MiniGrid-Empty-5x5-v0", "model_config": leaf})
