"""A real PostgreSQL server for the history tests: a fresh cluster made with Debian's
``postgresql`` package (``initdb``) in a temporary folder, on a free loopback port, started
once per test session and stopped at its end. Each test gets a database of its own.

``initdb`` refuses to run as root: as root, the cluster belongs to the ``postgres`` user the
package creates. Durability is off (``fsync``): the data is thrown away with the cluster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from scanner.store.location import HistoryLocation

SERVER_BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian puts initdb and pg_ctl (not on PATH)."""


def server_bin() -> Path | None:
    """The newest installed server's programs, or None."""
    found = sorted(glob.glob(SERVER_BIN_GLOB), key=lambda path: int(Path(path).parent.name))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A running cluster; ``database()`` makes an empty database and returns its URL."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | str]:
    """A started server, or why none could be started (to skip with)."""
    binaries = server_bin()
    if binaries is None:
        yield "PostgreSQL's server is not installed (apt-get install postgresql)"
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield "psycopg is not installed (pip install -e '.[dev]')"
        return
    folder = Path(tempfile.mkdtemp(prefix="driftscan-pg-"))
    data = folder / "data"
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        port = _free_port()
        run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
        subprocess.run(
            _as_owner(
                [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
                + ["-E", "UTF8", "--no-sync"]
            ),
            **run,  # type: ignore[call-overload]
        )
        options = f"-p {port} -k {folder} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off"
        subprocess.run(
            _as_owner(
                [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log")]
                + ["-o", options, "start"]
            ),
            **run,  # type: ignore[call-overload]
        )
    except (subprocess.SubprocessError, OSError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        shutil.rmtree(folder, ignore_errors=True)
        yield f"the PostgreSQL server could not be started: {detail}"
        return
    try:
        yield PostgresServer(folder, port)
    finally:
        subprocess.run(
            _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def history_arg(location: HistoryLocation) -> str:
    """``--history``'s value for a location (with its password, if any)."""
    return location.url if location.url is not None else str(location.path)


def holder(location: HistoryLocation, pid: int | None = None) -> str:
    """How a busy run names the process ``pid`` (this one) holding ``location``'s lock."""
    host = f" on {socket.gethostname()}" if location.url is not None else ""
    return f"{pid or os.getpid()}{host}"
