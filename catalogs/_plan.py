"""What a catalog builds, decided from ``model_config``, the rule tables and the registry, without building it."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, TypeVar, cast

from catalogs._config import ModelConfig
from rl8_core import ConfigError, Registry
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec

__all__ = [
    "ACTION_DIST_RULES",
    "ENCODER_RULES",
    "ActionDistChoice",
    "Choice",
    "Chooser",
    "EncoderChoice",
    "Override",
    "Rule",
    "action_dist_choice",
    "check_leaf_encoders_used",
    "check_paths",
    "dist_override",
    "encoder_choice",
    "encoder_override",
    "find_choice",
    "leaf_paths",
    "plan_action_dists",
    "plan_encoders",
    "short",
    "sub_spec",
    "sub_spec_paths",
]


@dataclass(frozen=True)
class Rule:
    """One row of a catalog's choice table: specs matching ``when`` get ``component``."""

    #: Human-readable condition, as shown by ``Catalog.describe`` and in the docs.
    condition: str
    #: The test applied to a spec.
    when: Callable[[Spec], bool]
    #: Registry name of the component chosen.
    component: str


def _is_image(spec: Spec) -> bool:
    return isinstance(spec, Box) and len(spec.shape) == 3


#: ``Catalog.ENCODER_RULES``: which encoder an observation spec (or sub-spec) gets.
ENCODER_RULES: tuple[Rule, ...] = (
    Rule("Box of rank 3 (an image)", _is_image, "cnn"),
    Rule("Composite (Dict or Tuple)", lambda s: isinstance(s, Composite), "composite"),
    Rule("any other Box, Discrete, MultiDiscrete, MultiBinary", lambda s: not isinstance(s, Composite), "mlp"),
)
#: ``Catalog.ACTION_DIST_RULES``: which action distribution an action spec (or action leaf) gets.
ACTION_DIST_RULES: tuple[Rule, ...] = (
    Rule("Discrete", lambda s: isinstance(s, Discrete), "categorical"),
    Rule("Box", lambda s: isinstance(s, Box), "normal"),
    Rule("MultiDiscrete", lambda s: isinstance(s, MultiDiscrete), "multi_categorical"),
    Rule("MultiBinary", lambda s: isinstance(s, MultiBinary), "bernoulli"),
    Rule("Composite (Dict or Tuple)", lambda s: isinstance(s, Composite), "composite"),
)

_C = TypeVar("_C", bound="Choice")

#: ``Catalog.choose``: the first rule of a table that matches a spec (raises ``ConfigError`` if none does).
Chooser = Callable[[tuple[Rule, ...], Spec], Rule]


@dataclass(frozen=True)
class Choice:
    """What a catalog uses for one spec or sub-spec: an encoder or a distribution, and why.

    ``EncoderChoice`` (``Catalog.plan_encoder``) and ``ActionDistChoice``
    (``Catalog.plan_action_dist``) differ only in how ``to_dict`` names
    ``children``.
    """

    #: Dotted path of the sub-spec or action leaf; ``""`` for the whole spec.
    path: str
    #: The spec encoded, or the action spec or leaf.
    spec: Spec
    #: Registry name or import path of the component.
    component: str
    #: Keyword options it is built with (besides ``encoders`` or ``leaves``).
    options: Mapping[str, Any]
    #: Why: a ``model_config`` entry (``"model_config.encoder"``, ``"model_config.leaf_encoders['x']"``, ...),
    #: ``"rule: ..."``, or an overriding method (see ``Catalog.describe``).
    reason: str
    #: Encoders: the sub-encoders by top-level key; distributions: the leaf distributions by dotted path.
    children: Mapping[str, Choice] = field(default_factory=dict)

    #: The key ``to_dict`` gives ``children``.
    children_key: ClassVar[str] = "children"

    def to_dict(self) -> dict[str, Any]:
        """Return the choice as plain, JSON-friendly data (specs as their ``repr``)."""
        return {
            "path": self.path,
            "spec": repr(self.spec),
            "component": self.component,
            "options": dict(self.options),
            "reason": self.reason,
            self.children_key: {key: child.to_dict() for key, child in self.children.items()},
        }


