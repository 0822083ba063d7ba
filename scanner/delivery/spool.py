"""The spool: findings owed to one destination, one JSON object a line, beside the history.

Directory: ``spool/`` beside the history store, by default ``$XDG_DATA_HOME/driftscan/spool``
(``~/.local/share/driftscan/spool``); one file per destination, named by a hash of the
destination (never of a token). The file is rewritten atomically (temp file + rename) and
locked against a concurrent run. The folder is 0700 and its files 0600, whatever the umask:
they hold findings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scanner.delivery.interface import Destination, Item
from scanner.errors import ConfigError
from scanner.output import PRIVATE_DIR, PRIVATE_FILE, private_dir, tighten, write_file
from scanner.store.history import default_path

log = logging.getLogger(__name__)


def spool_dir(history: Path | None) -> Path:
    """``spool/`` beside the history store (its default place when the scan is not recorded)."""
    return (history or default_path()).parent / "spool"


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, directory: Path, destination: Destination) -> Spool:
        digest = hashlib.sha256(destination.key.encode()).hexdigest()[:16]
        return cls(directory / f"{digest}.jsonl")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the destination's lock: two runs never send the same spool twice."""
        lock = self.path.with_suffix(".lock")
        try:
            private_dir(self.path.parent)
            tighten(self.path.parent, PRIVATE_DIR)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as exc:
            raise ConfigError(f"cannot use the spool {self.path}: {exc.strerror}") from exc
        try:
            for file in (lock, self.path):  # written by an older driftscan, or a wider umask
                tighten(file, PRIVATE_FILE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self) -> list[Item]:
        """The items owed, in a list (``items`` reads them one at a time)."""
        return list(self.items())

    def items(self) -> Iterator[Item]:
        """The items owed, read as they are iterated; a line that is not a spooled item is
        reported and dropped."""
        try:
            # A line that is not UTF-8 is not a spooled item: dropped below, like any other.
            spooled = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read the spool {self.path}: {exc.strerror}") from exc
        with spooled:
            for number, line in enumerate(spooled, start=1):
                try:
                    entry = json.loads(line)
                    yield Item(
                        scan_id=entry["scan_id"],
                        finding_id=entry["finding_id"],
                        payload=entry["payload"],
                        findings=int(entry.get("findings", 1)),
                    )
                except (ValueError, KeyError, TypeError):
                    log.error("%s:%d: not a spooled finding, dropped", self.path, number)

    def save(self, items: Iterable[Item]) -> int:
        """Replace the spool's content, writing the items as they come (the spool may be
        where they are read from: the new content replaces the old only once whole); no
        items: no file. Returns how many findings the items carry."""
        saved = written = 0

        def lines() -> Iterator[str]:
            nonlocal saved, written
            for i in items:
                saved += i.findings
                written += 1
                record: dict[str, Any] = {
                    "scan_id": i.scan_id,
                    "finding_id": i.finding_id,
                    "payload": i.payload,
                }
                if i.findings != 1:
                    record["findings"] = i.findings
                yield json.dumps(record, default=str) + "\n"

        private_dir(self.path.parent)
        write_file(self.path, lines(), private=True)
        if not written:
            self.path.unlink()
        return saved
