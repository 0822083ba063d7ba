"""The history store and its neighbours are private and driftscan's own: files 0600 and folders
0700 whatever the umask; a file that is not a driftscan store is refused without a byte
written to it; a store of driftscan 0.1 is adopted; the lock is taken on the resolved path.
A PostgreSQL store: its password is never shown, another program's schema is refused."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.cli import run
from scanner.delivery import Item
from scanner.delivery.spool import Spool
from scanner.store.history import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    UNMARKED_VERSION,
    HistoryError,
    HistoryStore,
    redact,
)
from scanner.store.location import HistoryLocation
from scanner.store.lock import LockBusy, store_lock
from tests.pg import PostgresServer
from tests.test_history import record, result


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_its_lock_and_the_spool_are_private_under_umask_022(
    tmp_path: Path, umask_022: None
) -> None:
    folder = tmp_path / "data" / "driftscan"
    store = folder / "history.db"
    with store_lock(store), HistoryStore(store) as history:
        record(history, result("s1"))
        spool = Spool(folder / "spool" / "dest.jsonl")
        with spool.locked():
            spool.save([Item(scan_id="s1", finding_id="f1", payload={"a": 1})])
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
        assert files == ["history.db", "history.db-shm", "history.db-wal", "history.db.lock"]
        for name in files:
            assert mode(folder / name) == 0o600, name
        for name in ("dest.jsonl", "dest.lock"):
            assert mode(folder / "spool" / name) == 0o600, name
    for directory in (tmp_path / "data", folder, folder / "spool"):
        assert mode(directory) == 0o700, directory


def test_an_existing_wider_store_and_spool_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    store = folder / "history.db"
    with HistoryStore(store) as history:
        record(history, result("s1"))
    spooled = folder / "spool" / "dest.jsonl"
    spooled.parent.mkdir()
    spooled.write_text("")
    lock = folder / "history.db.lock"
    lock.write_text("")
    for path in (folder, spooled.parent, store, spooled, lock):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

    with store_lock(store), HistoryStore(store), Spool(spooled).locked():
        pass
    for path in (store, spooled, lock):
        assert mode(path) == 0o600, path
    assert mode(spooled.parent) == 0o700
    assert mode(folder) == 0o755  # a folder driftscan did not create is left as it is


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign(path: Path, *statements: str, journal: str = "DELETE") -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode={journal}")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


FOREIGN = {
    "another-app": (
        ["CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')"],
        "a SQLite database without driftscan's tables",
    ),
    "wal-mode": (
        ["CREATE TABLE notes (body TEXT)"],
        "a SQLite database without driftscan's tables",
    ),
    "own-application-id": (
        ["PRAGMA application_id = 1234", "CREATE TABLE notes (body TEXT)"],
        "another program's SQLite database (application_id 0x4d2)",
    ),
    "a-scans-table": (
        ["CREATE TABLE scans (id TEXT)", "PRAGMA user_version = 1"],
        "a SQLite database without driftscan's tables",
    ),
    "empty-tables-at-version-0": (
        list(MIGRATIONS[0]),
        "a SQLite database without driftscan's tables",
    ),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_another_programs_sqlite_file_is_refused_and_left_byte_for_byte(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "theirs.db"
    statements, problem = FOREIGN[kind]
    foreign(path, *statements, journal="WAL" if kind == "wal-mode" else "DELETE")
    before, stamp = digest(path), path.stat().st_mtime_ns
    with pytest.raises(HistoryError) as raised:
        HistoryStore(path)
    assert str(raised.value) == f"cannot open history store {path}: {problem}; left untouched"
    for argv in (["history", "list"], ["diff"], ["history", "prune", "--unfinished"]):
        assert run([*argv, "--history", str(path)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"driftscan: cannot open history store {path}: "), line
    assert (digest(path), path.stat().st_mtime_ns) == (before, stamp)
    assert os.listdir(tmp_path) == ["theirs.db"]  # no -wal, -shm or lock file beside it


def test_a_scan_refuses_a_foreign_store_before_scanning_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "theirs.db"
    foreign(path, "CREATE TABLE notes (body TEXT)")
    before = digest(path)
    # No AWS endpoint is reachable: the store is refused before any call is tried.
    argv = ["scan", "-r", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]
    assert run([*argv, "--history", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"driftscan: cannot open history store {path}: a SQLite database without "
        "driftscan's tables; left untouched"
    )
    assert digest(path) == before and os.listdir(tmp_path) == ["theirs.db"]


@pytest.mark.parametrize("kind", ["text", "directory", "device"])
def test_what_is_not_a_sqlite_file_is_refused(kind: str, tmp_path: Path) -> None:
    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("my notes\n" * 100)
        problem = "file is not a database"
    elif kind == "directory":
        path = tmp_path / "folder"
        path.mkdir()
        problem = "it is a directory"
    else:  # as root, a /dev/null of its own: a regression must not touch the machine's
        path = tmp_path / "null" if os.geteuid() == 0 else Path("/dev/null")
        if os.geteuid() == 0:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        problem = "it is a character device"
    listing = sorted(os.listdir(path.parent))
    with pytest.raises(HistoryError) as raised:
        HistoryStore(path)
    assert str(raised.value) == f"cannot open history store {path}: {problem}; left untouched"
    assert sorted(os.listdir(path.parent)) == listing
    if kind == "device":
        assert stat.S_ISCHR(os.stat(path).st_mode)


def test_a_store_of_driftscan_0_1_is_migrated_and_marked(tmp_path: Path) -> None:
    """0.1 wrote MIGRATIONS[0] at user_version 1 and no application_id."""
    path = tmp_path / "history.db"
    foreign(
        path,
        *MIGRATIONS[0],
        f"PRAGMA user_version = {UNMARKED_VERSION}",
        "INSERT INTO scans (id, scope, account_ids, regions, baseline_digest, checks, "
        "tool_version, started_at, complete) VALUES ('old', '[]', '[]', '[]', 'd', '[]', "
        "'0.1.0', '2026-01-01T00:00:00Z', 0)",
        journal="WAL",
    )
    with HistoryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        (old,) = store.scans()
        assert (old.scan_id, old.state, old.failure) == ("old", "incomplete", None)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    with HistoryStore(path) as store:  # and opens as a marked store from then on
        assert [s.scan_id for s in store.scans()] == ["old"]


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.touch()
    with HistoryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_store_reached_through_a_symlink_is_locked_as_itself(tmp_path: Path) -> None:
    store = tmp_path / "history.db"
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(store)
    with HistoryStore(link) as history:  # created through the link: the file is the target
        record(history, result("s1"))
    assert store.is_file() and link.is_symlink()
    busy = pytest.raises(LockBusy, match=f"holds the history store {link}")
    with store_lock(store), busy, store_lock(link):
        pass
    with store_lock(link), pytest.raises(LockBusy), store_lock(store):
        pass
    assert not (link.parent / "link.db.lock").exists()


# --- PostgreSQL ------------------------------------------------------------------------------


def with_password(url: str, password: str = "s3cr3t-pw") -> str:
    """``url`` with a password (the test server trusts loopback: it is never checked)."""
    return url.replace("postgres@", f"postgres:{password}@", 1)


def test_redact_hides_the_password_of_a_url() -> None:
    assert redact("postgresql://scanner:hunter2@db.example:5432/fleet?sslmode=require") == (
        "postgresql://scanner:***@db.example:5432/fleet?sslmode=require"
    )
    assert redact("postgresql://db/fleet?user=scanner&password=hunter2&sslrootcert=/ca.pem") == (
        "postgresql://db/fleet?user=scanner&password=***&sslrootcert=/ca.pem"
    )
    assert redact("postgresql://scanner@db/fleet") == "postgresql://scanner@db/fleet"


def test_a_password_in_the_url_is_never_printed(
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = with_password(postgres_url)
    shown = url.replace("s3cr3t-pw", "***")
    location = HistoryLocation.parse(url)
    with location.open() as store:
        scope = record(store, result("s1")).scope
    outputs = []
    assert run(["history", "prune", "--keep", "1", "--history", url]) == 0
    outputs.append(capsys.readouterr())
    assert outputs[-1].out == f"deleted 0 scans; 1 left in {shown}\n"
    assert run(["history", "show", "nope", "--history", url]) == 2
    outputs.append(capsys.readouterr())
    assert (
        outputs[-1].err
        == f"driftscan: no scan 'nope' in {shown} (`driftscan history list` shows them)\n"
    )
    with location.lock(0, lambda: scope):
        assert run(["history", "prune", "--keep", "1", "--history", url]) == 3
        outputs.append(capsys.readouterr())
        assert f"holds the history store {shown}; try later" in outputs[-1].err
    # From the environment, and a server that refuses: still one line, still no password.
    monkeypatch.setenv(
        "DRIFTSCAN_HISTORY_URL", url.replace(url.split("@")[1].split("/")[0], "127.0.0.1:9")
    )
    assert run(["history", "list"]) == 2
    outputs.append(capsys.readouterr())
    (line,) = outputs[-1].err.splitlines()
    assert line.startswith(
        "driftscan: cannot open history store postgresql://postgres:***@127.0.0.1:9/"
    )
    for malformed in (
        "postgresql://postgres:s3cr3t-pw@127.0.0.1:notaport/db",  # libpq quotes the port
        "postgresql://postgres:s3cr3t-pw x@127.0.0.1/db?password=s3cr3t-pw%20y",  # and these
    ):
        assert run(["history", "list", "--history", malformed]) == 2
        outputs.append(capsys.readouterr())
    for output in outputs:
        assert "s3cr3t-pw" not in output.out + output.err


def test_without_psycopg_a_postgresql_store_exits_2_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what `import psycopg` finds missing
    assert run(["history", "list", "--history", "postgresql://scanner:pw@db/fleet"]) == 2
    assert capsys.readouterr().err == (
        "driftscan: history store postgresql://scanner:***@db/fleet is PostgreSQL, which "
        "needs the driver: pip install 'driftscan[postgresql]'\n"
    )


def test_a_postgresql_store_migrates_refuses_a_newer_schema_and_another_programs_tables(
    postgres: PostgresServer, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    assert run(["history", "list", "--history", postgres_url]) == 2  # reading creates nothing
    assert capsys.readouterr().err.startswith(f"driftscan: no history store at {postgres_url}")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        assert db.execute("SELECT to_regnamespace('driftscan')").fetchone() == (None,)
    location = HistoryLocation(url=postgres_url)
    with location.open() as store:
        assert store.schema_version() == SCHEMA_VERSION
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE driftscan.schema_version SET version = version + 1")
    with pytest.raises(HistoryError, match=f"schema version {SCHEMA_VERSION + 1}; this driftscan"):
        location.open()

    theirs = postgres.database()
    with psycopg.connect(theirs, autocommit=True) as db:
        db.execute("CREATE SCHEMA driftscan")
        db.execute("CREATE TABLE driftscan.notes (body TEXT)")
    assert run(["history", "list", "--history", theirs]) == 2
    assert capsys.readouterr().err == (
        f"driftscan: cannot open history store {theirs}: its schema driftscan holds tables "
        "that are not driftscan's; left untouched\n"
    )
    with psycopg.connect(theirs, autocommit=True) as db:
        tables = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'driftscan'")
        assert tables.fetchall() == [("notes",)]
