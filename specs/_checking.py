"""The global switch for I/O spec checks."""

from __future__ import annotations

from types import TracebackType

__all__ = ["checking", "is_checking"]


class _State:
    """Holds the one global flag; a class attribute lookup is the whole cost of a query."""

    enabled: bool = True


def is_checking() -> bool:
    """Return whether I/O spec checks run (they do unless switched off).

    Examples:
        >>> is_checking()
        True
    """
    return _State.enabled


class checking:
    """Switch spec checks on or off, globally or for a ``with`` block.

    Called plainly it sets the flag for the rest of the process; used as a
    context manager it restores the previous value on exit. With checks off an
    ``RLModule`` forward pays a single boolean test.

    Examples:
        >>> with checking(False):
        ...     is_checking()
        False
        >>> is_checking()
        True
    """

    def __init__(self, enabled: bool) -> None:
        self._previous = _State.enabled
        _State.enabled = bool(enabled)

    def __enter__(self) -> checking:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _State.enabled = self._previous
