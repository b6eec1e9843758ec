"""``Catalog``: picks and builds a module's parts from the observation and action specs."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from rl8_core import (
    ComponentInfo,
    ConfigError,
    Distribution,
    Encoder,
    Registry,
    config_from_mapping,
    get_registry,
)
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec

__all__ = [
    "ActionDistChoice",
    "Catalog",
    "EncoderChoice",
    "LeafActionDistConfig",
    "LeafEncoderConfig",
    "ModelConfig",
    "Rule",
    "apply_action_mask",
]


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


@dataclass(frozen=True)
class Rule:
    """One row of a catalog's choice table: specs matching ``when`` get ``component``."""

    #: Human-readable condition, as shown by ``Catalog.describe`` and in the docs.
    condition: str
    #: The test applied to a spec.
    when: Callable[[Spec], bool]
    #: Registry name of the component chosen.
    component: str


@dataclass(frozen=True)
class EncoderChoice:
    """What a catalog builds for one observation spec or sub-spec (see ``Catalog.plan_encoder``)."""

    #: Dotted path of the sub-spec; ``""`` for the whole (encoded) observation.
    path: str
    #: The spec encoded.
    spec: Spec
    #: Registry name or import path of the encoder.
    component: str
    #: Keyword options it is built with (besides ``encoders``).
    options: Mapping[str, Any]
    #: Why: ``"model_config.encoder"``, ``"model_config.leaf_encoders['x']"`` or ``"rule: ..."``.
    reason: str
    #: The sub-encoders by top-level key, when the encoder takes them.
    children: Mapping[str, EncoderChoice] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the choice as plain, JSON-friendly data (specs as their ``repr``)."""
        return {
            "path": self.path,
            "spec": repr(self.spec),
            "component": self.component,
            "options": dict(self.options),
            "reason": self.reason,
            "children": {key: child.to_dict() for key, child in self.children.items()},
        }


@dataclass(frozen=True)
class ActionDistChoice:
    """What a catalog uses for the action spec or one of its leaves (see ``Catalog.plan_action_dist``)."""

    #: Dotted path of the action leaf; ``""`` for the whole action spec.
    path: str
    #: The action spec or leaf.
    spec: Spec
    #: Registry name or import path of the distribution.
    component: str
    #: Keyword options it is built with (without ``leaves``).
    options: Mapping[str, Any]
    #: Why: ``"model_config.action_dist"``, ``"model_config.leaf_action_dists['x']"`` or ``"rule: ..."``.
    reason: str
    #: The leaf distributions by dotted path, when the distribution takes them.
    leaves: Mapping[str, ActionDistChoice] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the choice as plain, JSON-friendly data (specs as their ``repr``)."""
        return {
            "path": self.path,
            "spec": repr(self.spec),
            "component": self.component,
            "options": dict(self.options),
            "reason": self.reason,
            "leaves": {path: leaf.to_dict() for path, leaf in self.leaves.items()},
        }


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


def _is_image(spec: Spec) -> bool:
    return isinstance(spec, Box) and len(spec.shape) == 3


def _mask_size(action_spec: Spec) -> int | None:
    """Return the size of an action mask for ``action_spec`` (its logits), or ``None`` if it cannot be masked."""
    if isinstance(action_spec, Discrete):
        return action_spec.n
    if isinstance(action_spec, MultiDiscrete):
        return int(action_spec.nvec.sum())
    return None


def _sub_spec_paths(spec: Spec, prefix: str = "") -> list[str]:
    """Return the dotted path of every sub-spec (sub-composites and leaves) of ``spec``, depth first."""
    if not isinstance(spec, Composite):
        return []
    out: list[str] = []
    for key, sub in spec.items():
        path = f"{prefix}{key}"
        out.append(path)
        out.extend(_sub_spec_paths(sub, f"{path}."))
    return out


