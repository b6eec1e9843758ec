"""Time-to-solve of Stable-Baselines3 PPO on gymnasium CartPole-v1 or Pendulum-v1 (peer benchmark).

What it measures:
    SB3 PPO with the rl-baselines3-zoo tuned hyperparameters of the env
    given by ``--env`` (the ``SETTINGS`` table) trains until it is *solved*:
    the mean undiscounted return of the last 20 finished training episodes
    (in completion order across all envs; envs finishing on the same vector
    step are taken in env-index order) first reaches the env's threshold.

    CartPole-v1: rl-zoo's tuned CartPole-v1 hyperparameters
    (``hyperparams/ppo.yml``: 8 envs in a ``DummyVecEnv``, n_steps 32,
    batch_size 256, gae_lambda 0.8, gamma 0.98, n_epochs 20, ent_coef 0.0,
    learning rate linear from 1e-3, clip range linear from 0.2, 1e5 steps,
    ``MlpPolicy`` with SB3's default net); solved at >= 475.

    Pendulum-v1: rl-zoo's tuned Pendulum-v1 hyperparameters
    (``hyperparams/ppo.yml``, checked against the zoo's file: 4 envs in a
    ``DummyVecEnv``, n_timesteps 1e5, n_steps 1024, gae_lambda 0.95,
    gamma 0.9, n_epochs 10, ent_coef 0.0, learning_rate 1e-3 constant,
    clip_range 0.2 constant, use_sde True, sde_sample_freq 4; batch_size is
    not set there, so SB3's default 64 applies; ``MlpPolicy`` with SB3's
    default net, no normalization); solved at >= -250. Pendulum episodes
    are always 200 steps long (time limit), so the 4 envs finish together.

How:
    A callback reads the ``Monitor`` episode records from each vector step's
    ``infos``. Its clock starts in ``on_training_start``, i.e. right after SB3
    has built the model and reset the envs and right before the first env
    step; everything before that (interpreter imports, model construction,
    env creation) is reported as ``setup_s``. When the criterion is met the
    callback records wall seconds and env steps and stops training at once.
    If 1e5 steps pass unsolved, the figures at the end of training are
    reported with ``"solved": false``. Afterwards the final policy is
    evaluated deterministically for 10 episodes on a fresh, seeded env of
    the same id.

Output:
    Everything goes to stderr except one JSON object, the last (and only)
    line of stdout::

        {"library": "sb3", "env": "CartPole-v1", "seed": 0, "solved": true,
         "wall_s": 3.9338, "env_steps": 20416, "setup_s": 1.7961,
         "eval_return_mean": 295.2, "steps_per_s": 5189.9}
        {"library": "sb3", "env": "Pendulum-v1", "seed": 0, "solved": true,
         "wall_s": 12.9515, "env_steps": 41600, "setup_s": 2.0022,
         "eval_return_mean": -120.868, "steps_per_s": 3212.0}

Run with the SB3 peer venv (see ``benchmarks/peers/README.md``)::

    .bench/sb3/bin/python benchmarks/peers/sb3_solve.py --env CartPole-v1 --seed 0
    .bench/sb3/bin/python benchmarks/peers/sb3_solve.py --env Pendulum-v1 --seed 0
"""

from __future__ import annotations

import time

_T_PROCESS = time.perf_counter()  # Before the heavy imports: they count as setup.

import argparse  # noqa: E402
import collections  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import stable_baselines3  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

# rl8-core is not installed in the peer venvs: the shared helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_parser, print_record  # noqa: E402

WINDOW = 20
TOTAL_TIMESTEPS = 100_000
EVAL_EPISODES = 10


def linear_schedule(initial_value: float) -> Callable[[float], float]:
    """Return rl-zoo's ``lin_<value>`` schedule.

    Args:
        initial_value: Value at the start of training.

    Returns:
        A function of SB3's ``progress_remaining`` (1.0 at the start of
        training, 0.0 at ``total_timesteps``) returning
        ``progress_remaining * initial_value``.
    """

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial_value

    return schedule


