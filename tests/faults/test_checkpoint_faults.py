"""Checkpoints survive ``kill -9`` at any file operation: ``latest`` always names a checkpoint that loads.

The fault trial killed ``rl8 train`` while it saved and pruned checkpoints and
found a ``latest`` naming a deleted directory (overwriting a checkpoint took
two renames), leftovers no resume cleaned, ``keep`` broken after a resume, and
``keep: 0`` / ``keep: -1`` misbehaving. These tests kill real processes with
SIGKILL. To hit the save and prune windows deterministically, a small driver
process (one torch import, then one ``fork`` per kill point) trains with every
file-system change (``os.replace``, ``os.rename``, ``os.mkdir``, ``os.unlink``,
``os.rmdir``) counted, and kills itself just before the N-th one. After each
kill, this process checks what a user would find: ``latest`` names a complete
checkpoint, and ``Trainer.from_checkpoint(run_dir)`` loads it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rl8_core import Trainer
from rl8_core.checkpoints import run as run_dir
from rl8_core.errors import CheckpointError, ConfigError
from rl8_core.training.config import TrainConfig

STEPS_PER_ITER = 2 * 8
#: A tiny deterministic run: torch-native CartPole, one thread, no tracking, a checkpoint every iteration.
BASE: dict[str, Any] = {
    "env": "cartpole",
    "num_envs": 2,
    "horizon": 8,
    "seed": 3,
    "num_threads": 1,
    "device": "cpu",
    "progress": "none",
    "algorithm_config": {"num_epochs": 1, "minibatch_size": None},
    "model_config": {"encoder_config": {"hiddens": [8]}},
    "tracking": {"enabled": False, "log_curves": False},
    "eval": {"at_end": False},
    "checkpoint": {"dir": "unused", "every": 1, "keep": 2},
    "stop": {"env_steps": 4 * STEPS_PER_ITER},
}

#: Reads one JSON job a line, forks a child that trains (killing itself at the job's N-th file-system change) and
#: answers with how the child ended. Forking from a process that has only imported torch keeps each kill point cheap.
DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys, tempfile, traceback
    from pathlib import Path

    from rl8_core import Trainer

    # Warm up once (plugin discovery, lazy torch setup) so that each forked child only trains. One thread: no
    # thread pool exists when forking.
    with Trainer({**json.loads(sys.argv[1]), "stop": {"env_steps": 1}}) as warm:
        warm.run_dir = Path(tempfile.mkdtemp())
        warm.run()

    def arm(kill_at):
        count = [0]

        def wrap(fn):
            def inner(*args, **kwargs):
                count[0] += 1
                if count[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return fn(*args, **kwargs)

            return inner

        for name in ("replace", "rename", "mkdir", "unlink", "rmdir"):
            setattr(os, name, wrap(getattr(os, name)))

    def work(job):
        stop = [f"stop.env_steps={job['env_steps']}"]
        if job["resume"]:
            trainer = Trainer.from_checkpoint(job["resume"], overrides=stop)
        else:
            trainer = Trainer({**job["config"], "stop": {"env_steps": job["env_steps"]}})
            trainer.run_dir = Path(job["run"])
        arm(job["kill_at"])
        with trainer:
            trainer.run()

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            try:
                work(job)
            except BaseException:
                traceback.print_exc()
                os._exit(3)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps({"killed": killed, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}))
        sys.stdout.flush()
    """
)


