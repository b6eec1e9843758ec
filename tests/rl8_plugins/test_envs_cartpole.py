"""The torch ``cartpole`` env against gymnasium's CartPole-v1, and its BatchedEnv contract."""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl8_core import BatchedEnv, Columns, get_registry
from rl8_plugins.envs.cartpole import CartPoleEnv
from specs import Discrete, from_gymnasium

# Full-state feedback that keeps every pole up and every cart on the track for 500 steps.
BALANCE_GAINS = torch.tensor([1.0, 1.0, 10.0, 2.0])


def balance(obs: torch.Tensor) -> torch.Tensor:
    return ((obs.double() * BALANCE_GAINS.double()).sum(-1) > 0).long()


def gym_envs_at(states: torch.Tensor) -> list[gym.Env[Any, Any]]:
    """One gymnasium CartPole-v1 per row of ``states`` [n, 4], set to that state."""
    envs = []
    for i, state in enumerate(states.double().numpy()):
        env = gym.make("CartPole-v1")
        env.reset(seed=i)
        cast(Any, env.unwrapped).state = state.copy()
        envs.append(env)
    return envs


def test_specs_match_gymnasium() -> None:
    env = CartPoleEnv(num_envs=2, seed=0)
    gym_env = gym.make("CartPole-v1")
    assert env.observation_spec == from_gymnasium(gym_env.observation_space)
    assert env.action_spec == Discrete(2)
    assert isinstance(env, BatchedEnv)


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_episodes_match_gymnasium_step_for_step(dtype: torch.dtype, atol: float) -> None:
    """Same start states, same random actions: same observations, rewards and termination step."""
    n = 16
    env = CartPoleEnv(num_envs=n, seed=1, dtype=dtype)
    start = env.reset()[Columns.OBS]
    gym_envs = gym_envs_at(env.state_dict()["state"])
    actions = torch.randint(0, 2, (200, n), generator=torch.Generator().manual_seed(2))
    ended = np.zeros(n, dtype=bool)
    lengths = np.zeros(n, dtype=int)
    assert torch.equal(start, env.state_dict()["state"].float())
    for t in range(200):
        out = env.step(actions[t])
        for i, gym_env in enumerate(gym_envs):
            if ended[i]:
                continue
            obs, reward, terminated, truncated, _ = gym_env.step(int(actions[t, i]))
            np.testing.assert_allclose(out[Columns.NEXT_OBS][i].numpy(), obs, atol=atol, rtol=0)
            assert out[Columns.REWARDS][i].item() == reward == 1.0
            assert bool(out[Columns.TERMINATEDS][i]) == terminated
            assert bool(out[Columns.TRUNCATEDS][i]) == truncated
            if terminated or truncated:
                ended[i] = True
                lengths[i] = t + 1
        if ended.all():
            break
    assert ended.all(), "random actions should end every episode within 200 steps"
    assert lengths.min() < lengths.max()  # the envs really are independent


def test_truncation_at_500_with_a_balancing_policy_as_gymnasium() -> None:
    n = 4
    env = CartPoleEnv(num_envs=n, seed=3, dtype=torch.float64)
    obs = env.reset()[Columns.OBS]
    gym_envs = gym_envs_at(env.state_dict()["state"])
    gym_obs = obs.numpy().copy()
    for t in range(500):
        out = env.step(balance(obs))
        obs = out[Columns.OBS]
        gym_actions = balance(torch.from_numpy(gym_obs))
        for i, gym_env in enumerate(gym_envs):
            gym_obs[i], _, terminated, truncated, _ = gym_env.step(int(gym_actions[i]))
            assert not terminated
            assert truncated == (t == 499)
        assert not out[Columns.TERMINATEDS].any()
        assert out[Columns.TRUNCATEDS].all() == (t == 499)
        assert not out[Columns.TRUNCATEDS].any() or t == 499
    # The truncated step hands over the final state in next_obs and a fresh start in obs.
    assert torch.allclose(out[Columns.NEXT_OBS], torch.from_numpy(gym_obs), atol=1e-3)
    assert out[Columns.OBS].abs().max() <= 0.05
    assert (out[Columns.NEXT_OBS] != out[Columns.OBS]).all()


