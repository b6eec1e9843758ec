"""The ``attention`` encoder: each step attends over a window of the last steps' embeddings."""

from __future__ import annotations

from typing import ClassVar

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl8_core import Encoder, RecurrentEncoder, hookimpl
from specs import Spec

__all__ = ["AttentionEncoder", "rl8_encoders"]


class AttentionEncoder(RecurrentEncoder):
    """A windowed transformer block: each step's embedding attends to itself and the ``window`` steps before it.

    Each step's observation goes through ``inner`` and a linear projection to
    a ``dim``-wide token. The token attends (``num_heads`` heads, pre-norm,
    with a learned bias per head and distance in steps) to the tokens of the
    last ``window`` steps of the episode and to itself, then through a
    feed-forward layer; both with residual connections. The state is the
    window: ``tokens`` ``[window, dim]`` and ``valid`` ``[window]`` (which of
    them belong to the episode so far). Memory reaches back ``window`` steps,
    exactly; unlike an LSTM's, nothing older can leak in.

    Args:
        observation_spec: What the inner encoder reads.
        inner: The encoder whose features ``[b, d]`` become tokens.
        window: Past steps each step attends to.
        dim: Width of tokens and features.
        num_heads: Attention heads (``dim`` must be divisible by it).
        ffn_dim: Width of the feed-forward layer's hidden layer.

    Examples:
        >>> from specs import Box
        >>> from rl8_plugins.encoders.mlp import MLPEncoder
        >>> enc = AttentionEncoder(Box((3,)), inner=MLPEncoder(Box((3,))), window=4, dim=16)
        >>> state = enc.get_initial_state().expand(2).clone()
        >>> features, state = enc.forward_sequence(torch.zeros(2, 6, 3), state)
        >>> features.shape, state["tokens"].shape, state["valid"].all().item()
        (torch.Size([2, 6, 16]), torch.Size([2, 4, 16]), True)
    """

    takes_inner_encoder: ClassVar[bool] = True

    def __init__(
        self,
        observation_spec: Spec,
        *,
        inner: Encoder,
        window: int = 16,
        dim: int = 64,
        num_heads: int = 2,
        ffn_dim: int = 128,
    ) -> None:
        super().__init__(observation_spec)
        if window < 1 or dim < 1 or num_heads < 1 or ffn_dim < 1:
            raise ValueError(
                f"window, dim, num_heads and ffn_dim must be >= 1: {window}, {dim}, {num_heads}, {ffn_dim}"
            )
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.inner = inner
        self.window, self.dim, self.num_heads = window, dim, num_heads
        self.embed = nn.Linear(inner.output_dim, dim)
        self.norm_query = nn.LayerNorm(dim)
        self.norm_tokens = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.attn_out = nn.Linear(dim, dim)
        #: Learned attention bias per head and distance (0: the step itself, ``window``: the oldest).
        self.distance_bias = nn.Parameter(torch.zeros(num_heads, window + 1))
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, dim))
        self.output_dim = dim

    def get_initial_state(self) -> TensorDictBase:
        """Return an empty window: zero ``tokens`` ``[window, dim]``, none ``valid``."""
        return TensorDict(
            {"tokens": torch.zeros(self.window, self.dim), "valid": torch.zeros(self.window, dtype=torch.bool)},
            batch_size=[],
        )

    def forward_sequence(
        self, obs: torch.Tensor | TensorDictBase, state: TensorDictBase
    ) -> tuple[torch.Tensor, TensorDictBase]:
        """Return features ``[b, t, dim]`` of ``obs`` ``[b, t, ...]`` after the window ``state``, and the new one."""
        b, t = obs.shape[:2]
        w, h = self.window, self.num_heads
        new = self.embed(self.inner(obs.flatten(0, 1))).unflatten(0, (b, t))  # [b, t, dim]
        tokens = torch.cat([state.get("tokens").to(new.dtype), new], dim=1)  # [b, w + t, dim]
        valid = torch.cat([state.get("valid"), torch.ones(b, t, dtype=torch.bool, device=new.device)], dim=1)
        # Step i of the sequence sits at position w + i and sees positions i .. w + i (distance w .. 0).
        distance = torch.arange(w, w + t, device=new.device).unsqueeze(1) - torch.arange(w + t, device=new.device)
        in_window = (distance >= 0) & (distance <= w)  # [t, w + t]
        allowed = in_window.unsqueeze(0) & valid.unsqueeze(1)  # [b, t, w + t]
        bias = self.distance_bias[:, distance.clamp(0, w)]  # [h, t, w + t]
        mask = bias.unsqueeze(0).masked_fill(~allowed.unsqueeze(1), float("-inf")).to(new.dtype)
        q = self.query(self.norm_query(new)).view(b, t, h, -1).transpose(1, 2)
        k, v = self.key_value(self.norm_tokens(tokens)).view(b, w + t, 2, h, -1).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = new + self.attn_out(attended.transpose(1, 2).reshape(b, t, self.dim))
        x = x + self.ffn(self.norm_ffn(x))
        next_state = TensorDict({"tokens": tokens[:, -w:].float(), "valid": valid[:, -w:]}, batch_size=[b])
        return x, next_state


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``attention``."""
    return {"attention": AttentionEncoder}
