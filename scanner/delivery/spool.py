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
        """The items owed; a line that is not a spooled item is reported and dropped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"cannot read the spool {self.path}: {exc.strerror}") from exc
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                entry = json.loads(line)
                items.append(
                    Item(
                        scan_id=entry["scan_id"],
                        finding_id=entry["finding_id"],
                        payload=entry["payload"],
                        findings=int(entry.get("findings", 1)),
                    )
                )
            except (ValueError, KeyError, TypeError):
                log.error("%s:%d: not a spooled finding, dropped", self.path, number)
        return items

    def save(self, items: Iterable[Item]) -> None:
        """Replace the spool's content; no items: no file."""
        lines = [
            json.dumps(
                {
                    "scan_id": i.scan_id,
                    "finding_id": i.finding_id,
                    "payload": i.payload,
                    **({"findings": i.findings} if i.findings != 1 else {}),
                },
                default=str,
            )
            + "\n"
            for i in items
        ]
        if lines:
            private_dir(self.path.parent)
            write_file(self.path, "".join(lines), private=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
