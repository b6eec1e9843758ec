"""``GymVectorEnv``: gymnasium vector envs behind the BatchedEnv protocol, and the ``gymnasium`` env plugin."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv
from gymnasium.wrappers import TimeLimit
from tensordict import TensorDictBase

from rl8_core import BatchedEnv, Columns, GymVectorEnv, get_registry
from specs import Box, Composite, Discrete, MultiBinary, from_gymnasium


class Counter(gym.Env[np.ndarray, int]):
    """Observes ``[steps taken, a number drawn at reset]``; action 1 terminates the episode."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Discrete(2)  # type: ignore[assignment]  # gymnasium types it Space[int]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        self.drawn = self.np_random.uniform(1.0, 2.0)
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.drawn], dtype=np.float32)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return self._obs(), 0.5, bool(action == 1), False, {"t": self.t}


def counter(max_episode_steps: int = 3) -> gym.Env:
    return TimeLimit(Counter(), max_episode_steps=max_episode_steps)


class Nested(gym.Env[dict[str, Any], np.ndarray]):
    """Dict/Tuple observations; ``pos`` echoes the (float32 Box) action it received."""

    observation_space = spaces.Dict(
        {
            "pos": spaces.Box(-np.inf, np.inf, (2,), np.float32),
            "flags": spaces.Tuple((spaces.Discrete(3), spaces.MultiBinary(2))),
        }
    )
    action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(np.zeros(2, np.float32)), {}

    def _obs(self, pos: np.ndarray) -> dict[str, Any]:
        return {"pos": pos, "flags": (self.t % 3, np.array([self.t % 2, 1], dtype=np.int8))}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self.t += 1
        return self._obs(np.asarray(action, dtype=np.float32)), 1.0, False, False, {}


def nested() -> gym.Env:
    return TimeLimit(Nested(), max_episode_steps=2)


