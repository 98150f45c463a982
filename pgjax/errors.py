"""User-facing errors.

Every mistake a user can make (a bad config value, an unknown name, an unreadable results folder) raises a
subclass of :class:`PgjaxError` with a one-line message that names the problem. The CLI prints that message
as ``pgjax: error: <message>`` on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations


class PgjaxError(Exception):
    """Base class for errors caused by user input rather than by a bug."""


class ConfigError(PgjaxError, ValueError):
    """A config field is out of its allowed range.

    Args:
      field: the name of the offending field, as spelled on the command line (without ``--``).
      message: what is allowed, e.g. ``"must be > 0 (got -1.0)"``.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"--{field.replace('_', '-')}: {message}")


class ExperimentError(PgjaxError):
    """An experiment module breaks the contract of :mod:`pgjax.experiment` (a missing ``NAME``, ``Config`` or
    ``run``, or a declared hook that is not callable); the message names the module and the problem."""
