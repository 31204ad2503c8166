"""The one exception type users see: a problem and the fix, never a deep library traceback."""

from __future__ import annotations


class TunekitError(Exception):
    """A user-facing error: ``problem`` says what is wrong, ``fix`` says what to do about it.

    The CLI prints these without a traceback and exits with status 2.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\nFix: {fix}")


class ConfigError(TunekitError):
    """A configuration option is unknown, has a wrong value, or conflicts with another."""


class DataError(TunekitError):
    """Input data is missing, empty, malformed or inconsistent."""


class ModelUnavailableError(TunekitError):
    """A model name cannot be resolved to weights on this machine."""


class RunDirError(TunekitError):
    """A run directory is missing, incomplete or corrupted."""
