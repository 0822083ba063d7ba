"""The scan history: a store of every scan's findings and resource snapshots.

Commands use a ``Store`` and do not care which: ``HistoryLocation`` in
``scanner.store.location`` (``--history``, a file or a ``postgresql://`` URL) opens and locks
either. ``SqlStore`` holds every query, written once;
``HistoryStore`` below is the embedded SQLite store (the default), ``scanner.store.history_pg``
the PostgreSQL one, for fleets and ephemeral runners.

A scan is inserted as *incomplete* when it starts and marked complete, together with all its
findings and snapshots, in one transaction at the end; a scan killed half-way stays listed as
incomplete and is never diffed, one that stopped on an error (no credentials) is marked
*failed* with its reason. WAL mode keeps readers (``history list``, ``diff``) working while a
scan writes. The schema version is SQLite's ``user_version``; ``MIGRATIONS[n]`` takes a store
from version ``n`` to ``n + 1``. Every store is marked with ``APPLICATION_ID``: a file that
is not a driftscan store is refused, and only read to find that out.

The store's file and its ``-wal`` and ``-shm`` files are 0600 (SQLite gives the latter the
mode of the former), in a folder created 0700.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, Self, overload
from urllib.parse import urlsplit, urlunsplit

from scanner import __version__
from scanner.errors import EXIT_USAGE, DriftscanError
from scanner.model import (
    CountedFindings,
    Finding,
    ResourceSnapshot,
    ScanMetadata,
    ScanResult,
    Severity,
    Status,
)
from scanner.output import PRIVATE_FILE, file_kind, private_dir, tighten
from scanner.textsafe import clip, count

APPROVED = "approved"
"""The scan reference that names the approved snapshot of a scope."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE scans (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            account_ids TEXT NOT NULL,
            regions TEXT NOT NULL,
            baseline_digest TEXT NOT NULL,
            checks TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            complete INTEGER NOT NULL DEFAULT 0,
            approved_at TEXT,
            counts TEXT NOT NULL DEFAULT '{}',
            missing_actions TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX scans_by_scope ON scans (scope, complete, seq)",
        """CREATE TABLE findings (
            scan INTEGER NOT NULL REFERENCES scans (seq) ON DELETE CASCADE,
            finding_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            service TEXT NOT NULL,
            account_id TEXT NOT NULL,
            region TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            resource_arn TEXT,
            message TEXT NOT NULL,
            evidence TEXT NOT NULL,
            remediation TEXT NOT NULL
        )""",
        "CREATE INDEX findings_by_scan ON findings (scan)",
        """CREATE TABLE resources (
            scan INTEGER NOT NULL REFERENCES scans (seq) ON DELETE CASCADE,
            account_id TEXT NOT NULL,
            region TEXT NOT NULL,
            collector TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            config TEXT NOT NULL
        )""",
        "CREATE INDEX resources_by_scan ON resources (scan)",
    ),
    ("ALTER TABLE scans ADD COLUMN failure TEXT",),
    (
        # Who changed it (CloudTrail), per finding id (or drifted resource's key) of a scan.
        """CREATE TABLE attributions (
            scan INTEGER NOT NULL REFERENCES scans (seq) ON DELETE CASCADE,
            finding_id TEXT NOT NULL,
            attribution TEXT NOT NULL
        )""",
        "CREATE INDEX attributions_by_scan ON attributions (scan)",
        "ALTER TABLE scans ADD COLUMN attribution_left_over TEXT NOT NULL DEFAULT '[]'",
        # Settled LookupEvents answers, so that the same window is never asked twice. The
        # window's columns are not named start and end: END is reserved in both dialects.
        """CREATE TABLE lookup_cache (
            account_id TEXT NOT NULL,
            region TEXT NOT NULL,
            attribute TEXT NOT NULL,
            value TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            answer TEXT NOT NULL,
            PRIMARY KEY (account_id, region, attribute, value, window_start, window_end)
        )""",
    ),
)
"""Schema changes in order; append a tuple of statements, never edit a released one."""

SCHEMA_VERSION = len(MIGRATIONS)

APPLICATION_ID = int.from_bytes(b"drft", "big")
"""``PRAGMA application_id`` of every driftscan store (bytes 68-71 of the file), set by each
migration."""

