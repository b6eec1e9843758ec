"""Sequences for stateful modules: resetting carried states, cutting rollouts into sequences, dropping padding."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns

__all__ = ["cut_sequences", "reset_state", "valid_steps"]


def reset_state(state: TensorDictBase, initial: TensorDictBase, done: torch.Tensor) -> TensorDictBase:
    """Return ``state`` ``[n, ...]`` with the rows of envs where ``done`` ``[n]`` is true replaced by ``initial``.

    Examples:
        >>> state = TensorDict({"h": torch.ones(3, 2)}, [3])
        >>> reset_state(state, TensorDict({"h": torch.zeros(3, 2)}, [3]), torch.tensor([False, True, False]))["h"][:, 0]
        tensor([1., 0., 1.])
    """

    def pick(x: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        return torch.where(done.view(-1, *([1] * (x.dim() - 1))), init, x)

    out = state.apply(pick, initial)
    assert out is not None
    return out


def cut_sequences(batch: TensorDictBase, seq_len: int) -> TensorDict:
    """Cut a time-major batch ``[t, n]`` of a stateful module into sequences ``[s]`` of at most ``seq_len`` steps.

    A sequence never crosses an episode boundary: each env's steps are split
    where an episode ended (``terminateds | truncateds``) and every
    ``seq_len`` steps after the rollout's start or an episode's start. Each
    sequence is padded to ``seq_len`` by repeating its last step; the bool
    ``loss_mask`` ``[s, seq_len]`` marks the real steps, so a loss averages
    only those (see ``valid_steps``). Every entry becomes ``[s, seq_len,
    ...]`` except ``state_in``, which holds the state each sequence starts
    from, ``[s, ...]`` (taken from the batch's ``state_in`` at that step);
    ``state_out`` is dropped.

    Padding instead of resetting the state inside a sequence keeps a custom
    module's ``forward_train`` simple: it runs each sequence from its
    ``state_in`` and never sees an episode boundary.

    Examples:
        >>> batch = TensorDict({"obs": torch.arange(5.).view(5, 1, 1),
        ...                     "terminateds": torch.tensor([[False], [True], [False], [False], [False]]),
        ...                     "truncateds": torch.zeros(5, 1, dtype=torch.bool),
        ...                     "state_in": {"h": torch.zeros(5, 1, 2)}}, [5, 1])
        >>> seqs = cut_sequences(batch, 2)
        >>> seqs["obs"][..., 0].tolist(), seqs["loss_mask"].tolist()
        ([[0.0, 1.0], [2.0, 3.0], [4.0, 4.0]], [[True, True], [True, True], [True, False]])
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if batch.batch_dims != 2:
        raise ValueError(f"cut_sequences takes a time-major batch [t, n], got batch_size {list(batch.batch_size)}")
    t = batch.batch_size[0]
    device = batch.device if batch.device is not None else batch.get(Columns.TERMINATEDS).device
    done = (batch.get(Columns.TERMINATEDS) | batch.get(Columns.TRUNCATEDS)).T  # [n, t]
    steps = torch.arange(t, device=device)
    # A segment starts at the rollout's first step and after each episode end; its steps count from there.
    seg_start = torch.zeros_like(done)
    seg_start[:, 0] = True
    seg_start[:, 1:] = done[:, :-1]
    first_of_segment = torch.where(seg_start, steps, 0).cummax(1).values
    pos = steps - first_of_segment
    starts = (pos % seq_len == 0).reshape(-1)  # env-major: env 0's steps, then env 1's, ...
    seq_of_step = starts.cumsum(0) - 1
    start_index = starts.nonzero().squeeze(1)
    lengths = torch.bincount(seq_of_step, minlength=start_index.numel())
    offsets = torch.arange(seq_len, device=device)
    index = start_index.unsqueeze(1) + torch.minimum(offsets, lengths.unsqueeze(1) - 1)  # [s, seq_len]
    flat = batch.exclude(Columns.STATE_IN, Columns.STATE_OUT).transpose(0, 1).reshape(-1)  # type: ignore[no-untyped-call]
    padded = flat[index]
    s = start_index.numel()
    # ``.keys()``: iterating a TensorDict gives its rows.
    entries = {key: padded.get(key) for key in padded.keys()}  # noqa: SIM118
    out = TensorDict(entries, batch_size=[s], device=batch.device)
    mask = offsets.unsqueeze(0) < lengths.unsqueeze(1)
    if Columns.LOSS_MASK in out:
        mask &= out.get(Columns.LOSS_MASK)  # steps the batch already marks as not real stay so
    out.set(Columns.LOSS_MASK, mask)
    if Columns.STATE_IN in batch:
        state = batch.get(Columns.STATE_IN)
        out.set(Columns.STATE_IN, state.transpose(0, 1).reshape(-1)[start_index])
    return out


def valid_steps(minibatch: TensorDictBase, out: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
    """Return the real steps of a minibatch of sequences and of ``forward_train``'s output on it, each ``[k]``.

    A minibatch from ``cut_sequences`` (it has ``loss_mask`` ``[s, t]``)
    becomes its ``k`` unpadded steps, in order; ``state_in``/``state_out`` are
    left out. Any other minibatch is returned as it is. An algorithm's loss
    calls it first, so every loss term, mean and statistic sees real steps only.

    Examples:
        >>> mask = torch.tensor([[True, True], [True, False]])
        >>> mb = TensorDict({"x": torch.arange(4.0).view(2, 2), "loss_mask": mask}, [2])
        >>> steps, _ = valid_steps(mb, TensorDict({}, [2]))
        >>> steps["x"].tolist()
        [0.0, 1.0, 2.0]
    """
    if Columns.LOSS_MASK not in minibatch:
        return minibatch, out
    mask = minibatch.get(Columns.LOSS_MASK)
    return _select(minibatch, mask), _select(out, mask)


def _select(data: TensorDictBase, mask: torch.Tensor) -> TensorDictBase:
    steps = data.exclude(Columns.STATE_IN, Columns.STATE_OUT, Columns.LOSS_MASK)
    entries = {key: steps.get(key) for key in steps.keys()}  # noqa: SIM118 - iterating a TensorDict gives rows
    flat = TensorDict(entries, batch_size=mask.shape, device=data.device)
    return flat[mask]