def test_truncation_follows_the_step_counter() -> None:
    env = CartPoleEnv(num_envs=3, seed=0, max_episode_steps=500)
    env.reset()
    state = env.state_dict()
    state["steps"] = torch.tensor([498, 10, 499], dtype=torch.int32)
    env.load_state_dict(state)
    obs = state["state"].float()
    first = env.step(balance(obs))
    assert first[Columns.TRUNCATEDS].tolist() == [False, False, True]
    second = env.step(balance(first[Columns.OBS]))
    assert second[Columns.TRUNCATEDS].tolist() == [True, False, False]
    assert env.state_dict()["steps"].tolist() == [0, 12, 1]


def test_short_time_limit_is_configurable() -> None:
    env = CartPoleEnv(num_envs=2, seed=0, max_episode_steps=3)
    obs = env.reset()[Columns.OBS]
    flags = []
    for _ in range(6):
        out = env.step(balance(obs))
        obs = out[Columns.OBS]
        flags.append(out[Columns.TRUNCATEDS].tolist())
    assert flags == [[False, False], [False, False], [True, True]] * 2


@pytest.mark.parametrize("sparse_reset", [True, False], ids=["index_copy", "where"])
def test_finished_envs_reset_within_step(sparse_reset: bool) -> None:
    """obs is the reset observation where an episode ended, next_obs the final one; other envs go on."""
    env = CartPoleEnv(num_envs=64, seed=4)
    # Both reset paths are exercised on the CPU: torch.where is what other devices use.
    env._sparse_reset = sparse_reset
    obs = env.reset()[Columns.OBS]
    actions = torch.randint(0, 2, (300, 64), generator=torch.Generator().manual_seed(5))
    seen_done = 0
    for t in range(300):
        out = env.step(actions[t])
        done = out[Columns.TERMINATEDS] | out[Columns.TRUNCATEDS]
        final, new_obs = out[Columns.NEXT_OBS], out[Columns.OBS]
        assert torch.equal(new_obs[~done], final[~done])
        if done.any():
            seen_done += int(done.sum())
            limits = torch.tensor([2.4, 12 * 2 * np.pi / 360])
            assert ((final[done][:, [0, 2]].abs() > limits).any(1)).all()
            assert (new_obs[done].abs() <= 0.05).all()
        # The state the next step starts from is the observation handed out.
        assert torch.equal(env.state_dict()["state"], new_obs)
        # Nothing handed out earlier is written to later.
        assert torch.equal(obs, obs.clone())
        obs = new_obs
    assert seen_done > 64


def test_seeding_is_reproducible() -> None:
    actions = torch.randint(0, 2, (100, 8), generator=torch.Generator().manual_seed(0))

    def rollout(env: CartPoleEnv, seed: int | None) -> list[torch.Tensor]:
        outs = [env.reset(seed=seed)[Columns.OBS]]
        outs += [env.step(a)[Columns.OBS] for a in actions]
        return outs

    a = rollout(CartPoleEnv(num_envs=8, seed=7), None)
    b = rollout(CartPoleEnv(num_envs=8, seed=123), 7)
    env = CartPoleEnv(num_envs=8)
    c = rollout(env, 7)
    d = rollout(env, 7)  # reset(seed=...) reseeds a used env
    e = rollout(CartPoleEnv(num_envs=8, seed=8), None)
    for x, y, z, w in zip(a, b, c, d, strict=True):
        assert torch.equal(x, y)
        assert torch.equal(x, z)
        assert torch.equal(x, w)
    assert not torch.equal(a[0], e[0])