UNMARKED_VERSION = 1
"""driftscan 0.1 did not set the application id: its stores are recognised by this schema
version and exactly ``MIGRATIONS[0]``'s statements (SQLite keeps their text), and adopted."""

FAILURE_CHARS = 300
"""How much of a failed scan's reason is kept."""


class HistoryError(DriftscanError):
    """The store cannot be opened or does not hold what was asked for."""

    exit_code = EXIT_USAGE


def default_path() -> Path:
    """``$XDG_DATA_HOME/driftscan/history.db`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "driftscan" / "history.db"


HISTORY_URL_VARIABLE = "DRIFTSCAN_HISTORY_URL"
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


def redact(url: str) -> str:
    """``url`` as it may be shown: its password (in the user part or the query) as ``***``."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    if ":" in user:
        user = user.split(":", 1)[0] + ":***"
    query = "&".join(
        "password=***" if pair.partition("=")[0] == "password" else pair
        for pair in parts.query.split("&")
    )
    return urlunsplit(parts._replace(netloc=user + at + host, query=query))


def scope_key(account_ids: Sequence[str], regions: Sequence[str], baseline_digest: str) -> str:
    """What makes two scans comparable: the same accounts, regions and effective baseline
    (which holds the selected controls, their parameters and the resource scope)."""
    return json.dumps([sorted(account_ids), sorted(regions), baseline_digest])


@dataclass(frozen=True, kw_only=True)
class ScanRecord:
    """One row of ``history list``."""

    scan_id: str
    started_at: str
    finished_at: str | None
    account_ids: tuple[str, ...]
    regions: tuple[str, ...]
    baseline_digest: str
    checks: tuple[str, ...]
    tool_version: str
    complete: bool
    """False while the scan runs, and forever for a scan that was killed or failed."""
    failure: str | None
    """Why the scan stopped before it scanned (no credentials, ...); None unless it failed."""
    approved_at: str | None
    """Set on the scan whose resource configurations are the accepted state of its scope."""
    counts: Mapping[str, int]
    """Findings by status."""

    @property
    def scope(self) -> str:
        return scope_key(self.account_ids, self.regions, self.baseline_digest)

    @property
    def state(self) -> str:
        """``complete``, ``failed``, or ``incomplete`` (running, or killed)."""
        return "complete" if self.complete else "failed" if self.failure else "incomplete"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(UTC))


def describe_scope(scope: str) -> str:
    """``account 1234, regions us-east-1, baseline sha256:0123abcd`` for messages."""
    accounts, regions, digest = json.loads(scope)
    return (
        f"account {', '.join(accounts) or '?'}, regions {', '.join(regions)}, "
        f"baseline {digest[:15]}"
    )


class Store(Protocol):
    """A history store, whatever holds it: what the commands use."""

    name: str
    """How messages name the store (a path, or a URL without its password)."""

    def __enter__(self) -> Self: ...
    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None: ...
    def begin(self, scan_id: str, regions: Sequence[str], baseline_digest: str) -> None: ...
    def fail(self, scan_id: str, reason: str) -> None: ...
    def finish(self, result: ScanResult) -> None: ...
    def scans(self) -> list[ScanRecord]: ...
    def find(self, reference: str) -> ScanRecord: ...
    def find_complete(self, reference: str) -> ScanRecord: ...
    def latest(
        self, scope: str | None = None, *, before: ScanRecord | None = None
    ) -> ScanRecord | None: ...
    def resolve(self, reference: str, scope: str) -> ScanRecord: ...
    def approved(self, scope: str) -> ScanRecord | None: ...
    def findings_of(self, scan: ScanRecord) -> Iterator[Finding]: ...
    def resources_of(self, scan: ScanRecord) -> Iterator[ResourceSnapshot]: ...
    def load(
        self, scan: ScanRecord, *, resources: bool = True, streamed: bool = False
    ) -> ScanResult: ...
    def cached_lookup(self, key: Sequence[str]) -> Mapping[str, Any] | None: ...
    def cache_lookup(self, key: Sequence[str], answer: Mapping[str, Any]) -> None: ...
    def approve(self, scan: ScanRecord) -> None: ...
    def prune(
        self, *, keep: int | None, older_than_days: int | None, unfinished: bool = False
    ) -> list[ScanRecord]: ...
    def schema_version(self) -> int: ...
    def integrity(self) -> str: ...


