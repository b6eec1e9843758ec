"""``RLModule``: the network a user trains, with spec-checked forward passes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, final

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl8_core.checkpoints import module as module_dir
from rl8_core.columns import Columns
from rl8_core.components.distribution import Distribution, action_value_count, every_action_value
from rl8_core.components.normalizer import ObsNormalizer
from rl8_core.errors import CheckpointError, ConfigError, PluginError, UnknownComponentError
from rl8_core.imports import class_provenance, import_object
from specs import (
    FLOAT_DTYPES,
    Box,
    Composite,
    Discrete,
    IOSpec,
    MultiBinary,
    MultiDiscrete,
    Spec,
    SpecDict,
    SpecError,
    TensorShape,
    check,
    checking,
    is_checking,
)
from specs.errors import Mismatch

__all__ = ["CatalogProtocol", "RLModule", "RLModuleSpec"]

MODES = ("train", "exploration", "inference")

M = TypeVar("M", bound="RLModule")


class CatalogProtocol(Protocol):
    """Every method the core calls on a catalog (``catalogs.Catalog`` provides them all).

    A catalog class is called as ``catalog_class(observation_spec,
    action_spec, model_config, registry=registry)``.
    """

    def get_action_dist_cls(self) -> type[Distribution]:
        """Return the action distribution class for the module's action spec."""

    def get_action_dist_config(self) -> Mapping[str, Any]:
        """Return the keyword options the distribution is built with."""

    def get_action_mask_key(self) -> str | None:
        """Return the observation key of the action mask (never normalised), or ``None``."""

    def components(self) -> list[dict[str, str | None]]:
        """Describe every component resolved so far, with provenance."""


