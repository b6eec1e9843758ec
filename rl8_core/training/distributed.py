"""Data-parallel learners on ``torch.distributed`` (``scale.learners``).

The trainer's process is rank 0: it collects (or receives from env runners)
the rollout, postprocesses it and prepares every minibatch. Ranks 1.. are
processes it starts, each holding a copy of the module, the algorithm and the
optimiser. For every optimiser step rank 0 scatters one shard of each
minibatch to each rank; every rank takes the loss of its shard weighted by its
share of the minibatch's samples, and the gradients are summed over the ranks
with one all-reduce of a flat bucket (gloo on the CPU, NCCL with one GPU per
rank), so every rank takes the same step as one learner on the whole minibatch.

Gradients are reduced by the learner rather than by wrapping the module in
``DistributedDataParallel``: an algorithm's loss calls the module's
``forward_train`` (and may call it several times per step, or for several
modules), not the module's ``forward``, which is where DDP's hooks are armed.
The bucket carries the step's metrics and loss too, so every rank sees the same
finite checks and early stopping, for one collective per step.
"""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import cloudpickle
import torch
import torch.distributed as dist
from tensordict import TensorDictBase
from torch.distributed import TCPStore  # type: ignore[attr-defined]  # not in torch.distributed's __all__

from rl8_core.columns import Columns
from rl8_core.errors import ConfigError
from rl8_core.training.learner import Learner, _Part

__all__ = ["LearnerGroup", "LearnerLink"]

#: How long a rank waits for the others in a collective: rank 0 may spend long collecting a rollout.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=6)
#: How long starting the learner processes may take before rank 0 gives up.
START_TIMEOUT_S = 120.0


