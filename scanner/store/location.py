"""Where the history is: a SQLite file or a PostgreSQL database, behind one ``Store``.

Kept apart from both backends so that each imports only the shared code in
``scanner.store.history`` and this module, above them, chooses between them (psycopg is
imported only when a PostgreSQL store is opened).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from scanner.store.history import (
    HISTORY_URL_VARIABLE,
    POSTGRESQL_SCHEMES,
    HistoryError,
    HistoryStore,
    Store,
    check_store,
    default_path,
    redact,
)
from scanner.store.history_pg import PostgresStore, advisory_lock
from scanner.store.lock import store_lock


@dataclass(frozen=True)
class HistoryLocation:
    """Where the history is: a SQLite file (``path``) or a PostgreSQL database (``url``,
    which may hold a password: shown only through ``str()``, which hides it)."""

    path: Path | None = None
    url: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> HistoryLocation:
        """``--history``'s value: a ``postgresql://`` URL, else a file."""
        if urlsplit(text).scheme in POSTGRESQL_SCHEMES:
            return cls(url=text)
        return cls(path=Path(text))

    def __str__(self) -> str:
        return redact(self.url) if self.url is not None else str(self.path)

    def open(self, *, create: bool = True) -> Store:
        """The store, migrated; with ``create=False`` (reading commands) an absent store is
        an error instead of a new one."""
        if self.url is not None:
            return PostgresStore(self.url, create=create)
        assert self.path is not None
        if not create and not self.path.exists():
            raise HistoryError(f"no history store at {self.path}: no scan has been recorded there")
        return HistoryStore(self.path)

    def check(self) -> None:
        """HistoryError unless a file is absent or a driftscan store: read, never created
        (``check_store``), so that a scan refuses it before it looks for credentials. A
        PostgreSQL database is reached, and judged, only when it is opened."""
        if self.path is not None:
            check_store(self.path)

    def lock(
        self, timeout: float = 0, scope: Callable[[], str] | None = None
    ) -> AbstractContextManager[None]:
        """One run at a time: a SQLite store is locked whole; a PostgreSQL store per
        ``scope()`` (a scan; store-wide without one: a prune), so scanners of different
        scopes share it."""
        if self.url is not None:
            return advisory_lock(self.url, timeout, scope() if scope else None)
        assert self.path is not None
        return store_lock(self.path, timeout)


def default_location() -> HistoryLocation:
    """``$DRIFTSCAN_HISTORY_URL`` when set, else the SQLite file at ``default_path()``."""
    url = os.environ.get(HISTORY_URL_VARIABLE)
    return HistoryLocation.parse(url) if url else HistoryLocation(path=default_path())