@dataclass(frozen=True)
class EncoderChoice(Choice):
    """What a catalog builds for one observation spec or sub-spec; ``children`` by top-level key.

    Examples:
        >>> from specs import Box
        >>> sorted(EncoderChoice("", Box((2,)), "mlp", {}, "rule: any").to_dict())
        ['children', 'component', 'options', 'path', 'reason', 'spec']
    """

    children: Mapping[str, EncoderChoice] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionDistChoice(Choice):
    """What a catalog uses for the action spec or one leaf; ``children`` (alias ``leaves``) by dotted path.

    Examples:
        >>> from specs import Discrete
        >>> sorted(ActionDistChoice("", Discrete(2), "categorical", {}, "rule: Discrete").to_dict())
        ['component', 'leaves', 'options', 'path', 'reason', 'spec']
    """

    children: Mapping[str, ActionDistChoice] = field(default_factory=dict)
    children_key: ClassVar[str] = "leaves"

    @property
    def leaves(self) -> Mapping[str, ActionDistChoice]:
        """The leaf distributions by dotted path (``children``)."""
        return self.children


class Override(NamedTuple):
    """What ``model_config`` says about one (sub-)spec."""

    #: Component named for it, or ``None`` (the rule table decides).
    name: str | None
    #: Its keyword options.
    options: Mapping[str, Any]
    #: The entry naming it (``"model_config.encoder"``, ``"model_config.leaf_encoders['x']"``); ``""``: none.
    where: str


def encoder_override(config: ModelConfig, path: str) -> Override:
    """Return what ``model_config`` gives the observation (sub-)spec at ``path``."""
    if path == "":
        if config.memory is not None:
            inner: dict[str, Any] = {"inner": config.encoder} if config.encoder is not None else {}
            if config.encoder_config:
                inner["inner_config"] = dict(config.encoder_config)
            return Override(config.memory, {**inner, **config.memory_config}, "model_config.memory")
        return Override(config.encoder, config.encoder_config, "model_config.encoder")
    leaf = config.leaf_encoders.get(path)
    if leaf is None:
        return Override(None, {}, "")
    return Override(leaf.encoder, leaf.encoder_config, f"model_config.leaf_encoders[{path!r}]")


def dist_override(config: ModelConfig, path: str) -> Override:
    """Return what ``model_config`` gives the action spec (``""``) or the action leaf at ``path``."""
    if path == "":
        return Override(config.action_dist, config.action_dist_config, "model_config.action_dist")
    leaf = config.leaf_action_dists.get(path)
    if leaf is None:
        return Override(None, {}, "")
    return Override(leaf.action_dist, leaf.action_dist_config, f"model_config.leaf_action_dists[{path!r}]")


def _decide(
    path: str, spec: Spec, override: Override, rules: tuple[Rule, ...], choose: Chooser, root_options: str
) -> tuple[str, str]:
    """Return ``(component, reason)``: the name ``model_config`` gives, else the rule table's (``choose``)."""
    if override.name is not None:
        return override.name, override.where
    rule = choose(rules, spec)
    source = root_options if path == "" else override.where
    return rule.component, f"rule: {rule.condition}" + (f"; options from {source}" if override.options else "")


def encoder_choice(
    spec: Spec, path: str, config: ModelConfig, rules: tuple[Rule, ...], *, choose: Chooser
) -> EncoderChoice:
    """Return the encoder of the observation (sub-)spec at ``path``, without children: override, else rule table.

    Raises:
        ConfigError: If ``model_config`` names none and no rule matches.
    """
    override = encoder_override(config, path)
    name, reason = _decide(path, spec, override, rules, choose, "model_config.encoder_config")
    return EncoderChoice(path, spec, name, dict(override.options), reason)


def action_dist_choice(
    spec: Spec, path: str, config: ModelConfig, rules: tuple[Rule, ...], *, choose: Chooser
) -> ActionDistChoice:
    """Return the distribution of the action spec or leaf at ``path``, without leaves: override, else rule table.

    Raises:
        ConfigError: If ``model_config`` names none and no rule matches.
    """
    override = dist_override(config, path)
    name, reason = _decide(path, spec, override, rules, choose, "model_config.action_dist_config")
    return ActionDistChoice(path, spec, name, dict(override.options), reason)


def plan_encoders(
    spec: Spec, config: ModelConfig, rules: tuple[Rule, ...], registry: Registry, *, choose: Chooser, path: str = ""
) -> EncoderChoice:
    """Return the tree of encoders for ``spec`` at ``path``, resolving each in ``registry``.

    Each node is ``encoder_choice``; an encoder whose class takes sub-encoders
    gets one child per top-level key of a ``Composite`` spec, planned alike.

    Raises:
        ConfigError: If no rule matches a (sub-)spec.
        UnknownComponentError, PluginError, ImportError: If an encoder cannot be resolved.
    """
    node = encoder_choice(spec, path, config, rules, choose=choose)
    if not getattr(registry.resolve("encoder", node.component).obj, "takes_sub_encoders", False):
        return node
    if not isinstance(spec, Composite):
        return node
    children = {
        key: plan_encoders(sub, config, rules, registry, choose=choose, path=f"{path}.{key}" if path else key)
        for key, sub in spec.items()
    }
    return dataclasses.replace(node, children=children)


