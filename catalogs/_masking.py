"""Action masking: finding the mask in the observation spec, the spec the encoders see, and masking logits."""

from __future__ import annotations

import dataclasses

import torch

from catalogs._config import ModelConfig
from catalogs._plan import short
from rl8_core import ConfigError
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec

__all__ = ["apply_action_mask", "find_action_mask_key", "mask_size", "without_mask"]


def apply_action_mask(action_dist_inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return logits ``[b, a]`` with the entries where ``mask`` is 0 set to the dtype's lowest value.

    ``mask`` holds ``a`` values per row in any shape (``[b, a]`` or
    ``[b, *mask_shape]``), nonzero meaning allowed. The lowest finite value
    (not ``-inf``) keeps softmax and entropy free of NaN: the ``categorical``
    and ``multi_categorical`` distributions give such logits probability 0,
    so masked actions are never sampled, never chosen by argmax and add
    nothing to the entropy. A row with every action masked becomes uniform,
    as in gymnasium and RLlib.

    Examples:
        >>> logits = torch.zeros(1, 3)
        >>> apply_action_mask(logits, torch.tensor([[1, 0, 1]])).softmax(-1).tolist()
        [[0.5, 0.0, 0.5]]
    """
    allowed = mask.reshape(action_dist_inputs.shape).bool()
    return action_dist_inputs.masked_fill(~allowed, torch.finfo(action_dist_inputs.dtype).min)


def mask_size(action_spec: Spec) -> int | None:
    """Return the size of an action mask for ``action_spec`` (its logits), or ``None`` if it cannot be masked.

    Examples:
        >>> mask_size(MultiDiscrete([2, 3])), mask_size(Box((2,)))
        (5, None)
    """
    if isinstance(action_spec, Discrete):
        return action_spec.n
    if isinstance(action_spec, MultiDiscrete):
        return int(action_spec.nvec.sum())
    return None


def find_action_mask_key(config: ModelConfig, observation_spec: Spec, action_spec: Spec) -> str | None:
    """Return the top-level observation key holding the action mask, or ``None`` without masking.

    See ``Catalog.get_action_mask_key``. A key left at the config class's
    default is used only where it applies; a key named on purpose must.

    Raises:
        ConfigError: If a key named on purpose is missing or the actions cannot
            be masked, if the mask does not have one entry per logit, or if the
            observation holds nothing but the mask.
    """
    key = config.action_mask_key
    obs = observation_spec
    if key is None:
        return None
    size = mask_size(action_spec)
    # ``keys()``: ``in`` on a spec asks whether data belongs to it.
    present = isinstance(obs, Composite) and key in obs.keys()  # noqa: SIM118
    if not present or size is None:
        default = {f.name: f.default for f in dataclasses.fields(config)}.get("action_mask_key")
        if key != default:  # named on purpose, so it must apply
            why = (
                f"the observation spec {short(obs)} has no top-level key {key!r}"
                if not present
                else f"only Discrete and MultiDiscrete actions can be masked, not {action_spec!r}"
            )
            raise ConfigError(f"model_config.action_mask_key={key!r}: {why}")
        return None
    assert isinstance(obs, Composite)
    mask = obs[key]
    if not isinstance(mask, (Box, MultiBinary)) or mask.numel != size:
        raise ConfigError(
            f"observation {key!r} is {mask!r}, but an action mask for {action_spec!r} must be a "
            f"MultiBinary or Box of {size} elements (one per logit); "
            "set model_config.action_mask_key to null to treat it as an ordinary observation"
        )
    if len(obs) == 1:
        raise ConfigError(f"the observation spec has nothing but the action mask {key!r} to encode")
    return key


def without_mask(spec: Spec, mask_key: str | None) -> Spec:
    """Return ``spec`` without its top-level entry ``mask_key`` (``spec`` itself when ``mask_key`` is ``None``).

    Examples:
        >>> without_mask(Composite({"obs": Box((4,)), "action_mask": MultiBinary(3)}), "action_mask").keys()
        ['obs']
    """
    if mask_key is None:
        return spec
    assert isinstance(spec, Composite)
    return spec.without(mask_key)
