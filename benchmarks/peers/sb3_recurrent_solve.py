"""Time-to-solve of sb3-contrib RecurrentPPO on CartPole-v1 with velocities masked (peer benchmark).

What it measures:
    sb3-contrib's ``RecurrentPPO`` (``MlpLstmPolicy``) with the
    rl-baselines3-zoo tuned hyperparameters of ``CartPoleNoVel-v1`` trains
    until it is *solved*, by the same criterion as ``sb3_solve.py``: the mean
    undiscounted return of the last 20 finished training episodes (in
    completion order across all envs; envs finishing on the same vector step
    are taken in env-index order) first reaches 475.

    The env is gymnasium's CartPole-v1 whose observation keeps only the cart
    position and the pole angle (indices 0 and 2; ``MaskVelocity`` below), so
    the policy needs memory to infer the velocities. rl-zoo's own
    ``CartPoleNoVel-v1`` (``rl_zoo3/import_envs.py``) zeroes the two velocity
    entries instead of dropping them; the information is the same (and
    ``VecNormalize`` maps a constant-zero input to zero anyway), only the
    LSTM's input width differs (2 here, 4 there).

    Hyperparameters: rl-baselines3-zoo ``hyperparams/ppo_lstm.yml``, entry
    ``CartPoleNoVel-v1`` (marked "Tuned"; checked against the zoo's file at
    commit c94924e5b31bce36920f29d3eb18b975231bdec4)::

        normalize: True          # VecNormalize(norm_obs, norm_reward, gamma=0.98)
        n_envs: 8                # DummyVecEnv
        n_timesteps: 1e5
        policy: MlpLstmPolicy
        n_steps: 32
        batch_size: 256
        gae_lambda: 0.8
        gamma: 0.98
        n_epochs: 20
        ent_coef: 0.0
        learning_rate: lin_0.001
        clip_range: lin_0.2
        policy_kwargs: dict(ortho_init=False, activation_fn=nn.ReLU,
                            lstm_hidden_size=64, enable_critic_lstm=True,
                            net_arch=dict(pi=[64], vf=[64]))

    rl-zoo turns ``normalize: True`` into ``VecNormalize`` with its defaults
    (observations and rewards normalized, clip 10) and the algorithm's gamma;
    the ``Monitor`` sits under it, so the episode returns judged here are the
    raw ones. The linear schedules run over the full ``--total-timesteps``
    (1e5), as in the zoo, even though training stops once solved. Everything
    not listed is RecurrentPPO's default (vf_coef 0.5, max_grad_norm 0.5,
    n_lstm_layers 1, separate actor and critic LSTMs of 64 units each,
    ``shared_lstm=False``).

How:
    A callback (``sb3_solve.SolveCallback``) reads the ``Monitor`` episode
    records from each vector step's ``infos``. Its clock starts in
    ``on_training_start``, right after the model is built and the envs are
    reset and right before the first env step; everything before that is
    ``setup_s``. When the criterion is met it records wall seconds and env
    steps and stops training at once; unsolved after the budget, the
    end-of-training figures are reported with ``"solved": false``. Then the
    final policy plays 10 deterministic episodes on a fresh env seeded
    ``seed + 10000``, under a ``VecNormalize`` holding the training
    observation statistics, frozen, with reward normalization off (as rl-zoo
    evaluates); SB3's ``evaluate_policy`` carries the LSTM state from step to
    step and resets it at each episode start.

Output:
    Everything goes to stderr except one JSON object, the last (and only)
    line of stdout, with the same fields as ``sb3_solve.py``::

        {"library": "sb3-contrib", "env": "CartPoleNoVel-v1", "seed": 0, "solved": true,
         "wall_s": 122.5521, "env_steps": 33536, "setup_s": 4.4354,
         "eval_return_mean": 500.0, "steps_per_s": 273.6}

Run with the SB3 peer venv, which also has sb3-contrib (see ``benchmarks/peers/README.md``)::

    .bench/sb3/bin/python benchmarks/peers/sb3_recurrent_solve.py --seed 0
"""

from __future__ import annotations

import time

_T_PROCESS = time.perf_counter()  # Before the heavy imports: they count as setup.

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import sb3_contrib  # noqa: E402
import stable_baselines3  # noqa: E402
import torch  # noqa: E402
from sb3_contrib import RecurrentPPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, sync_envs_normalization  # noqa: E402
from torch import nn  # noqa: E402

# rl8-core is not installed in the peer venvs: the shared helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_parser, print_record  # noqa: E402
from sb3_solve import SolveCallback, linear_schedule  # noqa: E402

