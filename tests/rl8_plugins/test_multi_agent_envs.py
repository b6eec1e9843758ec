"""The multi-agent envs: torch-native ``gather`` and ``duel``, and ``pettingzoo`` (PettingZoo ParallelEnvs)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core import Columns, make_env
from rl8_core.components.multi_env import ALL_DONE, MultiAgentBatchedEnv
from rl8_core.errors import ConfigError
from rl8_plugins.envs.multi_agent import DuelEnv, GatherEnv

# pettingzoo.classic's old-style modules warn on import (PettingZoo's own deprecation of them).
OLD_API = pytest.mark.filterwarnings("ignore:The old environment creation API:DeprecationWarning")
KEYS = (Columns.OBS, Columns.NEXT_OBS, Columns.REWARDS, Columns.TERMINATEDS, Columns.TRUNCATEDS)


def random_actions(env: MultiAgentBatchedEnv, generator: torch.Generator) -> TensorDict:
    return TensorDict(
        {a: env.action_specs[a].rand((env.num_envs,), generator=generator) for a in env.agents}, [env.num_envs]
    )


def toward_target(env: GatherEnv, td: TensorDictBase) -> TensorDict:
    """The optimal gather policy: step towards the target (right: 2, left: 0)."""
    act = {}
    for a in env.agents:
        obs = td[a, Columns.OBS]
        act[a] = torch.where(obs[:, 1] > obs[:, 0], 2, 0)
    return TensorDict(act, [env.num_envs])


def assert_same(a: TensorDictBase, b: TensorDictBase) -> None:
    assert set(a.keys(True, True)) == set(b.keys(True, True))
    for key in a.keys(True, True):
        assert torch.equal(a[key], b[key]), key


def built(name: str, env_config: dict[str, Any], **kwargs: Any) -> MultiAgentBatchedEnv:
    env = make_env(name, env_config, **kwargs)  # annotated to return a BatchedEnv, returns either kind
    assert isinstance(env, MultiAgentBatchedEnv)
    return env


# --- gather -----------------------------------------------------------------------------------------------------


def test_gather_fits_its_specs_through_the_registry() -> None:
    env = built("gather", {"num_agents": 4, "size": 5}, num_envs=8, seed=0)
    assert isinstance(env, GatherEnv)
    assert env.agents == ("agent_0", "agent_1", "agent_2", "agent_3")
    td = env.reset()
    env.check_output(td, method="reset")
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        out = env.step(random_actions(env, g))
        env.check_output(out)
        for a in env.agents:
            env.observation_specs[a].validate(out[a, Columns.OBS], batch_shape=(8,))
            env.observation_specs[a].validate(out[a, Columns.NEXT_OBS], batch_shape=(8,))
            assert out[a, Columns.OBS].is_contiguous()


def test_gather_is_seeded() -> None:
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = GatherEnv(num_envs=6, seed=3), GatherEnv(num_envs=6)
    assert_same(a.reset(), b.reset(seed=3))
    for _ in range(20):
        assert_same(a.step(random_actions(a, g1)), b.step(random_actions(b, g2)))
    c = GatherEnv(num_envs=6, seed=4)
    assert not torch.equal(c.reset()["agent_0", Columns.OBS], a.reset(seed=3)["agent_0", Columns.OBS])


def test_gather_resumes_exactly_from_its_state_dict() -> None:
    a, b = GatherEnv(num_envs=5, seed=0), GatherEnv(num_envs=5, seed=99)
    a.reset()
    b.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(7):  # mid-episode (max_steps is 16)
        a.step(random_actions(a, g))
    b.load_state_dict(a.state_dict())
    for _ in range(30):
        actions = random_actions(a, g)
        assert_same(a.step(actions), b.step(actions.clone()))
    with pytest.raises(ValueError, match="cannot be loaded"):
        GatherEnv(num_envs=4).load_state_dict(a.state_dict())


def test_gather_agents_leave_at_different_times() -> None:
    """An agent at its target has left: reward 0, flags false, its last obs, its actions ignored, until __all__."""
    env = GatherEnv(num_envs=32, seed=0)
    td = env.reset()
    left: dict[tuple[str, int], torch.Tensor] = {}  # (agent, copy) -> its last observation
    seen_early_leaver = False
    for _ in range(40):
        act = toward_target(env, td)
        for agent, copy in left:
            act[agent][copy] = 2 - act[agent][copy]  # the wrong way: must change nothing
        out = env.step(act)
        env.check_output(out)
        all_done = out[ALL_DONE]
        for (agent, copy), last in list(left.items()):
            assert out[agent, Columns.REWARDS][copy] == 0
            assert not out[agent, Columns.TERMINATEDS][copy]
            assert not out[agent, Columns.TRUNCATEDS][copy]
            assert torch.equal(out[agent, Columns.NEXT_OBS][copy], last)
            if not all_done[copy]:
                assert torch.equal(out[agent, Columns.OBS][copy], last)
        for a in env.agents:
            reached = out[a, Columns.TERMINATEDS]
            assert torch.all(out[a, Columns.REWARDS][reached] == 1.0)
            assert torch.all(torch.isin(out[a, Columns.REWARDS][~reached & ~all_done], torch.tensor([-0.05, 0.0])))
            for copy in (reached & ~all_done).nonzero().flatten().tolist():
                seen_early_leaver = True
                left[a, copy] = out[a, Columns.NEXT_OBS][copy].clone()
        left = {key: last for key, last in left.items() if not all_done[key[1]]}
        td = out
    assert seen_early_leaver


def test_gather_truncates_the_agents_still_in_at_max_steps() -> None:
    env = GatherEnv(num_envs=3, seed=0, num_agents=2, max_steps=4)
    env.reset()
    stay = TensorDict({a: torch.ones(3, dtype=torch.long) for a in env.agents}, [3])
    for t in range(4):
        out = env.step(stay)
        for a in env.agents:
            assert torch.all(out[a, Columns.REWARDS] == -0.05)
            assert not out[a, Columns.TERMINATEDS].any()
            assert out[a, Columns.TRUNCATEDS].tolist() == [t == 3] * 3
        assert out[ALL_DONE].tolist() == [t == 3] * 3
    assert torch.all(out["agent_0", Columns.NEXT_OBS][:, 2] == 0.0)  # no steps left
    assert torch.all(out["agent_0", Columns.OBS][:, 2] == 1.0)  # a new episode


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"size": 1}, r"env_config\.size: gather needs an int >= 2"),
        ({"num_agents": 0}, r"env_config\.num_agents: gather needs an int >= 1"),
        ({"max_steps": 2.5}, r"env_config\.max_steps: gather needs an int >= 1"),
    ],
)
def test_gather_rejects_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GatherEnv(num_envs=1, **options)


# --- duel -------------------------------------------------------------------------------------------------------


def test_duel_is_zero_sum_and_fits_its_specs() -> None:
    env = built("duel", {}, num_envs=16, seed=0)
    assert isinstance(env, DuelEnv)
    env.check_output(env.reset(), method="reset")
    g = torch.Generator().manual_seed(0)
    ended = 0
    for _ in range(60):
        out = env.step(random_actions(env, g))
        env.check_output(out)
        r0, r1 = out["player_0", Columns.REWARDS], out["player_1", Columns.REWARDS]
        assert torch.equal(r0 + r1, torch.zeros(16))
        for key in (Columns.TERMINATEDS, Columns.TRUNCATEDS):
            assert torch.equal(out["player_0", key], out["player_1", key])
        done = out["player_0", Columns.TERMINATEDS] | out["player_0", Columns.TRUNCATEDS]
        assert torch.equal(done, out[ALL_DONE])
        assert torch.all(r0[~out["player_0", Columns.TERMINATEDS]] == 0)
        ended += int(done.sum())
    assert ended > 16


def test_duel_always_forward_beats_random() -> None:
    env = DuelEnv(num_envs=256, length=5)
    env.reset()
    g = torch.Generator().manual_seed(0)
    wins = losses = 0
    for _ in range(20):
        forward, rand = torch.zeros(256, dtype=torch.long), torch.randint(3, (256,), generator=g)
        act = TensorDict({"player_0": forward, "player_1": rand}, [256])
        out = env.step(act)
        wins += int((out["player_0", Columns.REWARDS] > 0).sum())
        losses += int((out["player_0", Columns.REWARDS] < 0).sum())
    assert wins > 0.7 * 256
    assert losses == 0


def test_duel_resumes_exactly_from_its_state_dict() -> None:
    a, b = DuelEnv(num_envs=4), DuelEnv(num_envs=4)
    a.reset()
    b.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        a.step(random_actions(a, g))
    b.load_state_dict(a.state_dict())
    for _ in range(30):
        actions = random_actions(a, g)
        assert_same(a.step(actions), b.step(actions))


# --- pettingzoo -------------------------------------------------------------------------------------------------


@pytest.fixture
def pettingzoo() -> Any:
    return pytest.importorskip("pettingzoo")


def test_simple_spread_through_the_factory_name(pettingzoo: Any) -> None:
    simple_spread_v3 = pytest.importorskip("mpe2.simple_spread_v3")

    config = {"env": "mpe2.simple_spread_v3", "N": 3, "continuous_actions": False}
    env = built("pettingzoo", config, num_envs=2, seed=0)
    assert env.agents == ("agent_0", "agent_1", "agent_2")
    td = env.reset()
    env.check_output(td, method="reset")
    assert not torch.equal(td["agent_0", Columns.OBS][0], td["agent_0", Columns.OBS][1])  # seeds 0 and 1
    raw, _ = simple_spread_v3.parallel_env(N=3, continuous_actions=False).reset(seed=1)
    assert torch.equal(td["agent_2", Columns.OBS][1], torch.from_numpy(raw["agent_2"]))
    assert_same(td, built("pettingzoo", config, num_envs=2, seed=0).reset())
    g = torch.Generator().manual_seed(0)
    for t in range(30):
        out = env.step(random_actions(env, g))
        env.check_output(out)
        assert out[ALL_DONE].tolist() == [t == 24] * 2  # max_cycles=25
        for a in env.agents:
            assert out[a, Columns.TRUNCATEDS].tolist() == [t == 24] * 2
            assert not out[a, Columns.TERMINATEDS].any()
            if t == 24:  # a fresh episode: agents stand still (their velocity, obs[:2], is zero)
                assert torch.all(out[a, Columns.OBS][:, :2] == 0)
                assert torch.all(out[a, Columns.NEXT_OBS][:, :2] != 0)
            else:
                assert torch.equal(out[a, Columns.OBS], out[a, Columns.NEXT_OBS])
    env.close()


@OLD_API
@pytest.mark.parametrize("ref", ["pettingzoo.classic.rps.rps:env", "pettingzoo.classic.rps_v2"])
def test_rock_paper_scissors_through_aec_to_parallel(pettingzoo: Any, ref: str) -> None:
    from pettingzoo.utils.conversions import aec_to_parallel_wrapper

    env = built("pettingzoo", {"env": ref, "max_cycles": 5}, num_envs=3, seed=0)
    assert all(isinstance(copy, aec_to_parallel_wrapper) for copy in env._envs)
    env.check_output(env.reset(), method="reset")
    g = torch.Generator().manual_seed(0)
    for t in range(7):
        actions = random_actions(env, g)
        out = env.step(actions)
        env.check_output(out)
        assert out[ALL_DONE].tolist() == [t % 5 == 4] * 3
        r0, r1 = out["player_0", Columns.REWARDS], out["player_1", Columns.REWARDS]
        assert torch.equal(r0 + r1, torch.zeros(3))
        beats = (actions["player_0"] - actions["player_1"]) % 3 == 1  # paper beats rock, ...
        assert torch.equal(r0 > 0, beats)
        assert torch.equal(out["player_0", Columns.NEXT_OBS], actions["player_1"])  # the opponent's move
        if t == 4:
            assert torch.all(out["player_0", Columns.OBS] == 3)  # a new game: no move yet


def make_toy(pettingzoo: Any, *, lives: dict[str, int], flag: bool = True, broken: bool = False) -> Any:
    """Return a ParallelEnv class whose agents leave after ``lives[agent]`` steps (with a flag, or just vanishing)."""
    import gymnasium as gym

    class Toy(pettingzoo.ParallelEnv):
        metadata: dict[str, Any] = {"name": "toy"}  # noqa: RUF012

        def __init__(self) -> None:
            self.possible_agents = list(lives)
            self.closed = False

        def observation_space(self, agent: str) -> gym.Space[Any]:
            return gym.spaces.Box(0, 10, (1,), np.float32)

        def action_space(self, agent: str) -> gym.Space[Any]:
            return gym.spaces.Discrete(2)

        def reset(self, seed: int | None = None, options: Any = None) -> Any:
            if broken:
                raise RuntimeError("no display")
            self.t = 0
            self.agents = list(lives)
            return {a: np.zeros(1, np.float32) for a in self.agents}, {}

        def step(self, actions: dict[str, Any]) -> Any:
            assert set(actions) == set(self.agents)
            self.t += 1
            obs = {a: np.full(1, self.t, np.float32) for a in self.agents}
            rew = {a: 1.0 for a in self.agents}
            term = {a: flag and lives[a] == self.t for a in self.agents}
            trunc = {a: False for a in self.agents}
            self.agents = [a for a in self.agents if lives[a] > self.t]
            return obs, rew, term, trunc, {}

        def close(self) -> None:
            self.closed = True

    return Toy


@pytest.mark.parametrize("flag", [True, False])
def test_an_agent_that_left_gets_filler_until_all_are_done(pettingzoo: Any, flag: bool) -> None:
    from rl8_plugins.envs.pettingzoo import PettingZooEnv

    env = PettingZooEnv(num_envs=2, env=make_toy(pettingzoo, lives={"a": 3, "b": 1}, flag=flag))
    env.reset()
    steps = [env.step(TensorDict({"a": torch.zeros(2), "b": torch.ones(2)}, [2])) for _ in range(4)]
    for out in steps:
        env.check_output(out)
    done = Columns.TERMINATEDS if flag else Columns.TRUNCATEDS
    assert [s["b", done].tolist() for s in steps] == [[True] * 2, [False] * 2, [False] * 2, [True] * 2]
    assert [s["b", Columns.REWARDS].tolist() for s in steps] == [[1.0] * 2, [0.0] * 2, [0.0] * 2, [1.0] * 2]
    assert [s["b", Columns.NEXT_OBS][0].item() for s in steps] == [1.0, 1.0, 1.0, 1.0]  # its last observation
    assert [s["a", done].tolist() for s in steps] == [[False] * 2, [False] * 2, [True] * 2, [False] * 2]
    assert [s[ALL_DONE].tolist() for s in steps] == [[False] * 2, [False] * 2, [True] * 2, [False] * 2]
    assert steps[2]["a", Columns.NEXT_OBS][0].item() == 3.0
    assert steps[2]["a", Columns.OBS][0].item() == steps[2]["b", Columns.OBS][0].item() == 0.0  # reset
    env.close()
    assert all(copy.closed for copy in env._envs)


@OLD_API
@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("nosuchpkg_rl8.envs_v1", r"module 'nosuchpkg_rl8\.envs_v1' is not installed; .*\(pip install nosuchpkg_rl8\)"),
        ("pettingzoo.nosuch_v3", r"package 'pettingzoo' has no module 'pettingzoo\.nosuch_v3'"),
        ("collections", r"module 'collections' has neither parallel_env nor env"),
        ("pettingzoo.classic.tictactoe_v3", r"is an AEC env that is not parallelizable \(turn-based"),
        ("collections:OrderedDict", r"returned OrderedDict, not a PettingZoo ParallelEnv or AECEnv"),
    ],
)
def test_bad_env_names_are_config_errors(pettingzoo: Any, ref: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_env("pettingzoo", {"env": ref}, num_envs=1)


def test_an_env_that_raises_on_reset_is_a_config_error(pettingzoo: Any) -> None:
    from rl8_plugins.envs.pettingzoo import PettingZooEnv

    env = PettingZooEnv(env=make_toy(pettingzoo, lives={"a": 1}, broken=True))
    with pytest.raises(ConfigError, match=r"env_config\.env: 'make_toy\.<locals>\.Toy' raised on reset: .*no display"):
        env.reset()


def test_a_missing_env_option_and_a_missing_pettingzoo_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"the pettingzoo env needs env: a module such as mpe2\.simple_spread_v3"):
        make_env("pettingzoo", {}, num_envs=1)
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    with pytest.raises(ConfigError, match=r"needs PettingZoo, which is not installed: pip install pettingzoo"):
        make_env("pettingzoo", {"env": "mpe2.simple_spread_v3"}, num_envs=1)