class RLModule(nn.Module):
    """A torch module with three spec-checked entry points.

    * ``forward_exploration`` acts while collecting data (samples actions),
    * ``forward_inference`` acts when deployed (deterministic actions),
    * ``forward_train`` computes what the loss needs.

    Subclasses implement ``setup()`` and ``_forward_train``,
    ``_forward_exploration`` and ``_forward_inference``; they may override the
    six ``input_specs_*``/``output_specs_*`` methods, whose defaults come from
    the observation and action specs. Each public forward checks its input and
    output against those specs (see ``specs.checking`` to switch this off) and,
    when the output has ``action_dist_inputs`` but no ``actions``, samples them
    from ``make_action_dist`` (deterministically for inference) and adds
    ``action_logp`` when exploring.

    If ``model_config["normalize_obs"]`` is true, float observations pass
    through a running normaliser (``obs_normalizer``) that is saved with the module.

    Args:
        observation_spec: What the module observes.
        action_spec: What it acts with.
        model_config: Options for the catalog and the module.
        catalog_class: Builds the module's parts; available as ``self.catalog``.
        registry: The ``Registry`` the catalog looks components up in; ``None``: ``get_registry()``.
            The module only hands it to the catalog.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from specs import Box, Discrete
        >>> class Const(RLModule):
        ...     def setup(self):
        ...         self.bias = torch.nn.Parameter(torch.zeros(2))
        ...     def _forward_train(self, batch):
        ...         return TensorDict({"actions": torch.zeros(batch.batch_size, dtype=torch.long)}, batch.batch_size)
        ...     _forward_exploration = _forward_inference = _forward_train
        >>> m = Const(Box((3,)), Discrete(2))
        >>> m.forward_inference(TensorDict({"obs": torch.zeros(4, 3)}, [4]))["actions"].shape
        torch.Size([4])
    """

    #: Catalog used when none is passed (``None``: no catalog).
    default_catalog_class: ClassVar[Callable[..., Any] | None] = None

    def __init__(
        self,
        observation_spec: Spec,
        action_spec: Spec,
        model_config: Mapping[str, Any] | None = None,
        catalog_class: Callable[..., Any] | None = None,
        *,
        registry: object | None = None,
    ) -> None:
        super().__init__()
        if catalog_class is None:
            catalog_class = type(self).default_catalog_class
        #: What the module observes.
        self.observation_spec = observation_spec
        #: What the module acts with.
        self.action_spec = action_spec
        #: The options it was built with.
        self.model_config: dict[str, Any] = dict(model_config or {})
        #: The catalog class (kept for checkpoints).
        self.catalog_class = catalog_class
        #: The catalog that builds the module's parts, if any.
        self.catalog: CatalogProtocol | None = (
            catalog_class(observation_spec, action_spec, self.model_config, registry=registry)
            if catalog_class is not None
            else None
        )
        normalize = self.model_config.get("normalize_obs", False)
        if not isinstance(normalize, bool):
            raise ConfigError(f"model_config.normalize_obs: expected bool (true/false), got {normalize!r}")
        # An action mask is data, not a measurement: it is never normalised.
        mask_key = None if self.catalog is None else self.catalog.get_action_mask_key()
        #: Running observation normaliser, when ``normalize_obs`` is set.
        self.obs_normalizer: ObsNormalizer | None = (
            ObsNormalizer(observation_spec, exclude=[mask_key] if mask_key else []) if normalize else None
        )
        #: The action distribution class (``None``: forwards must return actions); known in ``setup``.
        self.action_dist_cls: type[Distribution] | None = self.get_action_dist_cls()
        self._dist_config: dict[str, Any] = dict(self.get_action_dist_config())
        self.setup()
        initial = self.get_initial_state()
        if not (isinstance(initial, TensorDictBase) and initial.batch_dims == 0):
            raise TypeError(
                f"{type(self).__name__}.get_initial_state must return a TensorDict with batch_size [] "
                f"(the state of one env), got {initial!r}"
            )
        self._initial_state: TensorDictBase = initial
        #: Whether the module carries a state between steps (``get_initial_state`` has entries).
        self.is_stateful: bool = len(initial.keys()) > 0
        self._specs: dict[tuple[str, str], IOSpec | None] = {}
        for mode in MODES:
            self._specs[mode, "input"] = _canonical(getattr(self, f"input_specs_{mode}")())
            self._specs[mode, "output"] = _canonical(getattr(self, f"output_specs_{mode}")())
        self._context = {
            (mode, io): f"{type(self).__name__}.forward_{mode} {io}" for mode in MODES for io in ("input", "output")
        }
        # What ``_run`` needs per mode, in one lookup: (input spec, output spec, their contexts).
        self._action_checks = _action_checks(action_spec)
        self._checks: dict[str, tuple[IOSpec | None, IOSpec | None, str, str]] = {
            mode: (
                self._specs[mode, "input"],
                self._specs[mode, "output"],
                self._context[mode, "input"],
                self._context[mode, "output"],
            )
            for mode in MODES
        }
        if self.action_dist_cls is not None:
            self._check_distribution_inputs()

    def setup(self) -> None:
        """Build layers (usually through ``self.catalog``). Called once by ``__init__``."""

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward_train")

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward_exploration")

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward_inference")

    def get_initial_state(self) -> TensorDictBase:
        """Return the state one env starts an episode with: a TensorDict with ``batch_size=[]``.

        Empty (the default) means the module has no memory. A stateful module
        returns its state here (``{"h": zeros(64)}``, nested if it likes); its
        acting forwards then take ``state_in`` ``[b, ...]`` and return
        ``state_out`` of the same structure, and ``forward_train`` takes
        sequences: ``obs`` ``[b, t, ...]`` with ``state_in`` at each sequence's
        first step, returning ``[b, t, ...]`` outputs. The runner carries the
        state between steps and resets it to this one when an episode ends.
        Called once, after ``setup()``; ``initial_state(n)`` returns it for ``n`` envs.

        Examples:
            >>> from specs import Box, Discrete
            >>> class Counter(RLModule):
            ...     def get_initial_state(self):
            ...         return TensorDict({"steps": torch.zeros(1)}, batch_size=[])
            >>> Counter(Box((3,)), Discrete(2)).initial_state(4)["steps"].shape
            torch.Size([4, 1])
        """
        return TensorDict({}, batch_size=[])

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDictBase:
        """Return ``get_initial_state()`` for ``batch_size`` envs (a fresh TensorDict ``[batch_size]``)."""
        state = self.get_initial_state().expand(batch_size).clone()
        return state.to(device) if device is not None else state

    def get_action_dist_cls(self) -> type[Distribution] | None:
        """Return the action distribution class; by default the catalog's choice."""
        return None if self.catalog is None else self.catalog.get_action_dist_cls()

    def get_action_dist_config(self) -> Mapping[str, Any]:
        """Return the options the action distribution is built with; by default the catalog's."""
        return {} if self.catalog is None else self.catalog.get_action_dist_config()

    def make_action_dist(self, action_dist_inputs: torch.Tensor) -> Distribution:
        """Build the action distribution for ``action_dist_inputs`` ``[b, a]``.

        Raises:
            RuntimeError: If the module has no distribution class.
        """
        if self.action_dist_cls is None:
            raise RuntimeError(f"{type(self).__name__} has no action distribution (no catalog, no override)")
        return self.action_dist_cls(action_dist_inputs, self.action_spec, **self._dist_config)

    @property
    def num_action_dist_inputs(self) -> int:
        """How many ``action_dist_inputs`` (``a``) the distribution needs: the policy head's width.

        Available in ``setup()``.

        Raises:
            RuntimeError: If the module has no distribution class.
        """
        if self.action_dist_cls is None:
            raise RuntimeError(f"{type(self).__name__} has no action distribution (no catalog, no override)")
        return self.action_dist_cls.required_inputs(self.action_spec, **self._dist_config)

    def train_dims(self) -> tuple[str, ...]:
        """Return the leading dims of ``forward_train``'s data: ``("b", "t")`` when stateful, else ``("b",)``."""
        return ("b", "t") if self.is_stateful else ("b",)

    def state_spec(self, key: str = Columns.STATE_IN) -> dict[tuple[str, ...], TensorShape]:
        """Return the spec of ``state_in`` (or ``state_out``) ``[b, ...]``: one entry per leaf of the initial state.

        Empty for a module without state.
        """
        return {
            (key, *((leaf,) if isinstance(leaf, str) else leaf)): TensorShape(
                ("b", *self._initial_state.get(leaf).shape), dtype=self._initial_state.get(leaf).dtype
            )
            for leaf in self._initial_state.keys(include_nested=True, leaves_only=True)
        }

    def _obs_spec(self, dims: tuple[str, ...] = ("b",)) -> SpecDict:
        spec: dict[Any, Any] = {Columns.OBS: self.observation_spec.as_io_spec(dims), **self.state_spec()}
        return SpecDict(spec)

    def _dist_inputs_spec(self, dims: tuple[str, ...] = ("b",)) -> TensorShape:
        return TensorShape((*dims, "a"), a=self.num_action_dist_inputs, dtype=FLOAT_DTYPES)

    def _acting_spec(self) -> SpecDict:
        actions: dict[Any, Any] = {
            Columns.ACTIONS: self.action_spec.as_io_spec(("b",)),
            **self.state_spec(Columns.STATE_OUT),
        }
        if self.action_dist_cls is None:
            return SpecDict(actions)
        return SpecDict(
            {
                **actions,
                Columns.ACTION_DIST_INPUTS: self._dist_inputs_spec(),
                Columns.ACTION_LOGP: TensorShape("b", dtype=FLOAT_DTYPES),
            },
            optional=[Columns.ACTIONS, Columns.ACTION_LOGP],
        )

    def input_specs_train(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of ``forward_train``'s input; default ``{obs: [b, *obs_shape]}``.

        A stateful module takes sequences: ``{obs: [b, t, *obs_shape], state_in: [b, ...]}``.
        """
        return self._obs_spec(self.train_dims())

    def input_specs_exploration(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of ``forward_exploration``'s input; default ``{obs: [b, *obs_shape]}`` (and ``state_in``)."""
        return self._obs_spec()

    def input_specs_inference(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of ``forward_inference``'s input; default ``{obs: [b, *obs_shape]}`` (and ``state_in``)."""
        return self._obs_spec()

    def output_specs_train(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of ``forward_train``'s output; default ``{action_dist_inputs: [b, a]}``.

        A stateful module returns ``[b, t, a]``.
        """
        if self.action_dist_cls is None:
            return None
        return SpecDict({Columns.ACTION_DIST_INPUTS: self._dist_inputs_spec(self.train_dims())})

    def output_specs_exploration(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of what ``_forward_exploration`` returns (before actions are sampled).

        Default: ``action_dist_inputs [b, a]`` with optional ``actions`` and
        ``action_logp``; or ``actions`` when the module has no distribution.
        A stateful module also returns ``state_out`` ``[b, ...]``.
        """
        return self._acting_spec()

    def output_specs_inference(self) -> IOSpec | Mapping[Any, Any] | None:
        """Return the spec of what ``_forward_inference`` returns; default as for exploration."""
        return self._acting_spec()

    def io_spec(self, mode: str, io: str) -> IOSpec | None:
        """Return the canonical spec the ``mode`` forward checks its ``io`` (``input``/``output``) against."""
        return self._specs[mode, io]

    @final
    def forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        """Compute what the loss needs (``action_dist_inputs``, ``vf_preds``, ...) for ``batch``."""
        return self._run("train", batch, self._forward_train)

    @final
    def forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        """Act while collecting data: returns ``actions`` and ``action_logp`` (sampled if needed)."""
        return self._run("exploration", batch, self._forward_exploration)

    @final
    def forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        """Act when deployed: returns deterministic ``actions``."""
        return self._run("inference", batch, self._forward_inference)

    def forward(self, batch: TensorDictBase) -> TensorDictBase:
        """Alias of ``forward_inference``, so ``module(batch)`` acts deterministically."""
        return self.forward_inference(batch)

    def _run(self, mode: str, batch: TensorDictBase, fn: Callable[[TensorDictBase], TensorDictBase]) -> TensorDictBase:
        if not isinstance(batch, TensorDictBase):
            raise SpecError(
                [
                    Mismatch(
                        "",
                        "type",
                        f"forward_{mode} takes a TensorDict with batch dims, got "
                        f"{type(batch).__module__}.{type(batch).__qualname__}; wrap it: "
                        "TensorDict({'obs': obs}, batch_size=[b])",
                    )
                ],
                context=self._context[mode, "input"],
            )
        if is_checking():
            return self._run_checked(mode, batch, fn)
        out = fn(self._preprocess(batch))
        # The one test paid with checks off: anything else fails later with an obscure AttributeError.
        if not isinstance(out, TensorDictBase):
            raise self._not_a_tensordict(mode, out)
        if mode != "train":
            self._complete_actions(mode, out)
        return out

    def _run_checked(
        self, mode: str, batch: TensorDictBase, fn: Callable[[TensorDictBase], TensorDictBase]
    ) -> TensorDictBase:
        in_spec, out_spec, in_context, out_context = self._checks[mode]
        # Shared so that unbound dims (the batch dim ``b``) must agree between input and output.
        bindings: dict[str, tuple[int, str]] = {}
        # ``matches`` is the cheap test; ``check`` runs only to explain a mismatch.
        if in_spec is not None and not in_spec.matches(batch, bindings):
            check(in_spec, batch, context=in_context, bindings=bindings)
        out = fn(self._preprocess(batch))
        if not isinstance(out, TensorDictBase):
            raise self._not_a_tensordict(mode, out)
        if out_spec is not None and not out_spec.matches(out, bindings):
            check(out_spec, out, context=out_context, bindings=bindings)
        if mode != "train":
            self._complete_actions(mode, out)
        return out

    def _not_a_tensordict(self, mode: str, out: object) -> SpecError:
        return SpecError(
            [
                Mismatch(
                    "",
                    "type",
                    f"_forward_{mode} must return a TensorDict (tensordict.TensorDictBase), "
                    f"got {type(out).__module__}.{type(out).__qualname__}",
                )
            ],
            context=self._context[mode, "output"],
        )

    def check_actions(self, mode: str, actions: Any) -> None:
        """Check acting ``actions`` against the action spec: dtype, shape ``[b, ...]`` and values.

        ``evaluate`` calls it on checked steps, before the actions reach the env. Values of
        ``Discrete``, ``MultiDiscrete``, ``MultiBinary`` and integer ``Box`` leaves must lie in the
        space; float ``Box`` values outside the bounds pass (Gaussian policies sample there and envs
        clip). Not part of the forwards: it would more than double what a checked forward pays.

        Args:
            mode: ``exploration`` or ``inference``: the forward the actions came from (named in the error).
            actions: ``[b, ...]`` tensor (a TensorDict for a ``Composite`` action spec).

        Raises:
            SpecError: Naming the module, the mode, and expected versus actual.

        Examples:
            >>> import torch
            >>> from specs import Box, Discrete
            >>> from catalogs import ActorCriticModule
            >>> m = ActorCriticModule(Box((3,)), Discrete(2))
            >>> m.check_actions("inference", torch.tensor([0, 2]))
            Traceback (most recent call last):
            ...
            specs.errors.SpecError: ActorCriticModule.forward_inference output does not match its spec (1 mismatch):
              - 'actions': value 2 outside Discrete(2) (range [0, 1]) (action spec Discrete(2))
        """
        bindings: dict[str, tuple[int, str]] = {}
        spec, value_leaves = self._action_checks
        if spec.matches(actions, bindings) and all(
            _values_in(leaf, interval, actions if not path else actions.get(path))
            for path, leaf, interval in value_leaves
        ):
            return
        # Explain: the shape/dtype mismatches first, else the first value outside its leaf.
        mismatches: list[Mismatch] = []
        try:
            check(spec, actions, bindings=bindings)
        except SpecError as exc:
            mismatches = [Mismatch(_join(Columns.ACTIONS, m.path), m.kind, m.message) for m in exc.mismatches]
        for path, leaf, _ in [] if mismatches else value_leaves:
            value = actions if not path else actions.get(path)
            try:
                leaf.validate(value)
            except SpecError as exc:
                where = _join(Columns.ACTIONS, ".".join(path))
                mismatches = [Mismatch(_join(where, m.path), m.kind, m.message) for m in exc.mismatches]
                break
        if not mismatches:  # ``matches`` and ``check`` disagree: nothing to explain.
            return
        raise SpecError(
            [Mismatch(m.path, m.kind, f"{m.message} (action spec {self.action_spec!r})") for m in mismatches],
            context=self._context[mode, "output"],
        )

    def _check_distribution_inputs(self) -> None:
        """Check at build time that the distribution and the policy head agree on ``action_dist_inputs``.

        The distribution is built from ``required_inputs`` inputs where each input
        in turn dominates: its modes must lie in the action space (too many
        inputs gives actions outside it) and every valid discrete action must get
        a finite logp (too few inputs cannot). Then one batch of random
        observations through ``_forward_exploration`` must give exactly that many
        inputs. A mismatch is a ``PluginError`` naming the component and both sizes.
        """
        assert self.action_dist_cls is not None
        spec, n = self.action_spec, self.num_action_dist_inputs
        who = self._component_text("distribution", self.action_dist_cls)
        gen = torch.Generator().manual_seed(0)
        rows = max(n, action_value_count(spec), 1)
        inputs = torch.randn(rows, n, generator=gen) + 10.0 * torch.eye(rows, n)
        try:
            dist = self.make_action_dist(inputs)
            modes = dist.deterministic_sample()
            self.check_actions("inference", modes)
        except Exception as exc:
            raise PluginError(
                f"{who} with {n} action_dist_inputs (its required_inputs for {self.action_spec!r}) "
                f"gives no valid action: {_first_line(exc)}; is required_inputs too large?"
            ) from exc
        if action_value_count(spec):
            every = every_action_value(spec, rows, gen)
            try:
                finite = bool(torch.isfinite(dist.logp(every)).all())
            except Exception:
                finite = False
            if not finite:
                raise PluginError(
                    f"{who} with {n} action_dist_inputs (its required_inputs for {self.action_spec!r}) "
                    "cannot give every valid action a finite logp; is required_inputs too small "
                    "(one input per action)?"
                )
        width = self._policy_width()
        if width is not None and width != n:
            raise PluginError(
                f"{type(self).__name__}'s policy head gives {width} action_dist_inputs but {who} needs {n} "
                f"for {self.action_spec!r} (its required_inputs); size the head with self.num_action_dist_inputs"
            )

    def _policy_width(self) -> int | None:
        """Return the width of ``action_dist_inputs`` for two random observations, or ``None`` if not measurable."""
        in_spec = self._specs["exploration", "input"]
        state_keys = set(self.state_spec())
        if not isinstance(in_spec, SpecDict) or set(in_spec) - state_keys != {(Columns.OBS,)}:
            return None  # inputs beyond ``obs`` and the state are checked when the forward runs
        obs = self.observation_spec.rand((2,), generator=torch.Generator().manual_seed(0))
        batch = TensorDict({Columns.OBS: obs}, batch_size=[2])
        if self.is_stateful:
            batch.set(Columns.STATE_IN, self.initial_state(2))
        training = self.training
        self.eval()
        try:
            with torch.no_grad(), checking(False):
                out = self._forward_exploration(self._preprocess(batch))
        except Exception as exc:
            exc.add_note(f"while building {type(self).__name__}: two random observations through _forward_exploration")
            raise
        finally:
            self.train(training)
        if not isinstance(out, TensorDictBase) or Columns.ACTION_DIST_INPUTS not in out:
            return None
        return int(out.get(Columns.ACTION_DIST_INPUTS).shape[-1])

    def _component_text(self, kind: str, obj: Any) -> str:
        """Name a component for messages: registry name and plugin when the catalog resolved it, else its class."""
        path = f"{obj.__module__}:{obj.__qualname__}"
        for record in self.components():
            if record.get("kind") == kind and record.get("object") == path:
                dist = f" ({record['distribution']} {record['version']})" if record.get("distribution") else ""
                return f"{kind} {record['name']!r} of plugin {record['plugin']!r}{dist}"
        origin = class_provenance({kind: obj})[0]
        dist = f" ({origin['distribution']} {origin['version']})" if origin["distribution"] else ""
        return f"{kind} {path}{dist}"

    def _preprocess(self, batch: TensorDictBase) -> TensorDictBase:
        if self.obs_normalizer is None:
            return batch
        out = batch.copy()
        out.set(Columns.OBS, self.obs_normalizer(batch.get(Columns.OBS)))
        return out

    def _complete_actions(self, mode: str, out: TensorDictBase) -> None:
        # ``key in out`` first: far cheaper than a TensorDict ``get`` of a missing key.
        if Columns.ACTIONS not in out:
            if Columns.ACTION_DIST_INPUTS not in out:
                raise SpecError(
                    [Mismatch(Columns.ACTIONS, "missing", "returned neither 'actions' nor 'action_dist_inputs'")],
                    context=self._context[mode, "output"],
                )
            dist = self.make_action_dist(out.get(Columns.ACTION_DIST_INPUTS))
            if mode == "inference":
                out.set(Columns.ACTIONS, dist.deterministic_sample())
                return
            actions = dist.sample()
            out.set(Columns.ACTIONS, actions)
            out.set(Columns.ACTION_LOGP, dist.logp(actions))
        elif mode == "exploration" and Columns.ACTION_LOGP not in out and Columns.ACTION_DIST_INPUTS in out:
            dist = self.make_action_dist(out.get(Columns.ACTION_DIST_INPUTS))
            out.set(Columns.ACTION_LOGP, dist.logp(out.get(Columns.ACTIONS)))

    def components(self) -> list[dict[str, str | None]]:
        """Describe the registry components this module was built from, with provenance."""
        return [] if self.catalog is None else self.catalog.components()

    def get_state(self) -> dict[str, Any]:
        """Return the module's state (weights and buffers, normaliser statistics included).

        The tensors are shared with the module; clone them to keep a snapshot.
        """
        return dict(self.state_dict())

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a state returned by ``get_state`` (strict: every key must match)."""
        self.load_state_dict(state, strict=True)

    def save_to_path(self, path: str | Path, *, state: Mapping[str, torch.Tensor] | None = None) -> Path:
        """Save class, specs, config and weights to the directory ``path``.

        ``state`` saves those weights instead of the current ones (a snapshot
        taken earlier by ``get_state``, cloned).

        The directory is replaced atomically. ``RLModule.from_checkpoint(path)``
        restores the module in a fresh process. Classes that cannot be imported
        (defined in ``__main__`` or a notebook) are pickled by value.

        Returns:
            The directory written.
        """
        constructor = {
            "module_class": type(self),
            "observation_spec": self.observation_spec,
            "action_spec": self.action_spec,
            "model_config": self.model_config,
            "catalog_class": self.catalog_class,
        }
        metadata = {
            "module_class": f"{type(self).__module__}:{type(self).__qualname__}",
            "catalog_class": None
            if self.catalog_class is None
            else f"{self.catalog_class.__module__}:{getattr(self.catalog_class, '__qualname__', '?')}",
            "observation_spec": self.observation_spec.to_dict(),
            "action_spec": self.action_spec.to_dict(),
            "model_config": json.loads(json.dumps(self.model_config, default=repr)),
            "components": self.components(),
            "classes": class_provenance({"module_class": type(self), "catalog_class": self.catalog_class}),
        }
        weights = dict(self.state_dict()) if state is None else dict(state)
        return module_dir.save_module_dir(path, constructor=constructor, metadata=metadata, state=weights)

    @classmethod
    def from_checkpoint(
        cls: type[M], path: str | Path, *, registry: object | None = None, map_location: str | torch.device = "cpu"
    ) -> M:
        """Restore a module saved by ``save_to_path`` (class, specs, config, weights).

        Raises:
            CheckpointError: If the directory is not a module checkpoint, or the
                module needs a package that is not installed (named in the message).
        """
        path = Path(path)
        ctor, meta = module_dir.read_constructor(path)
        try:
            module = ctor["module_class"](
                ctor["observation_spec"],
                ctor["action_spec"],
                ctor["model_config"],
                ctor["catalog_class"],
                registry=registry,
            )
        except (ImportError, AttributeError, UnknownComponentError, PluginError) as exc:
            raise CheckpointError(module_dir.missing_package_message(path, meta, exc)) from exc
        if not isinstance(module, cls):
            raise CheckpointError(f"{path} holds a {type(module).__name__}, not a {cls.__name__}")
        module.set_state(module_dir.load_state(path, map_location=map_location))
        return module

    #: What ``as_multi_agent`` wraps a module in: ``MultiRLModule``, which sets it where it is defined.
    multi_module_class: ClassVar[Callable[..., Any]]

    def as_multi_agent(self, module_id: str = "default") -> Any:
        """Return a ``MultiRLModule`` holding just this module under ``module_id`` (RLlib's ``as_multi_agent``).

        Examples:
            >>> from catalogs import ActorCriticModule
            >>> from specs import Box, Discrete
            >>> ActorCriticModule(Box((4,)), Discrete(2)).as_multi_agent().keys()
            ['default']
        """
        return self.multi_module_class({module_id: self})

    @staticmethod
    def read_checkpoint_metadata(path: str | Path) -> dict[str, Any]:
        """Return the JSON metadata of a module checkpoint (specs, config, components).

        The specs come back as spec objects under ``observation_spec``/``action_spec``.
        """
        return module_dir.read_metadata(path)


def _first_line(exc: BaseException) -> str:
    """Say what ``exc`` found in one line (a ``SpecError``'s mismatches, else its type and first line)."""
    if isinstance(exc, SpecError):
        return "; ".join(str(m) for m in exc.mismatches)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if path else prefix


#: A leaf whose action values are checked: its path inside the actions, the spec, and the integer
#: interval ``(low, high)`` that holds exactly its values for every element (``None``: use ``contains``).
ValueCheck = tuple[tuple[str, ...], Spec, tuple[int, int] | None]


def _action_checks(action_spec: Spec) -> tuple[IOSpec, list[ValueCheck]]:
    """Return the dtype/shape spec of a batch of actions ``[b, ...]`` and the leaves whose values are checked.

    Every leaf but a float ``Box`` has its values checked, keyed by its path inside the actions (``()``
    for a leaf action spec).
    """
    leaves: list[ValueCheck] = []

    def walk(spec: Spec, path: tuple[str, ...]) -> None:
        if isinstance(spec, Composite):
            for key, sub in spec.items():
                walk(sub, (*path, key))
        elif not (isinstance(spec, Box) and spec.dtype.is_floating_point):
            leaves.append((path, spec, _interval(spec)))

    walk(action_spec, ())
    return action_spec.as_io_spec(("b",)), leaves


def _interval(spec: Spec) -> tuple[int, int] | None:
    """Return ``(low, high)`` if the values of ``spec`` are exactly the integers in it, the same for every element."""
    if isinstance(spec, Discrete):
        return spec.start, spec.start + spec.n - 1
    if isinstance(spec, MultiBinary):
        return 0, 1
    if isinstance(spec, MultiDiscrete):
        low, high = spec.start, spec.start + spec.nvec - 1
    elif isinstance(spec, Box):
        low, high = spec.low, spec.high
    else:
        return None
    if bool((low == low.flatten()[0]).all()) and bool((high == high.flatten()[0]).all()):
        return int(low.flatten()[0]), int(high.flatten()[0])
    return None


def _values_in(spec: Spec, interval: tuple[int, int] | None, x: torch.Tensor) -> bool:
    """Return whether the values of ``x`` (dtype and shape already checked) lie in ``spec``."""
    if interval is None or x.numel() == 0 or x.dtype == torch.bool:
        return spec.contains(x)
    # One pass and two scalars: several times cheaper than the spec's elementwise masks.
    low, high = torch.aminmax(x)
    return bool(low.item() >= interval[0]) and bool(high.item() <= interval[1])


def _canonical(spec: IOSpec | Mapping[Any, Any] | None) -> IOSpec | None:
    if spec is None or isinstance(spec, (SpecDict, TensorShape)):
        return spec
    if isinstance(spec, Mapping):
        return SpecDict(spec)
    return spec


@dataclass(frozen=True)
class RLModuleSpec:
    """Everything needed to build an ``RLModule``; classes may be given as import paths.

    Examples:
        >>> from specs import Box, Discrete
        >>> from catalogs import ActorCriticCatalog, ActorCriticModule
        >>> spec = RLModuleSpec(ActorCriticModule, Box((4,)), Discrete(2), catalog_class=ActorCriticCatalog)
        >>> type(spec.build()).__name__
        'ActorCriticModule'
    """

    #: The ``RLModule`` subclass (or ``"package.module:Class"``).
    module_class: type[RLModule] | str
    #: What the module observes.
    observation_spec: Spec
    #: What it acts with.
    action_spec: Spec
    #: Options for the catalog and the module.
    model_config: Mapping[str, Any] | None = None
    #: The catalog class (or an import path).
    catalog_class: Callable[..., Any] | str | None = None
    #: Registry the catalog looks components up in; ``None`` for ``get_registry()``.
    registry: object | None = field(default=None, kw_only=True, compare=False)

    def build(self) -> RLModule:
        """Construct the module."""
        module_class = import_object(self.module_class) if isinstance(self.module_class, str) else self.module_class
        if not (isinstance(module_class, type) and issubclass(module_class, RLModule)):
            raise TypeError(f"module_class must be an RLModule subclass, got {module_class!r}")
        catalog_class = import_object(self.catalog_class) if isinstance(self.catalog_class, str) else self.catalog_class
        return module_class(
            self.observation_spec, self.action_spec, self.model_config, catalog_class, registry=self.registry
        )
