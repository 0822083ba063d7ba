"""Files the scanner writes: temp file + rename, so a reader sees the old file or the new."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from scanner.errors import ConfigError


def ensure_writable(path: Path) -> None:
    """Fail before scanning, not after, when the output cannot be written."""
    directory = path.resolve().parent
    if not directory.is_dir():
        raise ConfigError(f"cannot write {path}: directory {directory} does not exist")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"cannot write {path}: no write permission on {directory}")


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """``text`` (or its chunks, in order) as the file's new content."""
    directory = path.resolve().parent
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
