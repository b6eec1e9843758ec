"""The torch ``pendulum`` env against gymnasium's Pendulum-v1, and its BatchedEnv contract."""

from __future__ import annotations

import math
from typing import Any, cast

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl8_core import BatchedEnv, Columns, get_registry
from rl8_plugins.envs.pendulum import PendulumEnv
from specs import from_gymnasium


def gym_envs_at(states: torch.Tensor, **kwargs: Any) -> list[gym.Env[Any, Any]]:
    """One gymnasium Pendulum-v1 per row of ``states`` [n, 2], set to that state."""
    envs = []
    for i, state in enumerate(states.double().numpy()):
        env = gym.make("Pendulum-v1", **kwargs)
        env.reset(seed=i)
        cast(Any, env.unwrapped).state = state.copy()
        envs.append(env)
    return envs


def compare_with_gymnasium(
    env: PendulumEnv, actions: torch.Tensor, *, atol: float, value_steps: int = 200, **gym_kwargs: Any
) -> None:
    """Step ``env`` and gymnasium twins with ``actions`` [t, n, 1] and compare every step.

    Observations and rewards are compared for the first ``value_steps`` steps
    (float32 physics drifts from gymnasium's float64 over a swinging episode),
    the end-of-episode flags for all of them.
    """
    gym_envs = gym_envs_at(env.state_dict()["state"], **gym_kwargs)
    for t, step_actions in enumerate(actions):
        out = env.step(step_actions)
        for i, gym_env in enumerate(gym_envs):
            obs, reward, terminated, truncated, _ = gym_env.step(step_actions[i].numpy())
            if t < value_steps:
                np.testing.assert_allclose(out[Columns.NEXT_OBS][i].numpy(), obs, atol=atol, rtol=0)
                assert out[Columns.REWARDS][i].item() == pytest.approx(reward, abs=atol * 10, rel=1e-6)
            assert not terminated
            assert not out[Columns.TERMINATEDS][i]
            assert truncated == bool(out[Columns.TRUNCATEDS][i]) == (t == 199)


def test_specs_match_gymnasium() -> None:
    env = PendulumEnv(num_envs=2, seed=0)
    gym_env = gym.make("Pendulum-v1")
    assert env.observation_spec == from_gymnasium(gym_env.observation_space)
    assert env.action_spec == from_gymnasium(gym_env.action_space)
    assert isinstance(env, BatchedEnv)


def test_whole_episodes_match_gymnasium_exactly_in_float64() -> None:
    """200 steps of large random torques (mostly clipped), truncation included.

    gymnasium multiplies a float32 torque in float32; float64 torques keep its
    arithmetic in float64 like ours, so the states agree to the last bit.
    """
    env = PendulumEnv(num_envs=8, seed=0, dtype=torch.float64)
    env.reset()
    actions = torch.empty(200, 8, 1, dtype=torch.float64).uniform_(-5, 5, generator=torch.Generator().manual_seed(1))
    compare_with_gymnasium(env, actions, atol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "atol", "value_steps"), [(torch.float64, 1e-3, 200), (torch.float32, 1e-4, 50)], ids=["f64", "f32"]
)
def test_whole_episodes_match_gymnasium_with_float32_torques(dtype: torch.dtype, atol: float, value_steps: int) -> None:
    env = PendulumEnv(num_envs=8, seed=2, dtype=dtype)
    env.reset()
    actions = torch.empty(200, 8, 1).uniform_(-3, 3, generator=torch.Generator().manual_seed(3))
    compare_with_gymnasium(env, actions, atol=atol, value_steps=value_steps)


def test_gravity_is_configurable() -> None:
    env = PendulumEnv(num_envs=4, seed=0, dtype=torch.float64, g=9.81)
    env.reset()
    actions = torch.empty(200, 4, 1, dtype=torch.float64).uniform_(-2, 2, generator=torch.Generator().manual_seed(4))
    compare_with_gymnasium(env, actions, atol=1e-6, g=9.81)


def test_large_torques_act_and_cost_as_the_clipped_ones() -> None:
    big, clipped = PendulumEnv(num_envs=4, seed=0), PendulumEnv(num_envs=4, seed=0)
    big.reset(), clipped.reset()
    for _ in range(10):
        a = big.step(torch.tensor([[100.0], [-100.0], [2.5], [-1.0]]))
        b = clipped.step(torch.tensor([[2.0], [-2.0], [2.0], [-1.0]]))
        assert (a == b).all()


def test_truncation_at_200_resets_within_step() -> None:
    env = PendulumEnv(num_envs=16, seed=5)
    obs = env.reset()[Columns.OBS]
    zeros = torch.zeros(16, 1)
    for t in range(400):
        out = env.step(zeros)
        assert not out[Columns.TERMINATEDS].any()
        assert out[Columns.TRUNCATEDS].all() == (t % 200 == 199)
        assert out[Columns.TRUNCATEDS].any() == (t % 200 == 199)
        if t % 200 == 199:
            # next_obs: where the episode ended; obs: a fresh start (thdot in [-1, 1]).
            assert not torch.equal(out[Columns.NEXT_OBS], out[Columns.OBS])
            assert (out[Columns.OBS][:, 2].abs() <= 1).all()
            state = env.state_dict()["state"]
            assert torch.allclose(out[Columns.OBS][:, 0], state[:, 0].cos())
        else:
            assert torch.equal(out[Columns.NEXT_OBS], out[Columns.OBS])
        assert env.observation_spec.contains(out[Columns.NEXT_OBS])
        obs = out[Columns.OBS]
    assert env.observation_spec.contains(obs)