def test_state_dict_round_trip_continues_identically() -> None:
    env = CartPoleEnv(num_envs=32, seed=0)
    env.reset()
    actions = torch.randint(0, 2, (150, 32), generator=torch.Generator().manual_seed(1))
    for a in actions[:50]:
        env.step(a)
    saved = env.state_dict()
    expected = [env.step(a) for a in actions[50:]]
    restored = CartPoleEnv(num_envs=32, seed=99)
    restored.load_state_dict(saved)
    for a, want in zip(actions[50:], expected, strict=True):
        got = restored.step(a)
        assert (got == want).all()
    with pytest.raises(ValueError, match="32 envs"):
        CartPoleEnv(num_envs=4).load_state_dict(saved)


@pytest.mark.parametrize("num_envs", [1, 4096])
def test_runs_on_cpu_at_any_batch_size(num_envs: int) -> None:
    env = CartPoleEnv(num_envs=num_envs, seed=0, device="cpu")
    td = env.reset()
    assert td.batch_size == torch.Size([num_envs])
    assert env.observation_spec.contains(td[Columns.OBS], batch_shape=(num_envs,))
    for _ in range(20):
        out = env.step(env.action_spec.rand((num_envs,)))
    assert out.batch_size == torch.Size([num_envs])
    assert out.device == torch.device("cpu")
    assert out[Columns.OBS].dtype == out[Columns.NEXT_OBS].dtype == torch.float32
    assert out[Columns.REWARDS].dtype == torch.float32
    assert out[Columns.TERMINATEDS].dtype == out[Columns.TRUNCATEDS].dtype == torch.bool
    assert env.observation_spec.contains(out[Columns.OBS])
    assert env.observation_spec.contains(out[Columns.NEXT_OBS])


def test_actions_of_shape_n_1_are_accepted_and_tensordicts_rejected() -> None:
    env_a, env_b = CartPoleEnv(num_envs=3, seed=0), CartPoleEnv(num_envs=3, seed=0)
    env_a.reset(), env_b.reset()
    actions = torch.tensor([0, 1, 1])
    assert (env_a.step(actions) == env_b.step(actions[:, None])).all()
    with pytest.raises(TypeError, match="tensor of actions"):
        env_a.step(env_a.reset())


def test_registered_as_cartpole_with_config() -> None:
    factory = get_registry().get("env", "cartpole")
    assert factory is CartPoleEnv
    env = factory(num_envs=2, seed=0, device="cpu", dtype="float64", max_episode_steps=10)
    assert env.state_dict()["state"].dtype == torch.float64
    assert env.max_episode_steps == 10
    with pytest.raises(ValueError, match="float32 or float64"):
        factory(num_envs=2, dtype="float16")


@pytest.mark.gpu
def test_runs_on_cuda_without_host_syncs() -> None:
    env = CartPoleEnv(num_envs=1024, seed=0, device="cuda")
    env.reset()
    actions = torch.randint(0, 2, (1024,), device="cuda")
    env.step(actions)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            out = env.step(actions)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out[Columns.OBS].device.type == "cuda"


@pytest.mark.parametrize("state", [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.2, 0.0], [-2.0, 0.0, -0.15, 0.0]])
def test_render_draws_what_gymnasium_draws(state: list[float]) -> None:
    env = CartPoleEnv(num_envs=2)
    env.reset(seed=0)
    loaded = env.state_dict()
    loaded["state"][1] = torch.tensor(state)
    env.load_state_dict(loaded)
    picture = env.render(1)
    assert (picture.shape, picture.dtype) == ((400, 600, 3), np.uint8)
    reference = gym.make("CartPole-v1", render_mode="rgb_array")
    reference.reset(seed=0)
    cast(Any, reference.unwrapped).state = np.array(state)
    expected = reference.render()
    reference.close()
    assert isinstance(expected, np.ndarray)
    # Gymnasium anti-aliases the pole's edges; the pictures differ only there.
    assert (picture != expected).any(2).mean() < 0.01
    # The cart at x: black at its centre, 300 + 125 x pixels from the left.
    assert picture[300, round(300 + 125 * state[0])].tolist() == [0, 0, 0]
