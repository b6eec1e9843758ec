"""The ``gru`` encoder: an inner encoder's features through a GRU."""

from __future__ import annotations

from torch import nn

from rl8_core import Encoder, hookimpl
from rl8_plugins.encoders._rnn import RNNEncoder

__all__ = ["GRUEncoder", "rl8_encoders"]


class GRUEncoder(RNNEncoder):
    """A GRU over the features of an ``inner`` encoder; state ``h`` ``[num_layers, hidden]``.

    Args and use as for ``LSTMEncoder``.

    Examples:
        >>> from specs import Box
        >>> from rl8_plugins.encoders.mlp import MLPEncoder
        >>> enc = GRUEncoder(Box((3,)), inner=MLPEncoder(Box((3,))))
        >>> sorted(enc.get_initial_state().keys()), enc.output_dim
        (['h'], 64)
    """

    rnn_class = nn.GRU
    state_keys = ("h",)


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``gru``."""
    return {"gru": GRUEncoder}
