"""``Catalog.describe``/``describe_text``: views of the catalog's plan that name a subclass's overriding builders."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from catalogs._masking import mask_size
from catalogs._plan import ActionDistChoice, Choice, EncoderChoice, short
from specs import Composite, Spec

__all__ = ["action_dist_view", "describe", "describe_text", "encoder_view", "overriding"]

_C = TypeVar("_C", bound=Choice)


class Catalog(Protocol):
    """What the description reads of a ``catalogs.Catalog`` (named here so this module needs no import of it)."""

    observation_spec: Spec
    action_spec: Spec

    def plan_encoder(self) -> EncoderChoice:
        """Return the encoder tree the catalog builds."""

    def plan_action_dist(self) -> ActionDistChoice:
        """Return the distribution (and leaf distributions) the catalog uses."""

    def get_action_mask_key(self) -> str | None:
        """Return the observation key of the action mask, or ``None``."""

    def _describe_text_extra(self) -> list[str]:
        """Return more lines for ``describe_text``."""


def overriding(obj: object, *methods: str) -> str:
    """Return ``"<Class>.<method>"`` for each of ``methods`` that a subclass overrides, comma-separated.

    A method is overridden when a class of ``type(obj).__mro__`` other than the
    first to define it (the root-most) defines it again.

    Examples:
        >>> class A:
        ...     def f(self) -> None: ...
        >>> class B(A):
        ...     def f(self) -> None: ...
        >>> overriding(A(), "f"), overriding(B(), "f")
        ('', 'B.f')
    """
    found = []
    for method in methods:
        definers = [cls for cls in type(obj).__mro__ if method in vars(cls)]
        if len(definers) > 1:
            found.append(f"{definers[0].__name__}.{method}")
    return ", ".join(found)


def _options(values: Mapping[str, Any]) -> str:
    return f" {dict(values)}" if values else ""


def _overridden(node: _C, by: str) -> _C:
    """Return ``node`` as decided by the overriding method(s) ``by``, naming the default it replaces."""
    default = f"{node.component}{_options(node.options)} ({node.reason})"
    return dataclasses.replace(node, component=by, options={}, reason=f"override; default: {default}")


def _overridden_tree(node: _C, by: str) -> _C:
    children = {key: _overridden_tree(child, by) for key, child in node.children.items()}
    return dataclasses.replace(_overridden(node, by), children=children)


def encoder_view(catalog: Catalog) -> EncoderChoice:
    """Return ``catalog.plan_encoder()`` as the catalog builds it.

    An overridden ``build_encoder`` builds the whole encoder: one node, without
    children. An overridden ``build_encoder_at`` or ``get_encoder_name`` decides
    every node (each sub-spec is handed to it when it defers to the default).
    Such nodes name the override as ``component`` and the default in ``reason``.
    """
    plan = catalog.plan_encoder()
    whole = overriding(catalog, "build_encoder")
    if whole:
        return dataclasses.replace(_overridden(plan, whole), children={})
    each = overriding(catalog, "build_encoder_at", "get_encoder_name")
    return _overridden_tree(plan, each) if each else plan


def action_dist_view(catalog: Catalog) -> ActionDistChoice:
    """Return ``catalog.plan_action_dist()`` as the catalog uses it (see ``encoder_view``).

    An overridden ``get_action_dist_cls`` decides the top-level distribution,
    an overridden ``get_action_dist_name`` every distribution.
    """
    plan = catalog.plan_action_dist()
    top = overriding(catalog, "get_action_dist_cls", "get_action_dist_name")
    each = overriding(catalog, "get_action_dist_name")
    if not top:
        return plan
    leaves = {path: _overridden(leaf, each) for path, leaf in plan.leaves.items()} if each else plan.leaves
    return dataclasses.replace(_overridden(plan, top), children=leaves)


def _mask(catalog: Catalog) -> dict[str, Any] | None:
    key = catalog.get_action_mask_key()
    if key is None:
        return None
    assert isinstance(catalog.observation_spec, Composite)
    return {"key": key, "spec": repr(catalog.observation_spec[key]), "size": mask_size(catalog.action_spec)}


def describe(catalog: Catalog) -> dict[str, Any]:
    """Return ``Catalog.describe()`` for ``catalog``."""
    encoders = encoder_view(catalog)
    dist = action_dist_view(catalog)
    return {
        "observation_spec": repr(catalog.observation_spec),
        "action_spec": repr(catalog.action_spec),
        "encoder": encoders.component,
        "action_dist": dist.component,
        "action_mask": _mask(catalog),
        "encoder_tree": encoders.to_dict(),
        "action_dist_tree": dist.to_dict(),
    }


def describe_text(catalog: Catalog) -> str:
    """Return ``Catalog.describe_text()`` for ``catalog``: one line per (sub-)spec and action leaf."""
    lines = ["observation -> encoder"]

    def encoder_lines(node: EncoderChoice, label: str, depth: int) -> None:
        indent = "  " * depth
        lines.append(
            f"{indent}{label}: {short(node.spec)} -> {node.component}{_options(node.options)}  [{node.reason}]"
        )
        for key, child in node.children.items():
            encoder_lines(child, key, depth + 1)

    encoder_lines(encoder_view(catalog), "obs", 1)
    mask = _mask(catalog)
    if mask is not None:
        lines.append(
            f"    {mask['key']}: {mask['spec']} -> not encoded; "
            f"masks the {mask['size']} policy logits of {catalog.action_spec!r}"
        )
    lines.append("action -> distribution")
    dist = action_dist_view(catalog)
    lines.append(f"  actions: {short(dist.spec)} -> {dist.component}{_options(dist.options)}  [{dist.reason}]")
    for path, leaf in dist.leaves.items():
        lines.append(f"    {path}: {leaf.spec!r} -> {leaf.component}{_options(leaf.options)}  [{leaf.reason}]")
    lines.extend(catalog._describe_text_extra())
    return "\n".join(lines)