def _leaf_paths(spec: Spec) -> list[str]:
    return [".".join(path) for path, _ in spec.leaves()] if isinstance(spec, Composite) else []


def _short(spec: Spec) -> str:
    if isinstance(spec, Composite):
        return f"{'Tuple' if spec.is_tuple else 'Dict'}({', '.join(spec.keys())})"
    return repr(spec)


def _check_paths(option: str, given: Mapping[str, Any], valid: list[str], what: str) -> None:
    for path in given:
        if path not in valid:
            known = ", ".join(repr(p) for p in valid) if valid else f"none ({what} is not a Composite)"
            close = difflib.get_close_matches(path, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"model_config.{option}: unknown path {path!r}{hint}; valid paths: {known}")


class Catalog:
    """Chooses and builds encoders and the action distribution from specs.

    Defaults come from the explicit rule tables ``ENCODER_RULES`` and
    ``ACTION_DIST_RULES`` (first match wins), never from plugin install order.
    Override, lightest first: name a component in ``model_config``
    (``{"encoder": "acme_flat_tanh"}``; per part of a ``Composite`` spec with
    ``leaf_encoders`` and ``leaf_action_dists``), or subclass and override
    ``build_encoder``/``build_encoder_at``/``get_action_dist_cls``.

    Nested specs are handled recursively: an encoder whose class sets
    ``takes_sub_encoders`` (``composite``) gets one encoder per top-level key,
    each chosen the same way; a distribution whose class sets
    ``takes_leaf_dists`` (``composite``) gets one distribution per action leaf
    in ``get_action_dist_config()["leaves"]``. A ``Composite`` observation with
    a top-level ``action_mask`` entry (``model_config["action_mask_key"]``)
    next to ``Discrete`` or ``MultiDiscrete`` actions is an action mask: see
    ``get_action_mask_key``. ``describe()`` says all of this without building
    networks.

    Args:
        observation_spec: What the module observes.
        action_spec: What it acts with.
        model_config: Options, validated into ``config_class``.
        registry: Where components are looked up; defaults to ``get_registry()``.

    Raises:
        ConfigError: For invalid options, a path in ``leaf_encoders`` or
            ``leaf_action_dists`` that names no part of the spec, or an action
            mask that does not fit the action spec.

    Examples:
        >>> from specs import Box, Discrete
        >>> cat = Catalog(Box((4,)), Discrete(2))
        >>> cat.get_action_dist_cls().__name__
        'Categorical'
        >>> cat.build_encoder().output_dim
        64
    """

    #: The dataclass ``model_config`` is validated into.
    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    #: Which encoder an observation spec (or sub-spec) gets.
    ENCODER_RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("Box of rank 3 (an image)", _is_image, "cnn"),
        Rule("Composite (Dict or Tuple)", lambda s: isinstance(s, Composite), "composite"),
        Rule("any other Box, Discrete, MultiDiscrete, MultiBinary", lambda s: not isinstance(s, Composite), "mlp"),
    )
    #: Which action distribution an action spec (or action leaf) gets.
    ACTION_DIST_RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("Discrete", lambda s: isinstance(s, Discrete), "categorical"),
        Rule("Box", lambda s: isinstance(s, Box), "normal"),
        Rule("MultiDiscrete", lambda s: isinstance(s, MultiDiscrete), "multi_categorical"),
        Rule("MultiBinary", lambda s: isinstance(s, MultiBinary), "bernoulli"),
        Rule("Composite (Dict or Tuple)", lambda s: isinstance(s, Composite), "composite"),
    )

    def __init__(
        self,
        observation_spec: Spec,
        action_spec: Spec,
        model_config: Mapping[str, Any] | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        #: What the module observes.
        self.observation_spec = observation_spec
        #: What it acts with.
        self.action_spec = action_spec
        #: The validated options.
        self.config = config_from_mapping(self.config_class, model_config or {}, path="model_config")
        self._registry = registry
        self._resolved: dict[tuple[str, str], ComponentInfo] = {}
        self._mask_key = self._find_action_mask_key()
        self._encoder_spec = self._without_mask(observation_spec)
        _check_paths(
            "leaf_encoders",
            self.config.leaf_encoders,
            _sub_spec_paths(self._encoder_spec),
            "the observation spec" + (" (without the action mask)" if self._mask_key else ""),
        )
        _check_paths("leaf_action_dists", self.config.leaf_action_dists, _leaf_paths(action_spec), "the action spec")

    @property
    def registry(self) -> Registry:
        """The registry components come from."""
        if self._registry is None:
            self._registry = get_registry()
        return self._registry

    def __getstate__(self) -> dict[str, Any]:
        # The registry belongs to this process; a restored catalog uses the global one.
        state = self.__dict__.copy()
        state["_registry"] = None
        return state

    def resolve(self, kind: str, ref: Any) -> ComponentInfo:
        """Look up a component (name, import path or object) and remember its provenance."""
        info = self.registry.resolve(kind, ref)
        self._resolved[kind, info.name] = info
        return info

    @classmethod
    def choose(cls, rules: tuple[Rule, ...], spec: Spec) -> Rule:
        """Return the first rule of ``rules`` matching ``spec``.

        Raises:
            ConfigError: If no rule matches.
        """
        for rule in rules:
            if rule.when(spec):
                return rule
        raise ConfigError(f"{cls.__name__} has no default component for {spec!r}; name one in model_config")

    @classmethod
    def rule_rows(cls) -> list[dict[str, str]]:
        """Return both rule tables as rows ``{table, spec, component}``, in the order they are tried.

        ``table`` is ``"observation"`` (``ENCODER_RULES``) or ``"action"``
        (``ACTION_DIST_RULES``); the docs render these rows.

        Examples:
            >>> [(r["table"], r["component"]) for r in Catalog.rule_rows()][:3]
            [('observation', 'cnn'), ('observation', 'composite'), ('observation', 'mlp')]
        """
        tables = (("observation", cls.ENCODER_RULES), ("action", cls.ACTION_DIST_RULES))
        return [
            {"table": table, "spec": rule.condition, "component": rule.component}
            for table, rules in tables
            for rule in rules
        ]

    # --- Action masking ---------------------------------------------------------------------

    def _find_action_mask_key(self) -> str | None:
        key = self.config.action_mask_key
        obs = self.observation_spec
        if key is None:
            return None
        size = _mask_size(self.action_spec)
        # ``keys()``: ``in`` on a spec asks whether data belongs to it.
        present = isinstance(obs, Composite) and key in obs.keys()  # noqa: SIM118
        if not present or size is None:
            default = {f.name: f.default for f in dataclasses.fields(self.config)}.get("action_mask_key")
            if key != default:  # named on purpose, so it must apply
                why = (
                    f"the observation spec {_short(obs)} has no top-level key {key!r}"
                    if not present
                    else f"only Discrete and MultiDiscrete actions can be masked, not {self.action_spec!r}"
                )
                raise ConfigError(f"model_config.action_mask_key={key!r}: {why}")
            return None
        assert isinstance(obs, Composite)
        mask = obs[key]
        if not isinstance(mask, (Box, MultiBinary)) or mask.numel != size:
            raise ConfigError(
                f"observation {key!r} is {mask!r}, but an action mask for {self.action_spec!r} must be a "
                f"MultiBinary or Box of {size} elements (one per logit); "
                "set model_config.action_mask_key to null to treat it as an ordinary observation"
            )
        if len(obs) == 1:
            raise ConfigError(f"the observation spec has nothing but the action mask {key!r} to encode")
        return key

    def _without_mask(self, spec: Spec) -> Spec:
        if self._mask_key is None:
            return spec
        assert isinstance(spec, Composite)
        out = Composite({k: s for k, s in spec.items() if k != self._mask_key})
        out.is_tuple = spec.is_tuple
        out.device = spec.device
        return out

    def get_action_mask_key(self) -> str | None:
        """Return the top-level observation key holding the action mask, or ``None`` without masking.

        Masking applies when the observation is a ``Composite`` with the key
        ``model_config["action_mask_key"]`` (default ``"action_mask"``) and the
        actions are ``Discrete`` (mask of ``n`` entries) or ``MultiDiscrete``
        (``sum(nvec)`` entries, one per logit, as gymnasium and RLlib lay it
        out). A module then encodes ``encoder_observation_spec()`` and passes its
        policy logits through ``apply_action_mask``.

        Examples:
            >>> from specs import Box, Discrete, MultiBinary
            >>> Catalog(Composite({"obs": Box((4,)), "action_mask": MultiBinary(3)}), Discrete(3)).get_action_mask_key()
            'action_mask'
        """
        return self._mask_key

    def encoder_observation_spec(self) -> Spec:
        """Return the observation spec the encoders see: the observation without the action mask.

        Examples:
            >>> from specs import Box, Discrete, MultiBinary
            >>> spec = Composite({"obs": Box((4,)), "action_mask": MultiBinary(3)})
            >>> Catalog(spec, Discrete(3)).encoder_observation_spec().keys()
            ['obs']
        """
        return self._encoder_spec

    # --- Encoders ---------------------------------------------------------------------------

    def _encoder_override(self, path: str) -> tuple[str | None, Mapping[str, Any], str]:
        """Return ``(name or None, options, where)`` that ``model_config`` gives the sub-spec at ``path``."""
        if path == "":
            return self.config.encoder, self.config.encoder_config, "model_config.encoder"
        leaf = self.config.leaf_encoders.get(path)
        if leaf is None:
            return None, {}, ""
        return leaf.encoder, leaf.encoder_config, f"model_config.leaf_encoders[{path!r}]"

    def get_encoder_name(self, observation_spec: Spec | None = None, *, path: str = "") -> str:
        """Return the encoder's name for the (sub-)spec at ``path``: from ``model_config`` or the rule table.

        Args:
            observation_spec: The spec; default: the part of ``encoder_observation_spec()`` at ``path``.
            path: Dotted path of the sub-spec; ``""`` is the whole observation
                (``model_config["encoder"]``), others look in ``leaf_encoders``.
        """
        name, _, _ = self._encoder_override(path)
        if name is not None:
            return name
        spec = self._encoder_sub_spec(path) if observation_spec is None else observation_spec
        return self.choose(self.ENCODER_RULES, spec).component

    def _encoder_sub_spec(self, path: str) -> Spec:
        if path == "":
            return self._encoder_spec
        assert isinstance(self._encoder_spec, Composite)
        return self._encoder_spec[tuple(path.split("."))]

    def get_encoder_config(self, path: str = "") -> Mapping[str, Any]:
        """Return the keyword options of the encoder at ``path`` (``""``: ``encoder_config``)."""
        return self._encoder_override(path)[1]

    def plan_encoder(self, observation_spec: Spec | None = None, *, path: str = "") -> EncoderChoice:
        """Return the tree of encoders ``build_encoder`` builds, without building (or recording) them.

        Raises:
            ConfigError: If a ``leaf_encoders`` path lies below an encoder that
                does not take sub-encoders, so that it would never be used.
        """
        spec = self._encoder_sub_spec(path) if observation_spec is None else observation_spec
        choice = self._plan_encoder(spec, path)
        if path == "":
            used: set[str] = set()

            def walk(node: EncoderChoice) -> None:
                used.add(node.path)
                for child in node.children.values():
                    walk(child)

            walk(choice)
            for unused in self.config.leaf_encoders.keys() - used:
                owner = max((p for p in used if unused.startswith(f"{p}.") or p == ""), key=len)
                node = _find_choice(choice, owner)
                raise ConfigError(
                    f"model_config.leaf_encoders[{unused!r}] is never used: "
                    f"{f'{owner!r}' if owner else 'the observation'} gets encoder {node.component!r}, "
                    "which does not take sub-encoders"
                )
        return choice

    def _plan_encoder(self, spec: Spec, path: str) -> EncoderChoice:
        name, options, where = self._encoder_override(path)
        reason = where
        if name is None:
            rule = self.choose(self.ENCODER_RULES, spec)
            name = rule.component
            source = "model_config.encoder_config" if path == "" else where
            reason = f"rule: {rule.condition}" + (f"; options from {source}" if options else "")
        obj = self.registry.resolve("encoder", name).obj
        children: dict[str, EncoderChoice] = {}
        if getattr(obj, "takes_sub_encoders", False) and isinstance(spec, Composite):
            for key, sub in spec.items():
                children[key] = self._plan_encoder(sub, f"{path}.{key}" if path else key)
        return EncoderChoice(path, spec, name, dict(options), reason, children)

    def build_encoder(self, observation_spec: Spec | None = None) -> Encoder:
        """Build the encoder for ``observation_spec`` (default: ``encoder_observation_spec()``).

        Raises:
            ConfigError: If the encoder rejects its options.
            TypeError: If the component does not return an ``Encoder``.
        """
        spec = self._encoder_spec if observation_spec is None else observation_spec
        if self.config.leaf_encoders:
            self.plan_encoder(spec)  # validates that every leaf_encoders entry is used
        return self.build_encoder_at("", spec)

    def build_encoder_at(self, path: str, observation_spec: Spec) -> Encoder:
        """Build the encoder of the (sub-)spec at dotted ``path`` (``""``: the whole observation).

        An encoder class with ``takes_sub_encoders`` gets ``encoders``: one
        ``build_encoder_at(f"{path}.{key}", sub_spec)`` per top-level key of a
        ``Composite`` spec. Override this in a subclass to choose per path.

        Raises:
            ConfigError: If the encoder rejects its options.
            TypeError: If the component does not return an ``Encoder``.
        """
        info = self.resolve("encoder", self.get_encoder_name(observation_spec, path=path))
        _, options, where = self._encoder_override(path)
        if path == "":
            origin = "model_config.encoder_config"
        elif where:
            origin = f"{where}.encoder_config"
        else:
            origin = "the default options"
        kwargs = dict(options)
        if getattr(info.obj, "takes_sub_encoders", False) and isinstance(observation_spec, Composite):
            if "encoders" in kwargs:
                raise ConfigError(f"{origin}: 'encoders' is set by the catalog, not an option")
            kwargs["encoders"] = {
                key: self.build_encoder_at(f"{path}.{key}" if path else key, sub)
                for key, sub in observation_spec.items()
            }
        try:
            encoder = info.obj(observation_spec, **kwargs)
        except TypeError as exc:
            at = f" at {path!r} ({_short(observation_spec)})" if path else ""
            raise ConfigError(f"{origin} for encoder {info.name!r}{at}: {exc}") from exc
        if not isinstance(encoder, Encoder):
            raise TypeError(
                f"encoder {info.name!r} ({info.source_text()}) returned {type(encoder).__name__}, not an Encoder"
            )
        if not isinstance(getattr(encoder, "output_dim", None), int):
            raise TypeError(f"encoder {info.name!r} ({info.source_text()}) did not set an int output_dim")
        return encoder

    # --- Action distributions ---------------------------------------------------------------

    def _dist_override(self, path: str) -> tuple[str | None, Mapping[str, Any], str]:
        if path == "":
            return self.config.action_dist, self.config.action_dist_config, "model_config.action_dist"
        leaf = self.config.leaf_action_dists.get(path)
        if leaf is None:
            return None, {}, ""
        return leaf.action_dist, leaf.action_dist_config, f"model_config.leaf_action_dists[{path!r}]"

    def _action_leaf(self, path: str) -> Spec:
        if path == "":
            return self.action_spec
        assert isinstance(self.action_spec, Composite)
        return self.action_spec[tuple(path.split("."))]

    def get_action_dist_name(self, path: str = "") -> str:
        """Return the distribution's name: from ``model_config`` or the rule table.

        Args:
            path: Dotted path of an action leaf; ``""`` is the whole action spec
                (``model_config["action_dist"]``), others look in ``leaf_action_dists``.
        """
        name, _, _ = self._dist_override(path)
        if name is not None:
            return name
        return self.choose(self.ACTION_DIST_RULES, self._action_leaf(path)).component

    def get_action_dist_cls(self) -> type[Distribution]:
        """Return the action distribution class for the action spec.

        Raises:
            ConfigError: If the chosen distribution does not support the action spec.
        """
        return self._leaf_dist_cls("")

    def _leaf_dist_cls(self, path: str) -> type[Distribution]:
        info = self.resolve("distribution", self.get_action_dist_name(path))
        cls: type[Distribution] = info.obj
        spec = self._action_leaf(path)
        if not cls.supports(spec):
            at = f" (action leaf {path!r})" if path else ""
            raise ConfigError(f"distribution {info.name!r} does not support action spec {spec!r}{at}")
        return cls

    def get_leaf_action_dists(self) -> dict[str, tuple[type[Distribution], Mapping[str, Any]]]:
        """Return ``{dotted leaf path: (class, options)}`` for every leaf of a ``Composite`` action spec.

        Raises:
            ConfigError: If the action spec is not a ``Composite`` or a leaf's
                distribution does not support it.
        """
        if not isinstance(self.action_spec, Composite):
            raise ConfigError(f"only a Composite action spec has leaf distributions, not {self.action_spec!r}")
        return {
            path: (self._leaf_dist_cls(path), dict(self._dist_override(path)[1]))
            for path in _leaf_paths(self.action_spec)
        }

    def get_action_dist_config(self) -> Mapping[str, Any]:
        """Return the keyword options the action distribution is built with.

        ``model_config["action_dist_config"]``; for a class with
        ``takes_leaf_dists`` also ``leaves``: ``{dotted leaf path: (class,
        options)}`` from ``get_leaf_action_dists``.

        Raises:
            ConfigError: If ``leaf_action_dists`` is given for a distribution
                that does not take leaf distributions.
        """
        config = self.config.action_dist_config
        cls = self.get_action_dist_cls()
        if not getattr(cls, "takes_leaf_dists", False):
            if self.config.leaf_action_dists:
                raise ConfigError(
                    f"model_config.leaf_action_dists is never used: the actions get distribution "
                    f"{self.get_action_dist_name()!r}, which does not take leaf distributions"
                )
            return config
        if "leaves" in config:
            raise ConfigError("model_config.action_dist_config: 'leaves' is set by the catalog, not an option")
        return {**config, "leaves": self.get_leaf_action_dists()}

    def plan_action_dist(self) -> ActionDistChoice:
        """Return the distribution (and leaf distributions) the catalog uses, without recording them."""
        return self._plan_dist("")

    def _plan_dist(self, path: str) -> ActionDistChoice:
        name, options, where = self._dist_override(path)
        reason = where
        spec = self._action_leaf(path)
        if name is None:
            rule = self.choose(self.ACTION_DIST_RULES, spec)
            name = rule.component
            source = "model_config.action_dist_config" if path == "" else where
            reason = f"rule: {rule.condition}" + (f"; options from {source}" if options else "")
        leaves: dict[str, ActionDistChoice] = {}
        if path == "" and isinstance(spec, Composite):
            obj = self.registry.resolve("distribution", name).obj
            if getattr(obj, "takes_leaf_dists", False):
                leaves = {leaf: self._plan_dist(leaf) for leaf in _leaf_paths(spec)}
        return ActionDistChoice(path, spec, name, dict(options), reason, leaves)

    # --- Description ------------------------------------------------------------------------

    def components(self) -> list[dict[str, str | None]]:
        """Describe every component this catalog resolved, with plugin and distribution."""
        return [info.describe() for info in self._resolved.values()]

    def describe(self) -> dict[str, Any]:
        """Say what this catalog builds for its specs, without building networks or recording components.

        Returns:
            ``observation_spec`` and ``action_spec`` (reprs); ``encoder`` and
            ``action_dist``, the top-level names; ``encoder_tree`` and
            ``action_dist_tree``, the whole choice as nested dicts (see
            ``EncoderChoice.to_dict``); ``action_mask``: ``None`` or
            ``{key, spec, size}``. ``describe_text()`` renders the same.

        Examples:
            >>> from specs import Box, Discrete
            >>> Catalog(Box((4,)), Discrete(2)).describe()["action_dist"]
            'categorical'
        """
        encoders = self.plan_encoder()
        dist = self.plan_action_dist()
        mask = None
        if self._mask_key is not None:
            assert isinstance(self.observation_spec, Composite)
            mask = {
                "key": self._mask_key,
                "spec": repr(self.observation_spec[self._mask_key]),
                "size": _mask_size(self.action_spec),
            }
        return {
            "observation_spec": repr(self.observation_spec),
            "action_spec": repr(self.action_spec),
            "encoder": encoders.component,
            "action_dist": dist.component,
            "action_mask": mask,
            "encoder_tree": encoders.to_dict(),
            "action_dist_tree": dist.to_dict(),
        }

    def describe_text(self) -> str:
        """Render ``describe()`` as an indented tree, one line per (sub-)spec and action leaf.

        Examples:
            >>> from specs import Box, Discrete
            >>> print(Catalog(Box((4,)), Discrete(2)).describe_text())
            observation -> encoder
              obs: Box((4,), low=-inf, high=inf, dtype=torch.float32) -> mlp  [rule: any other Box, Discrete, MultiDiscrete, MultiBinary]
            action -> distribution
              actions: Discrete(2) -> categorical  [rule: Discrete]
        """  # noqa: E501
        lines = ["observation -> encoder"]

        def options(values: Mapping[str, Any]) -> str:
            return f" {dict(values)}" if values else ""

        def encoder_lines(node: EncoderChoice, label: str, depth: int) -> None:
            indent = "  " * depth
            lines.append(
                f"{indent}{label}: {_short(node.spec)} -> {node.component}{options(node.options)}  [{node.reason}]"
            )
            for key, child in node.children.items():
                encoder_lines(child, key, depth + 1)

        encoders = self.plan_encoder()
        encoder_lines(encoders, "obs", 1)
        if self._mask_key is not None:
            assert isinstance(self.observation_spec, Composite)
            lines.append(
                f"    {self._mask_key}: {self.observation_spec[self._mask_key]!r} -> not encoded; "
                f"masks the {_mask_size(self.action_spec)} policy logits of {self.action_spec!r}"
            )
        lines.append("action -> distribution")
        dist = self.plan_action_dist()
        lines.append(f"  actions: {_short(dist.spec)} -> {dist.component}{options(dist.options)}  [{dist.reason}]")
        for path, leaf in dist.leaves.items():
            lines.append(f"    {path}: {leaf.spec!r} -> {leaf.component}{options(leaf.options)}  [{leaf.reason}]")
        lines.extend(self._describe_text_extra())
        return "\n".join(lines)

    def _describe_text_extra(self) -> list[str]:
        """Return more lines for ``describe_text`` (subclasses add their own parts)."""
        return []


def _find_choice(root: EncoderChoice, path: str) -> EncoderChoice:
    if root.path == path:
        return root
    for child in root.children.values():
        if path == child.path or path.startswith(f"{child.path}."):
            return _find_choice(child, path)
    raise KeyError(path)
