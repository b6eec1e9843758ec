"""Catalogs: choose and build a module's parts from its observation and action specs.

Examples:
    >>> from specs import Box, Discrete
    >>> from catalogs import ActorCriticModule
    >>> type(ActorCriticModule(Box((4,)), Discrete(2)).pi_encoder).__name__
    'MLPEncoder'
"""

from __future__ import annotations

from catalogs._actor_critic import ActorCriticCatalog, ActorCriticConfig, ActorCriticModule, FreeParamHead
from catalogs._catalog import Catalog
from catalogs._config import LeafActionDistConfig, LeafEncoderConfig, ModelConfig
from catalogs._masking import apply_action_mask
from catalogs._plan import ActionDistChoice, EncoderChoice, Rule

__all__ = [
    "ActionDistChoice",
    "ActorCriticCatalog",
    "ActorCriticConfig",
    "ActorCriticModule",
    "Catalog",
    "EncoderChoice",
    "FreeParamHead",
    "LeafActionDistConfig",
    "LeafEncoderConfig",
    "ModelConfig",
    "Rule",
    "apply_action_mask",
]
