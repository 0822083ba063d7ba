"""A scan's findings and snapshots while it runs, outside memory: each (account, region)
shard goes in as it is judged, and the report, the history store and the deliveries read
them back in report order. An organization's scan then needs the memory of its largest
shard, not of all of them.

It is SQLite's private temporary database (``sqlite3.connect("")``): kept in memory up to
SQLite's small page cache, then in an unnamed file in the temporary folder that SQLite
deletes when the connection closes, and that nobody else can open meanwhile.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self, TypeVar, overload

from scanner.errors import EXIT_UNSCANNABLE, DriftscanError
from scanner.model import CountedFindings, Finding, ResourceSnapshot, Status
from scanner.store.history import FINDING_COLUMNS, finding_from_row, finding_row

T = TypeVar("T")

ORDER_COLUMNS = "service, check_id, region, account_id, resource_id"
"""model.finding_order. SQLite compares text as UTF-8 bytes: code point order, Python's."""
REPORT_ORDER = f"{ORDER_COLUMNS}, rowid"
"""Findings equal in model.finding_order keep the order they were judged in, as a stable
sort keeps them (an index ends with the rowid, so this reads the index in order)."""


def _scratch_database() -> sqlite3.Connection:
    """A private temporary database. Scratch data: nothing to recover after a crash, so no
    journal and no fsync. Read back in the thread that wrote it, but closed by whoever ends
    the scan."""
    db = sqlite3.connect("", check_same_thread=False)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    return db


class ScratchError(DriftscanError):
    """The scratch file could not be written (no writable temporary folder, a full disk)."""

    exit_code = EXIT_UNSCANNABLE


@contextmanager
def _writing() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise ScratchError(
            f"cannot write the scan's scratch file: {exc} (it goes in $TMPDIR, else /var/tmp "
            "or /tmp: give the scan a writable temporary folder with room for its findings)"
        ) from exc


class ScratchFile:
    """Findings and snapshots of one scan, added shard by shard; ``close`` deletes them."""

    def __init__(self, *, keep_resources: bool = True) -> None:
        """``keep_resources``: also keep the shards' configuration snapshots (needed only by
        the history store and drift)."""
        self.keep_resources = keep_resources
        with _writing():
            self._db = _scratch_database()
            self._db.execute(f"CREATE TABLE findings ({FINDING_COLUMNS})")
            self._db.execute(
                "CREATE TABLE resources (account_id, region, collector, resource_id, config)"
            )
        self._ordered = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def add(self, findings: Iterable[Finding], resources: Iterable[ResourceSnapshot]) -> None:
        """One shard's findings (and snapshots, when kept)."""
        with _writing(), self._db:
            self._db.executemany(
                f"INSERT INTO findings ({FINDING_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                (finding_row(0, finding) for finding in findings),
            )
            if self.keep_resources:
                self._db.executemany(
                    "INSERT INTO resources VALUES (?, ?, ?, ?, ?)",
                    (
                        (s.account_id, s.region, s.collector, s.resource_id, json.dumps(s.config))
                        for s in resources
                    ),
                )
        self._ordered = False

    def findings(self) -> ScratchFindings:
        """Every finding added so far, in report order."""
        if not self._ordered:  # one sort for every later reading, not one per reading
            with _writing():
                self._db.execute(
                    f"CREATE INDEX IF NOT EXISTS report_order ON findings ({ORDER_COLUMNS})"
                )
            self._ordered = True
        return ScratchFindings(self._db)

    def resources(self) -> ScratchRows[ResourceSnapshot]:
        """Every snapshot added so far, by account and region (shards may come in any order
        from Dask), each shard's in the order its collectors saw them."""
        columns = "account_id, region, collector, resource_id, config"
        return ScratchRows(self._db, "resources", columns, "account_id, region, rowid", _snapshot)


class ScratchRows(Sequence[T]):
    """A table of a ScratchFile, read back in ``order`` each time it is iterated."""

    def __init__(
        self, db: sqlite3.Connection, table: str, columns: str, order: str, decode: Any
    ) -> None:
        self._db = db
        self._select = f"SELECT {columns} FROM {table} ORDER BY {order}"
        self._decode: Callable[[Any], T] = decode
        (self._length,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()

    def __len__(self) -> int:
        return int(self._length)

    def __iter__(self) -> Iterator[T]:
        return map(self._decode, self._db.execute(self._select))

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return list(self)[index]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        row = self._db.execute(f"{self._select} LIMIT 1 OFFSET ?", (position,)).fetchone()
        return self._decode(row)


class ScratchFindings(ScratchRows[Finding], CountedFindings):
    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db, "findings", FINDING_COLUMNS, REPORT_ORDER, finding_from_row)

    def count_status(self, status: Status) -> int:
        (found,) = self._db.execute(
            "SELECT COUNT(*) FROM findings WHERE status = ?", (status.value,)
        ).fetchone()
        return int(found)


def _snapshot(row: Any) -> ResourceSnapshot:
    account_id, region, collector, resource_id, config = row
    return ResourceSnapshot(
        account_id=account_id,
        region=region,
        collector=collector,
        resource_id=resource_id,
        config=json.loads(config),
    )


def grouped(pairs: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    """``(key, value)`` pairs (values plain JSON data) grouped by key, in key order, each
    group's values in the order they came: the values wait in a scratch table, so only one
    group is ever in memory (an S3 object's records, not every object's)."""
    with _writing():
        db = _scratch_database()
        db.execute("CREATE TABLE pairs (key TEXT, value TEXT)")
        db.executemany(
            "INSERT INTO pairs VALUES (?, ?)", ((k, json.dumps(v, default=str)) for k, v in pairs)
        )
    try:
        ordered = db.execute("SELECT key, value FROM pairs ORDER BY key, rowid")
        for key, group in itertools.groupby(ordered, key=lambda row: str(row[0])):
            yield key, [json.loads(value) for _, value in group]
    finally:
        db.close()
