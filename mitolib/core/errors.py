"""The error types of mitolib.  Each message says what was wrong and how to fix it; the command line prints
it as one line (``mitolib: error: …``)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or a parameter is wrong; the message says how to fix it."""


class DataError(ValueError):
    """A data folder, a stack or a slice cannot be used; the message names the file and the fix."""


class ResultsError(ValueError):
    """A file of a run folder cannot be read; the message names it and what to do."""


class ResultsMissing(FileNotFoundError):
    """A study's collected results are absent or incomplete; the message names the fix."""


class SchedulerError(RuntimeError):
    """A batch-system command failed or cannot be formed; the message says why."""
