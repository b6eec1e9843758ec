"""``ActorCriticCatalog`` and the default actor-critic ``RLModule`` it builds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from catalogs._catalog import Catalog, ModelConfig
from rl8_core import Columns, Encoder, RLModule, build_mlp
from specs import FLOAT_DTYPES, TensorShape

__all__ = ["ActorCriticCatalog", "ActorCriticConfig", "ActorCriticModule", "FreeParamHead"]


@dataclass(frozen=True, kw_only=True)
class ActorCriticConfig(ModelConfig):
    """Options of the actor-critic catalog (``model_config`` keys)."""

    shared_encoder: bool = False
    """Use one encoder for policy and value function (else two of the same kind)."""
    pi_hiddens: tuple[int, ...] = ()
    """Hidden layers of the policy head, after the encoder."""
    vf_hiddens: tuple[int, ...] = ()
    """Hidden layers of the value head, after the encoder."""
    head_activation: str = "tanh"
    """Activation of the heads' hidden layers."""
    free_log_std: bool = True
    """Learn the distribution's state-independent inputs (normal: log-stds) as free parameters."""
    init_log_std: float = 0.0
    """Initial value of those free parameters."""


class FreeParamHead(nn.Module):
    """A head whose last ``num_free`` outputs are learned constants (e.g. log-stds).

    Examples:
        >>> head = FreeParamHead(nn.Linear(4, 2), num_free=2, init=-0.5)
        >>> head(torch.zeros(3, 4)).shape
        torch.Size([3, 4])
    """

    def __init__(self, net: nn.Module, *, num_free: int, init: float) -> None:
        super().__init__()
        self.net = net
        self.free = nn.Parameter(torch.full((num_free,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``[b, a]``: the network's outputs followed by the free parameters."""
        out = self.net(x)
        return torch.cat([out, self.free.to(out.dtype).expand(*out.shape[:-1], -1)], dim=-1)


class ActorCriticCatalog(Catalog):
    """Builds encoders (shared or separate), a policy head and a value head.

    Examples:
        >>> from specs import Box
        >>> cat = ActorCriticCatalog(Box((3,)), Box((1,), -2.0, 2.0), {"shared_encoder": True})
        >>> pi_enc, vf_enc = cat.build_actor_critic_encoders()
        >>> vf_enc is None, cat.build_pi_head(pi_enc.output_dim)(torch.zeros(5, 64)).shape
        (True, torch.Size([5, 2]))
    """

    config_class: ClassVar[type[ModelConfig]] = ActorCriticConfig
    config: ActorCriticConfig

    def build_actor_critic_encoders(self) -> tuple[Encoder, Encoder | None]:
        """Return ``(pi_encoder, vf_encoder)``; ``vf_encoder`` is ``None`` when shared."""
        pi = self.build_encoder()
        return pi, None if self.config.shared_encoder else self.build_encoder()

    def build_pi_head(self, input_dim: int) -> nn.Module:
        """Return the policy head mapping features ``[b, input_dim]`` to ``action_dist_inputs`` ``[b, a]``."""
        dist = self.get_action_dist_cls()
        cfg = self.get_action_dist_config()
        n = dist.required_inputs(self.action_spec, **cfg)
        free = dist.state_independent_inputs(self.action_spec, **cfg) if self.config.free_log_std else 0
        net = build_mlp(
            input_dim, self.config.pi_hiddens, activation=self.config.head_activation, out_dim=n - free, out_gain=0.01
        )
        return FreeParamHead(net, num_free=free, init=self.config.init_log_std) if free else net

    def build_vf_head(self, input_dim: int) -> nn.Module:
        """Return the value head mapping features ``[b, input_dim]`` to values ``[b, 1]``."""
        return build_mlp(input_dim, self.config.vf_hiddens, activation=self.config.head_activation, out_dim=1)


class ActorCriticModule(RLModule):
    """The default module for actor-critic algorithms such as PPO.

    ``forward_exploration`` and ``forward_train`` return ``action_dist_inputs``
    and ``vf_preds``; ``forward_inference`` only ``action_dist_inputs``.

    Examples:
        >>> from specs import Box, Discrete
        >>> m = ActorCriticModule(Box((4,)), Discrete(2))
        >>> out = m.forward_exploration(TensorDict({"obs": torch.zeros(8, 4)}, [8]))
        >>> sorted(out.keys())
        ['action_dist_inputs', 'action_logp', 'actions', 'vf_preds']
    """

    default_catalog_class = ActorCriticCatalog
    catalog: ActorCriticCatalog

    def setup(self) -> None:
        """Build encoders and heads through the catalog."""
        if not isinstance(self.catalog, ActorCriticCatalog):
            raise TypeError(f"{type(self).__name__} needs an ActorCriticCatalog, got {type(self.catalog).__name__}")
        self.pi_encoder, vf_encoder = self.catalog.build_actor_critic_encoders()
        self.vf_encoder = vf_encoder
        self.pi = self.catalog.build_pi_head(self.pi_encoder.output_dim)
        self.vf = self.catalog.build_vf_head((vf_encoder or self.pi_encoder).output_dim)

    def _pi_and_vf(self, batch: TensorDictBase) -> TensorDictBase:
        obs = batch.get(Columns.OBS)
        pi_features = self.pi_encoder(obs)
        vf_features = pi_features if self.vf_encoder is None else self.vf_encoder(obs)
        return TensorDict(
            {
                Columns.ACTION_DIST_INPUTS: self.pi(pi_features),
                Columns.VF_PREDS: self.vf(vf_features).squeeze(-1),
            },
            batch_size=batch.batch_size,
        )

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        return self._pi_and_vf(batch)

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        return self._pi_and_vf(batch)

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        inputs = self.pi(self.pi_encoder(batch.get(Columns.OBS)))
        return TensorDict({Columns.ACTION_DIST_INPUTS: inputs}, batch_size=batch.batch_size)

    def _with_values(self, spec: Any) -> Any:
        values = {Columns.VF_PREDS: TensorShape("b", dtype=FLOAT_DTYPES)}
        return spec.merge(values) if spec is not None else values

    def output_specs_train(self) -> Mapping[Any, Any] | Any:
        """Add ``vf_preds [b]`` to the default train output."""
        return self._with_values(super().output_specs_train())

    def output_specs_exploration(self) -> Mapping[Any, Any] | Any:
        """Add ``vf_preds [b]`` to the default exploration output."""
        return self._with_values(super().output_specs_exploration())
