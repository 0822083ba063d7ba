"""What every driftscan command shares, whatever typer and click versions run it: the usage
errors typer raises, help that reads like a manual, and a group with no command is bad usage."""

from __future__ import annotations

import importlib
import re
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


class DriftscanCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _manual_like(list(super().get_params(ctx)))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # typer 0.27+ writes a required argument as {ID}; a manual writes ID.
        return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


class DriftscanGroup(TyperGroup):
    """Lists its commands in ``order`` (the rest after them, as registered): click sorts them
    by name and typer keeps registration order, depending on the version."""

    order: tuple[str, ...] = ()

    def get_params(self, ctx: Any) -> list[Any]:
        return _manual_like(list(super().get_params(ctx)))

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: index for index, name in enumerate(self.order)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(rank)))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # No command: the help, and exit 2 as for any usage error (click < 8.2 exits 0 here,
        # later ones 2: one answer whatever the version).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            text = ctx.get_help()  # typer's rich help prints itself and returns ""
            if text:
                typer.echo(text)
            ctx.exit(EXIT_USAGE)
        return list(super().parse_args(ctx, args))


class DriftscanTyper(typer.Typer):
    """A typer app whose groups and commands are the classes above."""

    def __init__(self, *, cls: type[DriftscanGroup] = DriftscanGroup, **kwargs: Any) -> None:
        super().__init__(cls=cls, no_args_is_help=True, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        kwargs.setdefault("cls", DriftscanCommand)
        return super().command(*args, **kwargs)