@pytest.mark.parametrize("sparse_reset", [True, False], ids=["index_copy", "where"])
def test_only_finished_envs_reset(sparse_reset: bool) -> None:
    env = PendulumEnv(num_envs=3, seed=0, max_episode_steps=5)
    env._sparse_reset = sparse_reset  # torch.where is the path other devices take
    env.reset()
    state = env.state_dict()
    state["steps"] = torch.tensor([4, 0, 3], dtype=torch.int32)
    env.load_state_dict(state)
    out = env.step(torch.zeros(3, 1))
    assert out[Columns.TRUNCATEDS].tolist() == [True, False, False]
    assert not torch.equal(out[Columns.OBS][0], out[Columns.NEXT_OBS][0])
    assert torch.equal(out[Columns.OBS][1:], out[Columns.NEXT_OBS][1:])
    assert env.state_dict()["steps"].tolist() == [0, 1, 4]


def test_reset_distribution() -> None:
    env = PendulumEnv(num_envs=4096, seed=0)
    env.reset()
    th, thdot = env.state_dict()["state"].unbind(1)
    assert th.min() >= -math.pi
    assert th.max() <= math.pi
    assert thdot.min() >= -1
    assert thdot.max() <= 1
    assert th.min() < -3.0
    assert th.max() > 3.0
    assert thdot.abs().max() > 0.99


def test_seeding_is_reproducible() -> None:
    actions = torch.empty(250, 8, 1).uniform_(-2, 2, generator=torch.Generator().manual_seed(0))

    def rollout(env: PendulumEnv, seed: int | None) -> list[torch.Tensor]:
        return [env.reset(seed=seed)[Columns.OBS]] + [env.step(a)[Columns.OBS] for a in actions]

    a = rollout(PendulumEnv(num_envs=8, seed=7), None)
    b = rollout(PendulumEnv(num_envs=8), 7)
    env = PendulumEnv(num_envs=8, seed=1)
    c = rollout(env, 7)
    d = rollout(env, 7)
    for x, y, z, w in zip(a, b, c, d, strict=True):
        assert torch.equal(x, y)
        assert torch.equal(x, z)
        assert torch.equal(x, w)
    assert not torch.equal(a[0], rollout(PendulumEnv(num_envs=8, seed=8), None)[0])


def test_state_dict_round_trip_continues_identically() -> None:
    env = PendulumEnv(num_envs=8, seed=0)
    env.reset()
    actions = torch.empty(300, 8, 1).uniform_(-2, 2, generator=torch.Generator().manual_seed(1))
    for a in actions[:150]:
        env.step(a)
    saved = env.state_dict()
    expected = [env.step(a) for a in actions[150:]]  # crosses the truncation at 200
    restored = PendulumEnv(num_envs=8, seed=3)
    restored.load_state_dict(saved)
    for a, want in zip(actions[150:], expected, strict=True):
        assert (restored.step(a) == want).all()
    with pytest.raises(ValueError, match="8 envs"):
        PendulumEnv(num_envs=2).load_state_dict(saved)


@pytest.mark.parametrize("num_envs", [1, 4096])
def test_runs_on_cpu_at_any_batch_size(num_envs: int) -> None:
    env = PendulumEnv(num_envs=num_envs, seed=0, device="cpu")
    td = env.reset()
    assert td.batch_size == torch.Size([num_envs])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = env.step(torch.empty(num_envs, 1).uniform_(-2, 2, generator=generator))
    assert out.batch_size == torch.Size([num_envs])
    assert out.device == torch.device("cpu")
    assert out[Columns.OBS].shape == (num_envs, 3)
    assert out[Columns.OBS].dtype == torch.float32
    assert out[Columns.REWARDS].dtype == torch.float32
    assert (out[Columns.REWARDS] <= 0).all()
    assert out[Columns.TERMINATEDS].dtype == out[Columns.TRUNCATEDS].dtype == torch.bool
    assert env.observation_spec.contains(out[Columns.OBS])


def test_registered_as_pendulum_with_config() -> None:
    factory = get_registry().get("env", "pendulum")
    assert factory is PendulumEnv
    env = factory(num_envs=2, seed=0, device="cpu", g=9.81, max_episode_steps=7, dtype="float64")
    assert (env.g, env.max_episode_steps, env.dtype) == (9.81, 7, torch.float64)


@pytest.mark.gpu
def test_runs_on_cuda_without_host_syncs() -> None:
    env = PendulumEnv(num_envs=1024, seed=0, device="cuda")
    env.reset()
    actions = torch.zeros(1024, 1, device="cuda")
    env.step(actions)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            out = env.step(actions)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out[Columns.OBS].device.type == "cuda"


@pytest.mark.parametrize("th", [0.0, math.pi / 2, 2.5])
def test_render_draws_the_rod_at_its_angle(th: float) -> None:
    env = PendulumEnv(num_envs=1)
    env.reset(seed=0)
    loaded = env.state_dict()
    loaded["state"][0] = torch.tensor([th, 0.0])
    env.load_state_dict(loaded)
    picture = env.render()
    assert (picture.shape, picture.dtype) == ((500, 500, 3), np.uint8)
    # Up at th = 0, anticlockwise for positive th: rod colour 80 pixels out along it, white opposite.
    dx, dy = -math.sin(th) * 80, -math.cos(th) * 80
    assert picture[round(250 + dy), round(250 + dx)].tolist() == [204, 77, 77]
    assert picture[round(250 - dy), round(250 - dx)].tolist() == [255, 255, 255]
