"""Errors raised by the rl8 core."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EnvRunnerError",
    "NonFiniteError",
    "PluginError",
    "Terminated",
    "UnknownComponentError",
]


class PluginError(RuntimeError):
    """A plugin, or a component it contributes, cannot be used (failed or conflicting)."""


class UnknownComponentError(KeyError):
    """No component of the requested kind has the requested name.

    The message lists the known names and the closest match.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; show the message as written.
        return str(self.args[0]) if self.args else ""


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type, or out of range.

    The message names the offending key as a dotted path.
    """


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read, or needs a plugin that is not installed."""


class NonFiniteError(RuntimeError):
    """A run produced NaN or inf (env data, a loss, gradients or weights); the message names the first."""


class EnvRunnerError(RuntimeError):
    """An env runner (``scale.env_runners``) failed more times in a row than ``scale.max_restarts`` allows."""


class Terminated(BaseException):
    """A signal (SIGTERM) asked a run to end; like ``KeyboardInterrupt``, not an ``Exception``.

    ``Trainer.run`` raises it from its SIGTERM handler so that the run saves its
    last completed iteration on the way out, as for Ctrl-C.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"received signal {signum}")
        #: The signal number.
        self.signum = signum
