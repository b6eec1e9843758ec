"""The model-config dataclasses: the ``model_config`` options every catalog understands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rl8_core import FieldError

__all__ = ["LeafActionDistConfig", "LeafEncoderConfig", "ModelConfig"]


@dataclass(frozen=True, kw_only=True)
class LeafEncoderConfig:
    """One entry of ``model_config["leaf_encoders"]``: the encoder of one sub-observation."""

    encoder: str | None = None
    """Encoder by registry name or import path; ``None`` keeps the rule table's choice."""
    encoder_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for that encoder."""


@dataclass(frozen=True, kw_only=True)
class LeafActionDistConfig:
    """One entry of ``model_config["leaf_action_dists"]``: the distribution of one action leaf."""

    action_dist: str | None = None
    """Distribution by registry name or import path; ``None`` keeps the rule table's choice."""
    action_dist_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for that distribution."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Options every catalog understands (``model_config`` keys)."""

    encoder: str | None = None
    """Encoder of the whole observation by registry name or import path; ``None`` picks one from the spec."""
    encoder_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for that encoder (e.g. ``hiddens``, ``activation``; for ``composite``, its mixing layers)."""
    leaf_encoders: Mapping[str, LeafEncoderConfig] = field(default_factory=dict)
    """Per sub-observation of a ``Composite`` observation: dotted path (``"agent.pos"``, ``"0"`` for a
    tuple's first entry) to ``{encoder, encoder_config}``. Sub-specs not named get the rule table's
    choice with its default options."""
    memory: str | None = None
    """Give the module memory: a memory encoder (``lstm``, ``gru``, ``attention`` or a plugin's) that
    wraps the encoder ``encoder``/``encoder_config`` name (or the rule table picks) as its ``inner``.
    Short for ``encoder: lstm`` with ``encoder_config: {inner: ..., inner_config: ...}``."""
    memory_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for the memory encoder (e.g. ``hidden``; ``window`` for ``attention``)."""
    action_dist: str | None = None
    """Action distribution by registry name or import path; ``None`` picks one from the spec."""
    action_dist_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for the action distribution."""
    leaf_action_dists: Mapping[str, LeafActionDistConfig] = field(default_factory=dict)
    """Per leaf of a ``Composite`` action spec: dotted path to ``{action_dist, action_dist_config}``.
    Leaves not named get the rule table's choice with its default options."""
    action_mask_key: str | None = "action_mask"
    """Top-level key of a ``Composite`` observation holding the action mask (``Discrete`` or
    ``MultiDiscrete`` actions): the encoders do not see it and the policy logits of disallowed
    actions are masked. ``None`` turns masking off."""
    normalize_obs: bool = False
    """Normalise float observations with running statistics saved in the module."""
    custom: Mapping[str, Any] = field(default_factory=dict)
    """Free-form options for custom modules; catalogs ignore them."""

    def __post_init__(self) -> None:
        if self.memory_config and self.memory is None:
            raise FieldError("memory_config", "is set but memory is not; set memory (lstm, gru or attention)")
