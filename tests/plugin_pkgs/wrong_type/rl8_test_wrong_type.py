"""Plugins whose hooks return the wrong types.

The module itself (entry point ``test_wrong_list``) returns a list instead of
a mapping; ``not_an_encoder`` (entry point ``test_wrong_class``) maps a name to
a class that is not an ``Encoder``; ``not_a_distribution`` (entry point
``test_wrong_dist``) maps a name to a plain function instead of a
``Distribution`` subclass.
"""

from __future__ import annotations

from rl8_core import hookimpl


class NotAnEncoder:
    """A class that has nothing to do with ``Encoder``."""


@hookimpl
def rl8_encoders() -> list[str]:
    """Return a list, not a mapping."""
    return ["wrong_list_encoder"]


class _NotAnEncoderPlugin:
    @hookimpl
    def rl8_encoders(self) -> dict[str, type]:
        return {"wrong_class_encoder": NotAnEncoder}


class _NotADistributionPlugin:
    @hookimpl
    def rl8_distributions(self) -> dict[str, object]:
        return {"wrong_dist": lambda inputs, action_spec: None}


not_an_encoder = _NotAnEncoderPlugin()
not_a_distribution = _NotADistributionPlugin()