def plan_action_dists(
    spec: Spec, config: ModelConfig, rules: tuple[Rule, ...], registry: Registry, *, choose: Chooser
) -> ActionDistChoice:
    """Return the distribution of the action ``spec`` and the leaf distributions it takes.

    The top level is ``action_dist_choice``; for a ``Composite`` spec whose
    distribution class (from ``registry``) takes leaf distributions, each leaf
    is one child by dotted path.

    Raises:
        ConfigError: If no rule matches the spec or a leaf.
        UnknownComponentError, PluginError, ImportError: If the distribution of a ``Composite`` cannot be resolved.
    """
    root = action_dist_choice(spec, "", config, rules, choose=choose)
    if not isinstance(spec, Composite):
        return root
    if not getattr(registry.resolve("distribution", root.component).obj, "takes_leaf_dists", False):
        return root
    leaves = {
        path: action_dist_choice(sub_spec(spec, path), path, config, rules, choose=choose) for path in leaf_paths(spec)
    }
    return dataclasses.replace(root, children=leaves)


def check_leaf_encoders_used(root: EncoderChoice, leaf_encoders: Mapping[str, Any]) -> None:
    """Check that every ``leaf_encoders`` path is a node of the encoder tree ``root``.

    Raises:
        ConfigError: If a path lies below an encoder that does not take sub-encoders.
    """
    used = {node.path for node in _walk(root)}
    for unused in leaf_encoders.keys() - used:
        owner = max((p for p in used if unused.startswith(f"{p}.") or p == ""), key=len)
        node = find_choice(root, owner)
        assert node is not None
        raise ConfigError(
            f"model_config.leaf_encoders[{unused!r}] is never used: "
            f"{f'{owner!r}' if owner else 'the observation'} gets encoder {node.component!r}, "
            "which does not take sub-encoders"
        )


def _walk(node: Choice) -> Iterator[Choice]:
    yield node
    for child in node.children.values():
        yield from _walk(child)


def find_choice(root: _C, path: str) -> _C | None:
    """Return the node of the tree ``root`` at dotted ``path``, or ``None`` if the tree has none there."""
    if root.path == path:
        return root
    for child in root.children.values():
        if path == child.path or path.startswith(f"{child.path}."):
            return find_choice(cast(_C, child), path)
    return None


def sub_spec(spec: Spec, path: str) -> Spec:
    """Return the part of ``spec`` at dotted ``path`` (``""``: ``spec`` itself)."""
    if path == "":
        return spec
    assert isinstance(spec, Composite)
    return spec[tuple(path.split("."))]


def sub_spec_paths(spec: Spec, prefix: str = "") -> list[str]:
    """Return the dotted path of every sub-spec (sub-composites and leaves) of ``spec``, depth first."""
    if not isinstance(spec, Composite):
        return []
    out: list[str] = []
    for key, sub in spec.items():
        path = f"{prefix}{key}"
        out.append(path)
        out.extend(sub_spec_paths(sub, f"{path}."))
    return out


def leaf_paths(spec: Spec) -> list[str]:
    """Return the dotted path of every leaf of a ``Composite`` ``spec``, depth first (none for other specs)."""
    return [".".join(path) for path, _ in spec.leaves()] if isinstance(spec, Composite) else []


def short(spec: Spec) -> str:
    """Return ``repr(spec)``, or ``Dict(a, b)``/``Tuple(0, 1)`` for a ``Composite``."""
    if isinstance(spec, Composite):
        return f"{'Tuple' if spec.is_tuple else 'Dict'}({', '.join(spec.keys())})"
    return repr(spec)


def check_paths(option: str, given: Mapping[str, Any], valid: list[str], what: str) -> None:
    """Check that every key of ``model_config[option]`` is one of the ``valid`` paths of ``what``.

    Raises:
        ConfigError: Naming the unknown path, the closest valid one and all valid ones.
    """
    for path in given:
        if path not in valid:
            known = ", ".join(repr(p) for p in valid) if valid else f"none ({what} is not a Composite)"
            close = difflib.get_close_matches(path, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"model_config.{option}: unknown path {path!r}{hint}; valid paths: {known}")
