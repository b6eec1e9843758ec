"""The torch ``pixels`` env: rendering, moves, rewards, autoreset, seeding and its BatchedEnv contract."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rl8_core import BatchedEnv, Columns, get_registry
from rl8_plugins.envs.pixels import PixelsEnv
from specs import Box, Discrete

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def place(env: PixelsEnv, agent: list[list[int]], goal: list[list[int]], steps: list[int] | None = None) -> None:
    state = env.state_dict()
    state["agent"] = torch.tensor(agent)
    state["goal"] = torch.tensor(goal)
    state["steps"] = torch.tensor(steps or [0] * env.num_envs)
    env.load_state_dict(state)


def test_specs_and_rendering() -> None:
    env = PixelsEnv(num_envs=2, seed=0, size=6, cell_pixels=2)
    assert isinstance(env, BatchedEnv)
    assert env.observation_spec == Box((12, 12, 3), 0, 255, torch.uint8)
    assert env.action_spec == Discrete(4)
    obs = env.reset()[Columns.OBS]
    assert env.observation_spec.contains(obs, batch_shape=(2,))
    for i in range(2):
        # Each of agent and goal covers one 2x2 block of its channel; channel 2 is empty.
        assert (obs[i, ..., 0] == 255).sum() == 4
        assert (obs[i, ..., 1] == 255).sum() == 4
        assert (obs[i, ..., 2] == 0).all()
        (ay, ax), (gy, gx) = env.state_dict()["agent"][i].tolist(), env.state_dict()["goal"][i].tolist()
        assert obs[i, 2 * ay, 2 * ax, 0] == 255
        assert obs[i, 2 * gy + 1, 2 * gx + 1, 1] == 255
        assert (ay, ax) != (gy, gx)


def test_moves_stop_at_the_border() -> None:
    env = PixelsEnv(num_envs=4, seed=0)
    env.reset()
    place(env, [[0, 0], [4, 4], [2, 0], [2, 4]], [[3, 3]] * 4)
    env.step(torch.tensor([UP, DOWN, LEFT, RIGHT]))
    assert env.state_dict()["agent"].tolist() == [[0, 0], [4, 4], [2, 0], [2, 4]]
    env.step(torch.tensor([DOWN, UP, RIGHT, LEFT]))
    assert env.state_dict()["agent"].tolist() == [[1, 0], [3, 4], [2, 1], [2, 3]]


def test_reaching_the_goal_terminates_with_a_time_discounted_reward() -> None:
    env = PixelsEnv(num_envs=2, seed=0, max_episode_steps=10)
    env.reset()
    place(env, [[1, 1], [1, 1]], [[1, 2], [3, 3]], steps=[4, 4])
    out = env.step(torch.tensor([RIGHT, RIGHT]))
    assert out[Columns.TERMINATEDS].tolist() == [True, False]
    assert out[Columns.TRUNCATEDS].tolist() == [False, False]
    assert out[Columns.REWARDS].tolist() == pytest.approx([1 - 0.9 * 5 / 10, 0.0])
    # next_obs shows the agent on the goal; obs is already the next episode's start.
    assert out[Columns.NEXT_OBS][0, 1, 2, 0] == out[Columns.NEXT_OBS][0, 1, 2, 1] == 255
    assert env.state_dict()["steps"].tolist() == [0, 5]
    assert not torch.equal(out[Columns.OBS][0], out[Columns.NEXT_OBS][0])
    assert torch.equal(out[Columns.OBS][1], out[Columns.NEXT_OBS][1])


def test_truncation_after_max_episode_steps() -> None:
    env = PixelsEnv(num_envs=3, seed=0)
    assert env.max_episode_steps == 20
    env.reset()
    place(env, [[0, 0]] * 3, [[4, 4]] * 3)
    for t in range(20):
        out = env.step(torch.full((3,), UP))
        assert out[Columns.TRUNCATEDS].tolist() == [t == 19] * 3
        assert not out[Columns.TERMINATEDS].any()
        assert (out[Columns.REWARDS] == 0).all()
    assert env.state_dict()["steps"].tolist() == [0, 0, 0]


def test_a_random_policy_scores_about_a_fifth() -> None:
    env = PixelsEnv(num_envs=1024, seed=0)
    env.reset()
    generator = torch.Generator().manual_seed(0)
    ret = torch.zeros(1024)
    finished = []
    for _ in range(60):
        out = env.step(torch.randint(4, (1024,), generator=generator))
        ret += out[Columns.REWARDS]
        done = out[Columns.TERMINATEDS] | out[Columns.TRUNCATEDS]
        finished.append(ret[done].clone())
        ret[done] = 0
    assert 0.15 < float(torch.cat(finished).mean()) < 0.3


def test_seeding_and_state_dict_round_trip() -> None:
    actions = torch.randint(4, (30, 8), generator=torch.Generator().manual_seed(1))
    a, b = PixelsEnv(num_envs=8, seed=3), PixelsEnv(num_envs=8)
    assert torch.equal(a.reset()[Columns.OBS], b.reset(seed=3)[Columns.OBS])
    for t in range(10):
        a.step(actions[t])
        b.step(actions[t])
    c = PixelsEnv(num_envs=8, seed=99)
    c.reset()
    c.load_state_dict(a.state_dict())
    for t in range(10, 30):
        out_a, out_b, out_c = a.step(actions[t]), b.step(actions[t]), c.step(actions[t])
        for key in (Columns.OBS, Columns.NEXT_OBS, Columns.REWARDS, Columns.TERMINATEDS, Columns.TRUNCATEDS):
            assert torch.equal(out_a[key], out_b[key])
            assert torch.equal(out_a[key], out_c[key])
    with pytest.raises(ValueError, match="cannot be loaded"):
        PixelsEnv(num_envs=2).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": 1, "size": 1}, "size"),
        ({"num_envs": 1, "cell_pixels": 0}, "cell_pixels"),
        ({"num_envs": 1, "max_episode_steps": 0}, "max_episode_steps"),
    ],
)
def test_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PixelsEnv(**kwargs)


def test_registered_as_pixels_with_config() -> None:
    env = get_registry().get("env", "pixels")(num_envs=2, seed=0, size=8)
    assert isinstance(env, PixelsEnv)
    assert env.reset()[Columns.OBS].shape == (2, 8, 8, 3)


def test_render_shows_agent_and_goal_cells_in_their_colours() -> None:
    env = PixelsEnv(num_envs=2, seed=0, size=4)
    env.reset()
    place(env, agent=[[0, 0], [3, 1]], goal=[[2, 3], [0, 0]])
    cell = PixelsEnv.RENDER_CELL
    for i, (agent, goal) in enumerate([((0, 0), (2, 3)), ((3, 1), (0, 0))]):
        picture = env.render(i)
        assert (picture.shape, str(picture.dtype)) == ((4 * cell, 4 * cell, 3), "uint8")
        colours = {
            (r, c): tuple(picture[r * cell + cell // 2, c * cell + cell // 2].tolist())
            for r in range(4)
            for c in range(4)
        }
        assert colours.pop(agent) == PixelsEnv.AGENT_COLOR
        assert colours.pop(goal) == PixelsEnv.GOAL_COLOR
        assert set(colours.values()) == {PixelsEnv.FLOOR_COLOR}
