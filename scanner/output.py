"""Files the scanner writes, and what it does with what a path already names.

A regular file (or a new path) is replaced atomically: a temp file beside it, then a rename,
so a reader (and a run killed half-way) sees the old content or the new, never half. A
symlink is followed first, and the temp file goes beside its target: the link stays a link
and the rename never crosses filesystems. A character device or FIFO (``/dev/null``,
``/dev/stdout``) is written straight into, like stdout; anything else (a directory, a
socket, a block device) is refused.

Reports keep the mode of the file they replace (a new one gets the umask's); private files
(the history store, its lock, the spool) are 0600 in 0700 folders whatever the umask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from scanner.errors import ConfigError

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class _Target(NamedTuple):
    path: Path
    """Where the bytes go: the symlink's target, or the path itself for a stream."""
    existing: os.stat_result | None
    """The file that is there now (None: a new file)."""
    stream: bool
    """Written straight into (a character device, a FIFO, another process's open file)."""


def ensure_writable(path: Path) -> None:
    """Fail before scanning, not after, when the output cannot be written."""
    _target(path)


def write_file(path: Path, text: str | Iterable[str], *, private: bool = False) -> None:
    """``text`` (or its chunks, in order) as the content of what ``path`` names.

    ``private``: the file is 0600 (a file it replaces is tightened too); otherwise it keeps
    the mode of the file it replaces, or gets the umask's."""
    target = _target(path)
    chunks = [text] if isinstance(text, str) else text
    if target.stream:
        # Append: through /dev/stdout this may be a file the shell opened with >>.
        try:
            with open(target.path, "a", encoding="utf-8") as handle:
                handle.writelines(chunks)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        return
    _replace(path, target, chunks, private=private)


def _replace(path: Path, target: _Target, chunks: Iterable[str], *, private: bool) -> None:
    try:
        fd, temp = tempfile.mkstemp(
            prefix=f".{target.path.name}.", suffix=".tmp", dir=target.path.parent
        )
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            existing = target.existing
            if private:
                mode = PRIVATE_FILE
            elif existing is not None:
                mode = stat.S_IMODE(existing.st_mode)
                with contextlib.suppress(OSError):  # root replacing a user's file: keep its owner
                    os.fchown(fd, existing.st_uid, existing.st_gid)
            else:
                mode = 0o666 & ~_umask()
            os.fchmod(fd, mode)
            handle.writelines(chunks)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target.path)
    except BaseException as exc:  # SIGTERM (Interrupted) too: no temp file is left behind
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        raise


def _target(path: Path) -> _Target:
    """What writing ``path`` means; ConfigError when it cannot or must not be written."""
    try:
        if _names_an_open_file(path):
            return _Target(path, os.stat(path), stream=True)
        resolved = path.resolve()
        existing: os.stat_result | None = None
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # a new file
            existing = os.stat(resolved)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11, 3.12)
        raise ConfigError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if existing is None or stat.S_ISREG(existing.st_mode):
        directory = resolved.parent
        if not directory.is_dir():
            raise ConfigError(f"cannot write {path}: directory {directory} does not exist")
        if not os.access(directory, os.W_OK):
            raise ConfigError(f"cannot write {path}: no write permission on {directory}")
        return _Target(resolved, existing, stream=False)
    if stat.S_ISCHR(existing.st_mode) or stat.S_ISFIFO(existing.st_mode):
        if not os.access(resolved, os.W_OK):
            raise ConfigError(f"cannot write {path}: no write permission")
        return _Target(resolved, existing, stream=True)
    raise ConfigError(f"cannot write {path}: it is {file_kind(existing)}")


def file_kind(status: os.stat_result) -> str:
    """``a directory``, ``a socket``, ... for messages about a path that is not a file."""
    mode = status.st_mode
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


MAX_SYMLINKS = 40
"""As Linux: a longer chain is a loop."""


def _names_an_open_file(path: Path) -> bool:
    """Whether ``path`` leads through a ``/proc/<pid>/fd`` link (``/dev/stdout``, ``/dev/fd/N``
    do): it names a file a process has open, written where that process writes, not replaced
    by whatever the link resolves to."""
    current = Path(os.path.abspath(path))
    for _ in range(MAX_SYMLINKS):
        parent = current.parent.resolve()
        if parent.parts[:2] == ("/", "proc") and parent.name == "fd":
            return True
        if not current.is_symlink():
            return False
        current = parent / os.readlink(current)
    return False


def _umask() -> int:
    # Reading the umask means setting it: 077 meanwhile, so a file another thread creates in
    # that instant is private rather than public.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def private_dir(path: Path) -> None:
    """``path`` and its missing parents, created 0700 whatever the umask."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent run created it
            directory.mkdir(mode=PRIVATE_DIR)
            os.chmod(directory, PRIVATE_DIR)


def tighten(path: Path, mode: int) -> None:
    """Take away the permissions beyond ``mode`` from an existing file or folder of ours (one
    created by an older driftscan, or under a wider umask). Not its owner: a warning."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot restrict %s to mode %o: %s", path, mode, exc.strerror)
