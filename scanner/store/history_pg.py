"""The scan history in PostgreSQL: one store shared by a fleet of scanners and by ephemeral
runners whose disks do not outlive the run.

The same tables and queries as the SQLite store (``SqlStore``), in the schema ``driftscan``
of the database the URL names; ``driftscan.schema_version`` holds the schema version. The
DDL is SQLite's migrations with two dialect changes (``_postgresql``): identity columns for
``seq``, and a ``pos`` column that keeps findings and resources in insertion order (SQLite's
``rowid``). A schema ``driftscan`` that holds other tables is refused, and left untouched.

Locks are advisory locks held on a connection of their own: a scan holds the store shared
and its scope exclusively, so scans of different scopes run at once, on any hosts; ``history
prune`` holds the store exclusively. The server drops a dead client's locks with its
connection, so a killed scanner never blocks the next. The connection's application_name,
``driftscan pid N on HOST``, is how a busy run names the holder.

The URL's password is never shown: messages name the store as ``postgresql://user:***@...``
and any text from the driver is cleaned of the password before it is shown.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from scanner.store.history import MIGRATIONS, HistoryError, SqlStore, describe_scope, redact
from scanner.store.lock import LockBusy, acquire

if TYPE_CHECKING:
    import psycopg

SCHEMA = "driftscan"
EXTRA = "pip install 'driftscan[postgresql]'"
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server before saying it cannot be reached."""


def _postgresql(statement: str) -> str:
    """A SQLite migration statement in PostgreSQL's dialect."""
    return statement.replace(
        "seq INTEGER PRIMARY KEY", "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    ).replace(
        "scan INTEGER NOT NULL",
        "pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n            scan BIGINT NOT NULL",
    )


PG_MIGRATIONS = tuple(tuple(_postgresql(statement) for statement in step) for step in MIGRATIONS)


def lock_key(name: str) -> int:
    """A 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"driftscan {name}".encode()).digest()[:8], signed=True)


STORE_KEY = lock_key("history store")
MIGRATION_KEY = lock_key("migration")


def _connect(url: str, purpose: str) -> psycopg.Connection[Any]:
    try:
        import psycopg
    except ImportError:
        raise HistoryError(
            f"history store {redact(url)} is PostgreSQL, which needs the driver: {EXTRA}"
        ) from None
    db = None
    try:
        db = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=f"driftscan pid {os.getpid()} on {socket.gethostname()}"[:63],
        )
        # A SET, not the connection's `options`: those of the URL (a statement_timeout) stay.
        db.execute(f"SET search_path TO {SCHEMA}")
        return db
    except psycopg.Error as exc:
        if db is not None:
            db.close()
        raise HistoryError(
            f"cannot {purpose} history store {redact(url)}: {scrub(exc, url)}"
        ) from exc


def scrub(error: BaseException, url: str) -> str:
    """The driver's message on one line, without the URL's passwords."""
    text = " ".join(str(error).split())
    for password in _passwords(url):
        text = text.replace(password, "***")
    return text


def _passwords(url: str) -> list[str]:
    """The passwords in ``url`` (user part, ``password=`` query), as written and decoded."""
    parts = urlsplit(url)
    found = parse_qs(parts.query).get("password", [])
    user = parts.netloc.rpartition("@")[0]
    if ":" in user:
        found.append(user.split(":", 1)[1])
    return [text for password in found for text in {password, unquote(password)} if text]


ROWS_PER_FETCH = 1000
"""Rows a server-side cursor brings per round trip when a scan's findings are read."""


class PostgresStore(SqlStore):
    """The store in the database ``url`` names; created and migrated on open, unless
    ``create`` is False (reading commands never create a store)."""

    ROW_ORDER = "pos"

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.name = redact(url)
        self._db = _connect(url, "open")  # first: it says when the driver is missing
        import psycopg

        try:
            problem = self._not_a_store()
            if problem:
                raise HistoryError(
                    f"cannot open history store {self.name}: {problem}; left untouched"
                )
            if not create and self.schema_version() == 0:
                raise HistoryError(
                    f"no history store at {self.name}: no scan has been recorded there"
                )
            self._migrate(PG_MIGRATIONS)
        except psycopg.Error as exc:
            self._db.close()
            raise HistoryError(f"cannot open history store {self.name}: {scrub(exc, url)}") from exc
        except HistoryError:
            self._db.close()
            raise

    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None:
        import psycopg

        self._db.close()
        if isinstance(error, psycopg.Error):  # the server went away, ...: one line
            raise HistoryError(
                f"cannot use history store {self.name}: {scrub(error, self.url)}"
            ) from error

    def _not_a_store(self) -> str | None:
        (tables,) = self._execute(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = ?", (SCHEMA,)
        ).fetchone()
        if tables and self._execute("SELECT to_regclass('schema_version') IS NULL").fetchone()[0]:
            return f"its schema {SCHEMA} holds tables that are not driftscan's"
        return None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql.replace("?", "%s"), params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Any]]:
        """A server-side cursor (psycopg's own would fetch every row of a scan at once),
        held past commits: the connection is in autocommit mode."""
        with self._db.cursor(name=f"rows_{uuid.uuid4().hex}", withhold=True) as cursor:
            cursor.itersize = ROWS_PER_FETCH
            cursor.execute(sql.replace("?", "%s"), params)
            yield from cursor

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT; any exception (KeyboardInterrupt too) rolls back."""
        with self._db.transaction():
            yield

    def schema_version(self) -> int:
        if self._execute("SELECT to_regclass('schema_version') IS NULL").fetchone()[0]:
            return 0
        row = self._execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _prepare_migration(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_KEY,))
        self._execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        self._execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")

    def _set_schema_version(self, version: int) -> None:
        self._execute("DELETE FROM schema_version")
        self._execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


@contextmanager
def advisory_lock(url: str, timeout: float, scope: str | None) -> Iterator[None]:
    """Hold the store shared and ``scope`` exclusively (a scan), or, without a scope, the
    store exclusively (a prune); raise LockBusy naming the holder after ``timeout`` s."""
    db: Any = _connect(url, "lock")
    import psycopg

    try:
        wanted = (
            [("pg_try_advisory_lock_shared", STORE_KEY), ("pg_try_advisory_lock", lock_key(scope))]
            if scope is not None
            else [("pg_try_advisory_lock", STORE_KEY)]
        )

        def take() -> bool:
            for function, key in wanted:
                if not db.execute(f"SELECT {function}(%s)", (key,)).fetchone()[0]:
                    db.execute("SELECT pg_advisory_unlock_all()")
                    return False
            return True

        def holder() -> str:
            keys = [key for _, key in wanted]
            row = db.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.objsubid = 1 AND a.pid <> pg_backend_pid() "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY(%s) "
                "ORDER BY a.backend_start LIMIT 1",
                (keys,),
            ).fetchone()
            name = row[0] if row else ""
            return name.removeprefix("driftscan pid ") or "unknown"

        what = redact(url) + (f" for {describe_scope(scope)}" if scope is not None else "")
        try:
            acquire(take, timeout, holder, what)
        except psycopg.Error as exc:
            raise LockBusy(f"cannot lock history store {redact(url)}: {scrub(exc, url)}") from exc
        yield
    finally:
        db.close()  # releases the locks
