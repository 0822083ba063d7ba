"""Output hygiene: progress and colour on a terminal only, never a control character in a pipe."""

from __future__ import annotations

import os
import pty
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key

ARGV = ["scan", "-r", "us-east-1", "--no-history", "--fail-on", "never"]
ARGV += ["--checks", "kms.cmk_rotation_enabled,kms.key_in_use_enabled"]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Every control character but tab and newline."""


@contextmanager
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """stdout and stderr on a pseudo-terminal; yields what it received (complete on exit)."""
    master, slave = pty.openpty()
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the slave side closed
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(slave, "w", encoding="utf-8", closefd=True) as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        monkeypatch.setattr(sys, "stderr", tty)
        yield received
        tty.flush()
        monkeypatch.undo()
    reader.join(timeout=10)
    os.close(master)


def test_on_a_terminal_progress_shows_and_the_status_is_coloured(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    make_key(account, rotation=False)
    make_key(account, rotation=True)
    with terminal(monkeypatch) as received:
        assert run(ARGV) == 0
    text = b"".join(received).decode()
    steps = re.findall(r"\r\x1b\[Kdriftscan: scanning (\d+)% \((\d+)/(\d+) ", text)
    assert steps, text
    # One region: a step per collector the two controls read, then one per control.
    (total,) = {int(total) for _, _, total in steps}
    done = [int(done) for _, done, _ in steps]
    assert total > 2 and done == sorted(done) and done[0] >= 1 and done[-1] == total - 1
    assert "\r\x1b[K\r\n" in text or "\r\x1b[K==" in text  # the line is erased at the end
    assert "\x1b[1;31mFAIL\x1b[0m" in text and "\x1b[32mPASS\x1b[0m" in text


def test_no_color_turns_colour_off_but_not_progress(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    make_key(account, rotation=False)
    with terminal(monkeypatch) as received:
        assert run(ARGV) == 0
    text = b"".join(received).decode()
    assert "driftscan: scanning" in text
    assert "\x1b[1;31m" not in text and "\x1b[32m" not in text


def test_piped_output_has_no_control_characters(
    account: DemoAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    make_key(account, rotation=False)
    make_key(account, rotation=True)
    assert run(ARGV) == 0
    out, err = capsys.readouterr()
    assert "FAIL" in out and "PASS" in out
    assert "\nfix kms.cmk_rotation_enabled: aws kms enable-key-rotation --key-id" in out
    assert not CONTROL.search(out + err), repr(CONTROL.search(out + err))
    assert "scanning" not in err