class Driver:
    """The driver process: ``job(...)`` runs one training child and says whether it was killed."""

    def __init__(self, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(BASE)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def job(self, run: Path, *, iterations: int, kill_at: int, resume: Path | None) -> bool:
        """Train into ``run`` up to ``iterations`` (from ``resume`` if given); return whether the child was killed."""
        job = {
            "run": str(run),
            "config": BASE,
            "resume": None if resume is None else str(resume),
            "env_steps": iterations * STEPS_PER_ITER,
            "kill_at": kill_at,
        }
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["killed"] or answer["code"] == 0, answer
        return bool(answer["killed"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    d = Driver(tmp_path_factory.mktemp("driver"))
    yield d
    d.close()


def _iteration(ckpt: Path) -> int:
    return int(run_dir.read_meta(ckpt)["iteration"])


def _assert_latest_loads(run: Path) -> Path:
    """Assert ``latest`` names (or, mid-swap, resolves to) a complete checkpoint that a trainer resumes from."""
    name = run_dir.read_latest(run)
    assert name is not None, sorted(p.name for p in run.iterdir())
    named = run / name
    if not named.exists():
        # The one window of a swap: the new checkpoint was renamed from the temp name latest holds to its own.
        assert name.startswith(".tmp-iter_"), name
        named = run / name[len(".tmp-") :].rpartition("-")[0]
    assert run_dir.is_complete(named), (name, run_dir.missing_parts(named))
    assert run_dir.find_checkpoint(run) == named
    with Trainer.from_checkpoint(run) as trainer:
        assert trainer.iteration == _iteration(named)
    return named


def _assert_clean(run: Path, keep: int) -> None:
    """Assert no leftovers, only complete checkpoints, and at most ``keep`` of them."""
    names = sorted(p.name for p in run.iterdir())
    assert [n for n in names if n.startswith(".")] == [], names
    iters = [run / n for n in names if n.startswith("iter_")]
    assert all(run_dir.is_complete(p) for p in iters), names
    assert len(iters) <= keep, names


def test_random_kills_while_training_never_leave_an_unloadable_latest(driver: Driver, tmp_path: Path) -> None:
    rng = random.Random(1234)
    run = tmp_path / "run"
    kills = loaded = completed = 0
    for _ in range(30):
        resume = run if run.is_dir() and run_dir.checkpoints(run) else None
        start = _iteration(run_dir.find_checkpoint(run)) if resume else 0
        # About 20 file-system changes per iteration (save, latest, prune): kill points land in all of them.
        killed = driver.job(run, iterations=start + 2, kill_at=rng.randint(1, 45), resume=resume)
        kills += killed
        if run.is_dir() and (run / "latest").exists():
            _assert_latest_loads(run)
            loaded += 1
        if not killed:
            # A resume that ran to its end cleaned what the kills left, and keep holds.
            completed += 1
            _assert_clean(run, keep=2)
    assert kills >= 20, kills
    assert completed >= 2, completed
    print(f"{kills} kills, latest loaded {loaded} times, 0 unloadable")


def _template(tmp_path_factory: pytest.TempPathFactory, iterations: int, keep: int) -> Path:
    run = tmp_path_factory.mktemp("template") / "run"
    config = {**BASE, "checkpoint": {"dir": "unused", "every": 1, "keep": keep}}
    with Trainer({**config, "stop": {"env_steps": iterations * STEPS_PER_ITER}}) as trainer:
        trainer.run_dir = run
        trainer.run()
    return run


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory after 4 iterations with ``every: 1, keep: 2``: ``iter_000003``, ``iter_000004`` (latest)."""
    run = _template(tmp_path_factory, 4, keep=2)
    assert sorted(p.name for p in run.iterdir()) == ["iter_000003", "iter_000004", "latest"]
    return run


def test_a_kill_at_every_step_of_overwriting_the_latest_checkpoint_leaves_latest_loadable(
    driver: Driver, four: Path, tmp_path: Path
) -> None:
    # Resuming from iter_000003 writes iter_000004 again while latest names it: the overwrite of the finding, where
    # a crash between its two renames left latest naming a deleted iter_000004.
    points, old_gone = 0, 0
    for kill_at in range(1, 80):
        run = tmp_path / f"k{kill_at}"
        shutil.copytree(four, run)
        killed = driver.job(run, iterations=4, kill_at=kill_at, resume=run / "iter_000003")
        named = _assert_latest_loads(run)
        assert _iteration(named) in (3, 4)
        if not killed:
            _assert_clean(run, keep=2)
            break
        points += 1
        # Killed after the old iter_000004 was moved away and before the new one was renamed into place.
        old_gone += not (run / "iter_000004").exists()
    else:
        pytest.fail("the resumed run never finished")
    assert points >= 15, points
    assert old_gone >= 1
    print(f"overwrite: {points} kill points, {old_gone} between moving the old checkpoint away and the new one in")


def test_the_final_save_does_not_rewrite_the_periodic_checkpoint_of_the_same_iteration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    save = run_dir.save_checkpoint

    def spy(target: str | Path, **kwargs: Any) -> Path:
        written.append(Path(target).name)
        return save(target, **kwargs)

    monkeypatch.setattr(run_dir, "save_checkpoint", spy)
    with Trainer({**BASE, "stop": {"env_steps": 2 * STEPS_PER_ITER}}) as trainer:
        trainer.run_dir = tmp_path / "run"
        trainer.run()
    assert written == ["iter_000001", "iter_000002"]
    assert run_dir.read_latest(tmp_path / "run") == "iter_000002"


def test_a_resume_cleans_leftovers_and_keeps_keep(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(_template(tmp_path_factory, 5, keep=3), run)
    assert sorted(p.name for p in run.iterdir()) == ["iter_000003", "iter_000004", "iter_000005", "latest"]
    # What kill -9 leaves: a half-written checkpoint, a temp latest, a half-deleted and a moved-away directory.
    (run / ".tmp-iter_000006-abc").mkdir()
    (run / ".tmp-latest-xyz").write_text("iter_000006\n")
    shutil.copytree(run / "iter_000003", run / ".del-iter_000002-1234")
    shutil.copytree(run / "iter_000003", run / "iter_000001")
    (run / "iter_000001" / "trainer.pt").unlink()
    with Trainer.from_checkpoint(run, overrides=[f"stop.env_steps={8 * STEPS_PER_ITER}"]) as trainer:
        trainer.run()
    assert sorted(p.name for p in run.iterdir()) == ["iter_000006", "iter_000007", "iter_000008", "latest"]


def test_clean_run_dir_finishes_an_interrupted_swap(four: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(four, run)
    # Killed right after latest was pointed at the complete new checkpoint, before the old one moved away.
    shutil.copytree(run / "iter_000004", run / ".tmp-iter_000004-q1")
    (run / "latest").write_text(".tmp-iter_000004-q1\n")
    assert run_dir.find_checkpoint(run) == run / ".tmp-iter_000004-q1"
    assert run_dir.clean_run_dir(run) == []
    assert sorted(p.name for p in run.iterdir()) == ["iter_000003", "iter_000004", "latest"]
    assert run_dir.read_latest(run) == "iter_000004"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("keep", 0, "config.checkpoint.keep: must be >= 1 (to save only at the end, set every: 0 instead), got 0"),
        ("keep", -1, "config.checkpoint.keep: must be >= 1"),
        ("every", -1, "config.checkpoint.every: must be >= 0, got -1"),
    ],
)
def test_keep_and_every_are_validated(key: str, value: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_mapping({"checkpoint": {key: value}})
    assert message in str(info.value)


def test_prune_refuses_keep_below_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep must be >= 1, got 0"):
        run_dir.prune(tmp_path, 0)


def test_find_checkpoint_falls_back_to_the_newest_complete_checkpoint(
    four: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    shutil.copytree(four, run)
    caplog.set_level(logging.WARNING, logger=run_dir.__name__)

    (run / "latest").unlink()
    assert run_dir.find_checkpoint(run) == run / "iter_000004"
    assert "has no readable 'latest' file; using the newest complete checkpoint, iter_000004" in caplog.text

    (run / "latest").write_text("iter_000009\n")
    caplog.clear()
    assert run_dir.find_checkpoint(run) == run / "iter_000004"
    assert "'latest' names iter_000009, which does not exist" in caplog.text

    shutil.rmtree(run / "iter_000004" / "module")
    (run / "latest").write_text("iter_000004\n")
    caplog.clear()
    assert run_dir.find_checkpoint(run) == run / "iter_000003"
    assert "'latest' names iter_000004, which is incomplete (no module/rl8_module.json" in caplog.text

    (run / "latest").write_text("../../etc\n")
    assert run_dir.find_checkpoint(run) == run / "iter_000003"


def test_find_checkpoint_names_what_is_wrong(four: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(four, run)
    (run / "iter_000003" / "trainer.pt").unlink()
    with pytest.raises(CheckpointError, match=r"iter_000003 is incomplete: it has no trainer.pt"):
        run_dir.find_checkpoint(run / "iter_000003")
    shutil.rmtree(run / "iter_000004")
    with pytest.raises(
        CheckpointError, match=r"'latest' names iter_000004, which does not exist, and it holds no complete iter_"
    ):
        run_dir.find_checkpoint(run)
    with pytest.raises(CheckpointError, match="neither a training checkpoint nor a run directory"):
        run_dir.find_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        run_dir.find_checkpoint(tmp_path / "nowhere")


@pytest.mark.slow
def test_rl8_train_killed_after_random_delays_resumes(tmp_path: Path) -> None:
    """Real ``rl8 train`` processes, SIGKILLed at random moments, then resumed with ``--resume``."""
    rl8 = str(Path(sys.executable).with_name("rl8"))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({**BASE, "checkpoint": {"dir": "ck", "every": 1, "keep": 2}, "stop": {"env_steps": 10**7}})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RL8_")}
    rng = random.Random(7)
    run: Path | None = None
    for _ in range(6):
        args = ["--resume", str(run)] if run is not None else [str(config)]
        proc = subprocess.Popen([rl8, "train", *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        # Wait for the first checkpoint of this process, then kill it a random moment later.
        while time.monotonic() < deadline and not list((tmp_path / "ck").glob("*/iter_*")):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        (run,) = list((tmp_path / "ck").iterdir())
        _assert_latest_loads(run)
    assert run is not None
    more = (_iteration(run_dir.find_checkpoint(run)) + 1) * STEPS_PER_ITER
    with Trainer.from_checkpoint(run, overrides=[f"stop.env_steps={more}"]) as trainer:
        trainer.run()
    _assert_clean(run, keep=2)
