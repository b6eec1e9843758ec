"""``ActorCriticCatalog`` and the default actor-critic ``RLModule`` it builds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from catalogs._catalog import Catalog
from catalogs._config import ModelConfig
from catalogs._masking import apply_action_mask
from rl8_core import Columns, ConfigError, Encoder, RecurrentEncoder, RLModule, build_mlp
from specs import FLOAT_DTYPES, Composite, TensorShape, TensorSpec

__all__ = ["ActorCriticCatalog", "ActorCriticConfig", "ActorCriticModule", "FreeParamHead"]


@dataclass(frozen=True, kw_only=True)
class ActorCriticConfig(ModelConfig):
    """Options of the actor-critic catalog (``model_config`` keys)."""

    shared_encoder: bool = False
    """Use one encoder (tree) for policy and value function (else two built alike, sharing nothing)."""
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
        """Return ``(pi_encoder, vf_encoder)``; ``vf_encoder`` is ``None`` when shared.

        Both encode ``encoder_observation_spec()`` (the observation without the
        action mask); with ``composite``/``cnn`` encoders each is a whole tree.
        """
        spec = self.encoder_observation_spec()
        pi = self.build_encoder(spec)
        return pi, None if self.config.shared_encoder else self.build_encoder(spec)

    def build_pi_head(self, input_dim: int) -> nn.Module:
        """Return the policy head mapping features ``[b, input_dim]`` to ``action_dist_inputs`` ``[b, a]``.

        Raises:
            ConfigError: If an action mask does not have one entry per input of the distribution.
        """
        dist = self.get_action_dist_cls()
        cfg = self.get_action_dist_config()
        n = dist.required_inputs(self.action_spec, **cfg)
        mask_key = self.get_action_mask_key()
        if mask_key is not None:
            assert isinstance(self.observation_spec, Composite)
            mask = self.observation_spec[mask_key]
            assert isinstance(mask, TensorSpec)
            if mask.numel != n:
                raise ConfigError(
                    f"the action mask {mask_key!r} ({mask!r}) has {mask.numel} entries but distribution "
                    f"{self.get_action_dist_name()!r} takes {n} inputs for {self.action_spec!r}; "
                    "set model_config.action_mask_key to null or use a distribution with one logit per action"
                )
        free = dist.state_independent_inputs(self.action_spec, **cfg) if self.config.free_log_std else 0
        net = build_mlp(
            input_dim, self.config.pi_hiddens, activation=self.config.head_activation, out_dim=n - free, out_gain=0.01
        )
        return FreeParamHead(net, num_free=free, init=self.config.init_log_std) if free else net

    def build_vf_head(self, input_dim: int) -> nn.Module:
        """Return the value head mapping features ``[b, input_dim]`` to values ``[b, 1]``."""
        return build_mlp(input_dim, self.config.vf_hiddens, activation=self.config.head_activation, out_dim=1)

    def describe(self) -> dict[str, Any]:
        """Say what this catalog builds, ``shared_encoder`` included (see ``Catalog.describe``)."""
        return {**super().describe(), "shared_encoder": self.config.shared_encoder}

    def _describe_text_extra(self) -> list[str]:
        if self.config.shared_encoder:
            return ["encoders: one, shared by the policy and value heads"]
        return ["encoders: two built alike, one for the policy head and one for the value head"]


class ActorCriticModule(RLModule):
    """The default module for actor-critic algorithms such as PPO.

    ``forward_exploration`` and ``forward_train`` return ``action_dist_inputs``
    and ``vf_preds``; ``forward_inference`` only ``action_dist_inputs``. When
    the catalog finds an action mask (``catalog.get_action_mask_key()``), the
    encoders see the observation without it and every forward masks the
    policy logits with ``apply_action_mask``.

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
        #: Top-level observation key of the action mask, or ``None``.
        self.action_mask_key = self.catalog.get_action_mask_key()

    def _policy(self, features: torch.Tensor, obs: torch.Tensor | TensorDictBase) -> torch.Tensor:
        inputs: torch.Tensor = self.pi(features)
        if self.action_mask_key is not None:
            assert isinstance(obs, TensorDictBase)
            inputs = apply_action_mask(inputs, obs.get(self.action_mask_key))
        return inputs

    def _encoder_input(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor | TensorDictBase:
        if self.action_mask_key is None:
            return obs
        assert isinstance(obs, TensorDictBase)
        return obs.exclude(self.action_mask_key)

    def get_initial_state(self) -> TensorDictBase:
        """Return the state of the recurrent encoders (``pi``, and ``vf`` when separate); empty without memory."""
        state = {
            key: encoder.get_initial_state()
            for key, encoder in (("pi", self.pi_encoder), ("vf", self.vf_encoder))
            if isinstance(encoder, RecurrentEncoder)
        }
        return TensorDict(state, batch_size=[])

    def _encode(
        self,
        key: str,
        encoder: Encoder,
        obs: torch.Tensor | TensorDictBase,
        states: dict[str, TensorDictBase] | None,
        train: bool,
    ) -> torch.Tensor:
        """Return ``encoder``'s features; a recurrent one reads ``states[key]`` and leaves its next state there."""
        if not isinstance(encoder, RecurrentEncoder):
            if train and self.is_stateful:  # sequences [b, t] through a feed-forward encoder
                features: torch.Tensor = encoder(obs.flatten(0, 1)).unflatten(0, obs.shape[:2])  # type: ignore[no-untyped-call]
                return features
            return encoder(obs)
        assert states is not None
        step = encoder.forward_sequence if train else encoder.forward_step
        features, states[key] = step(obs, states[key])
        return features

    def _forward(self, batch: TensorDictBase, *, train: bool, values: bool) -> TensorDictBase:
        obs = batch.get(Columns.OBS)
        enc_obs = self._encoder_input(obs)
        # ``state_in`` by encoder; each recurrent encoder replaces its entry with its next state.
        states = dict(batch.get(Columns.STATE_IN).items()) if self.is_stateful else None
        pi_features = self._encode("pi", self.pi_encoder, enc_obs, states, train)
        out = TensorDict({Columns.ACTION_DIST_INPUTS: self._policy(pi_features, obs)}, batch_size=batch.batch_size)
        if values:
            vf_features = (
                pi_features if self.vf_encoder is None else self._encode("vf", self.vf_encoder, enc_obs, states, train)
            )
            out.set(Columns.VF_PREDS, self.vf(vf_features).squeeze(-1))
        elif isinstance(self.vf_encoder, RecurrentEncoder):
            # Acting without values still advances the value encoder's memory.
            self._encode("vf", self.vf_encoder, enc_obs, states, train)
        if states is not None and not train:
            out.set(Columns.STATE_OUT, TensorDict(states, batch_size=batch.batch_size))
        return out

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        return self._forward(batch, train=True, values=True)

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        return self._forward(batch, train=False, values=True)

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        return self._forward(batch, train=False, values=False)

    def _with_values(self, spec: Any, dims: tuple[str, ...] = ("b",)) -> Any:
        values = {Columns.VF_PREDS: TensorShape(dims, dtype=FLOAT_DTYPES)}
        return spec.merge(values) if spec is not None else values

    def output_specs_train(self) -> Mapping[Any, Any] | Any:
        """Add ``vf_preds [b]`` (``[b, t]`` when stateful) to the default train output."""
        return self._with_values(super().output_specs_train(), self.train_dims())

    def output_specs_exploration(self) -> Mapping[Any, Any] | Any:
        """Add ``vf_preds [b]`` to the default exploration output."""
        return self._with_values(super().output_specs_exploration())
