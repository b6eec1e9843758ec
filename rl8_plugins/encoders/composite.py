"""The ``composite`` encoder: one sub-encoder per entry of a ``Dict``/``Tuple`` observation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from tensordict import TensorDictBase
from torch import nn

from rl8_core import Encoder, FlattenObs, build_mlp, hookimpl
from specs import Composite, Spec

__all__ = ["CompositeEncoder", "rl8_encoders"]


class CompositeEncoder(Encoder):
    """Encode each top-level entry of a ``Composite`` observation, concatenate, optionally mix.

    A catalog builds the sub-encoders (one per top-level key, recursively, by
    its rule table or ``model_config["leaf_encoders"]``) and passes them as
    ``encoders``, because ``takes_sub_encoders`` is set. Built directly
    without ``encoders``, every leaf is flattened (one-hot for discrete ones)
    and sub-composites get a ``CompositeEncoder`` of their own: no parameters.

    The features of the entries are concatenated in key order and mixed by
    dense layers (``hiddens``, one of 256 by default; ``output_dim`` is the
    last width). Without mixing, linear heads see each entry's features side
    by side but never combined: a Dict-observation CartPole then does not
    learn within 200k steps, with one mixing layer it does in 79k-163k.
    ``hiddens=[]`` passes the concatenation through.

    Args:
        observation_spec: A ``Composite`` spec.
        encoders: One ``Encoder`` per top-level key of ``observation_spec``.
        hiddens: Widths of the dense layers applied after concatenation.
        activation: Activation of those layers (see ``rl8_core.ACTIVATIONS``).

    Raises:
        TypeError: If ``observation_spec`` is not a ``Composite`` or an entry of
            ``encoders`` is not an ``Encoder``.
        ValueError: If the keys of ``encoders`` differ from the spec's.

    Examples:
        >>> from specs import Box, Discrete
        >>> spec = Composite({"pos": Box((2,)), "mode": Discrete(3)})
        >>> enc = CompositeEncoder(spec, hiddens=[])
        >>> enc.output_dim, enc(spec.rand((4,))).shape
        (5, torch.Size([4, 5]))
        >>> CompositeEncoder(spec, hiddens=[16]).output_dim
        16
    """

    takes_sub_encoders = True

    def __init__(
        self,
        observation_spec: Spec,
        *,
        encoders: Mapping[str, Encoder] | None = None,
        hiddens: Sequence[int] = (256,),
        activation: str = "tanh",
    ) -> None:
        if not isinstance(observation_spec, Composite):
            raise TypeError(f"CompositeEncoder needs a Composite observation spec, got {observation_spec!r}")
        super().__init__(observation_spec)
        #: The top-level keys, in the order their features are concatenated.
        self.keys = tuple(observation_spec.keys())
        subs: list[Encoder | FlattenObs] = []
        if encoders is None:
            for key in self.keys:
                spec = observation_spec[key]
                subs.append(CompositeEncoder(spec, hiddens=[]) if isinstance(spec, Composite) else FlattenObs(spec))
        else:
            missing = [k for k in self.keys if k not in encoders]
            extra = [k for k in encoders if k not in self.keys]
            if missing or extra:
                raise ValueError(
                    f"CompositeEncoder needs one encoder per key of {observation_spec!r}; "
                    f"missing: {missing or 'none'}, unexpected: {extra or 'none'}"
                )
            for key in self.keys:
                sub = encoders[key]
                if not isinstance(sub, Encoder):
                    raise TypeError(
                        f"CompositeEncoder: the encoder for {key!r} is a {type(sub).__name__}, not an Encoder"
                    )
                subs.append(sub)
        # A list, not a ModuleDict: observation keys such as "items" or "values" would clash with its methods.
        #: The sub-encoders, in the order of ``keys``.
        self.encoders = nn.ModuleList(subs)
        width = sum(sub.output_dim for sub in subs)
        #: Dense layers after concatenation (empty: the features pass as they are).
        self.head = build_mlp(width, list(hiddens), activation=activation)
        self.output_dim = int(hiddens[-1]) if hiddens else width

    def forward(self, obs: TensorDictBase) -> torch.Tensor:  # type: ignore[override]
        """Return features ``[b, output_dim]`` for a TensorDict of observations with batch size ``[b]``.

        Keys of ``obs`` that the spec does not name are ignored.
        """
        features = [encoder(obs.get(key)) for key, encoder in zip(self.keys, self.encoders, strict=True)]
        out: torch.Tensor = self.head(features[0] if len(features) == 1 else torch.cat(features, dim=-1))
        return out


@hookimpl
def rl8_encoders() -> dict[str, type[Encoder]]:
    """Register ``composite``."""
    return {"composite": CompositeEncoder}
