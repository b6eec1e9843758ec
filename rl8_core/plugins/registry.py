"""The component registry: plugins loaded from entry points, one at a time.

A plugin is a module or object with ``@hookimpl`` functions (see
``rl8_core.plugins.hookspecs``). The registry calls each plugin's hook functions
itself, so every component keeps its provenance (plugin, distribution,
version), and a plugin that fails is recorded with the reason while every
other plugin keeps working.

The rules (``docs/writing-a-plugin.md``): any exception of a plugin's import
or hooks, ``SystemExit`` included, fails that plugin only, and only
``KeyboardInterrupt`` goes through; what it prints is captured; the names
rl8-core's built-ins register are reserved, and a plugin of another
distribution that registers one fails, in whatever order they load; two
other plugins with one name conflict; and an entry-point name of two
distributions fails both.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import io
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import pluggy

from rl8_core.components.algorithm import Algorithm
from rl8_core.components.distribution import Distribution
from rl8_core.components.encoder import Encoder
from rl8_core.errors import PluginError, UnknownComponentError
from rl8_core.imports import BUILTIN_DISTRIBUTION, distribution_of, import_object, is_import_path
from rl8_core.plugins.hookspecs import HOOK_NAMESPACE, HOOKS, Hookspecs

__all__ = [
    "ENTRY_POINT_GROUP",
    "ComponentInfo",
    "PluginInfo",
    "Registry",
    "get_registry",
    "reset_registry",
    "set_registry",
    "using_registry",
]

logger = logging.getLogger(__name__)

#: Entry-point group that plugin packages list their plugin modules under.
ENTRY_POINT_GROUP = HOOK_NAMESPACE
#: Provenance of components registered from the running process.
IN_PROCESS = "<in-process>"

#: Imports slower than this many seconds are flagged by ``rl8 plugins``.
SLOW_IMPORT_SECONDS = 1.0
#: At most this many characters of what a plugin prints while loading are kept.
MAX_OUTPUT_CHARS = 500

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ComponentInfo:
    """A registered component and where it came from."""

    #: ``encoder``, ``distribution``, ``algorithm`` or ``env``.
    kind: str
    #: Registry name (or the import path it was resolved from).
    name: str
    #: The class or factory.
    obj: Any = field(repr=False, compare=False)
    #: Plugin (entry-point name, module name or ``<in-process>``).
    plugin: str
    #: Distribution that installed the plugin, if known.
    distribution: str | None
    #: Version of that distribution, if known.
    version: str | None

    @property
    def object_path(self) -> str:
        """``module:qualname`` of the component's object."""
        module = getattr(self.obj, "__module__", "?")
        qualname = getattr(self.obj, "__qualname__", type(self.obj).__qualname__)
        return f"{module}:{qualname}"

    def describe(self) -> dict[str, str | None]:
        """Return a JSON-serialisable description (for MLflow params and checkpoints)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "object": self.object_path,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
        }

    def source_text(self) -> str:
        """Render the plugin and distribution for messages, e.g. ``'mlp' (rl8-core 0.1.0)``."""
        dist = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"{self.plugin!r}{dist}"


@dataclass
class PluginInfo:
    """One plugin's identity, status and contributions, as ``rl8 plugins`` shows it."""

    #: Entry-point name, or the module name of an in-process plugin.
    name: str
    #: Distribution that installed it (``None`` for in-process plugins).
    distribution: str | None
    #: Version of that distribution.
    version: str | None
    #: ``entry point`` or ``in-process``.
    source: str
    #: ``ok``, ``failed``, ``conflict`` or ``disabled``.
    status: str = "ok"
    #: Why the plugin failed or conflicts.
    reason: str | None = None
    #: Kind -> sorted names this plugin contributes.
    contributions: dict[str, list[str]] = field(default_factory=dict)
    #: Seconds its entry point took to import (``None`` if it was not imported).
    import_seconds: float | None = None
    #: What it printed to stdout while loading (captured, so it never mixes with
    #: ``rl8``'s own output), cut at ``MAX_OUTPUT_CHARS``; ``None`` if nothing.
    output: str | None = None

    @property
    def is_slow(self) -> bool:
        """Whether its import took longer than ``SLOW_IMPORT_SECONDS``."""
        return self.import_seconds is not None and self.import_seconds > SLOW_IMPORT_SECONDS

    @property
    def is_failed(self) -> bool:
        """Whether it failed or conflicts (what makes ``rl8 plugins`` exit 1 and ``rl8 train --strict`` refuse)."""
        return self.status in ("failed", "conflict")

    def to_json(self) -> dict[str, Any]:
        """Return the listing entry as plain data (``rl8 plugins --json``)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "contributions": {k: list(v) for k, v in sorted(self.contributions.items())},
            "import_seconds": None if self.import_seconds is None else round(self.import_seconds, 3),
            "output": self.output,
        }


def _exception_text(exc: BaseException) -> str:
    """Name an exception for a reason, e.g. ``SystemExit: 3`` (just the type if it has no message)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def _capturing_stdout(info: PluginInfo) -> Iterator[None]:
    """Capture what a plugin prints into ``info.output``, so that it never reaches ``rl8``'s stdout."""
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        text = (info.output or "") + buffer.getvalue()
        if text:
            info.output = text if len(text) <= MAX_OUTPUT_CHARS else text[: MAX_OUTPUT_CHARS - 3] + "..."


