"""What the ``lstm`` and ``gru`` encoders share: an inner encoder's features through a torch recurrent layer."""

from __future__ import annotations

from typing import ClassVar

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl8_core import Encoder, RecurrentEncoder
from specs import Spec

__all__ = ["RNNEncoder"]


class RNNEncoder(RecurrentEncoder):
    """``inner`` features ``[b, t, d]`` through ``torch.nn.LSTM``/``GRU``; the state is the layers' hidden tensors."""

    takes_inner_encoder: ClassVar[bool] = True
    #: The torch layer class and the names of its state tensors.
    rnn_class: ClassVar[type[nn.LSTM] | type[nn.GRU]]
    state_keys: ClassVar[tuple[str, ...]]

    def __init__(self, observation_spec: Spec, *, inner: Encoder, hidden: int = 64, num_layers: int = 1) -> None:
        super().__init__(observation_spec)
        if hidden < 1 or num_layers < 1:
            raise ValueError(f"hidden and num_layers must be >= 1, got {hidden} and {num_layers}")
        self.inner = inner
        self.rnn = self.rnn_class(inner.output_dim, hidden, num_layers, batch_first=True)
        self.hidden, self.num_layers = hidden, num_layers
        self.output_dim = hidden

    def get_initial_state(self) -> TensorDictBase:
        """Return zeros ``[num_layers, hidden]`` for each state tensor (``h``, and ``c`` for an LSTM)."""
        zeros = torch.zeros(self.num_layers, self.hidden)
        return TensorDict({key: zeros.clone() for key in self.state_keys}, batch_size=[])

    def forward_sequence(
        self, obs: torch.Tensor | TensorDictBase, state: TensorDictBase
    ) -> tuple[torch.Tensor, TensorDictBase]:
        """Return features ``[b, t, hidden]`` of ``obs`` ``[b, t, ...]`` from ``state``, and the state after."""
        b, t = obs.shape[:2]
        x = self.inner(obs.flatten(0, 1)).unflatten(0, (b, t))  # type: ignore[no-untyped-call]
        device = x.device.type
        if torch.is_autocast_enabled(device):
            # Autocast leaves the recurrent layer's inputs as they come; oneDNN's LSTM needs them in its dtype.
            x = x.to(torch.get_autocast_dtype(device))
        # torch wants [num_layers, b, hidden]; a TensorDict row is one env.
        hx = tuple(state.get(key).transpose(0, 1).to(x.dtype).contiguous() for key in self.state_keys)
        out, h_n = self.rnn(x, hx if len(hx) > 1 else hx[0])
        h_tuple = h_n if isinstance(h_n, tuple) else (h_n,)
        next_state = TensorDict(
            {key: h.transpose(0, 1).float() for key, h in zip(self.state_keys, h_tuple, strict=True)},
            batch_size=[b],
        )
        return out, next_state
