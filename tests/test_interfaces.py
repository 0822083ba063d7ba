"""The extension points: every report format (HTML and the diff formats included) comes
through reports' one interface, and every exit code is in scanner.errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reports import DiffFormat, OutputFormat, diff_renderer_for, html, renderer_for
from reports.interface import DiffRenderer, Renderer
from scanner.model import Status
from scanner.store.drift import diff
from tests.test_history import finding, result, snapshot
from tests.test_html import RESULT, TREND

REPOSITORY = Path(__file__).resolve().parent.parent


def test_the_html_renderer_charts_the_trend_it_is_given() -> None:
    render: Renderer = renderer_for(OutputFormat.HTML, trend=lambda scan: TREND)
    assert "".join(render(RESULT)) == html.render(RESULT, TREND)
    assert "".join(renderer_for(OutputFormat.HTML)(RESULT)) == html.render(RESULT)


@pytest.mark.parametrize("diff_format", list(DiffFormat))
def test_every_diff_format_has_a_renderer(diff_format: DiffFormat) -> None:
    before = result("aaaaaaaa-1", [finding("key-1", Status.PASS)], [snapshot("key-1")])
    after = result("bbbbbbbb-2", [finding("key-1", Status.FAIL)], [snapshot("key-1")])
    render: DiffRenderer = diff_renderer_for(diff_format, width=80)
    text = "".join(render(diff(before, after, before_approved=False)))
    assert "bbbbbbbb" in text


def test_every_exit_code_is_defined_in_scanner_errors() -> None:
    """One place for exit codes: an ``EXIT_*`` constant assigned anywhere else is a second
    source of truth the CLI's help and the docs would miss."""
    elsewhere = []
    for path in sorted(REPOSITORY.glob("*/**/*.py")):
        top = path.relative_to(REPOSITORY).parts[0]
        if top not in ("scanner", "reports", "checks") or path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            if not (isinstance(node.value, ast.Constant) and type(node.value.value) is int):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            elsewhere += [
                f"{path.relative_to(REPOSITORY)}: {t.id}"
                for t in targets
                if isinstance(t, ast.Name) and t.id.startswith("EXIT_")
            ]
    assert elsewhere == []