class LearnerLink:
    """One rank's side of the data-parallel learners: the collectives ``Learner.update`` and ``_step`` call."""

    def __init__(
        self, rank: int, world_size: int, device: torch.device, processes: Sequence[subprocess.Popen[bytes]] = ()
    ) -> None:
        self.rank, self.world_size, self.device = rank, world_size, device
        #: Rank 0: the other ranks' processes, to name the one that stopped when a collective fails.
        self.processes = list(processes)

    def _failed(self, exc: Exception) -> NoReturn:
        """Rank 0: raise one line naming the learner processes that stopped, if any did."""
        time.sleep(0.2)  # a killed process may be reaped a moment after its socket closed
        dead = [f"{rank} (exit {p.poll()})" for rank, p in enumerate(self.processes, start=1) if p.poll() is not None]
        if not dead:
            raise exc
        raise RuntimeError(
            f"scale.learners: learner process {', '.join(dead)} stopped, so the update cannot go on "
            f"({' '.join(str(exc).split())[:200]}); resume the run from its last checkpoint"
        ) from exc

    def _send(self, messages: Sequence[Any]) -> None:
        """Rank 0: give rank ``r`` ``messages[r]`` (rank 0's own is dropped)."""
        try:
            dist.scatter_object_list([None], list(messages), src=0)
        except RuntimeError as exc:
            self._failed(exc)

    def receive(self) -> Any:
        """Ranks 1..: wait for rank 0's next message."""
        out: list[Any] = [None]
        dist.scatter_object_list(out, None, src=0)
        return out[0]

    def begin(self, shared_state: dict[str, Any]) -> None:
        """Rank 0: start an update; every rank applies ``Learner.shared_state``."""
        self._send([("begin", shared_state)] * self.world_size)

    def scatter(
        self, learner: Learner, minibatches: list[tuple[_Part, TensorDictBase]]
    ) -> list[tuple[_Part, TensorDictBase, float]]:
        """Rank 0: split each minibatch into one shard per rank, send them, and return rank 0's.

        A shard's share is its real samples over the minibatch's. A rank left
        without samples (a minibatch smaller than the ranks) steps on one row
        with share 0, so every rank computes the same metrics in the same order.
        """
        per_rank: list[list[tuple[int, TensorDictBase, float]]] = [[] for _ in range(self.world_size)]
        for part, minibatch in minibatches:
            masked = Columns.LOSS_MASK in minibatch
            shards = minibatch.split(_shard_sizes(minibatch.batch_size[0], self.world_size))
            reals = [float(s.get(Columns.LOSS_MASK).sum()) if masked else float(s.batch_size[0]) for s in shards]
            total = sum(reals) or 1.0
            index = learner.part_index(part)
            for rank, (shard, real) in enumerate(zip(shards, reals, strict=True)):
                if shard.batch_size[0] == 0:
                    shard, real = minibatch[:1], 0.0
                per_rank[rank].append((index, shard, real / total))
        cpu = self.device.type != "cpu"
        self._send([None] + [("step", [(i, s.cpu() if cpu else s, w) for i, s, w in r]) for r in per_rank[1:]])
        return [(part, shard, share) for (part, _), (_, shard, share) in zip(minibatches, per_rank[0], strict=True)]

    def all_reduce(
        self, params: Sequence[torch.Tensor], metrics: list[dict[str, torch.Tensor]], loss: torch.Tensor
    ) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        """Sum gradients, share-weighted metrics and the loss over the ranks, in one collective.

        A parameter no rank has a gradient for keeps none, as with one learner
        (the optimiser leaves it and its moments alone).
        """
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), device=p.device) for p in params]
        present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.device)
        values = [v.reshape(1).float() for own in metrics for v in own.values()]
        bucket = torch.cat([*[g.float() for g in grads], present, *values, loss.reshape(1).float()])
        try:
            dist.all_reduce(bucket)
        except RuntimeError as exc:
            if self.rank != 0:
                raise
            self._failed(exc)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = bucket[offset : offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        for p, flag in zip(params, bucket[offset : offset + len(params)].tolist(), strict=True):
            if flag == 0:
                p.grad = None
        offset += len(params)
        reduced = []
        for own in metrics:
            reduced.append({key: bucket[offset + i] for i, key in enumerate(own)})
            offset += len(own)
        return reduced, bucket[offset]

    def gather(self, learner: Learner) -> list[dict[str, Any]]:
        """Rank 0: return every rank's module and optimiser state (rank order), e.g. to check they agree."""
        self._send([("gather", None)] * self.world_size)
        return _gather_state(learner, self.rank, self.world_size)

    def stop(self) -> None:
        """Rank 0: tell the other ranks to exit."""
        self._send([("stop", None)] * self.world_size)


def _shard_sizes(n: int, world_size: int) -> list[int]:
    base, extra = divmod(n, world_size)
    return [base + (1 if r < extra else 0) for r in range(world_size)]


def _gather_state(learner: Learner, rank: int, world_size: int) -> list[dict[str, Any]]:
    state = {
        "module": {k: v.detach().cpu() for k, v in learner.module.state_dict().items()},
        "optimizer": learner.optimizer.state_dict(),
    }
    out: list[Any] = [None] * world_size if rank == 0 else []
    dist.gather_object(state, out if rank == 0 else None, dst=0)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


class LearnerGroup:
    """Start ``learners - 1`` learner processes beside this one (rank 0) and link them to ``learner``.

    Each process gets a copy of the module, algorithm, optimiser state and
    options as they are now, so start the group after restoring a checkpoint.
    On CUDA rank ``r`` uses ``cuda:r`` (one GPU per learner, NCCL); on the CPU
    every rank uses the CPU (gloo). ``close`` stops them.

    Raises:
        ConfigError: For more CUDA learners than GPUs.
        RuntimeError: If a learner process fails to start (its last output lines are in the message).

    Examples:
        >>> from catalogs import ActorCriticModule
        >>> from rl8_core import get_registry
        >>> from rl8_core.training.learner import Learner
        >>> from specs import Box, Discrete
        >>> learner = Learner(ActorCriticModule(Box((4,)), Discrete(2)), get_registry().get("algorithm", "ppo")())
        >>> group = LearnerGroup(learner, 2)
        >>> [state["module"].keys() == learner.module.state_dict().keys() for state in group.gather()]
        [True, True]
        >>> group.close()
    """

    def __init__(self, learner: Learner, learners: int) -> None:
        if learners < 2:
            raise ValueError(f"a learner group needs at least 2 learners, got {learners}")
        device = learner.device
        if device.type == "cuda" and learners > torch.cuda.device_count():
            raise ConfigError(
                f"scale.learners: {learners} CUDA learners need one GPU each, but this machine has "
                f"{torch.cuda.device_count()}; lower scale.learners"
            )
        if dist.is_initialized():
            raise ConfigError(
                "scale.learners: torch.distributed is already initialised in this process; "
                "rl8 starts its own learner processes, so run it outside torchrun or set scale.learners: 1"
            )
        self.learner = learner
        self.world_size = learners
        self._dir = tempfile.TemporaryDirectory(prefix="rl8-learners-")
        folder = Path(self._dir.name)
        payload = folder / "payload.pkl"
        module = learner.module
        with payload.open("wb") as f:
            cloudpickle.dump(
                (module.cpu(), learner.algorithm, learner.config, learner.guards, device.type),
                f,
            )
        module.to(device)
        torch.save(learner.state_dict(), folder / "learner.pt")
        port = _free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []
        for rank in range(1, learners):
            log = folder / f"rank{rank}.log"
            self._logs.append(log)
            with log.open("wb") as out:
                self._procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", __name__, str(folder), str(rank), str(learners), str(port)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        try:
            store = TCPStore("127.0.0.1", port, learners, True, timeout=datetime.timedelta(seconds=30))
            self._wait_ready(store)
            dist.init_process_group(
                _backend(device), store=store, rank=0, world_size=learners, timeout=COLLECTIVE_TIMEOUT
            )
        except BaseException:
            self._kill()
            raise
        self.link = LearnerLink(0, learners, device, self._procs)
        learner.link = self.link

    def _wait_ready(self, store: TCPStore) -> None:
        """Wait until every learner process has loaded its copy, or fail naming the one that died."""
        deadline = time.monotonic() + START_TIMEOUT_S
        for rank, (proc, log) in enumerate(zip(self._procs, self._logs, strict=True), start=1):
            while True:
                try:
                    store.wait([f"rl8/ready/{rank}"], datetime.timedelta(seconds=0.5))
                    break
                except (dist.DistStoreError, RuntimeError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
                        raise RuntimeError(
                            f"scale.learners: learner process {rank} "
                            f"{'exited with ' + str(proc.returncode) if proc.poll() is not None else 'did not start'}"
                            f": {tail or 'no output'}"
                        ) from None

    def gather(self) -> list[dict[str, Any]]:
        """Return every rank's module and optimiser state, in rank order."""
        return self.link.gather(self.learner)

    def close(self) -> None:
        """Stop the learner processes and leave the process group (safe to call twice)."""
        if not self._procs:
            return
        try:
            self.link.stop()
            for proc in self._procs:
                proc.wait(timeout=30)
        except Exception:  # a rank already gone: nothing to tell it
            pass
        finally:
            self._kill()
            self.learner.link = None
            if dist.is_initialized():
                dist.destroy_process_group()
            self._dir.cleanup()

    def _kill(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self._procs = []


def _exit_with_parent(parent: int) -> None:
    """Exit this learner process when rank 0's process is gone (killed, crashed), not wait in a collective."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(1.0)


def _serve(folder: Path, rank: int, world_size: int, port: int) -> None:
    """Run learner ``rank``: load its copy, join the group, then step on the shards rank 0 sends until told to stop."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    torch.set_num_threads(1)
    with (folder / "payload.pkl").open("rb") as f:
        module, algorithm, config, guards, device_type = cloudpickle.load(f)
    device = torch.device(f"cuda:{rank}") if device_type == "cuda" else torch.device("cpu")
    learner = Learner(module.to(device), algorithm, config, guards)
    learner.load_state_dict(torch.load(folder / "learner.pt", map_location=device, weights_only=False))
    store = TCPStore("127.0.0.1", port, world_size, False, timeout=datetime.timedelta(seconds=30))
    store.set(f"rl8/ready/{rank}", "1")
    dist.init_process_group(_backend(device), store=store, rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
    link = LearnerLink(rank, world_size, device)
    learner.link = link
    accumulate = learner.config.grad_accumulation
    try:
        while True:
            kind, body = link.receive()
            if kind == "begin":
                learner.module.train()
                learner.load_shared_state(body)
            elif kind == "step":
                data = [(learner.part(i), shard.to(device), share) for i, shard, share in body]
                learner.step_on(data, accumulate)
            elif kind == "gather":
                _gather_state(learner, rank, world_size)
            else:
                break
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
