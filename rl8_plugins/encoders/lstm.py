"""The ``lstm`` encoder: an inner encoder's features through an LSTM."""

from __future__ import annotations

from torch import nn

from rl8_core import Encoder, hookimpl
from rl8_plugins.encoders._rnn import RNNEncoder

__all__ = ["LSTMEncoder", "rl8_encoders"]


class LSTMEncoder(RNNEncoder):
    """An LSTM over the features of an ``inner`` encoder; state ``h`` and ``c``, each ``[num_layers, hidden]``.

    Built by the catalog for ``model_config.memory: lstm`` (or ``encoder: lstm``),
    which builds ``inner`` first (the rule table's encoder for the observation,
    or ``encoder_config.inner``).

    Args:
        observation_spec: What the inner encoder reads.
        inner: The encoder whose features ``[b, d]`` feed the LSTM.
        hidden: Size of the LSTM's hidden state and of the features.
        num_layers: Stacked LSTM layers.

    Examples:
        >>> import torch
        >>> from specs import Box
        >>> from rl8_plugins.encoders.mlp import MLPEncoder
        >>> enc = LSTMEncoder(Box((3,)), inner=MLPEncoder(Box((3,))), hidden=32)
        >>> state = enc.get_initial_state().expand(5).clone()
        >>> features, state = enc.forward_sequence(torch.zeros(5, 7, 3), state)
        >>> features.shape, state["h"].shape
        (torch.Size([5, 7, 32]), torch.Size([5, 1, 32]))
    """

    rnn_class = nn.LSTM
    state_keys = ("h", "c")


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``lstm``."""
    return {"lstm": LSTMEncoder}
