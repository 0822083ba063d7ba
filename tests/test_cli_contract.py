"""The command-line contract, for every command the app has (found by walking it, so a new
command is covered without being listed): bad usage exits 2 with typer's usage message, never
"internal error"; help reads like a manual."""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Iterator
from types import NoneType, UnionType
from typing import Any

import pytest
import typer

from scanner import __version__
from scanner.cli import app, run


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = dict(_walk(ROOT))
LEAVES = {path: command for path, command in COMMANDS.items() if not hasattr(command, "commands")}
GROUPS = {path: command for path, command in COMMANDS.items() if hasattr(command, "commands")}


def _ids(paths: typing.Iterable[tuple[str, ...]]) -> list[str]:
    return [" ".join(path) or "driftscan" for path in paths]


def _value_type(annotation: Any) -> Any:
    """``int`` for ``Annotated[int | None, ...]``: the type a value must convert to."""
    hint = typing.get_args(annotation)[0] if typing.get_origin(annotation) else annotation
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not NoneType)
    return hint


def _typed_options() -> Iterator[tuple[tuple[str, ...], str]]:
    """(command, option) for every option whose value must be a number or one of a choice:
    a word is a bad value for each."""
    for path, command in LEAVES.items():
        hints = typing.get_type_hints(command.callback.__wrapped__, include_extras=True)
        for param in command.params:
            value_type = _value_type(hints[param.name])
            numeric = value_type in (int, float) and not getattr(param, "count", False)
            choice = isinstance(value_type, type) and issubclass(value_type, enum.Enum)
            if param.param_type_name == "option" and (numeric or choice):
                yield path, max(param.opts, key=len)


TYPED = sorted(_typed_options())


def _one_usage_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert [line for line in err.splitlines() if line.startswith("Usage: ")], err
    assert len([line for line in err.splitlines() if line.startswith("Usage: ")]) == 1, err
    assert "Error: " in err, err
    return err


def test_the_walk_finds_every_command() -> None:
    assert {"scan", "demo", "iam-policy"} <= {path[0] for path in LEAVES}
    assert ("history", "prune") in LEAVES and ("checks", "show") in LEAVES
    assert len(TYPED) >= 10  # --format, --fail-on, --workers, --keep, ... of several commands


@pytest.mark.parametrize("path", list(COMMANDS), ids=_ids(COMMANDS))
def test_an_unknown_option_is_a_usage_error(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*path, "--no-such-option"]) == 2
    assert "No such option: --no-such-option" in _one_usage_error(capsys)


@pytest.mark.parametrize(("path", "option"), TYPED, ids=[f"{' '.join(p)} {o}" for p, o in TYPED])
def test_a_bad_value_is_a_usage_error(
    path: tuple[str, ...], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*path, option, "bogus"]) == 2
    assert "Invalid value" in _one_usage_error(capsys)


REQUIRED_ARGUMENTS = [
    path
    for path, command in LEAVES.items()
    if any(p.param_type_name == "argument" and p.required for p in command.params)
]


@pytest.mark.parametrize("path", REQUIRED_ARGUMENTS, ids=_ids(REQUIRED_ARGUMENTS))
def test_a_missing_argument_is_a_usage_error(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(list(path)) == 2
    assert "Missing argument" in _one_usage_error(capsys)


@pytest.mark.parametrize("path", list(GROUPS), ids=_ids(GROUPS))
def test_a_group_without_a_command_prints_its_help_and_exits_2(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(list(path)) == 2
    captured = capsys.readouterr()
    assert "Commands" in captured.out + captured.err
    assert "internal error" not in captured.err


def test_version_prints_the_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"driftscan {__version__}\n"


PLACEHOLDERS = re.compile(r"<bool>|<list|<int|<float|<str>|<path>|\{")
"""What typer writes for a value when no metavar says what it is: a person writes REGION,
ID,..., N or FILE, and a flag takes no value at all."""


@pytest.mark.parametrize("path", list(COMMANDS), ids=_ids(COMMANDS))
def test_help_reads_like_a_manual(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one row a line: its placeholders in one piece
    assert run([*path, "--help"]) == 0
    text = capsys.readouterr().out
    # Every row: the usage line, each argument's, each option's.
    assert not PLACEHOLDERS.findall(text), text
    assert "[default: None]" not in text
    for param in COMMANDS[path].params:
        if param.param_type_name == "argument":
            name = param.metavar
            assert re.search(rf"^  {name}  \S", text, re.MULTILINE), text  # ID  A control id.
            usage = next(line for line in text.splitlines() if line.startswith("Usage: "))
            assert usage.endswith(f" {name}" if param.required else f" [{name}]"), usage


def _words(text: str) -> str:
    """The text with its line breaks undone: click folds lines at spaces and after hyphens."""
    return re.sub(r"-\s+", "-", " ".join(text.split()))


@pytest.mark.parametrize("columns", ["80", "100"])
@pytest.mark.parametrize("path", list(COMMANDS), ids=_ids(COMMANDS))
def test_help_loses_no_word_at_any_width(
    path: tuple[str, ...],
    columns: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A help string may be folded across lines, never cut: joined again, each is whole
    (rich's panels cut $XDG_DATA_HOME/driftsca…, DRIFTSCAN_WEBHOOK_TOKEN…)."""
    monkeypatch.setenv("COLUMNS", columns)
    assert run([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    command = COMMANDS[path]
    helps = [
        command.help,
        *(param.help for param in command.params if getattr(param, "help", None)),
    ]
    helps += [sub.get_short_help_str() for sub in getattr(command, "commands", {}).values()]
    assert helps
    for help_text in helps:
        assert _words(help_text) in _words(text), (help_text, text)
    for line in text.splitlines():
        assert len(line) <= int(columns), line


def test_commands_are_listed_in_the_order_a_user_needs_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["--help"]) == 0
    listed = re.findall(r"^[^\w-]*([a-z][a-z-]+)  ", capsys.readouterr().out, re.MULTILINE)
    order = ["scan", "demo", "checks", "baseline", "diff", "history", "snapshot", "report"]
    order += ["export", "iam-policy"]
    assert listed == order
    assert sorted(order) == sorted(path[0] for path in COMMANDS if len(path) == 1)
