"""The learner: optimiser, epochs and minibatches, clipping, accumulation and AMP."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns, Metrics
from rl8_core.components.algorithm import Algorithm, AlgorithmGroup
from rl8_core.components.module import RLModule
from rl8_core.components.multi_module import MultiRLModule
from rl8_core.components.sequences import cut_sequences
from rl8_core.config import FieldError, check_range
from rl8_core.errors import ConfigError
from rl8_core.training.guards import GuardsConfig, NonFiniteError, all_finite, describe_nonfinite
from rl8_core.training.schedule import Schedule

__all__ = ["Learner", "LearnerConfig"]

#: One optimiser step's data: ``(part, minibatch or this learner's shard of it, its share of the minibatch)``.
_StepData = list[tuple["_Part", TensorDictBase, float]]


@dataclass(frozen=True, kw_only=True)
class LearnerConfig:
    """Options of the learner (``learner:`` in a train config)."""

    lr: float = 3e-4
    """Learning rate (Adam)."""
    lr_schedule: tuple[tuple[float, float], ...] | None = None
    """Piecewise-linear ``[[env_steps, lr], ...]``; overrides ``lr`` when given."""
    adam_eps: float = 1e-5
    """Adam's epsilon (1e-5 as in the PPO baselines, not torch's 1e-8)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) when > 0."""
    max_grad_norm: float | None = 0.5
    """Clip the global gradient norm to this; ``null`` disables clipping."""
    grad_accumulation: int = 1
    """Split each minibatch into this many micro-batches and step once (same result, less memory)."""
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    """Mixed precision: ``auto`` is bf16 on CUDA (fp16 where bf16 is unsupported) and off on CPU."""
    seq_len: int = 16
    """Stateful modules: steps per training sequence (backpropagation through time is cut there).
    Minibatches are then of whole sequences, as many as ``minibatch_size`` makes of the real steps."""

    def __post_init__(self) -> None:
        check_range(self, "lr", gt=0)
        check_range(self, "adam_eps", gt=0)
        check_range(self, "weight_decay", ge=0)
        check_range(self, "max_grad_norm", gt=0)
        check_range(self, "grad_accumulation", ge=1)
        check_range(self, "seq_len", ge=1)
        for i, (_, lr) in enumerate(self.lr_schedule or ()):
            if not (math.isfinite(lr) and lr >= 0):
                raise FieldError("lr_schedule", f"entry {i}: learning rates must be finite and >= 0, got {lr}")


@dataclass
class _Part:
    """One trained module's share of an update: its data, prepared once per update."""

    module_id: str | None
    module: RLModule
    algorithm: Algorithm
    data: TensorDictBase
    obs: Any

    @property
    def size(self) -> int:
        """Rows (steps, or sequences of a stateful module) of ``data``."""
        return int(self.data.batch_size[0])

    @property
    def real(self) -> int:
        """Real steps in ``data`` (padding of sequences does not count)."""
        if Columns.LOSS_MASK in self.data:
            return int(self.data.get(Columns.LOSS_MASK).sum())
        return self.size


class LearnerLink(Protocol):
    """What a learner calls on its link to the other data-parallel learners (``distributed.LearnerLink``)."""

    def begin(self, shared_state: dict[str, Any]) -> None:
        """Start an update with rank 0's ``Learner.shared_state``."""

    def scatter(self, learner: Learner, minibatches: list[tuple[_Part, TensorDictBase]]) -> _StepData:
        """Send each rank its shards of one step's minibatches; return this rank's."""

    def all_reduce(
        self, params: Sequence[torch.Tensor], metrics: list[dict[str, torch.Tensor]], loss: torch.Tensor
    ) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        """Sum gradients, metrics and the loss over the ranks."""


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if device.type != "cuda":
        raise ConfigError("learner.amp: fp16 autocast needs CUDA; use bf16 (or off) on the CPU")
    return torch.float16


