"""Time-to-solve of RLlib 2.60 PPO (new API stack) on PettingZoo MPE simple_spread, parameter sharing (peer benchmark).

What it measures:
    RLlib PPO trains on ``mpe2.simple_spread_v3.parallel_env(N=3,
    max_cycles=25, continuous_actions=False)`` until it is *solved*: the mean
    team return (the sum of all agents' rewards in an episode) of the last 20
    finished episodes first reaches the threshold (-60 by default). RLlib's
    ``env_runners/episode_return_mean`` is exactly that: a multi-agent
    episode's return is ``MultiAgentEpisode.get_return()``, the sum over all
    agents, and ``metrics_num_episodes_for_smoothing=20`` makes the mean run
    over the last 20 episodes (with ``num_env_runners=0`` the window is not
    split between runners). The criterion is checked after every
    ``algo.train()`` (one iteration), so, like ours, the time can be
    overstated by at most one iteration. The budget is in env steps
    (``num_env_steps_sampled_lifetime``; one env step moves all 3 agents, as
    in rl8-core's ``env_steps``); unsolved after it, the figures at the end
    are reported with ``"solved": false``.

Settings:
    From RLlib's own multi-agent parameter-sharing example,
    ``ray/rllib/examples/multi_agent/pettingzoo_parameter_sharing.py`` (RLlib
    2.60.0, installed in ``.bench/rllib``)::

        PPOConfig().environment("env")
            .multi_agent(policies={"p0"}, policy_mapping_fn=lambda aid, *a, **k: "p0")
            .training(model={"vf_share_layers": True}, vf_loss_coeff=0.005)
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"p0": RLModuleSpec()}))

    The example wraps an AEC env (Waterworld) in ``PettingZooEnv``; MPE's
    parallel env goes through RLlib's ``ParallelPettingZooEnv`` instead,
    registered with ``ray.tune.registry.register_env``. Everything else is
    RLlib 2.60's PPO default: lr 5e-5, ``train_batch_size_per_learner`` 4000
    (env steps), minibatch 128, 30 epochs, gamma 0.99, lambda 1.0, clip 0.3,
    KL coefficient 0.2, ``vf_clip_param`` 10, entropy 0, default module
    (MLP 256-256 tanh). Note: on the new API stack the ``model`` dict of
    ``.training()`` is the old stack's, so the module keeps PPO's
    ``vf_share_layers: False`` (separate value net). Local setting for a
    2-core machine: ``num_env_runners=0`` (sampling in the driver, which the
    example suggests for local runs; PPO's default is 2 remote runners),
    ``num_envs_per_env_runner=1``, one local learner, ``ray.init(num_cpus=2,
    include_dashboard=False)``; ``metrics_num_episodes_for_smoothing=20``;
    ``debugging(seed=seed)``.

How:
    Setup (imports, ``ray.init``, ``config.build_algo()``) is timed apart
    (``setup_s``); the clock starts at the first ``algo.train()``. A thread
    samples every 0.2 s the summed RSS of this process's tree (``/proc``) plus
    Ray's own processes (raylet, GCS, workers: every process whose command
    line names this session's Ray temp directory, and their children), and
    reports the peak as ``max_rss_mb``. ``ray.shutdown()`` runs in a
    ``finally``; any process of the tree still alive afterwards is killed.

Output:
    One JSON object, the last (and only) line of stdout; everything else on
    stderr::

        {"library": "rllib", "env": "simple_spread_v3", "seed": 0, "solved": false,
         "wall_s": 82.5843, "env_steps": 8000, "setup_s": 7.872, "iterations": 2,
         "return_mean": -80.697, "steps_per_s": 96.9, "max_rss_mb": 1161.4}

Run with the RLlib venv (ray[rllib]==2.60.0, torch==2.13.0, pettingzoo 1.27.0, mpe2 1.1.1)::

    .bench/rllib/bin/python benchmarks/peers/rllib_multiagent_solve.py --seed 0 --threshold -60
"""

from __future__ import annotations

import time

_T_PROCESS = time.perf_counter()  # Before the heavy imports: they count as setup.

