"""What every driftscan command shares, whatever typer and click versions run it: the usage
errors typer raises, help that reads like a manual, and a group with no command is bad usage."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from scanner.errors import EXIT_USAGE

# typer up to 0.25 runs on the click package and raises its exceptions; from 0.26 on it bundles
# its own copy of click (typer._click) whose exceptions the click package's classes do not
# match. Either way typer exports BadParameter from the exceptions module of the click it runs
# on, and every usage error typer raises derives from that module's ClickException.
_CLICK_EXCEPTIONS = importlib.import_module(typer.BadParameter.__module__)
UsageProblem: type[Exception] = _CLICK_EXCEPTIONS.ClickException
"""What typer raises for bad usage (unknown option, bad value, missing argument): its
``show()`` prints the usage line and the problem."""


_CLICK_COMMAND: Any = TyperCommand.__bases__[0]
"""click's Command, of whichever click typer runs on: what typer's command classes extend."""


def _manual_like(params: list[Any]) -> list[Any]:
    """A flag takes no value, so its help shows none (typer 0.27+ shows ``<bool>``, even for
    ``--help``); an option with no default says nothing about it (typer 0.12 shows
    ``[default: None]``)."""
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        if param.default is None and hasattr(param, "show_default"):
            param.show_default = False
    return params


def _plain_help(command: Any, ctx: Any, formatter: Any) -> None:
    """click's own layout, never rich's: rich's panels cut a word longer than their column
    with an ellipsis (a path, an environment variable's name), and typer 0.12 draws them
    whatever its markup mode; click's wraps every word and loses none."""
    _CLICK_COMMAND.format_help(command, ctx, formatter)


def _first_sentence(help_text: str | None) -> str:
    """A command's line in its group's list: its help's first sentence, whole (click cuts it
    at 45 characters)."""
    paragraph = " ".join((help_text or "").strip().split("\n\n")[0].split())
    sentence, stop, _ = paragraph.partition(". ")
    return sentence + stop.strip()


def _argument_name(param: Any) -> str:
    """What the usage line and the help call an argument: its metavar (typer 0.27+ adds
    ``<str>``, ``{ID}``; typer 0.12 shows an optional one as required)."""
    return str(param.metavar or param.name.upper()) + ("..." if param.nargs != 1 else "")


class DriftscanCommand(TyperCommand):
    format_help = _plain_help

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or _first_sentence(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _manual_like(list(super().get_params(ctx)))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        # An argument's row named as the usage line names it, then its help and [required]
        # or [default: ...]; the options' rows as click writes them.
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((_argument_name(param), record[1]))
            else:
                sections["Options"].append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class DriftscanGroup(TyperGroup):
    """Lists its commands in ``order`` (the rest after them, as registered): click sorts them
    by name and typer keeps registration order, depending on the version."""

    order: tuple[str, ...] = ()
    format_help = _plain_help

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or _first_sentence(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _manual_like(list(super().get_params(ctx)))

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: index for index, name in enumerate(self.order)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(rank)))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # No command: the help, and exit 2 as for any usage error (click < 8.2 exits 0 here,
        # later ones 2: one answer whatever the version).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())
            ctx.exit(EXIT_USAGE)
        return list(super().parse_args(ctx, args))


class DriftscanTyper(typer.Typer):
    """A typer app whose groups and commands are the classes above."""

    def __init__(self, *, cls: type[DriftscanGroup] = DriftscanGroup, **kwargs: Any) -> None:
        super().__init__(cls=cls, no_args_is_help=True, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        kwargs.setdefault("cls", DriftscanCommand)
        return super().command(*args, **kwargs)
