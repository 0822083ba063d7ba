"""One scan at a time per history store: an exclusive ``flock`` on ``<store>.lock``.

The lock file holds the pid of the run that holds it, so an overlapping run can name it. The
kernel drops the lock when the holder exits, however it exits (SIGKILL too): a stale lock file
never blocks. The file itself is left in place; deleting a lock file races with its users.
The lock is on the store's resolved path: a store reached through a symlink is the same store.
A PostgreSQL store locks with advisory locks instead (``scanner.history_pg``), through the
same ``acquire`` loop and the same message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scanner.errors import EXIT_UNSCANNABLE, DriftscanError
from scanner.output import PRIVATE_FILE, private_dir, tighten

POLL_SECONDS = 0.2
"""How often a run waiting with --lock-timeout retries."""


class LockBusy(DriftscanError):
    """Another run holds the store's lock."""

    exit_code = EXIT_UNSCANNABLE


def lock_path(store: Path) -> Path:
    """``<store>.lock`` beside the file ``store`` names, symlinks followed."""
    resolved = store.resolve()
    return resolved.with_name(resolved.name + ".lock")


@contextmanager
def store_lock(store: Path, timeout: float = 0) -> Iterator[None]:
    """Hold the store's lock; raise LockBusy naming the holder's pid after ``timeout`` s."""
    try:
        path = lock_path(store)
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = getattr(exc, "strerror", None) or exc
        raise LockBusy(f"cannot open the lock file of {store}: {reason}") from exc
    try:
        tighten(path, PRIVATE_FILE)

        def take() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        def holder() -> str:
            return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"

        acquire(take, timeout, holder, str(store))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def acquire(
    take: Callable[[], bool], timeout: float, holder: Callable[[], str], store: str
) -> None:
    """Call ``take`` until it gets the lock; after ``timeout`` s, raise LockBusy naming the
    ``holder`` of ``store`` (how the lock's owner describes itself: a pid, a pid and host)."""
    deadline = time.monotonic() + timeout
    while not take():
        if time.monotonic() >= deadline:
            advice = (
                f"still held after waiting {timeout:g} s"
                if timeout
                else "try later or pass --lock-timeout SECONDS"
            )
            raise LockBusy(
                f"another driftscan run (pid {holder()}) holds the history store {store}; {advice}"
            )
        time.sleep(POLL_SECONDS)