import contextlib  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_parser, print_record  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    """Map pid -> child pids, from ``/proc/*/stat``."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def tree_pids(roots: list[int], marker: str | None = None) -> set[int]:
    """Return ``roots`` and their descendants, plus processes whose command line holds ``marker`` (and theirs)."""
    kids = _children()
    seeds = list(roots)
    if marker:
        seeds += [pid for pids in kids.values() for pid in pids if marker in _cmdline(pid)]
    found: set[int] = set()
    while seeds:
        pid = seeds.pop()
        if pid in found:
            continue
        found.add(pid)
        seeds.extend(kids.get(pid, []))
    return found


class RssSampler(threading.Thread):
    """Sample the summed RSS of ``root``'s process tree (and Ray's, found by ``marker``) every ``interval`` s.

    ``root`` defaults to this process; ``benchmarks/multiagent_solve.py`` uses it on its worker processes too.
    """

    def __init__(self, interval: float = 0.2, root: int | None = None) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.root = os.getpid() if root is None else root
        self.marker: str | None = None
        self.peak = 0
        self.seen: set[int] = set()
        self._halt = threading.Event()

    def sample(self) -> None:
        pids = tree_pids([self.root], self.marker)
        self.seen |= pids
        self.peak = max(self.peak, sum(_rss(pid) for pid in pids))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


def parse_args(argv: list[str] | None = None) -> Any:
    parser = make_parser(__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=-60.0, help="team return (last-20 mean) that counts")
    parser.add_argument("--window", type=int, default=20, help="metrics_num_episodes_for_smoothing")
    parser.add_argument("--budget", type=int, default=400_000, help="env steps before giving up")
    parser.add_argument("--num-env-runners", type=int, default=0)
    return parser.parse_args(argv)


def run(args: Any, sampler: RssSampler) -> dict[str, Any]:
    import ray
    import torch
    from mpe2 import simple_spread_v3
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    sampler.marker = _session_dir(ray)
    try:
        register_env(
            "simple_spread",
            lambda _: ParallelPettingZooEnv(
                simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=False)
            ),
        )
        config = (
            PPOConfig()
            .environment("simple_spread")
            .multi_agent(policies={"p0"}, policy_mapping_fn=lambda aid, *a, **k: "p0")
            .training(model={"vf_share_layers": True}, vf_loss_coeff=0.005)
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"p0": RLModuleSpec()}))
            .env_runners(num_env_runners=args.num_env_runners, num_envs_per_env_runner=1)
            .reporting(metrics_num_episodes_for_smoothing=args.window)
            .debugging(seed=args.seed)
        )
        algo = config.build_algo()
        print(
            f"ray {ray.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"train_batch {config.train_batch_size_per_learner}, minibatch {config.minibatch_size}, "
            f"epochs {config.num_epochs}, lr {config.lr}, model_config {config.model_config}",
            file=sys.stderr,
        )
        start = time.perf_counter()
        setup_s = start - _T_PROCESS
        solved, env_steps, ret, iterations = False, 0, math.nan, 0
        while env_steps < args.budget:
            result = algo.train()
            iterations += 1
            env_steps = int(result["num_env_steps_sampled_lifetime"])
            ret = float(result["env_runners"].get("episode_return_mean", math.nan))
            print(
                f"iter {iterations}: {env_steps} env steps, return {ret:.2f}, {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            if ret >= args.threshold:
                solved = True
                break
        wall = time.perf_counter() - start
        algo.stop()
    finally:
        ray.shutdown()
    return {
        "library": "rllib",
        "env": "simple_spread_v3",
        "seed": args.seed,
        "solved": solved,
        "wall_s": round(wall, 4),
        "env_steps": env_steps,
        "setup_s": round(setup_s, 4),
        "iterations": iterations,
        "return_mean": round(ret, 3),
        "steps_per_s": round(env_steps / wall, 1),
    }


def _session_dir(ray: Any) -> str:
    """This Ray session's temp directory (it appears in the command line of every process Ray starts)."""
    from ray._private.worker import _global_node

    return str(_global_node.get_session_dir_path())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sampler = RssSampler()
    sampler.start()
    record: dict[str, Any] = {}

    def measure() -> dict[str, Any]:
        try:
            record.update(run(args, sampler))
        finally:
            sampler.stop()
            leftover = sampler.seen & tree_pids([os.getpid()], sampler.marker) - {os.getpid()}
            for pid in leftover:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            print(f"killed leftover pids: {sorted(leftover)}", file=sys.stderr)
        record["max_rss_mb"] = round(sampler.peak / 2**20, 1)
        return record

    print_record(measure)


if __name__ == "__main__":
    main()