class DictActions(gym.Env[np.ndarray, dict[str, Any]]):
    """Observes ``[move, fire]`` of the ``Dict`` action it received."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Dict({"move": spaces.Box(-1.0, 1.0, (1,), np.float32), "fire": spaces.Discrete(2)})

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert action["move"].dtype == np.float32
        return np.array([action["move"][0], action["fire"]], np.float32), 0.0, False, False, {}


@pytest.fixture
def closing() -> Iterator[list[GymVectorEnv]]:
    """Collect envs a test builds and close them afterwards."""
    envs: list[GymVectorEnv] = []
    yield envs
    for env in envs:
        env.close()


def test_is_a_batched_env_with_specs_from_the_single_spaces(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv("CartPole-v1", num_envs=3, seed=0)
    closing.append(env)
    assert isinstance(env, BatchedEnv)
    assert env.observation_spec == from_gymnasium(gym.make("CartPole-v1").observation_space)
    assert env.action_spec == Discrete(2)
    assert env.num_envs == 3
    assert env.device == torch.device("cpu")
    assert env.state_dict() is None


def test_final_obs_on_truncation_is_the_true_last_obs(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(counter, num_envs=2, seed=0, env_kwargs={"max_episode_steps": 3})
    closing.append(env)
    start = env.reset()[Columns.OBS]
    zeros = torch.zeros(2, dtype=torch.int64)
    outs = [env.step(zeros) for _ in range(3)]
    for t, out in enumerate(outs[:2]):
        assert not out[Columns.TRUNCATEDS].any()
        assert out[Columns.NEXT_OBS] is out[Columns.OBS]  # nothing ended: one tensor
        assert out[Columns.OBS][:, 0].tolist() == [t + 1, t + 1]
    last = outs[2]
    assert last[Columns.TRUNCATEDS].tolist() == [True, True]
    assert last[Columns.TERMINATEDS].tolist() == [False, False]
    # next_obs: the observation the episode ended in (3 steps taken, the episode's draw).
    assert last[Columns.NEXT_OBS][:, 0].tolist() == [3.0, 3.0]
    assert torch.equal(last[Columns.NEXT_OBS][:, 1], start[:, 1])
    # obs: the new episode's first observation, with a new draw.
    assert last[Columns.OBS][:, 0].tolist() == [0.0, 0.0]
    assert not torch.equal(last[Columns.OBS][:, 1], start[:, 1])


def test_terminations_and_truncations_are_kept_apart(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(counter, num_envs=3, seed=0)
    closing.append(env)
    env.reset()
    out = env.step(torch.tensor([1, 0, 0]))
    assert out[Columns.TERMINATEDS].tolist() == [True, False, False]
    assert out[Columns.TRUNCATEDS].tolist() == [False, False, False]
    assert out[Columns.NEXT_OBS][:, 0].tolist() == [1.0, 1.0, 1.0]
    assert out[Columns.OBS][:, 0].tolist() == [0.0, 1.0, 1.0]
    env.step(torch.tensor([0, 0, 0]))
    out = env.step(torch.tensor([0, 1, 0]))
    # env 1 terminates on the step its time limit truncates it too (as gymnasium reports);
    # env 0 started over one step later and goes on.
    assert out[Columns.TERMINATEDS].tolist() == [False, True, False]
    assert out[Columns.TRUNCATEDS].tolist() == [False, True, True]
    assert out[Columns.NEXT_OBS][:, 0].tolist() == [2.0, 3.0, 3.0]
    assert out[Columns.OBS][:, 0].tolist() == [2.0, 0.0, 0.0]
    assert out[Columns.REWARDS].dtype == torch.float32
    assert out[Columns.REWARDS].tolist() == [0.5, 0.5, 0.5]
    assert out[Columns.TERMINATEDS].dtype == out[Columns.TRUNCATEDS].dtype == torch.bool


def test_dict_and_tuple_observations_become_tensordicts(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(nested, num_envs=2, seed=0)
    closing.append(env)
    spec = env.observation_spec
    assert spec == Composite(
        {
            "flags": Composite.from_tuple([Discrete(3), MultiBinary(2)]),
            "pos": Box((2,)),
        }
    )
    obs = env.reset()[Columns.OBS]
    assert isinstance(obs, TensorDictBase)
    assert spec.contains(obs, batch_shape=(2,))
    out = env.step(torch.tensor([[0.5, -0.5], [0.25, 0.0]]))
    assert spec.contains(out[Columns.OBS], batch_shape=(2,))
    assert out[Columns.OBS]["flags", "0"].tolist() == [1, 1]
    assert out[Columns.OBS]["flags", "1"].tolist() == [[1, 1], [1, 1]]
    out = env.step(torch.tensor([[0.75, -0.75], [-0.25, 1.0]]))  # the time limit of 2 ends both
    assert out[Columns.TRUNCATEDS].all()
    final, fresh = out[Columns.NEXT_OBS], out[Columns.OBS]
    assert spec.contains(final, batch_shape=(2,))
    assert spec.contains(fresh, batch_shape=(2,))
    assert final["pos"].tolist() == [[0.75, -0.75], [-0.25, 1.0]]
    assert final["flags", "0"].tolist() == [2, 2]
    assert final["flags", "1"].tolist() == [[0, 1], [0, 1]]
    assert fresh["pos"].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert fresh["flags", "0"].tolist() == [0, 0]


def test_only_the_finished_envs_final_obs_are_written(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(counter, num_envs=4, seed=0)
    closing.append(env)
    env.reset()
    out = env.step(torch.tensor([0, 1, 0, 1]))
    assert out[Columns.NEXT_OBS][:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out[Columns.OBS][:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert torch.equal(out[Columns.NEXT_OBS][[0, 2]], out[Columns.OBS][[0, 2]])


@pytest.mark.parametrize("clip", [True, False])
def test_box_actions_are_clipped_to_the_action_space(clip: bool, closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(nested, num_envs=2, seed=0, clip_actions=clip)
    closing.append(env)
    env.reset()
    actions = torch.tensor([[5.0, -5.0], [0.5, -1.5]], dtype=torch.float64)
    received = env.step(actions)[Columns.OBS]["pos"]
    expected = [[1.0, -1.0], [0.5, -1.0]] if clip else [[5.0, -5.0], [0.5, -1.5]]
    assert received.tolist() == expected
    # The policy's tensor is left as it was.
    assert actions.tolist() == [[5.0, -5.0], [0.5, -1.5]]


def test_dict_actions_are_cast_and_their_box_leaves_clipped(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(DictActions, num_envs=2, seed=0)
    closing.append(env)
    assert isinstance(env.action_spec, Composite)
    env.reset()
    actions = env.action_spec.zero((2,))
    actions["move"] = torch.tensor([[3.0], [-0.5]], dtype=torch.float64)
    actions["fire"] = torch.tensor([1, 0])
    assert env.step(actions)[Columns.OBS].tolist() == [[1.0, 1.0], [-0.5, 0.0]]
    with pytest.raises(TypeError, match="TensorDict"):
        env.step(torch.zeros(2))


def test_pendulum_torques_and_rewards(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv("Pendulum-v1", num_envs=2, seed=0, env_kwargs={"g": 9.81})
    closing.append(env)
    assert env.action_spec == Box((1,), -2.0, 2.0)
    env.reset()
    out = env.step(torch.tensor([[3.0], [-0.5]]))
    assert out[Columns.REWARDS].dtype == torch.float32
    assert out[Columns.OBS].dtype == torch.float32
    assert isinstance(env.env, SyncVectorEnv)
    assert env.env.envs[0].unwrapped.last_u == pytest.approx(2.0)  # type: ignore[attr-defined]  # clipped here, before gymnasium


def test_reset_seed_is_reproducible_and_seeds_env_i_with_seed_plus_i(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(counter, num_envs=3, seed=10)
    other = GymVectorEnv(counter, num_envs=3)
    closing.extend([env, other])
    first = env.reset()[Columns.OBS]  # the constructor's seed
    again = env.reset(seed=10)[Columns.OBS]
    assert torch.equal(first, again)
    assert torch.equal(other.reset(seed=10)[Columns.OBS], first)
    assert not torch.equal(env.reset()[Columns.OBS], first)  # unseeded resets go on drawing
    for i in range(3):
        single = Counter()
        obs, _ = single.reset(seed=10 + i)
        assert first[i].tolist() == obs.tolist()


@pytest.mark.filterwarnings(
    # Python >= 3.12 warns when forking a process that has threads (torch's); the
    # workers only run gymnasium code, and the test is about real subprocesses.
    "ignore:This process .* is multi-threaded, use of fork\\(\\) may lead to deadlocks:DeprecationWarning"
)
def test_async_vectorization_runs_real_subprocesses_and_matches_sync(closing: list[GymVectorEnv]) -> None:
    sync = GymVectorEnv("CartPole-v1", num_envs=2, seed=3)
    async_ = GymVectorEnv("CartPole-v1", num_envs=2, seed=3, vectorization="async")
    closing.extend([sync, async_])
    assert isinstance(async_.env, AsyncVectorEnv)
    processes = async_.env.processes
    assert len(processes) == 2
    assert all(p.is_alive() and p.pid != os.getpid() for p in processes)
    assert torch.equal(sync.reset()[Columns.OBS], async_.reset()[Columns.OBS])
    actions = torch.randint(0, 2, (60, 2), generator=torch.Generator().manual_seed(0))
    ended = 0
    for a in actions:
        want, got = sync.step(a), async_.step(a)
        assert (want == got).all()
        ended += int(got[Columns.TERMINATEDS].sum())
    assert ended >= 2  # autoreset happened in the workers too


def test_step_before_reset_and_bad_arguments_raise(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(counter, num_envs=1)
    closing.append(env)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="vectorization"):
        GymVectorEnv(counter, num_envs=1, vectorization="threads")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SAME_STEP"):
        GymVectorEnv(counter, num_envs=1, vector_kwargs={"autoreset_mode": "NextStep"})


def test_the_gymnasium_plugin_is_found_through_the_registry(closing: list[GymVectorEnv]) -> None:
    factory = get_registry().get("env", "gymnasium")
    env = factory(num_envs=2, seed=0, device="cpu", id="CartPole-v1")
    closing.append(env)
    assert isinstance(env, GymVectorEnv)
    assert env.reset()[Columns.OBS].shape == (2, 4)
    # A factory given as an import path; other keywords go to it.
    env = factory(
        num_envs=2, seed=0, factory="gymnasium.envs.classic_control.cartpole:CartPoleEnv", sutton_barto_reward=True
    )
    closing.append(env)
    env.reset()
    assert env.step(torch.tensor([0, 1]))[Columns.REWARDS].tolist() == [0.0, 0.0]
    env = factory(num_envs=1, factory=counter, max_episode_steps=1, clip_actions=False)
    closing.append(env)
    env.reset()
    assert env.step(torch.zeros(1, dtype=torch.int64))[Columns.TRUNCATEDS].tolist() == [True]
    with pytest.raises(ValueError, match="exactly one"):
        factory(num_envs=1, id="CartPole-v1", factory=counter)
    with pytest.raises(ValueError, match="exactly one"):
        factory(num_envs=1)


@pytest.mark.gpu
def test_tensors_are_moved_to_the_device(closing: list[GymVectorEnv]) -> None:
    env = GymVectorEnv(nested, num_envs=2, seed=0, device="cuda")
    closing.append(env)
    assert env.reset()[Columns.OBS]["pos"].device.type == "cuda"
    out = env.step(torch.full((2, 2), 3.0, device="cuda"))
    out = env.step(torch.full((2, 2), 3.0, device="cuda"))
    assert out[Columns.OBS]["pos"].device.type == "cuda"
    assert out[Columns.NEXT_OBS]["pos"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