class Learner:
    """Updates a module's weights from postprocessed batches with an algorithm's loss.

    It owns everything algorithm-independent: the optimiser and learning-rate
    schedule, shuffling into minibatches for ``algorithm.num_epochs`` passes,
    gradient accumulation (each minibatch in ``grad_accumulation``
    micro-batches, one optimiser step), global-norm clipping and autocast.
    A stateful module trains on sequences: a time-major batch ``[t, n]`` from
    ``postprocess`` is cut into sequences of ``seq_len`` steps
    (``cut_sequences``), which are shuffled and minibatched whole
    (as many minibatches as ``minibatch_size`` makes of the real steps, each of whole sequences);
    padding carries no weight in gradient accumulation. Without state a
    ``[t, n]`` batch is flattened. After the update it folds the batch's observations into the module's
    observation normaliser (``normalize_obs``), so the update itself saw the
    statistics the rollout was collected with, and a loop of ``Runner.collect``,
    ``Algorithm.postprocess`` and ``Learner.update`` keeps them current.

    Args:
        module: The module to train (already on its device).
        algorithm: Supplies the loss, epochs, minibatch size and early stopping.
        config: Learner options.

    Examples:
        >>> from catalogs import ActorCriticModule
        >>> from rl8_core import get_registry
        >>> from specs import Box, Discrete
        >>> module = ActorCriticModule(Box((4,)), Discrete(2))
        >>> ppo = get_registry().get("algorithm", "ppo")()
        >>> learner = Learner(module, ppo, LearnerConfig(lr=1e-3))
        >>> learner.lr
        0.001
    """

    def __init__(
        self,
        module: RLModule | MultiRLModule,
        algorithm: Algorithm | AlgorithmGroup,
        config: LearnerConfig | None = None,
        guards: GuardsConfig | None = None,
    ) -> None:
        self.module = module
        self.algorithm = algorithm
        self.config = config or LearnerConfig()
        #: The finite checks of each optimiser step and update.
        self.guards = guards or GuardsConfig()
        #: Optimiser steps skipped in a row for a non-finite loss or gradient norm.
        self.skipped_in_a_row = 0
        self._first_skip: str | None = None
        self.device = next(module.parameters()).device
        #: What trains: ``(module id or None, module, algorithm)``; one entry for a single module.
        self._trained: list[tuple[str | None, RLModule, Algorithm]]
        if isinstance(algorithm, AlgorithmGroup):
            assert isinstance(module, MultiRLModule)
            self._trained = [(mid, module[mid], alg) for mid, alg in algorithm.algorithms.items()]
        else:
            assert isinstance(module, RLModule)
            self._trained = [(None, module, algorithm)]
        # ``parameters()`` of a module lists a shared part once: one optimiser entry, one step.
        params = list({id(p): p for _, m, _ in self._trained for p in m.parameters() if p.requires_grad}.values())
        opt_cls = torch.optim.AdamW if self.config.weight_decay > 0 else torch.optim.Adam
        # The fused kernel is about 3x faster than foreach for small networks on CPU.
        self.optimizer = opt_cls(
            params,
            lr=self.config.lr,
            eps=self.config.adam_eps,
            weight_decay=self.config.weight_decay,
            fused=True,
        )
        self._params = params
        self._lr_schedule = Schedule(self.config.lr_schedule, default=self.config.lr)
        self._amp_dtype = _amp_dtype(self.config.amp, self.device)
        # fp16 needs loss scaling; bf16 has fp32's range and does not.
        self._scaler = torch.amp.GradScaler(self.device.type) if self._amp_dtype is torch.float16 else None
        self._env_steps = 0
        #: The other data-parallel learners (``scale.learners``), or ``None`` for one learner.
        self.link: LearnerLink | None = None

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype in use, or ``None``."""
        return self._amp_dtype

    def set_env_steps(self, env_steps: int) -> None:
        """Apply the learning-rate schedule at ``env_steps``."""
        self._env_steps = env_steps
        lr = self._lr_schedule(env_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Return the autocast context for forward passes (a no-op when AMP is off)."""
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype)

    def _minibatches(self, n: int, size: int) -> Iterator[torch.Tensor | None]:
        if size >= n:
            # One minibatch of everything: order does not matter, skip the gather.
            yield None
            return
        perm = torch.randperm(n, device=self.device)
        for start in range(0, n, size):
            yield perm[start : start + size]

    def update(self, batch: TensorDictBase) -> dict[str, float]:
        """Run the algorithm's epochs over ``batch`` ``[b]`` and return mean metrics.

        Metrics are averaged over the minibatches that ran; ``learner/*``
        entries report the learning rate, gradient norm, optimiser steps and
        epochs. With an ``AlgorithmGroup`` (several modules) ``batch`` is
        ``{module id: batch}`` and each module's metrics end in ``/<module id>``.
        With data-parallel learners (``link``) this learner prepares every
        minibatch and each learner steps on its shard of it (``LearnerLink.scatter``).
        """
        algorithm = self.algorithm
        parts: list[_Part] = []
        for mid, module, alg in self._trained:
            data = batch if mid is None else batch.get(mid)
            obs = data.get(Columns.OBS)
            if Columns.LOSS_MASK in data:
                obs = obs[data.get(Columns.LOSS_MASK)]  # steps an agent did not act in are not measurements
            parts.append(_Part(mid, module, alg, self._training_data(module, alg, data), obs))
        accumulate = self.config.grad_accumulation
        history: list[dict[str, torch.Tensor]] = []
        grad_norms: list[torch.Tensor] = []
        epochs_run = 0
        skipped = 0
        stop = False
        self.module.train()
        link = self.link
        if link is not None:
            link.begin(self.shared_state())
        for _ in range(algorithm.num_epochs):
            epochs_run += 1
            for minibatches in self._schedule(parts):
                step: _StepData = (
                    [(part, mb, 1.0) for part, mb in minibatches] if link is None else link.scatter(self, minibatches)
                )
                metrics, per_part, grad_norm = self.step_on(step, accumulate)
                if metrics is None:
                    skipped += 1
                    continue
                history.append(metrics)
                if grad_norm is not None:
                    grad_norms.append(grad_norm)
                if any(
                    part.algorithm.should_stop_epochs(m) for (part, _), m in zip(minibatches, per_part, strict=True)
                ):
                    stop = True
                    break
            if stop:
                break
        if self.guards.weights and not all_finite(self._params):
            raise NonFiniteError(
                "the update made the weights NaN or inf (loss and gradients were finite: a step too large for "
                f"them, e.g. learner.lr = {self.lr:g}); lower learner.lr or set learner.max_grad_norm"
            )
        for part in parts:
            normalizer = part.module.obs_normalizer
            if normalizer is not None:
                normalizer.update(part.obs)
        out = self._summarise(history, grad_norms, epochs_run)
        out[Metrics.SKIPPED_UPDATES] = float(skipped)
        return out

    def _schedule(self, parts: list[_Part]) -> Iterator[list[tuple[_Part, TensorDictBase]]]:
        """Yield one epoch's optimiser steps, each a list of ``(part, prepared minibatch)``.

        One module: minibatches of ``minibatch_size`` samples (of whole sequences for a
        stateful module). Several: ``joint`` (the default) makes as many steps as the
        modules' real samples together fill at ``minibatch_size`` and gives each step
        a slice of every module's batch, so each step sums every module's loss;
        ``per_module`` steps through one module's minibatches after another's.
        """
        size_of = self.algorithm.minibatch_size
        if len(parts) == 1 and parts[0].module_id is None:
            part = parts[0]
            n = part.size
            size = size_of or n
            if Columns.LOSS_MASK in part.data and size_of:
                # As many minibatches as the real steps make at minibatch_size each, of whole sequences.
                size = math.ceil(n / math.ceil(part.real / size_of))
            for index in self._minibatches(n, size):
                yield [(part, part.algorithm.prepare_minibatch(part.data if index is None else part.data[index]))]
            return
        parts = [part for part in parts if part.size > 0]
        if isinstance(self.algorithm, AlgorithmGroup) and self.algorithm.minibatches == "per_module":
            for part in parts:
                count = max(1, math.ceil(part.real / size_of)) if size_of else 1
                for index in self._split(part.size, count):
                    yield [(part, part.algorithm.prepare_minibatch(part.data if index is None else part.data[index]))]
            return
        count = max(1, math.ceil(sum(p.real for p in parts) / size_of)) if size_of else 1
        splits = [list(self._split(part.size, count)) for part in parts]
        for k in range(count):
            step = [
                (part, part.algorithm.prepare_minibatch(part.data if split[k] is None else part.data[split[k]]))
                for part, split in zip(parts, splits, strict=True)
                if (index := split[k]) is None or index.numel() > 0
            ]
            if step:
                yield step

    def _split(self, n: int, count: int) -> Iterator[torch.Tensor | None]:
        """Yield ``count`` random, disjoint index sets covering ``range(n)`` (``None`` once when ``count`` is 1)."""
        if count == 1:
            yield None
            return
        yield from torch.randperm(n, device=self.device).tensor_split(count)

    def _training_data(self, module: RLModule, algorithm: Algorithm, batch: TensorDictBase) -> TensorDictBase:
        """Return what ``update`` minibatches: sequences for a stateful module, else steps ``[b]``.

        Steps marked false in ``loss_mask`` (an agent that had left its episode) are dropped
        from a batch of steps; sequences keep them, masked.

        Raises:
            ConfigError: If a stateful module's batch was flattened (sequences cannot be cut from it).
        """
        if module.is_stateful:
            if batch.batch_dims != 2 or Columns.STATE_IN not in batch:
                raise ConfigError(
                    f"{type(module).__name__} is stateful and trains on sequences, but "
                    f"{type(algorithm).__name__}.postprocess returned a batch of shape "
                    f"{list(batch.batch_size)} without state_in per step; return the rollout's [t, n] shape "
                    "with state_in (rl8_core.training_batch does)"
                )
            return cut_sequences(batch, self.config.seq_len)
        flat = batch.reshape(-1) if batch.batch_dims == 2 else batch
        if Columns.LOSS_MASK in flat:
            flat = flat[flat.get(Columns.LOSS_MASK)].exclude(Columns.LOSS_MASK)
        return flat

    def part(self, index: int) -> _Part:
        """Return trained module ``index`` as a part without data (a data-parallel learner steps on shards)."""
        mid, module, algorithm = self._trained[index]
        return _Part(mid, module, algorithm, TensorDict({}, batch_size=[0]), None)

    def part_index(self, part: _Part) -> int:
        """Return the index of ``part``'s module among the trained ones (what ``part`` takes)."""
        return next(i for i, (mid, _, _) in enumerate(self._trained) if mid == part.module_id)

    def shared_state(self) -> dict[str, Any]:
        """Return what every data-parallel learner must share before an update besides the weights.

        The env steps (learning-rate and algorithm schedules), the algorithm's state
        (e.g. reward scaling) and the module's buffers (e.g. observation statistics).
        """
        return {
            "env_steps": self._env_steps,
            "algorithm": self.algorithm.state_dict(),
            "buffers": {name: b.detach().cpu() for name, b in self.module.named_buffers()},
        }

    def load_shared_state(self, state: dict[str, Any]) -> None:
        """Apply a ``shared_state`` of the learner that prepares the batches."""
        self.algorithm.on_iteration_start(state["env_steps"])
        self.algorithm.load_state_dict(state["algorithm"])
        self.set_env_steps(state["env_steps"])
        buffers = dict(self.module.named_buffers())
        with torch.no_grad():
            for name, value in state["buffers"].items():
                buffers[name].copy_(value)

    def step_on(
        self, minibatches: _StepData, accumulate: int
    ) -> tuple[dict[str, torch.Tensor] | None, list[dict[str, torch.Tensor]], torch.Tensor | None]:
        """Take one optimiser step on the summed loss of ``minibatches``.

        Each entry's share weights its loss, so that with data-parallel learners the
        gradients summed over them (``LearnerLink.all_reduce``) are those of the whole
        minibatch. Returns its metrics (keys suffixed with the module id for several
        modules), each part's own metrics and the gradient norm, or ``None`` metrics
        if the step was skipped.
        """
        per_part: list[dict[str, torch.Tensor]] = []
        losses: list[torch.Tensor] = []
        for part, minibatch, share in minibatches:
            m = minibatch.batch_size[0]
            pieces: Sequence[TensorDictBase] = (
                [minibatch] if accumulate == 1 else minibatch.split(math.ceil(m / accumulate))
            )
            masked = Columns.LOSS_MASK in minibatch
            total = float(minibatch.get(Columns.LOSS_MASK).sum()) if masked and accumulate > 1 else float(m)
            own: dict[str, torch.Tensor] = {}
            for piece in pieces:
                # A piece's share is its real steps (padding of sequences does not count).
                weight = (
                    (float(piece.get(Columns.LOSS_MASK).sum()) if masked and accumulate > 1 else piece.batch_size[0])
                    / total
                    * share
                )
                with self.autocast():
                    loss, metrics = part.algorithm.loss(part.module, piece)
                # Weight each micro-batch by its share so the summed gradient equals
                # the gradient of the mean loss over the whole minibatch.
                scaled = loss * weight if accumulate > 1 or share != 1.0 else loss
                if self._scaler is not None:
                    self._scaler.scale(scaled).backward()  # type: ignore[no-untyped-call]
                else:
                    scaled.backward()  # type: ignore[no-untyped-call]
                losses.append(loss.detach())
                for key, value in metrics.items():
                    v = value.detach().float() * weight
                    own[key] = own[key] + v if key in own else v
            per_part.append(own)
        total_loss = torch.stack(losses).float().sum()
        if self.link is not None:
            per_part, total_loss = self.link.all_reduce(self._params, per_part, total_loss)
        sums: dict[str, torch.Tensor] = {}
        for (part, _, _), own in zip(minibatches, per_part, strict=True):
            suffix = "" if part.module_id is None else f"/{part.module_id}"
            sums |= {f"{key}{suffix}": value for key, value in own.items()}
        grad_norm = None
        if self._scaler is not None:
            self._scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self._params, self.config.max_grad_norm, foreach=True)
        # fp16's loss scaler skips non-finite steps itself (and lowers its scale): not a fault.
        if self.guards.updates and self._scaler is None and not self._finite_step(total_loss, grad_norm, sums):
            self.optimizer.zero_grad(set_to_none=True)
            return None, per_part, None
        if self._scaler is not None:
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return sums, per_part, grad_norm

    def _finite_step(
        self, loss: torch.Tensor, grad_norm: torch.Tensor | None, metrics: dict[str, torch.Tensor]
    ) -> bool:
        """Return whether the step's loss and gradient norm are finite; count and name it when not.

        Raises:
            NonFiniteError: After ``guards.max_skipped_updates`` non-finite steps in a row,
                naming the first one's culprit.
        """
        norm = (
            grad_norm
            if grad_norm is not None
            else torch.nn.utils.get_total_norm([p.grad for p in self._params if p.grad is not None], foreach=True)
        )
        if all_finite([loss.detach().float(), norm]):
            self.skipped_in_a_row, self._first_skip = 0, None
            return True
        self.skipped_in_a_row += 1
        if self._first_skip is None:
            # A term names the culprit better than the total it feeds.
            losses = sorted((k for k in metrics if k.startswith("losses/")), key=lambda k: k == "losses/total")
            terms = describe_nonfinite({k: metrics[k] for k in losses})
            if terms is None and not bool(torch.isfinite(loss.detach())):
                terms = f"the loss = {float(loss)}"
            self._first_skip = terms or f"the gradient norm = {float(norm)} (the loss was finite)"
        if self.skipped_in_a_row >= self.guards.max_skipped_updates:
            raise NonFiniteError(
                f"{self.skipped_in_a_row} optimiser steps in a row were skipped for NaN or inf, the first for "
                f"{self._first_skip}; lower learner.lr, set learner.max_grad_norm or check the rewards' scale"
            )
        return False

    def _summarise(
        self, history: list[dict[str, torch.Tensor]], grad_norms: list[torch.Tensor], epochs: int
    ) -> dict[str, float]:
        out: dict[str, float] = {}
        # Steps with the same metrics (all of them, unless modules step in turn) are averaged together:
        # one stack and one host transfer per kind of step.
        kinds: dict[tuple[str, ...], list[dict[str, torch.Tensor]]] = {}
        for h in history:
            kinds.setdefault(tuple(h), []).append(h)
        for keys, steps in kinds.items():
            table = torch.stack([torch.stack([h[k] for k in keys]) for h in steps])
            out.update(zip(keys, table.mean(0).tolist(), strict=True))
        if grad_norms:
            out[Metrics.GRAD_NORM] = float(torch.stack(grad_norms).mean())
        out[Metrics.LR] = self.lr
        out[Metrics.MINIBATCHES] = float(len(history))
        out[Metrics.EPOCHS] = float(epochs)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Return optimiser (and loss-scaler) state for checkpoints."""
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict()}
        if self._scaler is not None:
            state["scaler"] = self._scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore state returned by ``state_dict``."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self._scaler is not None and "scaler" in state:
            self._scaler.load_state_dict(state["scaler"])
