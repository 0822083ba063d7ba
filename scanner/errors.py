"""Every exit code driftscan has, and one base exception per layer; each carries the exit
code the CLI uses for it."""

from __future__ import annotations

from typing import Any

from scanner.model import ReadError

EXIT_OK = 0
"""The scan completed and nothing failed at or above ``--fail-on``."""
EXIT_FAILURES = 1
"""At least one failing finding at or above ``--fail-on``."""
EXIT_USAGE = 2
"""Bad usage or bad input: unknown check id, malformed baseline, unknown region."""
EXIT_UNSCANNABLE = 3
"""Nothing could be scanned: no credentials, endpoint unreachable, a control plugin that
cannot be loaded."""
EXIT_INCOMPLETE = 4
"""The scan finished but some evidence could not be read (ERROR findings)."""
EXIT_DELIVERY_PENDING = 5
"""Findings could not be delivered (pending in the spool or rejected) and nothing failed
at or above ``--fail-on``."""


class DriftscanError(Exception):
    """Base of every error the CLI turns into one line and an exit code."""

    exit_code = EXIT_USAGE


class ConfigError(DriftscanError):
    """Bad input from the user: flags, baseline file, check ids, regions."""

    exit_code = EXIT_USAGE


class SessionError(DriftscanError):
    """The account cannot be reached at all: credentials, endpoint, identity."""

    exit_code = EXIT_UNSCANNABLE


class PluginError(DriftscanError):
    """An installed control module (a plugin's, or driftscan's own) cannot be registered:
    nothing is judged rather than a scan silently missing its controls."""

    exit_code = EXIT_UNSCANNABLE


class CollectorError(DriftscanError):
    """A collector could not read what it lists; turned into ERROR findings, never raised out."""

    exit_code = EXIT_INCOMPLETE

    def __init__(self, error: ReadError) -> None:
        super().__init__(str(error))
        self.error = error
        self.collector: Any = None
        """The innermost collector that failed (set by the inventory)."""