ENV_ID = "CartPoleNoVel-v1"
"""The rl-zoo name of the task (and of its ``ppo_lstm.yml`` entry); built here from ``BASE_ENV_ID``."""
BASE_ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
WINDOW = 20
TOTAL_TIMESTEPS = 100_000
EVAL_EPISODES = 10
N_ENVS = 8
GAMMA = 0.98


class MaskVelocity(gym.ObservationWrapper):
    """CartPole without velocities: observe ``[x, theta]`` (indices 0 and 2) of ``[x, x_dot, theta, theta_dot]``."""

    KEEP = (0, 2)

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box), space
        assert space.shape == (4,), space
        keep = list(self.KEEP)
        self.observation_space = gym.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Return the positions only."""
        return observation[list(self.KEEP)]


def recurrent_ppo_kwargs() -> dict[str, Any]:
    """Return the ``RecurrentPPO`` keyword arguments of rl-zoo's ``CartPoleNoVel-v1`` entry (see the docstring)."""
    return {
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": GAMMA,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": linear_schedule(1e-3),
        "clip_range": linear_schedule(0.2),
        "policy_kwargs": {
            "ortho_init": False,
            "activation_fn": nn.ReLU,
            "lstm_hidden_size": 64,
            "enable_critic_lstm": True,
            "net_arch": {"pi": [64], "vf": [64]},
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = make_parser(__doc__)
    parser.add_argument(
        "--env", default=ENV_ID, choices=[ENV_ID], help="task (only CartPoleNoVel-v1; accepted for sb3_solve.py parity)"
    )
    parser.add_argument("--seed", type=int, default=0, help="global seed")
    parser.add_argument(
        "--total-timesteps",
        type=int,
        default=TOTAL_TIMESTEPS,
        help="training budget (rl-zoo: 1e5), also the linear schedules' horizon",
    )
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="mean return that counts as solved")
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--eval-episodes", type=int, default=EVAL_EPISODES)
    parser.add_argument("--device", default="cpu", help="torch device for sb3-contrib")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train until solved (or out of budget), then evaluate.

    Args:
        args: Parsed command line.

    Returns:
        The result record printed as JSON.
    """
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    print(
        f"sb3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}, "
        f"gymnasium {gym.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}",
        file=sys.stderr,
    )
    # make_vec_env puts the Monitor right on the env, under the wrapper: it records raw returns.
    venv = make_vec_env(BASE_ENV_ID, n_envs=N_ENVS, seed=args.seed, vec_env_cls=DummyVecEnv, wrapper_class=MaskVelocity)
    env = VecNormalize(venv, gamma=GAMMA)
    model = RecurrentPPO("MlpLstmPolicy", env, **recurrent_ppo_kwargs(), seed=args.seed, device=args.device, verbose=0)
    callback = SolveCallback(args.threshold, args.window)
    t_before_learn = time.perf_counter()
    model.learn(total_timesteps=args.total_timesteps, callback=callback)
    t_end = time.perf_counter()
    setup_s = callback.t_start - _T_PROCESS
    learn_setup_s = callback.t_start - t_before_learn
    if callback.solved:
        assert callback.solved_wall_s is not None
        assert callback.solved_env_steps is not None
        wall_s = callback.solved_wall_s
        env_steps = callback.solved_env_steps
    else:
        wall_s = t_end - callback.t_start
        env_steps = int(model.num_timesteps)
    print(
        f"solved={callback.solved} after {callback.episodes} episodes, "
        f"{env_steps} env steps, {wall_s:.2f} s (learn() setup {learn_setup_s:.3f} s)",
        file=sys.stderr,
    )

    eval_env = VecNormalize(
        DummyVecEnv([lambda: Monitor(MaskVelocity(gym.make(BASE_ENV_ID)))]),
        training=False,
        norm_reward=False,
        gamma=GAMMA,
    )
    sync_envs_normalization(env, eval_env)  # the training observation statistics, frozen
    eval_env.seed(args.seed + 10_000)
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    assert isinstance(mean_return, float)  # a float since return_episode_rewards=False
    print(f"eval: {mean_return:.1f} +- {std_return:.1f}", file=sys.stderr)
    return {
        "library": "sb3-contrib",
        "env": ENV_ID,
        "seed": args.seed,
        "solved": callback.solved,
        "wall_s": round(wall_s, 4),
        "env_steps": env_steps,
        "setup_s": round(setup_s, 4),
        "eval_return_mean": round(float(mean_return), 3),
        "steps_per_s": round(env_steps / wall_s, 1) if wall_s > 0 else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON record as the last stdout line.

    Args:
        argv: Arguments, without the program name; ``sys.argv[1:]`` if None.
    """
    args = parse_args(argv)
    print_record(lambda: run(args))


if __name__ == "__main__":
    main()
