"""``Catalog``: picks and builds a module's parts from the observation and action specs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

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

__all__ = ["Catalog", "ModelConfig", "Rule"]


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Options every catalog understands (``model_config`` keys)."""

    encoder: str | None = None
    """Encoder by registry name or import path; ``None`` picks one from the spec."""
    encoder_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for the encoder (e.g. ``hiddens``, ``activation``)."""
    action_dist: str | None = None
    """Action distribution by registry name or import path; ``None`` picks one from the spec."""
    action_dist_config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options for the action distribution."""
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


def _is_image(spec: Spec) -> bool:
    return isinstance(spec, Box) and len(spec.shape) == 3


class Catalog:
    """Chooses and builds encoders and the action distribution from specs.

    Defaults come from the explicit rule tables ``ENCODER_RULES`` and
    ``ACTION_DIST_RULES`` (first match wins), never from plugin install order.
    Override, lightest first: name a component in ``model_config``
    (``{"encoder": "acme_flat_tanh"}``), or subclass and override
    ``build_encoder``/``get_action_dist_cls``.

    Args:
        observation_spec: What the module observes.
        action_spec: What it acts with.
        model_config: Options, validated into ``config_class``.
        registry: Where components are looked up; defaults to ``get_registry()``.

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

    #: Which encoder an observation spec gets.
    ENCODER_RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("Box of rank 3 (an image)", _is_image, "cnn"),
        Rule("Composite (Dict or Tuple)", lambda s: isinstance(s, Composite), "composite"),
        Rule("any other Box, Discrete, MultiDiscrete, MultiBinary", lambda s: not isinstance(s, Composite), "mlp"),
    )
    #: Which action distribution an action spec gets.
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

    def get_encoder_name(self, observation_spec: Spec | None = None) -> str:
        """Return the encoder's name: ``model_config['encoder']`` or the rule table's choice."""
        if self.config.encoder is not None:
            return self.config.encoder
        return self.choose(self.ENCODER_RULES, observation_spec or self.observation_spec).component

    def build_encoder(self, observation_spec: Spec | None = None) -> Encoder:
        """Build the encoder for ``observation_spec`` (default: the catalog's).

        Raises:
            TypeError: If the component does not return an ``Encoder``.
        """
        spec = observation_spec or self.observation_spec
        info = self.resolve("encoder", self.get_encoder_name(spec))
        try:
            encoder = info.obj(spec, **self.config.encoder_config)
        except TypeError as exc:
            raise ConfigError(f"model_config.encoder_config for encoder {info.name!r}: {exc}") from exc
        if not isinstance(encoder, Encoder):
            raise TypeError(
                f"encoder {info.name!r} ({info.source_text()}) returned {type(encoder).__name__}, not an Encoder"
            )
        if not isinstance(getattr(encoder, "output_dim", None), int):
            raise TypeError(f"encoder {info.name!r} ({info.source_text()}) did not set an int output_dim")
        return encoder

    def get_action_dist_name(self) -> str:
        """Return the distribution's name: ``model_config['action_dist']`` or the rule table's choice."""
        if self.config.action_dist is not None:
            return self.config.action_dist
        return self.choose(self.ACTION_DIST_RULES, self.action_spec).component

    def get_action_dist_cls(self) -> type[Distribution]:
        """Return the action distribution class for the action spec.

        Raises:
            ConfigError: If the chosen distribution does not support the action spec.
        """
        info = self.resolve("distribution", self.get_action_dist_name())
        cls: type[Distribution] = info.obj
        if not cls.supports(self.action_spec):
            raise ConfigError(f"distribution {info.name!r} does not support action spec {self.action_spec!r}")
        return cls

    def get_action_dist_config(self) -> Mapping[str, Any]:
        """Return the keyword options the action distribution is built with."""
        return self.config.action_dist_config

    def components(self) -> list[dict[str, str | None]]:
        """Describe every component this catalog resolved, with plugin and distribution."""
        return [info.describe() for info in self._resolved.values()]

    def describe(self) -> dict[str, Any]:
        """Say what this catalog builds for its specs, without building anything heavy.

        Examples:
            >>> from specs import Box, Discrete
            >>> Catalog(Box((4,)), Discrete(2)).describe()["action_dist"]
            'categorical'
        """
        return {
            "observation_spec": repr(self.observation_spec),
            "action_spec": repr(self.action_spec),
            "encoder": self.get_encoder_name(),
            "action_dist": self.get_action_dist_name(),
        }