def _describe(value: Any) -> str:
    """Name ``value`` for a message without its memory address (``function pkg.mod:f``)."""
    if isinstance(value, type):
        return f"class {value.__module__}:{value.__qualname__}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{type(value).__name__} {getattr(value, '__module__', '?')}:{value.__qualname__}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _check_value(kind: str, name: str, value: Any) -> str | None:
    """Return why ``value`` cannot be a component of ``kind``, or ``None``."""
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"invalid {kind} name {name!r}: names are lowercase snake_case "
            "(letters, digits, '_'), starting with a letter, without '.' or ':'"
        )
    required: dict[str, type] = {"distribution": Distribution, "algorithm": Algorithm}
    if kind in required:
        base = required[kind]
        if not (isinstance(value, type) and issubclass(value, base)):
            article = "an" if base.__name__[0] in "AEIOU" else "a"
            return f"{kind} {name!r} must be {article} {base.__name__} subclass, got {_describe(value)}"
    elif kind == "encoder":
        if isinstance(value, type) and not issubclass(value, Encoder):
            return f"encoder {name!r} must be an Encoder subclass or a factory, got class {value.__name__}"
        if not callable(value):
            return f"encoder {name!r} must be an Encoder subclass or a factory, got {_describe(value)}"
    elif not callable(value):
        return f"{kind} {name!r} must be a class or factory, got {_describe(value)}"
    return None


def _reserved_message(source: str, taken: list[str]) -> str:
    """Say that plugin ``source`` may not register the built-in names ``taken``, and how to fix it."""
    names = ", ".join(taken)
    return (
        f"plugin {source} registers {names}, reserved for the built-ins of {BUILTIN_DISTRIBUTION}; "
        "pick another name, prefixed with your package's short name (e.g. 'acme_mlp' for package acme)"
    )


def _plugin_hooks(pm: pluggy.PluginManager, plugin: object, name: str) -> tuple[list[str], dict[str, list[Any]]]:
    """Return one registered plugin's unknown hook names and its functions per registration hook.

    pluggy merges the results of all plugins into one list and drops ``None``,
    which loses provenance, so the registry calls each plugin's functions
    itself; and pluggy checks hook names only for all plugins at once
    (``check_pending``), so this does it for one. This is the one place the
    core reaches into pluggy's hook callers and implementations.

    Raises:
        PluginError: If a registration hook is implemented as a wrapper.
    """
    unknown = [
        c.name
        for c in pm.get_hookcallers(plugin) or []
        if not c.has_spec() and any(i.plugin is plugin and not i.optionalhook for i in c.get_hookimpls())
    ]
    functions: dict[str, list[Any]] = {}
    for hook_name in HOOKS.values():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != name:
                continue
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(f"{hook_name} is a registration hook and may not be a wrapper")
            functions.setdefault(hook_name, []).append(impl.function)
    return unknown, functions


