"""``Catalog``: picks and builds a module's parts from the observation and action specs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import torch

from catalogs import _describe, _plan
from catalogs._config import ModelConfig
from catalogs._masking import find_action_mask_key, without_mask
from catalogs._plan import ActionDistChoice, EncoderChoice, Rule
from rl8_core import (
    ComponentInfo,
    ConfigError,
    Distribution,
    Encoder,
    PluginError,
    Registry,
    check_options,
    config_from_mapping,
    get_registry,
)
from specs import Composite, Spec

__all__ = ["Catalog"]

_T = TypeVar("_T")
_C = TypeVar("_C", bound=_plan.Choice)


def _attempt(plan: Callable[[], _T]) -> _T | None:
    """Return ``plan()``, or ``None`` if it raises: the call that needs the plan makes it again and raises there."""
    try:
        return plan()
    except Exception:
        return None


def _planned(plan: _C | None, path: str, spec: Spec | None = None) -> _C | None:
    """Return the node of ``plan`` at ``path``; ``None`` if there is none (for ``spec``, when given)."""
    node = None if plan is None else _plan.find_choice(plan, path)
    return None if node is None or (spec is not None and spec is not node.spec) else node


def _check_features(encoder: Encoder, spec: Spec, what: str) -> None:
    """Run two random observations through ``encoder`` and compare the features with its ``output_dim``.

    In eval mode and without gradient, so the check leaves no trace in running
    statistics. A wrong ``output_dim`` otherwise surfaces as a matrix-size error
    inside a head, naming no component.

    Raises:
        PluginError: Naming the encoder, its plugin, the declared and the real size.
    """
    obs = spec.rand((2,), generator=torch.Generator().manual_seed(0))
    training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            out = encoder(obs)
    except Exception as exc:
        raise PluginError(f"{what} fails on two random observations of {_plan.short(spec)}: {exc}") from exc
    finally:
        encoder.train(training)
    if not isinstance(out, torch.Tensor) or out.shape != (2, encoder.output_dim):
        got = f"shape {list(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(
            f"{what} declares output_dim {encoder.output_dim} but returns features of {got} for 2 observations "
            f"of {_plan.short(spec)}; its output_dim must be the size of the last feature dim, and features [b, d]"
        )


def _check_memory(info: ComponentInfo) -> None:
    """Check that ``model_config.memory`` names a memory encoder (one that takes an inner encoder).

    Raises:
        ConfigError: Naming the encoder, its plugin and the fix.
    """
    if not getattr(info.obj, "takes_inner_encoder", False):
        raise ConfigError(
            f"model_config.memory: encoder {info.name!r} of plugin {info.source_text()} is not a memory "
            "encoder (it takes no inner encoder); use lstm, gru, attention or name it in model_config.encoder"
        )


def _own_options(cls: Any, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the options to check against a memory encoder's signature.

    ``inner`` (a name, which the catalog turns into the encoder the class takes)
    and ``inner_config`` (the inner encoder's options) are the catalog's to handle.
    """
    if getattr(cls, "takes_inner_encoder", False):
        return {k: v for k, v in options.items() if k not in ("inner", "inner_config")}
    return options


