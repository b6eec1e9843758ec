"""Envs that need memory: ``mask_velocity`` on cartpole and pendulum, the ``MaskVelocity`` wrapper, ``memory_cue``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl8_core import Columns, Trainer, get_registry, make_env
from rl8_core.errors import ConfigError
from rl8_plugins.envs.cartpole import CartPoleEnv
from rl8_plugins.envs.memory_cue import MemoryCueEnv
from rl8_plugins.envs.pendulum import PendulumEnv
from rl8_plugins.envs.wrappers import MaskVelocity
from specs import Box, Composite, Discrete, from_gymnasium

MASK = "rl8_plugins.envs.wrappers:MaskVelocity"


# --- mask_velocity on the torch-native envs ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_cartpole_sees_x_and_theta_of_the_same_episodes(dtype: torch.dtype) -> None:
    """Same seed, same actions: the masked observations are columns 0 and 2 of the full ones, resets included."""
    full, masked = (
        CartPoleEnv(num_envs=16, seed=0, dtype=dtype),
        CartPoleEnv(num_envs=16, seed=0, dtype=dtype, mask_velocity=True),
    )
    assert torch.equal(masked.reset()[Columns.OBS], full.reset()[Columns.OBS][:, [0, 2]])
    actions = torch.randint(0, 2, (120, 16), generator=torch.Generator().manual_seed(1))
    ended = 0
    for a in actions:
        want, got = full.step(a), masked.step(a)
        for key in (Columns.OBS, Columns.NEXT_OBS):
            assert got[key].shape == (16, 2)
            assert got[key].is_contiguous()
            assert torch.equal(got[key], want[key][:, [0, 2]])
        for key in (Columns.REWARDS, Columns.TERMINATEDS, Columns.TRUNCATEDS):
            assert torch.equal(got[key], want[key])
        masked.check_output(got)
        ended += int(got[Columns.TERMINATEDS].sum())
    assert ended > 16  # final observations of finished episodes were compared too
    # The physics state (and so a checkpoint) is the full one, velocities included.
    assert torch.equal(masked.state_dict()["state"], full.state_dict()["state"])


def test_masked_cartpole_specs_keep_the_bounds_of_x_and_theta() -> None:
    full = CartPoleEnv(num_envs=2).observation_spec
    masked = CartPoleEnv(num_envs=2, mask_velocity=True).observation_spec
    assert isinstance(full, Box)
    assert isinstance(masked, Box)
    assert masked.shape == (2,)
    assert masked.dtype == torch.float32
    assert torch.equal(masked.low, full.low[[0, 2]])
    assert torch.equal(masked.high, full.high[[0, 2]])
    assert masked == from_gymnasium(MaskVelocity(gym.make("CartPole-v1")).observation_space)


def test_masked_cartpole_with_dict_obs_keeps_one_position_per_part() -> None:
    full = CartPoleEnv(num_envs=8, seed=3, dict_obs=True)
    masked = CartPoleEnv(num_envs=8, seed=3, dict_obs=True, mask_velocity=True)
    spec = masked.observation_spec
    assert isinstance(spec, Composite)
    assert {k: v.shape for k, v in spec.items()} == {"cart": (1,), "pole": (1,)}
    full_reset, masked_reset = full.reset(), masked.reset()
    masked.check_output(masked_reset, method="reset")
    assert torch.equal(masked_reset[Columns.OBS, "cart"], full_reset[Columns.OBS, "cart"][:, :1])
    for a in torch.randint(0, 2, (60, 8), generator=torch.Generator().manual_seed(4)):
        want, got = full.step(a), masked.step(a)
        masked.check_output(got)
        for key in (Columns.OBS, Columns.NEXT_OBS):
            assert torch.equal(got[key, "cart"], want[key, "cart"][:, :1])  # x
            assert torch.equal(got[key, "pole"], want[key, "pole"][:, :1])  # theta


def test_masked_pendulum_sees_cos_and_sin_of_the_same_episodes() -> None:
    full, masked = PendulumEnv(num_envs=8, seed=0), PendulumEnv(num_envs=8, seed=0, mask_velocity=True)
    assert torch.equal(masked.reset()[Columns.OBS], full.reset()[Columns.OBS][:, :2])
    state = full.state_dict()
    state["steps"] = torch.arange(8, dtype=torch.int32) + 190  # episodes end during the test
    full.load_state_dict(state)
    masked.load_state_dict(state)
    actions = 4 * torch.rand((30, 8, 1), generator=torch.Generator().manual_seed(2)) - 2
    for a in actions:
        want, got = full.step(a), masked.step(a)
        masked.check_output(got)
        for key in (Columns.OBS, Columns.NEXT_OBS):
            assert got[key].shape == (8, 2)
            assert torch.equal(got[key], want[key][:, :2])
        assert torch.equal(got[Columns.REWARDS], want[Columns.REWARDS])
        assert torch.equal(got[Columns.TRUNCATEDS], want[Columns.TRUNCATEDS])
    assert torch.equal(masked.state_dict()["state"], full.state_dict()["state"])


def test_masked_pendulum_spec_matches_the_wrapped_gymnasium_space() -> None:
    spec = PendulumEnv(num_envs=2, mask_velocity=True).observation_spec
    assert isinstance(spec, Box)
    assert spec.shape == (2,)
    assert spec == from_gymnasium(MaskVelocity(gym.make("Pendulum-v1")).observation_space)


def test_mask_velocity_is_an_env_config_option() -> None:
    for name, width in (("cartpole", 2), ("pendulum", 2)):
        env = make_env(name, {"mask_velocity": True}, num_envs=3, seed=0)
        assert env.reset()[Columns.OBS].shape == (3, width)


# --- the MaskVelocity gymnasium wrapper -------------------------------------------------------------------------


@pytest.mark.parametrize(("env_id", "keep"), [("CartPole-v1", [0, 2]), ("Pendulum-v1", [0, 1])])
def test_wrapper_keeps_the_positions_of_known_envs(env_id: str, keep: list[int]) -> None:
    full, masked = gym.make(env_id), MaskVelocity(gym.make(env_id))
    space = full.observation_space
    assert isinstance(space, gym.spaces.Box)
    assert masked.observation_space == gym.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype)
    assert masked.keep == tuple(keep)
    want, _ = full.reset(seed=5)
    got, _ = masked.reset(seed=5)
    np.testing.assert_array_equal(got, want[keep])
    full.action_space.seed(6)
    for _ in range(30):
        action = full.action_space.sample()
        want, *_ = full.step(action)
        got, *_ = masked.step(action)
        np.testing.assert_array_equal(got, want[keep])
        assert masked.observation_space.contains(got)


def test_wrapper_takes_any_keep_and_rejects_bad_ones() -> None:
    env = MaskVelocity(gym.make("Pendulum-v1"), keep=[2, 0])
    assert env.observation_space.shape == (2,)
    obs, _ = env.reset(seed=0)
    full, _ = gym.make("Pendulum-v1").reset(seed=0)
    np.testing.assert_array_equal(obs, full[[2, 0]])
    with pytest.raises(ConfigError, match=r"not for env 'MountainCar-v0'; pass keep=\[\.\.\.\]"):
        MaskVelocity(gym.make("MountainCar-v0"))
    for keep in ([], [4], [0, 0], [-1]):
        with pytest.raises(ConfigError, match=r"keep must be .* in \[0, 4\)"):
            MaskVelocity(gym.make("CartPole-v1"), keep=keep)
    with pytest.raises(ConfigError, match="needs a 1-D Box"):
        MaskVelocity(gym.make("FrozenLake-v1"), keep=[0])


def test_wrapper_from_env_config_by_import_path_and_mapping() -> None:
    env = make_env("Pendulum-v1", {"wrappers": [{"wrapper": MASK, "keep": [2]}]}, num_envs=2, seed=0)
    try:
        assert env.reset()[Columns.OBS].shape == (2, 1)
    finally:
        env.close()
    with pytest.raises(ConfigError, match=r"env_config\.wrappers\[0\]: .*pass keep=\[\.\.\.\]"):
        make_env("MountainCar-v0", {"wrappers": [MASK]}, num_envs=1)


def test_trainer_trains_on_cartpole_v1_without_velocities() -> None:
    config: dict[str, Any] = {
        "env": "CartPole-v1",
        "env_config": {"wrappers": [MASK]},
        "num_envs": 2,
        "horizon": 8,
        "algorithm_config": {"num_epochs": 1},  # one update is enough to see the shapes flow through
        "tracking": {"enabled": False},
        "progress": "none",
    }
    with Trainer(config) as trainer:
        assert trainer.env.observation_spec.shape == (2,)
        result = trainer.step()
        assert result["counters/env_steps"] == 16
        out = trainer.env.step(torch.zeros(2, dtype=torch.long))
        assert out[Columns.OBS].shape == out[Columns.NEXT_OBS].shape == (2, 2)


# --- memory_cue -------------------------------------------------------------------------------------------------


def play(env: MemoryCueEnv, episodes: int, policy: str) -> tuple[list[float], list[int]]:
    """Play ``episodes`` episodes per env and return every episode's return and length.

    ``policy`` is "oracle" (answers the cue it saw), "zero" (always answers 0)
    or "random". Checks the observations, rewards and the contract on the way.
    """
    n, k = env.num_envs, env.num_cues
    first = env.reset()
    env.check_output(first, method="reset")
    obs = first[Columns.OBS]
    remembered = torch.full((n,), -1)
    returns: list[float] = []
    lengths: list[int] = []
    ret, length = torch.zeros(n), torch.zeros(n, dtype=torch.long)
    while len(returns) < episodes * n:
        t = length  # steps taken in the current episodes
        # The cue shows at the first step only, the query flag at the last only.
        assert torch.equal(obs[:, :k].sum(1), (t == 0).float())
        assert torch.equal(obs[:, k], (t == env.delay + 1).float())
        remembered = torch.where(t == 0, obs[:, :k].argmax(1), remembered)
        actions = {"oracle": remembered, "zero": torch.zeros(n, dtype=torch.long), "random": torch.randint(0, k, (n,))}[
            policy
        ]
        out = env.step(actions)
        env.check_output(out)
        assert not out[Columns.TRUNCATEDS].any()
        done = out[Columns.TERMINATEDS]
        ret, length = ret + out[Columns.REWARDS], length + 1
        # Reward 1 exactly for the right answer at the query step.
        assert torch.equal(out[Columns.REWARDS], (done & (actions == remembered)).float())
        assert torch.equal(done, t == env.delay + 1)
        assert (out[Columns.NEXT_OBS][done] == 0).all()  # the final observation is blank
        assert torch.equal(out[Columns.OBS][~done], out[Columns.NEXT_OBS][~done])
        returns += ret[done].tolist()
        lengths += length[done].tolist()
        ret, length = torch.where(done, 0.0, ret), torch.where(done, 0, length)
        obs = out[Columns.OBS]
    return returns, lengths


@pytest.mark.parametrize(("num_cues", "delay"), [(2, 8), (3, 0), (5, 3)])
def test_an_oracle_remembering_the_cue_earns_1_every_episode(num_cues: int, delay: int) -> None:
    env = MemoryCueEnv(num_envs=16, seed=0, num_cues=num_cues, delay=delay)
    assert env.observation_spec == Box((num_cues + 1,), 0.0, 1.0, torch.float32)
    assert env.action_spec == Discrete(num_cues)
    returns, lengths = play(env, 4, "oracle")
    assert returns == [1.0] * len(returns)
    assert lengths == [delay + 2] * len(lengths) == [env.episode_length] * len(lengths)


@pytest.mark.parametrize("num_cues", [2, 4])
def test_answering_0_always_earns_1_over_num_cues(num_cues: int) -> None:
    env = MemoryCueEnv(num_envs=500, seed=1, num_cues=num_cues, delay=2)
    returns, _ = play(env, 4, "zero")
    assert set(returns) == {0.0, 1.0}
    assert np.mean(returns) == pytest.approx(1 / num_cues, abs=0.04)  # 2000 episodes: sd <= 0.011


def test_random_answers_are_scored_against_the_cue() -> None:
    returns, _ = play(MemoryCueEnv(num_envs=200, seed=2, num_cues=3, delay=1), 5, "random")
    assert np.mean(returns) == pytest.approx(1 / 3, abs=0.05)


def test_cues_are_uniform_and_redrawn_each_episode() -> None:
    env = MemoryCueEnv(num_envs=3000, seed=0, num_cues=3, delay=0)
    first = env.reset()[Columns.OBS][:, :3].argmax(1)
    assert torch.bincount(first, minlength=3).min() > 900
    env.step(torch.zeros(3000, dtype=torch.long))
    out = env.step(torch.zeros(3000, dtype=torch.long))  # the query step: every env resets
    assert out[Columns.TERMINATEDS].all()
    second = out[Columns.OBS][:, :3].argmax(1)
    assert (out[Columns.OBS][:, :3].sum(1) == 1).all()
    assert 0.6 < (first != second).float().mean() < 0.73  # independent draws differ 2/3 of the time


def test_answers_before_the_query_earn_nothing() -> None:
    env = MemoryCueEnv(num_envs=64, seed=0, delay=3)
    cue = env.reset()[Columns.OBS][:, :2].argmax(1)
    for _ in range(4):  # the cue step and the blank steps, answered right
        out = env.step(cue)
        assert not out[Columns.REWARDS].any()
        assert not out[Columns.TERMINATEDS].any()
    out = env.step(cue)
    assert out[Columns.REWARDS].eq(1).all()
    assert out[Columns.TERMINATEDS].all()


def test_seeding_is_reproducible() -> None:
    actions = torch.randint(0, 2, (30, 8), generator=torch.Generator().manual_seed(0))

    def rollout(env: MemoryCueEnv, seed: int | None) -> list[torch.Tensor]:
        return [env.reset(seed=seed)[Columns.OBS]] + [env.step(a)[Columns.OBS] for a in actions]

    a = rollout(MemoryCueEnv(num_envs=8, seed=7, delay=1), None)
    b = rollout(MemoryCueEnv(num_envs=8, seed=123, delay=1), 7)
    c = rollout(MemoryCueEnv(num_envs=8, seed=8, delay=1), None)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_state_dict_round_trip_continues_identically() -> None:
    env = MemoryCueEnv(num_envs=16, seed=0, num_cues=3, delay=4)
    env.reset()
    actions = torch.randint(0, 3, (40, 16), generator=torch.Generator().manual_seed(1))
    for a in actions[:13]:  # mid-episode
        env.step(a)
    saved = env.state_dict()
    expected = [env.step(a) for a in actions[13:]]
    restored = MemoryCueEnv(num_envs=16, seed=99, num_cues=3, delay=4)
    restored.load_state_dict(saved)
    for a, want in zip(actions[13:], expected, strict=True):
        assert (restored.step(a) == want).all()
    with pytest.raises(ValueError, match="16 envs"):
        MemoryCueEnv(num_envs=4).load_state_dict(saved)


def test_staggered_episodes_reset_independently() -> None:
    env = MemoryCueEnv(num_envs=3, seed=0, delay=2)
    env.reset()
    state = env.state_dict()
    state["steps"] = torch.tensor([0, 2, 3])
    env.load_state_dict(state)
    out = env.step(state["cue"])
    assert out[Columns.TERMINATEDS].tolist() == [False, False, True]
    assert out[Columns.REWARDS].tolist() == [0.0, 0.0, 1.0]
    assert out[Columns.OBS][:, 2].tolist() == [0.0, 1.0, 0.0]  # env 1 is at its query now
    assert out[Columns.OBS][2, :2].sum() == 1  # env 2 shows its new cue
    assert env.state_dict()["steps"].tolist() == [1, 3, 0]


def test_registered_with_validated_options() -> None:
    factory = get_registry().get("env", "memory_cue")
    assert factory is MemoryCueEnv
    env = make_env("memory_cue", {"num_cues": 4, "delay": 1}, num_envs=2, seed=0)
    assert env.reset()[Columns.OBS].shape == (2, 5)
    with pytest.raises(ConfigError, match=r"env_config\.num_cues: .* got 1; set num_cues to 2 or more"):
        MemoryCueEnv(num_envs=2, num_cues=1)
    with pytest.raises(ConfigError, match=r"env_config\.delay: .* got -1; set delay to 0 or more"):
        MemoryCueEnv(num_envs=2, delay=-1)
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        MemoryCueEnv(num_envs=0)
    with pytest.raises(TypeError, match="tensor of actions"):
        env.step(env.reset())


@pytest.mark.gpu
def test_memory_cue_runs_on_cuda_without_host_syncs() -> None:
    env = MemoryCueEnv(num_envs=1024, seed=0, device="cuda", delay=2)
    env.reset()
    actions = torch.zeros(1024, dtype=torch.long, device="cuda")
    env.step(actions)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(8):  # episodes end and restart on the way
            out = env.step(actions)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out[Columns.OBS].device.type == "cuda"
    env.check_output(out)


def test_memory_cue_render_lights_the_cue_then_the_query() -> None:
    env = MemoryCueEnv(num_envs=1, seed=0, num_cues=3, delay=1)
    cue = int(env.reset()["obs"][0, :3].argmax())
    picture = env.render()
    assert (picture.shape, picture.dtype) == ((32, 128, 3), np.uint8)
    lit = [picture[16, 32 * i + 16].tolist() != [40, 40, 40] for i in range(4)]
    assert lit == [i == cue for i in range(4)]
    env.step(torch.zeros(1, dtype=torch.long))  # a blank step: nothing lit
    assert (env.render() == 40).all()
    env.step(torch.zeros(1, dtype=torch.long))  # the query step: the last square
    query = env.render()
    assert query[16, 3 * 32 + 16].tolist() == [240, 200, 40]
    assert (query[:, : 3 * 32] == 40).all()