_LOOKUP_KEY_MATCH = (
    "account_id = ? AND region = ? AND attribute = ? AND value = ? AND window_start = ? "
    "AND window_end = ?"
)


class SqlStore:
    """What both stores share: every query, written once with ``?`` placeholders.

    A backend supplies the connection and the few things SQL dialects spell differently:
    ``_execute``/``_executemany`` (placeholders), ``_transaction``, ``_compact`` (after a
    prune), ``ROW_ORDER`` (the column that keeps rows in insertion order) and
    ``schema_version``. ``name`` is how messages show the store: never a password.
    """

    ROW_ORDER = "rowid"
    name: str

    def __enter__(self) -> Self:
        return self

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        """The rows of a query that may return a whole scan, fetched as they are read."""
        rows: Iterable[Sequence[Any]] = self._execute(sql, params)
        return rows

    def _transaction(self) -> AbstractContextManager[object]:
        raise NotImplementedError

    def _compact(self) -> None:
        """Give deleted rows' space back (after a prune)."""

    def schema_version(self) -> int:
        raise NotImplementedError

    def _prepare_migration(self) -> None:
        """In the migration's transaction, before the version is read again: what makes
        two processes opening a new store at once wait for each other."""

    def _set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def _migrate(self, migrations: Sequence[Sequence[str]]) -> None:
        """Apply the missing migrations, one transaction each; ``migrations[n]`` takes a
        store from version ``n`` to ``n + 1``. The version is read again inside the
        transaction, after ``_prepare_migration``: concurrent openers are safe."""
        while self.schema_version() != len(migrations):
            with self._transaction():
                self._prepare_migration()
                version = self.schema_version()
                if version > len(migrations):
                    raise HistoryError(
                        f"history store {self.name} has schema version {version}; this "
                        f"driftscan ({__version__}) knows up to {len(migrations)}: "
                        "upgrade driftscan"
                    )
                if version < len(migrations):
                    for statement in migrations[version]:
                        self._execute(statement)
                    self._set_schema_version(version + 1)

    # --- writing a scan -----------------------------------------------------------------------

    def begin(self, scan_id: str, regions: Sequence[str], baseline_digest: str) -> None:
        """Record a scan as started (incomplete) before any AWS call is made."""
        with self._transaction():
            self._execute(
                "INSERT INTO scans (id, scope, account_ids, regions, baseline_digest, checks, "
                "tool_version, started_at) VALUES (?, ?, '[]', ?, ?, '[]', ?, ?)",
                (
                    scan_id,
                    scope_key((), regions, baseline_digest),
                    json.dumps(list(regions)),
                    baseline_digest,
                    __version__,
                    _now(),
                ),
            )

    def fail(self, scan_id: str, reason: str) -> None:
        """Mark a begun scan as failed before it could scan: never complete, never compared."""
        with self._transaction():
            self._execute(
                "UPDATE scans SET failure = ?, finished_at = ? WHERE id = ? AND complete = 0",
                (clip("; ".join(reason.splitlines()), FAILURE_CHARS), _now(), scan_id),
            )

    def finish(self, result: ScanResult) -> None:
        """Store every finding and snapshot of a begun scan and mark it complete, atomically."""
        meta = result.metadata
        with self._transaction():
            row = self._execute("SELECT seq FROM scans WHERE id = ?", (meta.scan_id,)).fetchone()
            if row is None:
                raise HistoryError(f"scan {meta.scan_id} was not begun in {self.name}")
            seq = row[0]
            self._executemany(
                f"INSERT INTO findings ({FINDING_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (finding_row(seq, finding) for finding in result.findings),
            )
            self._executemany(
                "INSERT INTO attributions (scan, finding_id, attribution) VALUES (?, ?, ?)",
                [
                    (seq, key, json.dumps(attribution, sort_keys=True))
                    for key, attribution in result.attributions.items()
                ],
            )
            self._executemany(
                "INSERT INTO resources (scan, account_id, region, collector, resource_id, config) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        seq,
                        s.account_id,
                        s.region,
                        s.collector,
                        s.resource_id,
                        json.dumps(s.config, sort_keys=True),
                    )
                    for s in result.resources
                ),
            )
            self._execute(
                "UPDATE scans SET scope = ?, account_ids = ?, regions = ?, baseline_digest = ?, "
                "checks = ?, started_at = ?, finished_at = ?, counts = ?, missing_actions = ?, "
                "attribution_left_over = ?, complete = 1 WHERE seq = ?",
                (
                    scope_key(meta.account_ids, meta.regions, meta.baseline_digest),
                    json.dumps(list(meta.account_ids)),
                    json.dumps(list(meta.regions)),
                    meta.baseline_digest,
                    json.dumps(list(meta.checks)),
                    meta.started_at,
                    meta.finished_at,
                    json.dumps({status.value: result.count(status) for status in Status}),
                    json.dumps(list(result.missing_actions)),
                    json.dumps(list(result.attribution_left_over)),
                    seq,
                ),
            )

    # --- reading ------------------------------------------------------------------------------

    def scans(self) -> list[ScanRecord]:
        """Every scan, newest first."""
        rows = self._execute(f"SELECT {_SCAN_COLUMNS} FROM scans ORDER BY seq DESC")
        return [_record(row) for row in rows]

    def find(self, reference: str) -> ScanRecord:
        """A scan by id or unique id prefix."""
        matches = [scan for scan in self.scans() if scan.scan_id.startswith(reference)]
        if not matches or not reference:
            raise HistoryError(
                f"no scan {reference!r} in {self.name} (`driftscan history list` shows them)"
            )
        if len(matches) > 1:
            raise HistoryError(
                f"scan id prefix {reference!r} matches {len(matches)} scans; give more of it"
            )
        return matches[0]

    def find_complete(self, reference: str) -> ScanRecord:
        scan = self.find(reference)
        if scan.failure:
            raise HistoryError(f"scan {scan.scan_id} failed: {scan.failure}")
        if not scan.complete:
            raise HistoryError(f"scan {scan.scan_id} is incomplete (it was interrupted)")
        return scan

    def latest(
        self, scope: str | None = None, *, before: ScanRecord | None = None
    ) -> ScanRecord | None:
        """The newest complete scan (of ``scope``, older than ``before``, when given)."""
        scans = self.scans()
        if before is not None:
            scans = scans[[scan.scan_id for scan in scans].index(before.scan_id) + 1 :]
        return next((scan for scan in scans if scan.complete and scope in (None, scan.scope)), None)

    def resolve(self, reference: str, scope: str) -> ScanRecord:
        """``approved`` (the approved snapshot of ``scope``) or a complete scan's id."""
        if reference != APPROVED:
            return self.find_complete(reference)
        scan = self.approved(scope)
        if scan is None:
            raise HistoryError(
                f"no approved snapshot for {describe_scope(scope)}: "
                "run `driftscan snapshot approve` after a scan of that scope"
            )
        return scan

    def approved(self, scope: str) -> ScanRecord | None:
        """The approved snapshot of a scope."""
        return next(
            (scan for scan in self.scans() if scan.approved_at and scan.scope == scope), None
        )

    def findings_of(self, scan: ScanRecord) -> Iterator[Finding]:
        """A stored scan's findings, in report order, read as they are iterated."""
        rows = self._rows(
            f"SELECT {FINDING_COLUMNS} FROM findings WHERE scan = ? ORDER BY {self.ROW_ORDER}",
            (self._seq(scan.scan_id),),
        )
        return map(finding_from_row, rows)

    def count_findings(self, scan: ScanRecord, status: Status | None = None) -> int:
        """How many findings a stored scan has (of ``status``, when given)."""
        where, params = ("", ()) if status is None else (" AND status = ?", (status.value,))
        (found,) = self._execute(
            f"SELECT COUNT(*) FROM findings WHERE scan = ?{where}",
            (self._seq(scan.scan_id), *params),
        ).fetchone()
        return int(found)

    def resources_of(self, scan: ScanRecord) -> Iterator[ResourceSnapshot]:
        """A stored scan's resource snapshots, read as they are iterated."""
        rows = self._rows(
            "SELECT account_id, region, collector, resource_id, config FROM resources "
            f"WHERE scan = ? ORDER BY {self.ROW_ORDER}",
            (self._seq(scan.scan_id),),
        )
        return (
            ResourceSnapshot(
                account_id=account_id,
                region=region,
                collector=collector,
                resource_id=resource_id,
                config=json.loads(config),
            )
            for account_id, region, collector, resource_id, config in rows
        )

    def load(
        self, scan: ScanRecord, *, resources: bool = True, streamed: bool = False
    ) -> ScanResult:
        """A stored scan as the ScanResult it was (findings and, unless ``resources`` is
        False, resource snapshots: the larger part of a scan, which only drift reads).
        ``streamed``: findings read from the store each time they are iterated, as a scan's
        report reads its scratch file (the store must stay open while they are used)."""
        seq = self._seq(scan.scan_id)
        findings: Sequence[Finding] = (
            StoredFindings(self, scan) if streamed else tuple(self.findings_of(scan))
        )
        snapshots = tuple(self.resources_of(scan)) if resources else ()
        missing, left_over = self._execute(
            "SELECT missing_actions, attribution_left_over FROM scans WHERE seq = ?", (seq,)
        ).fetchone()
        attributions = {
            key: json.loads(attribution)
            for key, attribution in self._execute(
                "SELECT finding_id, attribution FROM attributions WHERE scan = ? "
                f"ORDER BY {self.ROW_ORDER}",
                (seq,),
            )
        }
        metadata = ScanMetadata(
            scan_id=scan.scan_id,
            tool_version=scan.tool_version,
            started_at=scan.started_at,
            finished_at=scan.finished_at or "",
            account_ids=scan.account_ids,
            regions=scan.regions,
            baseline_digest=scan.baseline_digest,
            checks=scan.checks,
        )
        return ScanResult(
            metadata=metadata,
            findings=findings,
            resources=snapshots,
            missing_actions=tuple(json.loads(missing)),
            attributions=attributions,
            attribution_left_over=tuple(json.loads(left_over)),
        )

    # --- CloudTrail answers (scanner.app.pipeline's StoreLookupCache: the engine's LookupCache)

    def cached_lookup(self, key: Sequence[str]) -> Mapping[str, Any] | None:
        """The stored answer to one LookupEvents question: ``key`` is (account id, region,
        lookup attribute, value, window start, window end)."""
        row = self._execute(
            f"SELECT answer FROM lookup_cache WHERE {_LOOKUP_KEY_MATCH}", tuple(key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def cache_lookup(self, key: Sequence[str], answer: Mapping[str, Any]) -> None:
        """Keep a settled answer (the first one kept stays: a settled answer never changes)."""
        with self._transaction():
            self._execute(
                "INSERT INTO lookup_cache (account_id, region, attribute, value, window_start, "
                "window_end, answer) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, json.dumps(answer, sort_keys=True)),
            )

    def _seq(self, scan_id: str) -> int:
        row = self._execute("SELECT seq FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise HistoryError(f"no scan {scan_id!r} in {self.name}")
        return int(row[0])

    # --- housekeeping -------------------------------------------------------------------------

    def approve(self, scan: ScanRecord) -> None:
        """Make a complete scan the approved snapshot of its scope (replacing the previous)."""
        if not scan.complete:
            raise HistoryError(f"scan {scan.scan_id} is incomplete and cannot be approved")
        with self._transaction():
            self._execute("UPDATE scans SET approved_at = NULL WHERE scope = ?", (scan.scope,))
            self._execute("UPDATE scans SET approved_at = ? WHERE id = ?", (_now(), scan.scan_id))

    def prune(
        self, *, keep: int | None, older_than_days: int | None, unfinished: bool = False
    ) -> list[ScanRecord]:
        """Delete the scans beyond the newest ``keep`` complete ones of each scope and/or
        started more than ``older_than_days`` ago (both, when both are given), and with
        ``unfinished`` every failed or interrupted scan. Approved scans are kept. Returns
        the deleted scans. The caller holds the store's lock: no scan is running."""
        cutoff = _iso(datetime.now(UTC) - timedelta(days=older_than_days or 0))
        complete_seen: dict[str, int] = {}
        doomed = []
        for scan in self.scans():  # newest first
            if scan.complete:
                complete_seen[scan.scope] = complete_seen.get(scan.scope, 0) + 1
            reasons = []
            if keep is not None:
                reasons.append(not scan.complete or complete_seen[scan.scope] > keep)
            if older_than_days is not None:
                reasons.append(scan.started_at < cutoff)
            chosen = (bool(reasons) and all(reasons)) or (unfinished and not scan.complete)
            if chosen and not scan.approved_at:
                doomed.append(scan)
        if doomed:
            with self._transaction():
                self._executemany("DELETE FROM scans WHERE id = ?", [(s.scan_id,) for s in doomed])
            self._execute("VACUUM")
        return doomed

    def integrity(self) -> str:
        """``ok``, or what is inconsistent: rows of no scan, or findings of an unfinished
        scan (its findings are written in the transaction that completes it)."""
        problems = [
            f"{count(n, 'row')} of {what}"
            for what, sql in _CONSISTENCY_CHECKS
            for (n,) in [self._execute(sql).fetchone()]
            if n
        ]
        return "; ".join(problems) or "ok"


class StoredFindings(CountedFindings):
    """A recorded scan's findings, read from its store each time they are iterated."""

    def __init__(self, store: SqlStore, scan: ScanRecord) -> None:
        self._store = store
        self._scan = scan
        self._length = store.count_findings(scan)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Finding]:
        return self._store.findings_of(self._scan)

    @overload
    def __getitem__(self, index: int) -> Finding: ...
    @overload
    def __getitem__(self, index: slice) -> list[Finding]: ...
    def __getitem__(self, index: int | slice) -> Finding | list[Finding]:
        return list(self)[index]

    def count_status(self, status: Status) -> int:
        return self._store.count_findings(self._scan, status)


class HistoryStore(SqlStore):
    """The SQLite store at ``path``, created and migrated on open. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        file = _claim(path)
        try:
            self._db = sqlite3.connect(file, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open history store {path}: {exc}") from exc
        try:
            # Again, now that SQLite reads the -wal file too, and before anything is written.
            problem = _not_a_store(self._db)
            if problem:
                raise HistoryError(_refusal(path, problem))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate(MIGRATIONS)
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(f"cannot open history store {path}: {exc}") from exc
        except HistoryError:
            self._db.close()
            raise

    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None:
        self._db.close()
        if isinstance(error, sqlite3.DatabaseError):  # a damaged file: one line, left as it is
            raise HistoryError(
                f"cannot use history store {self.path}: {error} (left untouched; "
                "move it aside to start a new store)"
            ) from error

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE (the write lock at once) ... COMMIT; any exception
        (KeyboardInterrupt too) rolls back."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back already
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _compact(self) -> None:
        self._db.execute("VACUUM")

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {version}")
        self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def integrity(self) -> str:
        """``ok``, or what PRAGMA integrity_check and the shared consistency checks found."""
        found = "; ".join(row[0] for row in self._db.execute("PRAGMA integrity_check"))
        consistency = super().integrity()
        return found if consistency == "ok" else f"{found}; {consistency}".removeprefix("ok; ")


FINDING_COLUMNS = (
    "scan, finding_id, check_id, title, status, severity, service, account_id, region, "
    "resource_type, resource_id, resource_arn, message, evidence, remediation"
)

_CONSISTENCY_CHECKS = (
    (
        "no scan",
        "SELECT (SELECT COUNT(*) FROM findings WHERE scan NOT IN (SELECT seq FROM scans)) "
        "+ (SELECT COUNT(*) FROM resources WHERE scan NOT IN (SELECT seq FROM scans))",
    ),
    (
        "unfinished scans",
        "SELECT (SELECT COUNT(*) FROM findings WHERE scan IN "
        "(SELECT seq FROM scans WHERE complete = 0)) + (SELECT COUNT(*) FROM resources "
        "WHERE scan IN (SELECT seq FROM scans WHERE complete = 0))",
    ),
)

_SCAN_COLUMNS = (
    "id, started_at, finished_at, account_ids, regions, baseline_digest, checks, "
    "tool_version, complete, failure, approved_at, counts"
)


def _record(row: Sequence[Any]) -> ScanRecord:
    scan_id, started, finished, accounts, regions, digest, checks, version = row[:8]
    complete, failure, approved, counts = row[8:]
    return ScanRecord(
        scan_id=scan_id,
        started_at=started,
        finished_at=finished,
        account_ids=tuple(json.loads(accounts)),
        regions=tuple(json.loads(regions)),
        baseline_digest=digest,
        checks=tuple(json.loads(checks)),
        tool_version=version,
        complete=bool(complete),
        failure=failure,
        approved_at=approved,
        counts={status.value: json.loads(counts).get(status.value, 0) for status in Status},
    )


def _claim(path: Path) -> Path:
    """The file the store at ``path`` lives in, symlinks followed. A new one is created 0600
    in 0700 folders; an existing one is refused unless it is a driftscan store (or empty),
    and read, never written, to find that out; a store is then tightened to 0600."""
    try:
        file = path.resolve()
        private_dir(file.parent)
        os.close(os.open(file, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        return file
    except FileExistsError:
        pass
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = getattr(exc, "strerror", None) or exc
        raise HistoryError(f"cannot open history store {path}: {reason}") from exc
    _refuse_unless_store(path, file)
    for name in (file.name, f"{file.name}-wal", f"{file.name}-shm"):
        tighten(file.with_name(name), PRIVATE_FILE)
    return file


def check_store(path: Path) -> None:
    """HistoryError unless ``path`` is absent or a driftscan store (or an empty file): read,
    never created nor written, so that a scan refuses a bad ``--history`` before it looks
    for credentials."""
    try:
        file = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = getattr(exc, "strerror", None) or exc
        raise HistoryError(f"cannot open history store {path}: {reason}") from exc
    if os.path.lexists(file):
        _refuse_unless_store(path, file)


def _refuse_unless_store(path: Path, file: Path) -> None:
    """HistoryError unless the existing ``file`` is a driftscan store or empty; read only."""
    try:
        status = os.stat(file)
    except OSError as exc:
        raise HistoryError(f"cannot open history store {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise HistoryError(_refusal(path, f"it is {file_kind(status)}"))
    if status.st_size:  # an empty file is an empty database
        try:
            # immutable: no lock, no -wal or -shm file, no write of any kind.
            db = sqlite3.connect(f"{file.as_uri()}?mode=ro&immutable=1", uri=True)
            try:
                problem = _not_a_store(db)
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem:
            raise HistoryError(_refusal(path, problem))


def _not_a_store(db: sqlite3.Connection) -> str | None:
    """Why the database is not a driftscan store; None when it is one or is empty."""
    (application_id,) = db.execute("PRAGMA application_id").fetchone()
    if application_id == APPLICATION_ID:
        return None
    if application_id:
        return f"another program's SQLite database (application_id {application_id:#x})"
    (version,) = db.execute("PRAGMA user_version").fetchone()
    schema = {sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql NOT NULL")}
    if (version, schema) in ((0, set()), (UNMARKED_VERSION, set(MIGRATIONS[0]))):
        return None
    return "a SQLite database without driftscan's tables"


def _refusal(path: Path, problem: str) -> str:
    return f"cannot open history store {path}: {problem}; left untouched"


def finding_row(seq: int, f: Finding) -> tuple[Any, ...]:
    return (
        seq,
        f.finding_id,
        f.check_id,
        f.title,
        f.status.value,
        f.severity.value,
        f.service,
        f.account_id,
        f.region,
        f.resource_type,
        f.resource_id,
        f.resource_arn,
        f.message,
        json.dumps(f.evidence, default=str),  # in the order judged: reports show it so
        f.remediation,
    )


def finding_from_row(row: Sequence[Any]) -> Finding:
    (
        _,
        finding_id,
        check_id,
        title,
        status,
        severity,
        service,
        account_id,
        region,
        resource_type,
        resource_id,
        resource_arn,
        message,
        evidence,
        remediation,
    ) = row
    return Finding(
        finding_id=finding_id,
        check_id=check_id,
        title=title,
        status=Status(status),
        severity=Severity(severity),
        service=service,
        account_id=account_id,
        region=region,
        resource_type=resource_type,
        resource_id=resource_id,
        resource_arn=resource_arn,
        message=message,
        evidence=json.loads(evidence),
        remediation=remediation,
    )