def _check_dist_options(
    cls: type[Distribution], options: Mapping[str, Any], action_spec: Spec, path: str, info: ComponentInfo
) -> None:
    """Check a distribution's options by its signature, then by building one (for ``**config`` classes).

    Raises:
        ConfigError: Naming ``path``, the distribution and its plugin.
    """
    what = f"distribution {info.name!r} of plugin {info.source_text()}"
    check_options(cls, options, path=path, what=what, reserved=("inputs", "action_spec", "leaves"))
    if getattr(cls, "takes_leaf_dists", False):
        return  # built with ``leaves`` by the module; its own options were checked above
    try:
        n = cls.required_inputs(action_spec, **options)
        cls(torch.zeros(1, n), action_spec, **options)
    except TypeError as exc:
        raise ConfigError(f"{path}: {what} rejects these options: {exc}") from exc


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
    ``get_action_mask_key``. All of this is decided once, when the catalog is
    made: ``plan_encoder()`` and ``plan_action_dist()`` return the plan, the
    ``get_*`` and ``build_*`` methods follow it, and ``describe()`` shows it
    without building networks (naming any overriding method of a subclass).

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
    ENCODER_RULES: ClassVar[tuple[Rule, ...]] = _plan.ENCODER_RULES
    #: Which action distribution an action spec (or action leaf) gets.
    ACTION_DIST_RULES: ClassVar[tuple[Rule, ...]] = _plan.ACTION_DIST_RULES

    #: The plans made in ``__init__`` (``None``: planning failed there; see ``_attempt``).
    #: Class-level defaults, so that a catalog pickled before plans existed plans afresh.
    _encoder_plan: EncoderChoice | None = None
    _dist_plan: ActionDistChoice | None = None

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
        self._dist_options_checked = False
        self._mask_key = find_action_mask_key(self.config, observation_spec, action_spec)
        self._encoder_spec = without_mask(observation_spec, self._mask_key)
        _plan.check_paths(
            "leaf_encoders",
            self.config.leaf_encoders,
            _plan.sub_spec_paths(self._encoder_spec),
            "the observation spec" + (" (without the action mask)" if self._mask_key else ""),
        )
        _plan.check_paths(
            "leaf_action_dists", self.config.leaf_action_dists, _plan.leaf_paths(action_spec), "the action spec"
        )
        # Decided once. An error (an unknown name, no matching rule) is not raised here but where
        # it always was: the method that needs the failed plan plans again.
        self._encoder_plan = _attempt(lambda: self._plan_encoders(self._encoder_spec, ""))
        self._dist_plan = _attempt(self._plan_action_dists)

    @classmethod
    def check_model_config(cls, model_config: Mapping[str, Any], *, registry: Registry | None = None) -> None:
        """Validate ``model_config`` without specs: its keys, and the options of every component it names.

        ``resolve_parts`` calls it before any env starts, so a typo in
        ``action_dist_config`` of a named distribution is found then, not when
        the module is built. Options of components the rule table picks from the
        specs are checked when the module is built.

        Raises:
            ConfigError: Naming the dotted key, the component and the closest option.
            UnknownComponentError: For a component name no plugin registers.

        Examples:
            >>> Catalog.check_model_config({"encoder": "mlp", "encoder_config": {"hiddens": [32]}})
            >>> Catalog.check_model_config({"encoder": "mlp", "encoder_config": {"hiden": [32]}})
            Traceback (most recent call last):
            ...
            rl8_core.errors.ConfigError: model_config.encoder_config.hiden: encoder 'mlp' of plugin 'mlp' (rl8-core 0.1.0) takes no option 'hiden' (did you mean 'hiddens'?); its options: hiddens, activation
        """  # noqa: E501
        config = config_from_mapping(cls.config_class, model_config, path="model_config")
        reg = registry or get_registry()
        if config.memory is not None:
            _check_memory(reg.resolve("encoder", config.memory))
        named: list[tuple[str, str | None, Mapping[str, Any], str]] = [
            ("encoder", config.encoder, config.encoder_config, "model_config.encoder_config"),
            ("encoder", config.memory, config.memory_config, "model_config.memory_config"),
            ("distribution", config.action_dist, config.action_dist_config, "model_config.action_dist_config"),
        ]
        for path, leaf in config.leaf_encoders.items():
            where = f"model_config.leaf_encoders[{path!r}].encoder_config"
            named.append(("encoder", leaf.encoder, leaf.encoder_config, where))
        for path, leaf_dist in config.leaf_action_dists.items():
            named.append(
                (
                    "distribution",
                    leaf_dist.action_dist,
                    leaf_dist.action_dist_config,
                    f"model_config.leaf_action_dists[{path!r}].action_dist_config",
                )
            )
        for kind, name, options, where in named:
            if name is None or not options:
                continue
            info = reg.resolve(kind, name)
            path = (
                where if where.endswith("_config") else f"{where}.{kind.replace('distribution', 'action_dist')}_config"
            )
            reserved = ("observation_spec", "encoders") if kind == "encoder" else ("inputs", "action_spec", "leaves")
            what = f"{kind} {info.name!r} of plugin {info.source_text()}"
            check_options(info.obj, _own_options(info.obj, options), path=where, what=what, reserved=reserved)

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

    # --- Action masking (catalogs._masking) -------------------------------------------------

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

    def _plan_encoders(self, spec: Spec, path: str) -> EncoderChoice:
        return _plan.plan_encoders(spec, self.config, self.ENCODER_RULES, self.registry, choose=self.choose, path=path)

    def get_encoder_name(self, observation_spec: Spec | None = None, *, path: str = "") -> str:
        """Return the encoder's name for the (sub-)spec at ``path``: from ``model_config`` or the rule table.

        Args:
            observation_spec: The spec; default: the part of ``encoder_observation_spec()`` at ``path``.
            path: Dotted path of the sub-spec; ``""`` is the whole observation
                (``model_config["encoder"]``), others look in ``leaf_encoders``.
        """
        node = _planned(self._encoder_plan, path, observation_spec)
        if node is None:
            spec = _plan.sub_spec(self._encoder_spec, path) if observation_spec is None else observation_spec
            node = _plan.encoder_choice(spec, path, self.config, self.ENCODER_RULES, choose=self.choose)
        return node.component

    def get_encoder_config(self, path: str = "") -> Mapping[str, Any]:
        """Return the keyword options of the encoder at ``path`` (``""``: ``encoder_config``)."""
        return _plan.encoder_override(self.config, path).options

    def plan_encoder(self, observation_spec: Spec | None = None, *, path: str = "") -> EncoderChoice:
        """Return the tree of encoders ``build_encoder`` builds, without building (or recording) them.

        Raises:
            ConfigError: If a ``leaf_encoders`` path lies below an encoder that
                does not take sub-encoders, so that it would never be used.
        """
        choice = _planned(self._encoder_plan, path, observation_spec)
        if choice is None:  # another spec, or planning failed in __init__
            spec = _plan.sub_spec(self._encoder_spec, path) if observation_spec is None else observation_spec
            choice = self._plan_encoders(spec, path)
        if path == "":
            _plan.check_leaf_encoders_used(choice, self.config.leaf_encoders)
        return choice

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
        _, options, where = _plan.encoder_override(self.config, path)
        if where == "model_config.memory":
            origin = "model_config.memory_config"
            _check_memory(info)
        elif path == "":
            origin = "model_config.encoder_config"
        elif where:
            origin = f"{where}.encoder_config"
        else:
            origin = "the default options"
        return self._build_encoder(path, observation_spec, info, options, origin)

    def _build_encoder(
        self, path: str, observation_spec: Spec, info: ComponentInfo, options: Mapping[str, Any], origin: str
    ) -> Encoder:
        """Build encoder ``info`` with ``options`` (from ``origin``), its inner or sub-encoders first, and check it."""
        kwargs = dict(options)
        at = f" at {path!r} ({_plan.short(observation_spec)})" if path else ""
        what = f"encoder {info.name!r} of plugin {info.source_text()}{at}"
        if getattr(info.obj, "takes_inner_encoder", False):
            inner = kwargs.pop("inner", None)
            inner_options = kwargs.pop("inner_config", None) or {}
            if inner is not None and not isinstance(inner, str):
                raise ConfigError(f"{origin}.inner: expected an encoder name or import path, got {inner!r}")
            if inner is None:
                inner = self.choose(self.ENCODER_RULES, observation_spec).component
            # With ``memory``, the inner encoder's options are ``encoder_config`` itself.
            memory = origin == "model_config.memory_config"
            inner_origin = "model_config.encoder_config" if memory else f"{origin}.inner_config"
            inner_info = self.resolve("encoder", inner)
            if getattr(inner_info.obj, "takes_inner_encoder", False):
                raise ConfigError(f"{origin}: the inner encoder {inner_info.name!r} is itself a memory encoder")
            kwargs["inner"] = self._build_encoder(path, observation_spec, inner_info, inner_options, inner_origin)
            options = _own_options(info.obj, options)
        if getattr(info.obj, "takes_sub_encoders", False) and isinstance(observation_spec, Composite):
            if "encoders" in kwargs:
                raise ConfigError(f"{origin}: 'encoders' is set by the catalog, not an option")
            kwargs["encoders"] = {
                key: self.build_encoder_at(f"{path}.{key}" if path else key, sub)
                for key, sub in observation_spec.items()
            }
        if options:
            check_options(info.obj, options, path=origin, what=what, reserved=("observation_spec", "encoders"))
        try:
            encoder = info.obj(observation_spec, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"{origin} for {what}: {exc}") from exc
        if not isinstance(encoder, Encoder):
            raise TypeError(
                f"encoder {info.name!r} ({info.source_text()}) returned {type(encoder).__name__}, not an Encoder"
            )
        if not isinstance(getattr(encoder, "output_dim", None), int):
            raise TypeError(f"encoder {info.name!r} ({info.source_text()}) did not set an int output_dim")
        _check_features(encoder, observation_spec, what)
        return encoder

    # --- Action distributions ---------------------------------------------------------------

    def _plan_action_dists(self) -> ActionDistChoice:
        return _plan.plan_action_dists(
            self.action_spec, self.config, self.ACTION_DIST_RULES, self.registry, choose=self.choose
        )

    def get_action_dist_name(self, path: str = "") -> str:
        """Return the distribution's name: from ``model_config`` or the rule table.

        Args:
            path: Dotted path of an action leaf; ``""`` is the whole action spec
                (``model_config["action_dist"]``), others look in ``leaf_action_dists``.
        """
        node = _planned(self._dist_plan, path)
        if node is None:  # a leaf the distribution does not take, or planning failed in __init__
            spec = _plan.sub_spec(self.action_spec, path)
            node = _plan.action_dist_choice(spec, path, self.config, self.ACTION_DIST_RULES, choose=self.choose)
        return node.component

    def get_action_dist_cls(self) -> type[Distribution]:
        """Return the action distribution class for the action spec.

        Raises:
            ConfigError: If the chosen distribution does not support the action spec.
        """
        return self._leaf_dist_cls("")

    def _leaf_dist_cls(self, path: str) -> type[Distribution]:
        info = self.resolve("distribution", self.get_action_dist_name(path))
        cls: type[Distribution] = info.obj
        spec = _plan.sub_spec(self.action_spec, path)
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
            path: (self._leaf_dist_cls(path), self._leaf_dist_options(path))
            for path in _plan.leaf_paths(self.action_spec)
        }

    def _leaf_dist_options(self, path: str) -> dict[str, Any]:
        """Return the options of the leaf distribution at ``path``, checked against the class."""
        override = _plan.dist_override(self.config, path)
        if override.options:
            info = self.resolve("distribution", self.get_action_dist_name(path))
            leaf_spec = _plan.sub_spec(self.action_spec, path)
            where = f"{override.where}.action_dist_config"
            _check_dist_options(self._leaf_dist_cls(path), override.options, leaf_spec, where, info)
        return dict(override.options)

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
        if config and not self._dist_options_checked:
            info = self.resolve("distribution", self.get_action_dist_name())
            _check_dist_options(cls, config, self.action_spec, "model_config.action_dist_config", info)
            self._dist_options_checked = True
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
        return self._plan_action_dists() if self._dist_plan is None else self._dist_plan

    # --- Description (catalogs._describe) ---------------------------------------------------

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
            A part that a subclass's method decides (an overridden
            ``build_encoder``, ``build_encoder_at``, ``get_encoder_name``,
            ``get_action_dist_cls`` or ``get_action_dist_name``) has that method
            as ``component`` (``"MyCatalog.build_encoder"``) and the default it
            replaces in ``reason``.

        Examples:
            >>> from specs import Box, Discrete
            >>> Catalog(Box((4,)), Discrete(2)).describe()["action_dist"]
            'categorical'
        """
        return _describe.describe(self)

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
        return _describe.describe_text(self)

    def _describe_text_extra(self) -> list[str]:
        """Return more lines for ``describe_text`` (subclasses add their own parts)."""
        return []
