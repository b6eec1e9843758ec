"""Config dataclasses from plain mappings (YAML, JSON, ``--set``), and the one rule for YAML numbers."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import math
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, TypeVar, Union

import yaml

from rl8_core.errors import ConfigError

__all__ = [
    "FieldError",
    "check_options",
    "check_range",
    "config_from_mapping",
    "config_to_dict",
    "describe_config",
    "field_docs",
    "parse_scalar",
    "read_number",
]

T = TypeVar("T")


class FieldError(ValueError):
    """A config field holds a value outside its range; ``config_from_mapping`` names it ``path.field``.

    Raise it from a config dataclass's ``__post_init__`` (``check_range`` does)
    so the user reads the dotted key, e.g. ``learner.lr: must be > 0, got -1``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        #: The field's name.
        self.field = field
        #: What is wrong with its value.
        self.message = message


def check_range(
    config: Any,
    field: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> None:
    """Raise ``FieldError`` unless ``config.<field>`` is ``None`` or a finite number within the bounds.

    Examples:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Opt:
        ...     lr: float = 1e-3
        ...     def __post_init__(self):
        ...         check_range(self, "lr", gt=0)
        >>> config_from_mapping(Opt, {"lr": -1.0}, path="learner")
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: learner.lr: must be > 0, got -1.0
    """
    value = getattr(config, field)
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(field, f"must be a finite number, got {value}")
    checks = (
        (gt, ">", value > gt if gt is not None else True),
        (ge, ">=", value >= ge if ge is not None else True),
        (lt, "<", value < lt if lt is not None else True),
        (le, "<=", value <= le if le is not None else True),
    )
    for bound, text, ok in checks:
        if bound is not None and not ok:
            raise FieldError(field, f"must be {text} {bound:g}, got {value!r}")


def _type_name(tp: Any) -> str:
    """Render an annotation the way config users write values (``float | null``, ``mapping``)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is Union or origin is types.UnionType:
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "mapping"
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        return "list"
    if tp is Any:
        return "any"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _value_text(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def read_number(value: Any) -> Any:
    """Return a string that reads as a number as that float; any other value unchanged.

    PyYAML follows YAML 1.1, which reads ``1e5`` and ``3e-4`` (no dot) as
    strings; a config author meant numbers. This is the one place that rule
    lives: number fields of configs and ``--set`` values both go through it.

    Examples:
        >>> read_number("3e-4"), read_number("mlp"), read_number(2)
        (0.0003, 'mlp', 2)
    """
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value as YAML (``true``, ``null``, ``[1, 2]``), numbers by ``read_number``.

    Examples:
        >>> parse_scalar("1e5"), parse_scalar("true"), parse_scalar("[64, 64]"), parse_scalar("a: [")
        (100000.0, True, [64, 64], 'a: [')
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return read_number(value)


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Return ``value`` checked (and gently converted) against the annotation ``tp``."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as exc:
                errors.append(exc)
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{path}: expected {expected}, got {_value_text(value)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping of {tp.__name__} options, got {_value_text(value)}")
        return config_from_mapping(tp, value, path=path)
    if origin in (list, Sequence, tuple) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_value_text(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {_value_text(value)}")
        vt = args[1] if len(args) == 2 else Any
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{path}: keys must be strings, got {k!r}")
            out[k] = _convert(vt, v, f"{path}.{k}")
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected bool (true/false), got {_value_text(value)}")
        return value
    if tp is int:
        value = read_number(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)  # YAML reads 1e5 as a float
            raise ConfigError(f"{path}: expected int, got {_value_text(value)}")
        return value
    if tp is float:
        value = read_number(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {_value_text(value)}")
        if math.isnan(value):
            raise ConfigError(f"{path}: expected a number, got nan")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected str, got {_value_text(value)}")
        return value
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise ConfigError(f"{path}: expected {tp.__name__}, got {_value_text(value)}")
        return value
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def config_from_mapping(cls: type[T], data: Mapping[str, Any], *, path: str = "config") -> T:
    """Build the dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types.

    Nested dataclass fields take nested mappings. Errors name the dotted key.

    Raises:
        ConfigError: Unknown key (with the closest known one), wrong type, or
            a value the dataclass's ``__post_init__`` rejects.

    Examples:
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Opt:
        ...     lr: float = 1e-3
        ...     epochs: int = 4
        >>> config_from_mapping(Opt, {"lr": 3e-4})
        Opt(lr=0.0003, epochs=4)
        >>> config_from_mapping(Opt, {"epoch": 3})
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: config: unknown key 'epoch' (did you mean 'epochs'?); known keys: epochs, lr
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {_value_text(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: unknown key {key!r}{hint}; known keys: {', '.join(sorted(fields))}")
    kwargs = {name: _convert(hints[name], data[name], f"{path}.{name}") for name in fields if name in data}
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ConfigError(f"{path}.{exc.field}: {exc.message}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path}: {exc}") from exc


def check_options(
    factory: Any,
    options: Mapping[str, Any],
    *,
    path: str,
    what: str,
    reserved: Sequence[str] = (),
    accepted: Sequence[str] = (),
) -> None:
    """Check a component's keyword ``options`` against what ``factory`` accepts, before it is called.

    With a dataclass ``factory.config_class`` the options are validated into
    it; otherwise against the signature of ``factory`` (a class's ``__init__``):
    a key it does not take is an error naming ``path.key`` and the closest
    known option (unless the factory takes ``**kwargs``), and a value that does
    not fit the parameter's annotation is an error naming its type.
    ``reserved`` are parameters the caller passes itself (``num_envs``,
    ``observation_spec``), never options; ``accepted`` are options the caller
    handles before ``factory`` (listed in messages, never passed here).

    Raises:
        ConfigError: One line: ``{path}.{key}``, ``what``, and the fix.

    Examples:
        >>> def make_grid(*, num_envs: int, size: int = 5, slippery: bool = False): ...
        >>> check_options(make_grid, {"size": 8}, path="env_config", what="env 'grid'", reserved=["num_envs"])
        >>> check_options(make_grid, {"slipery": True}, path="env_config", what="env 'grid'", reserved=["num_envs"])
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: env_config.slipery: env 'grid' takes no option 'slipery' (did you mean 'slippery'?); its options: size, slippery
        >>> check_options(make_grid, {"size": "big"}, path="env_config", what="env 'grid'", reserved=["num_envs"])
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: env_config.size: expected int, got 'big' (str)
    """  # noqa: E501
    if not isinstance(options, Mapping):
        raise ConfigError(f"{path}: expected a mapping of options for {what}, got {_value_text(options)}")
    config_class = getattr(factory, "config_class", None)
    if isinstance(config_class, type) and dataclasses.is_dataclass(config_class):
        config_from_mapping(config_class, options, path=path)
        return
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and C callables: nothing to check against
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    known = [*accepted] + [
        name
        for name, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in reserved and name not in accepted
    ]
    for key in options:
        if key in reserved:
            raise ConfigError(f"{path}.{key}: set by rl8-core for {what}, not an option")
        if key not in known and not takes_any:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = f"; its options: {', '.join(known)}" if known else "; it takes no options"
            raise ConfigError(f"{path}.{key}: {what} takes no option {key!r}{hint}{listed}")
    try:
        hints = typing.get_type_hints(getattr(factory, "__init__") if isinstance(factory, type) else factory)  # noqa: B009
    except Exception:
        hints = {}
    for key, value in options.items():
        if key in hints:
            _convert(hints[key], value, f"{path}.{key}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a dataclass config as plain nested data (for YAML, MLflow params).

    Examples:
        >>> @dataclasses.dataclass(frozen=True)
        ... class C:
        ...     a: tuple[int, ...] = (1, 2)
        >>> config_to_dict(C())
        {'a': [1, 2]}
    """

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    out = plain(config)
    if not isinstance(out, dict):
        raise TypeError(f"{config!r} is not a dataclass instance")
    return out


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Return each field's docstring (the string literal under it in the class body).

    Classes whose source cannot be read (defined interactively) have no docs.

    Examples:
        >>> from rl8_core import LearnerConfig
        >>> field_docs(LearnerConfig)["lr"]
        'Learning rate (Adam).'
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        if not isinstance(body, ast.ClassDef):
            continue
        stmts = body.body
        for stmt, nxt in itertools.pairwise(stmts):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def describe_config(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Return ``(dotted key, type, default, doc)`` for every option, nested ones included."""
    rows: list[tuple[str, str, str, str]] = []
    hints = _hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            rows.extend(describe_config(tp, f"{key}."))
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        rows.append((key, _type_name(tp), default, docs.get(f.name, "")))
    return rows