@dataclass(frozen=True, kw_only=True)
class Setting:
    """What differs between the envs: the solve threshold and rl-zoo's PPO settings."""

    threshold: float
    """Mean return of the last ``WINDOW`` finished episodes that counts as solved."""
    n_envs: int
    """Number of envs in the ``DummyVecEnv`` (rl-zoo's ``n_envs``)."""
    ppo_kwargs: Mapping[str, Any]
    """Keyword arguments of ``PPO``, from rl-zoo's ``hyperparams/ppo.yml`` (see the module docstring)."""


SETTINGS: dict[str, Setting] = {
    "CartPole-v1": Setting(
        threshold=475.0,
        n_envs=8,
        ppo_kwargs={
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": linear_schedule(1e-3),
            "clip_range": linear_schedule(0.2),
        },
    ),
    "Pendulum-v1": Setting(
        threshold=-250.0,
        n_envs=4,
        ppo_kwargs={
            "n_steps": 1024,
            "gae_lambda": 0.95,
            "gamma": 0.9,
            "n_epochs": 10,
            "ent_coef": 0.0,
            "learning_rate": 1e-3,
            "clip_range": 0.2,
            "use_sde": True,
            "sde_sample_freq": 4,
        },
    ),
}


class SolveCallback(BaseCallback):
    """Stops training once the last finished episodes reach a mean return.

    Args:
        threshold: Mean undiscounted return that counts as solved.
        window: Number of most recent finished episodes averaged.
    """

    def __init__(self, threshold: float, window: int) -> None:
        super().__init__(verbose=0)
        self.threshold = threshold
        self.returns: collections.deque[float] = collections.deque(maxlen=window)
        self.episodes = 0
        self.t_start = 0.0
        self.solved = False
        self.solved_wall_s: float | None = None
        self.solved_env_steps: int | None = None

    def _on_training_start(self) -> None:
        self.t_start = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            episode = info.get("episode")
            if episode is None:
                continue
            self.returns.append(float(episode["r"]))
            self.episodes += 1
        if len(self.returns) == self.returns.maxlen and float(np.mean(self.returns)) >= self.threshold:
            self.solved = True
            self.solved_wall_s = time.perf_counter() - self.t_start
            self.solved_env_steps = int(self.num_timesteps)
            return False
        return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments; ``threshold`` is the env's own when not given.
    """
    parser = make_parser(__doc__)
    parser.add_argument("--env", required=True, choices=list(SETTINGS), help="gymnasium env id")
    parser.add_argument("--seed", type=int, default=0, help="global seed")
    parser.add_argument(
        "--total-timesteps",
        type=int,
        default=TOTAL_TIMESTEPS,
        help="training budget (rl-zoo: 1e5); for CartPole-v1 also the linear schedules' horizon",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="mean return that counts as solved (default: 475 for CartPole-v1, -250 for Pendulum-v1)",
    )
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--eval-episodes", type=int, default=EVAL_EPISODES)
    parser.add_argument("--device", default="cpu", help="torch device for SB3")
    args = parser.parse_args(argv)
    if args.threshold is None:
        args.threshold = SETTINGS[args.env].threshold
    return args


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
        f"sb3 {stable_baselines3.__version__}, gymnasium {gym.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}",
        file=sys.stderr,
    )
    setting = SETTINGS[args.env]
    env = make_vec_env(args.env, n_envs=setting.n_envs, seed=args.seed, vec_env_cls=DummyVecEnv)
    model = PPO("MlpPolicy", env, **setting.ppo_kwargs, seed=args.seed, device=args.device, verbose=0)
    callback = SolveCallback(args.threshold, args.window)
    t_before_learn = time.perf_counter()
    model.learn(total_timesteps=args.total_timesteps, callback=callback)
    t_end = time.perf_counter()
    # SB3's learn() builds its logger and resets the envs before the first step.
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

    eval_env = DummyVecEnv([lambda: Monitor(gym.make(args.env))])
    eval_env.seed(args.seed + 10_000)
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    assert isinstance(mean_return, float)  # a float since return_episode_rewards=False
    print(f"eval: {mean_return:.1f} +- {std_return:.1f}", file=sys.stderr)
    return {
        "library": "sb3",
        "env": args.env,
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
