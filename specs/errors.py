"""Errors raised by the spec language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Mismatch", "SpecError", "UnsupportedSpaceError"]


@dataclass(frozen=True)
class Mismatch:
    """One way in which data failed to match a spec.

    Attributes:
        path: Dotted key path of the offending entry (``""`` for the root).
        kind: ``missing``, ``extra``, ``type``, ``rank``, ``dim``, ``dtype`` or ``value``.
        message: Human-readable description including expected and actual values.
    """

    #: Dotted key path of the offending entry.
    path: str
    #: Category of the mismatch.
    kind: str
    #: Description naming the expected and the actual value.
    message: str

    def __str__(self) -> str:
        where = repr(self.path) if self.path else "<root>"
        return f"{where}: {self.message}"


class SpecError(ValueError):
    """Data does not match a spec; lists every mismatch with its key path.

    Examples:
        >>> err = SpecError([Mismatch("obs", "missing", "missing key")], context="f input")
        >>> str(err).splitlines()[1]
        "  - 'obs': missing key"
    """

    def __init__(self, mismatches: Sequence[Mismatch], *, context: str | None = None) -> None:
        self.mismatches: tuple[Mismatch, ...] = tuple(mismatches)
        self.context = context
        super().__init__(self._format())

    def _format(self) -> str:
        what = self.context or "data"
        n = len(self.mismatches)
        head = f"{what} does not match its spec ({n} mismatch{'es' if n != 1 else ''}):"
        return "\n".join([head, *(f"  - {m}" for m in self.mismatches)])


class UnsupportedSpaceError(TypeError):
    """A gymnasium space has no spec counterpart (e.g. ``Text``, ``Graph``, ``Sequence``)."""
