"""``driftscan diff`` for a terminal: one table per kind of change, then a summary line."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from scanner.drift import Diff, FindingChange, ResourceKey
from scanner.model import ScanMetadata

MAX_CELL = 60
MAX_CHANGE = 110


def _cell(text: str, width: int = MAX_CELL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _scan(meta: ScanMetadata, approved: bool) -> str:
    return f"scan {meta.scan_id[:8]} ({meta.started_at}{', approved' if approved else ''})"


def _findings(title: str, changes: Sequence[FindingChange]) -> str:
    rows = [
        (
            c.finding.severity.value,
            c.finding.check_id,
            c.finding.resource_id,
            c.finding.region,
            c.finding.account_id,
            f"{c.before or '-'} -> {c.after or '-'}",
            _cell(c.finding.message),
        )
        for c in changes
    ]
    headers = ["severity", "check", "resource", "region", "account", "status", "reason"]
    return f"== {title} ({len(rows)}) ==\n{tabulate(rows, headers=headers)}"


def _resources(title: str, keys: Sequence[ResourceKey]) -> str:
    rows = [(k.collector, k.resource_id, k.region, k.account_id) for k in keys]
    headers = ["collector", "resource", "region", "account"]
    return f"== {title} ({len(rows)}) ==\n{tabulate(rows, headers=headers)}"


def render(diff: Diff) -> str:
    findings, resources = diff.findings, diff.resources
    lines = [f"{_scan(diff.before, diff.before_approved)} -> {_scan(diff.after, False)}"]
    if not diff.same_scope:
        lines.append(
            "note: the scans differ in accounts, regions or baseline; "
            "findings may differ for that reason alone"
        )
    blocks = ["\n".join(lines)]
    sections = [
        ("new failures", findings.new_failures),
        ("resolved", findings.resolved),
        ("could not be re-checked (ERROR now)", findings.unverified),
        ("still failing", findings.still_failing),
    ]
    blocks += [_findings(title, changes) for title, changes in sections if changes]
    for title, keys in (
        ("resources appeared", resources.appeared),
        ("resources disappeared", resources.disappeared),
    ):
        if keys:
            blocks.append(_resources(title, keys))
    if resources.changed:
        rows = [
            (
                change.resource.collector,
                change.resource.resource_id,
                change.resource.region,
                change.resource.account_id,
                _cell(str(field), MAX_CHANGE),
            )
            for change in resources.changed
            for field in change.changes
        ]
        table = tabulate(rows, headers=["collector", "resource", "region", "account", "change"])
        blocks.append(f"== configuration changes ({len(rows)}) ==\n{table}")
    fields = sum(len(change.changes) for change in resources.changed)
    blocks.append(
        f"{len(findings.new_failures)} new failures, {len(findings.resolved)} resolved, "
        f"{len(findings.still_failing)} still failing, {len(findings.unverified)} not "
        f"re-checked; {len(resources.appeared)} resources appeared, "
        f"{len(resources.disappeared)} disappeared, {len(resources.changed)} changed "
        f"({fields} fields)"
    )
    return "\n\n".join(blocks) + "\n"
