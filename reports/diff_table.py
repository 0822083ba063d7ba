"""``driftscan diff`` for a terminal: one table per kind of change, then a summary line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports import layout
from reports.layout import wrap_line
from scanner.model import ScanMetadata
from scanner.store.drift import Diff, FindingChange, ResourceKey
from scanner.textsafe import count, printable


def _cell(text: str) -> str:
    return printable(" ".join(text.split()))


def _scan(meta: ScanMetadata, approved: bool) -> str:
    return f"scan {meta.scan_id[:8]} ({meta.started_at}{', approved' if approved else ''})"


def _findings(
    title: str,
    changes: Sequence[FindingChange],
    width: int | None,
    attributions: Mapping[str, Mapping[str, Any]],
) -> str:
    rows = [
        (
            c.finding.severity.value,
            _cell(c.finding.check_id),
            _cell(c.finding.resource_id),
            _cell(c.finding.region),
            _cell(c.finding.account_id),
            f"{c.before or '-'} -> {c.after or '-'}",
            _cell(c.finding.message),
        )
        for c in changes
    ]
    headers = ["severity", "check", "resource", "region", "account", "status", "reason"]
    changed = [
        wrap_line(_cell(f"{c.finding.check_id} {c.finding.resource_id}: {summary}"), width)
        for c in changes
        if (summary := attributions.get(c.finding.finding_id, {}).get("summary"))
    ]
    shown = [f"== {title} ({len(rows)}) ==", layout.table(rows, headers, width, wrap=(2, 6))]
    return "\n".join(shown + changed)


def _resources(title: str, keys: Sequence[ResourceKey], width: int | None) -> str:
    rows = [
        (_cell(k.collector), _cell(k.region), _cell(k.account_id), _cell(k.resource_id))
        for k in keys
    ]
    headers = ["collector", "region", "account", "resource"]
    return f"== {title} ({len(rows)}) ==\n{layout.table(rows, headers, width, wrap=(3,))}"


def render(diff: Diff, width: int | None = None) -> str:
    """The diff's tables; ``width``: the terminal's, to fit (None: a file or a pipe, where
    every message and change is whole on its row's line)."""
    findings, resources = diff.findings, diff.resources
    lines = [f"{_scan(diff.before, diff.before_approved)} -> {_scan(diff.after, False)}"]
    if not diff.same_scope:
        lines.append(
            "note: the scans differ in accounts, regions or baseline; "
            "findings may differ for that reason alone"
        )
    blocks = ["\n".join(wrap_line(printable(line), width) for line in lines)]
    sections = [
        ("new failures", findings.new_failures),
        ("resolved", findings.resolved),
        ("could not be re-checked (ERROR now)", findings.unverified),
        ("still failing", findings.still_failing),
    ]
    blocks += [
        _findings(title, changes, width, diff.attributions)
        for title, changes in sections
        if changes
    ]
    for title, keys in (
        ("resources appeared", resources.appeared),
        ("resources disappeared", resources.disappeared),
    ):
        if keys:
            blocks.append(_resources(title, keys, width))
    if resources.changed:
        rows = [
            (
                _cell(change.resource.collector),
                _cell(change.resource.resource_id),
                _cell(change.resource.region),
                _cell(change.resource.account_id),
                _cell(str(field)),
            )
            for change in resources.changed
            for field in change.changes
        ]
        headers = ["collector", "resource", "region", "account", "change"]
        table = layout.table(rows, headers, width, wrap=(1, 4))
        blocks.append(f"== configuration changes ({len(rows)}) ==\n{table}")
    fields = sum(len(change.changes) for change in resources.changed)
    summary = (
        f"{count(len(findings.new_failures), 'new failure')}, {len(findings.resolved)} "
        f"resolved, {len(findings.still_failing)} still failing, {len(findings.unverified)} "
        f"not re-checked; {count(len(resources.appeared), 'resource')} appeared, "
        f"{len(resources.disappeared)} disappeared, {len(resources.changed)} changed "
        f"({count(fields, 'field')})"
    )
    blocks.append(wrap_line(summary, width))
    return "\n\n".join(blocks) + "\n"