class Registry:
    """Components by kind and name, with provenance and per-plugin status.

    Args:
        load_entry_points: Whether to load plugins from the ``rl8`` entry-point group.
        plugins: Plugin objects (modules or instances with ``@hookimpl``
            functions) to register in-process after the entry points.
        disabled: Entry-point names to skip; defaults to the comma-separated
            ``RL8_DISABLE_PLUGINS`` environment variable.

    Examples:
        >>> from rl8_core import Encoder
        >>> reg = Registry(load_entry_points=False)
        >>> class Tiny(Encoder): ...
        >>> reg.register("encoder", "tiny", Tiny)
        >>> reg.names("encoder"), reg.get("encoder", "tiny") is Tiny
        (['tiny'], True)
    """

    def __init__(
        self,
        *,
        load_entry_points: bool = True,
        plugins: Iterable[object] = (),
        disabled: Iterable[str] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(HOOK_NAMESPACE)
        self._pm.add_hookspecs(Hookspecs)
        if os.environ.get("RL8_TRACE_PLUGINS", "").strip().lower() not in ("", "0", "false", "no", "off"):
            self._pm.trace.root.setwriter(logger.debug)
            self._pm.enable_tracing()
        self._components: dict[str, dict[str, list[ComponentInfo]]] = {kind: {} for kind in HOOKS}
        self._plugins: dict[str, PluginInfo] = {}
        if disabled is None:
            disabled = [n.strip() for n in os.environ.get("RL8_DISABLE_PLUGINS", "").split(",") if n.strip()]
        self._disabled = set(disabled)
        self._loaded_entry_points = False
        if load_entry_points:
            self.load_entry_points()
        for plugin in plugins:
            self.register_plugin(plugin)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Load every plugin of the entry-point group, each on its own.

        A plugin whose import, registration or hooks fail (with any exception,
        ``SystemExit`` included) is recorded as failed with the reason; it
        never stops the others from loading. Only ``KeyboardInterrupt`` goes
        through: a real Ctrl-C must stop the program, and a plugin raising it
        cannot be told apart from one. What a plugin prints is captured in
        ``PluginInfo.output``, and its import time in ``import_seconds``.

        An entry-point name given by several distributions fails every one of
        them (none is loaded), except that a name of rl8-core's own is reserved:
        the built-in loads and the others fail.
        """
        self._loaded_entry_points = True
        eps = sorted(metadata.entry_points(group=group), key=lambda e: (e.dist.name if e.dist else "", e.name))
        dists_by_name: dict[str, list[str | None]] = {}
        for ep in eps:
            dists_by_name.setdefault(ep.name, []).append(ep.dist.name if ep.dist else None)
        for ep in eps:
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            key, clash = ep.name, self._entry_point_clash(ep.name, dist, dists_by_name[ep.name])
            if clash is not None and dist != BUILTIN_DISTRIBUTION:
                key = f"{ep.name} ({dist})"
            info = PluginInfo(key, dist, version, "entry point")
            other = self._plugins.get(key)
            if other is not None and other.source == "entry point" and other.distribution == dist:
                continue  # seen by an earlier call
            if ep.name in self._disabled:
                info.status, info.reason = "disabled", "listed in RL8_DISABLE_PLUGINS"
                self._plugins[key] = info
                continue
            if clash is not None and dist != BUILTIN_DISTRIBUTION:
                self._fail(info, clash)
                continue
            with _capturing_stdout(info):
                started = time.perf_counter()
                try:
                    obj = ep.load()
                except KeyboardInterrupt:
                    logger.warning("rl8: interrupted while importing plugin %r (%s)", ep.name, dist)
                    raise
                except BaseException as exc:  # SystemExit too: any failure of third-party code is that plugin's
                    self._fail(info, f"import failed: {_exception_text(exc)}")
                    continue
                finally:
                    info.import_seconds = time.perf_counter() - started
                self._add_plugin(obj, info)
            if info.is_slow:
                logger.info("rl8 plugin %r took %.2f s to import", key, info.import_seconds)

    @staticmethod
    def _entry_point_clash(name: str, dist: str | None, dists: list[str | None]) -> str | None:
        """Return why the entry point ``name`` of ``dist`` clashes with another distribution's, or ``None``."""
        others = sorted({d or "?" for d in dists if d != dist})
        if not others:
            return None
        if BUILTIN_DISTRIBUTION in others:
            return (
                f"entry-point name {name!r} is reserved: {BUILTIN_DISTRIBUTION} uses it for a built-in plugin. "
                f"Rename the entry point in {dist}, prefixed with your package's short name"
            )
        return (
            f"entry-point name {name!r} is used by several distributions: {', '.join(sorted([dist or '?', *others]))}; "
            "none of them is loaded. Rename the entry point in one of them, or uninstall one"
        )

    def register_plugin(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object (a module or an instance with ``@hookimpl`` functions).

        Its components get the plugin's module as provenance and follow the
        same validation, reserved-name and conflict rules as entry-point
        plugins: a plugin that fails is recorded (and returned) with status
        ``failed``. What it prints while its hooks run is captured.
        Registering an object that is already registered returns its record.

        Raises:
            PluginError: If another plugin already uses ``name``.
        """
        if self._pm.is_registered(plugin):
            registered = self._pm.get_name(plugin)
            if registered is not None and registered in self._plugins:
                return self._plugins[registered]
        if name is None:
            name = getattr(plugin, "__name__", None) or type(plugin).__module__
        taken = self._plugins.get(name)
        if taken is not None and taken.status != "failed":
            raise PluginError(
                f"a plugin named {name!r} ({taken.source}) is already registered; pass name= to register_plugin"
            )
        info = PluginInfo(name, None, None, "in-process")
        with _capturing_stdout(info):
            return self._add_plugin(plugin, info)

    def register(self, kind: str, name: str, obj: Any, *, plugin: str = IN_PROCESS) -> None:
        """Register one component from the running process (notebooks, tests).

        A name another plugin provides becomes a conflict, as between two
        entry-point plugins; a built-in's name is refused. Registering the same
        object again is a no-op.

        Raises:
            PluginError: If ``obj`` is not a valid component of ``kind``, the name is
                invalid or a built-in's, ``plugin`` names a plugin that is not in-process,
                or ``plugin`` already registered another object under ``name``.
        """
        self._check_kind(kind)
        problem = _check_value(kind, name, obj)
        if problem:
            raise PluginError(problem)
        info = self._plugins.get(plugin)
        if info is not None and info.source != "in-process":
            raise PluginError(f"plugin {plugin!r} comes from {info.source}; register in-process under another name")
        for claim in self._components[kind].get(name, []):
            if claim.plugin == plugin:
                if claim.obj is obj:
                    return
                raise PluginError(
                    f"{kind} {name!r} is already registered by {plugin!r} as {_describe(claim.obj)}; "
                    "use another name or a fresh Registry"
                )
        reserved = self._reserved_reason(plugin, None, {kind: {name: obj}})
        if reserved:
            raise PluginError(reserved)
        if info is None:
            info = self._plugins[plugin] = PluginInfo(plugin, None, None, "in-process")
        self._commit(info, {kind: {name: obj}})

    def _add_plugin(self, obj: object, info: PluginInfo) -> PluginInfo:
        try:
            self._pm.register(obj, name=info.name)
        except Exception as exc:  # pluggy validation errors and name clashes alike
            return self._fail(info, f"registration failed: {type(exc).__name__}: {exc}")
        try:
            unknown, functions = _plugin_hooks(self._pm, obj, info.name)
        except PluginError as exc:
            self._pm.unregister(obj)
            return self._fail(info, str(exc))
        if unknown:
            self._pm.unregister(obj)
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, list(HOOKS.values()), n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            return self._fail(info, f"unknown hook {', '.join(hints)}; known hooks: {', '.join(HOOKS.values())}")
        found: dict[str, dict[str, Any]] = {}
        for kind, hook_name in HOOKS.items():
            for function in functions.get(hook_name, []):
                try:
                    result = function()
                except KeyboardInterrupt:
                    logger.warning("rl8: interrupted in %s of plugin %r", hook_name, info.name)
                    raise
                except BaseException as exc:  # a raising hook fails its own plugin only, SystemExit too
                    self._pm.unregister(obj)
                    return self._fail(info, f"{hook_name} raised {_exception_text(exc)}")
                if result is None:
                    continue
                if not isinstance(result, Mapping):
                    self._pm.unregister(obj)
                    return self._fail(
                        info, f"{hook_name} must return a mapping of names to components, got {type(result).__name__}"
                    )
                for name, value in result.items():
                    problem = _check_value(kind, name, value)
                    if problem:
                        self._pm.unregister(obj)
                        return self._fail(info, f"{hook_name}: {problem}")
                    found.setdefault(kind, {})[name] = value
        reserved = self._reserved_reason(info.name, info.distribution, found)
        if reserved:
            self._pm.unregister(obj)
            return self._fail(info, reserved)
        self._plugins[info.name] = info
        self._commit(info, found)
        return info

    def _reserved_reason(self, plugin: str, distribution: str | None, found: Mapping[str, Mapping[str, Any]]) -> str:
        """Return why a plugin may not register the built-in names among ``found`` ("" if it may)."""
        if distribution == BUILTIN_DISTRIBUTION:
            return ""
        taken = [
            f"{kind} {name!r}"
            for kind, entries in sorted(found.items())
            for name in sorted(entries)
            if any(c.distribution == BUILTIN_DISTRIBUTION for c in self._components[kind].get(name, []))
        ]
        if not taken:
            return ""
        source = f"{plugin!r} ({distribution})" if distribution else repr(plugin)
        return _reserved_message(source, taken)

    def _commit(self, info: PluginInfo, found: Mapping[str, Mapping[str, Any]]) -> None:
        if info.distribution == BUILTIN_DISTRIBUTION:
            # A third-party plugin loaded earlier may hold a name that is a built-in's: it fails now,
            # so that the outcome does not depend on the order of loading.
            refused: dict[str, list[str]] = {}
            for kind, entries in sorted(found.items()):
                for name in sorted(entries):
                    for claim in self._components[kind].get(name, []):
                        if claim.distribution != BUILTIN_DISTRIBUTION:
                            refused.setdefault(claim.plugin, []).append(f"{kind} {name!r}")
            for plugin, taken in refused.items():
                self._retract(plugin, taken)
        for kind, entries in found.items():
            for name, value in entries.items():
                component = ComponentInfo(kind, name, value, info.name, info.distribution, info.version)
                claims = self._components[kind].setdefault(name, [])
                claims[:] = [c for c in claims if c.plugin != info.name]
                claims.append(component)
                info.contributions.setdefault(kind, [])
                if name not in info.contributions[kind]:
                    info.contributions[kind].append(name)
                    info.contributions[kind].sort()
                if len(claims) > 1:
                    self._mark_conflicts(claims)

    def _retract(self, plugin: str, taken: list[str]) -> None:
        """Take back every component of ``plugin``, which registered the built-in names ``taken``, and fail it."""
        info = self._plugins[plugin]
        touched: list[ComponentInfo] = []
        for by_name in self._components.values():
            for name in list(by_name):
                claims = by_name[name]
                kept = [c for c in claims if c.plugin != plugin]
                if len(kept) != len(claims):
                    touched.extend(kept)
                    if kept:
                        by_name[name] = kept
                    else:
                        del by_name[name]
        obj = self._pm.get_plugin(plugin)
        if obj is not None:
            self._pm.unregister(obj)
        info.contributions = {}
        source = f"{plugin!r} ({info.distribution})" if info.distribution else repr(plugin)
        self._fail(info, _reserved_message(source, taken))
        self._mark_conflicts(touched)

    def _mark_conflicts(self, claims: Iterable[ComponentInfo]) -> None:
        """Recompute the conflict status of the plugins behind ``claims`` from what is registered now."""
        for plugin in {self._plugins[c.plugin].name: self._plugins[c.plugin] for c in claims}.values():
            if plugin.status not in ("ok", "conflict"):
                continue
            reasons = []
            for k, by_name in self._components.items():
                for n, others in sorted(by_name.items()):
                    if len(others) > 1 and any(c.plugin == plugin.name for c in others):
                        sources = ", ".join(c.source_text() for c in others if c.plugin != plugin.name)
                        reasons.append(f"{k} {n!r} is also provided by {sources}")
            plugin.status, plugin.reason = ("conflict", "; ".join(reasons)) if reasons else ("ok", None)

    def _fail(self, info: PluginInfo, reason: str) -> PluginInfo:
        # One line, so that the listing stays one row per plugin (pluggy's messages span lines).
        reason = "; ".join(line.strip() for line in reason.splitlines() if line.strip())
        info.status, info.reason = "failed", reason
        self._plugins[info.name] = info
        source = f"{info.distribution} {info.version}" if info.distribution else info.source
        logger.warning("rl8 plugin %r (%s) failed: %s", info.name, source, reason)
        return info

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in HOOKS:
            raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(HOOKS)}")

    def plugins(self) -> list[PluginInfo]:
        """Return every plugin seen, loaded or not, sorted by distribution and name."""
        return sorted(self._plugins.values(), key=lambda p: (p.distribution or "~", p.name))

    def names(self, kind: str) -> list[str]:
        """Return the sorted names of ``kind``, conflicting ones included.

        Examples:
            >>> Registry(load_entry_points=False).names("encoder")
            []
        """
        self._check_kind(kind)
        return sorted(self._components[kind])

    def components(self, kind: str) -> Iterator[ComponentInfo]:
        """Yield every usable (non-conflicting) component of ``kind``, sorted by name."""
        for name in self.names(kind):
            claims = self._components[kind][name]
            if len(claims) == 1:
                yield claims[0]

    def info(self, kind: str, name: str) -> ComponentInfo:
        """Return the component ``name`` of ``kind`` with its provenance.

        A name containing ``.`` or ``:`` is imported, never looked up.

        Raises:
            UnknownComponentError: No such name; lists known names and the closest.
            PluginError: Two plugins provide the name; names both.
        """
        self._check_kind(kind)
        if is_import_path(name):
            obj = import_object(name)
            problem = _check_value(kind, "imported", obj)
            if problem:
                raise PluginError(f"{name!r}: {problem}")
            dist, version = distribution_of(obj)
            return ComponentInfo(kind, name, obj, "<import path>", dist, version)
        claims = self._components[kind].get(name)
        if not claims:
            raise UnknownComponentError(self._unknown_message(kind, name))
        if len(claims) > 1:
            sources = " and ".join(c.source_text() for c in claims)
            raise PluginError(
                f"{kind} {name!r} is provided by several plugins: {sources}. Uninstall one, or "
                f"disable one with RL8_DISABLE_PLUGINS=<plugin name>."
            )
        return claims[0]

    def get(self, kind: str, name: str) -> Any:
        """Return the class or factory registered as ``name`` for ``kind``.

        Examples:
            >>> Registry(load_entry_points=False).get("encoder", "nope")
            Traceback (most recent call last):
            ...
            rl8_core.errors.UnknownComponentError: unknown encoder 'nope'. ...
        """
        return self.info(kind, name).obj

    def resolve(self, kind: str, ref: Any) -> ComponentInfo:
        """Resolve a name, an import path, or an object itself into a component.

        Objects (classes, factories) are validated and returned with their
        module's distribution as provenance.
        """
        if isinstance(ref, str):
            return self.info(kind, ref)
        self._check_kind(kind)
        problem = _check_value(kind, "given", ref)
        if problem:
            raise PluginError(problem)
        dist, version = distribution_of(ref)
        return ComponentInfo(kind, getattr(ref, "__qualname__", repr(ref)), ref, IN_PROCESS, dist, version)

    def _unknown_message(self, kind: str, name: str) -> str:
        known = self.names(kind)
        msg = f"unknown {kind} {name!r}."
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        msg += f" Known {kind}s: {', '.join(known) if known else '(none)'}."
        not_loaded = [p for p in self.plugins() if p.status in ("failed", "disabled")]
        if not_loaded:
            msg += " Plugins not loaded: " + "; ".join(f"{p.name!r} ({p.status}: {p.reason})" for p in not_loaded) + "."
        if self._loaded_entry_points and not self._has_builtins():
            msg += (
                f" No built-in components of {BUILTIN_DISTRIBUTION} are registered: its entry points are "
                "missing from the installed metadata (an uninstalled source tree, or an editable install "
                "older than pyproject.toml). Run `pip install -e .` in the rl8-core checkout."
            )
        return msg

    def _has_builtins(self) -> bool:
        # Any rl8-core plugin seen, even a disabled or failed one, means the metadata is there.
        return any(p.distribution == BUILTIN_DISTRIBUTION for p in self._plugins.values())

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a Registry is tied to this process's plugins and cannot be pickled")


_DEFAULT: list[Registry] = []


def get_registry() -> Registry:
    """Return the process-wide registry, loading entry-point plugins on first use.

    Catalogs, ``RLModuleSpec`` and the ``Trainer`` take ``registry=`` to use another.

    Examples:
        >>> "mlp" in get_registry().names("encoder")
        True
    """
    if not _DEFAULT:
        _DEFAULT.append(Registry())
    return _DEFAULT[0]


def set_registry(registry: Registry | None) -> Registry | None:
    """Install ``registry`` as the process-wide one (``None`` resets); return the previous."""
    previous = _DEFAULT[0] if _DEFAULT else None
    _DEFAULT.clear()
    if registry is not None:
        _DEFAULT.append(registry)
    return previous


def reset_registry() -> None:
    """Forget the process-wide registry; the next ``get_registry()`` loads afresh."""
    set_registry(None)


@contextmanager
def using_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the process-wide one inside a ``with`` block."""
    previous = set_registry(registry)
    try:
        yield registry
    finally:
        set_registry(previous)
