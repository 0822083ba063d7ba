"""What `--output` (and every file driftscan writes) does with what the path already names:
a regular file or a new path is replaced atomically beside the symlink's target, a device or
FIFO is written straight into, anything else is refused with exit 2; modes are kept."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.cli import run
from scanner.errors import ConfigError
from scanner.output import ensure_writable, write_file
from scanner.store.history import HistoryStore
from tests.test_history import record, result


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A history store holding one complete scan, for `export` and `report`."""
    path = tmp_path / "h.db"
    with HistoryStore(path) as history:
        record(history, result("11111111-first"))
    return path


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def leftovers(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


@pytest.fixture
def null_device(tmp_path: Path) -> Path:
    """A character device like /dev/null. As root, a node of its own in tmp_path (the same
    device, 1:3): a regression must not replace the machine's /dev/null."""
    if os.geteuid() != 0:
        return Path("/dev/null")  # not writable over: /dev is root's
    path = tmp_path / "null"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


@pytest.mark.parametrize("command", ["export", "report"])
def test_dev_null_stays_a_character_device(
    command: str, store: Path, null_device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = os.stat(null_device)
    assert run([command, "--last", "--history", str(store), "-o", str(null_device)]) == 0
    after = os.stat(null_device)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert leftovers(null_device.parent) == []
    assert capsys.readouterr().err == ""


def test_baseline_init_into_dev_null_is_written_straight(null_device: Path) -> None:
    assert run(["baseline", "init", str(null_device), "--force"]) == 0
    assert stat.S_ISCHR(os.stat(null_device).st_mode)


def test_a_symlink_onto_another_filesystem_replaces_its_target(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    elsewhere = Path(tempfile.mkdtemp(dir=shm))
    try:
        target = elsewhere / "report.json"
        target.write_text("old")
        link = tmp_path / "report.json"
        link.symlink_to(target)
        write_file(link, ["new ", "report"])
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert target.read_text() == "new report"
        assert leftovers(elsewhere) == [] and leftovers(tmp_path) == []
    finally:
        for name in os.listdir(elsewhere):
            os.unlink(elsewhere / name)
        elsewhere.rmdir()


def test_a_dangling_symlink_creates_its_target_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "out.json"
    target.parent.mkdir()
    link = tmp_path / "out.json"
    link.symlink_to(target)
    write_file(link, "report")
    assert link.is_symlink() and target.read_text() == "report"


def test_a_symlink_to_a_fifo_is_written_straight_into(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "out"
    link.symlink_to(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so opening it to write never waits
    try:
        write_file(link, ["a ", "report"])
        assert os.read(reader, 100) == b"a report"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()


def test_a_proc_fd_link_writes_into_the_open_file_not_over_its_path(tmp_path: Path) -> None:
    """`-o /dev/stdout` with stdout redirected to a file (`>> log`): the report is added to
    that open file; the file is neither replaced nor truncated."""
    log = tmp_path / "cron.log"
    log.write_text("earlier line\n")
    inode = log.stat().st_ino
    with open(log, "a") as stdout:
        link = tmp_path / "stdout"
        link.symlink_to(f"/proc/self/fd/{stdout.fileno()}")
        write_file(link, "report\n")
        write_file(Path(f"/dev/fd/{stdout.fileno()}"), "again\n")
    assert log.stat().st_ino == inode and link.is_symlink()
    assert log.read_text() == "earlier line\nreport\nagain\n"


def test_a_directory_is_refused_with_exit_2(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    for path in (target, link):
        assert run(["export", "--last", "--history", str(store), "-o", str(path)]) == 2
        assert capsys.readouterr().err == f"driftscan: cannot write {path}: it is a directory\n"
    assert os.listdir(target) == []


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ConfigError, match=f"cannot write {path}: it is a socket"):
            ensure_writable(path)
        with pytest.raises(ConfigError, match="it is a socket"):
            write_file(path, "report")
    assert stat.S_ISSOCK(os.stat(path).st_mode)


def test_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match=f"cannot write {loop}: "):
        ensure_writable(loop)


def test_a_replaced_report_keeps_its_mode_and_owner(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 1234)
    write_file(path, "new")
    status = path.stat()
    assert path.read_text() == "new"
    assert stat.S_IMODE(status.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (status.st_uid, status.st_gid) == (1234, 1234)


def test_a_new_report_gets_the_umask_mode_and_a_private_file_0600(
    tmp_path: Path, umask_022: None
) -> None:
    write_file(tmp_path / "report.json", "report")
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644
    wide = tmp_path / "spooled.jsonl"
    wide.write_text("old")
    os.chmod(wide, 0o644)
    write_file(wide, "new", private=True)
    write_file(tmp_path / "new.jsonl", "new", private=True)
    for name in ("spooled.jsonl", "new.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_an_interrupted_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old report")

    def chunks() -> Iterator[str]:
        yield "half of a"
        raise KeyboardInterrupt  # what SIGTERM's Interrupted does mid-write

    with pytest.raises(KeyboardInterrupt):
        write_file(path, chunks())
    assert path.read_text() == "old report"
    assert os.listdir(tmp_path) == ["report.json"]
