"""The terminal table: findings grouped by service, the suppressed ones apart, then a summary."""

from __future__ import annotations

import itertools

from reports import layout
from reports.layout import wrap_line
from reports.summary import counts_by_status, posture_score
from scanner.model import Finding, ScanResult, Status
from scanner.textsafe import count, printable

_COLOURS = {Status.PASS: "32", Status.FAIL: "1;31", Status.ERROR: "33", Status.MUTED: "2"}
"""ANSI SGR codes of the status column: green, bold red, yellow, dim."""
_FINDING_HEADERS = ["status", "severity", "check", "resource", "region", "reason"]
_MUTED_HEADERS = ["severity", "check", "resource", "region", "until", "suppressed because"]


def _status(status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{status.value}\033[0m" if colour else status.value


def _reason(finding: Finding) -> str:
    return printable(finding.message)


def _suppression(finding: Finding) -> tuple[str, str]:
    record = finding.evidence.get("suppression", {})
    return printable(str(record.get("expires", ""))), printable(str(record.get("reason", "")))


def render(result: ScanResult, *, colour: bool = False, width: int | None = None) -> str:
    """The table; ``colour``: ANSI colours in the status column (the caller decides: a
    terminal without NO_COLOR); ``width``: the terminal's, to fit (None: a file or a pipe,
    where every message is whole on its row's line)."""
    blocks = []
    ordered = sorted(
        (f for f in result.findings if f.status is not Status.MUTED),
        key=lambda f: (f.service, -f.severity.rank, f.status != Status.FAIL, f.check_id),
    )
    for service, grouped in itertools.groupby(ordered, key=lambda f: f.service):
        group = list(grouped)
        rows = [
            (
                _status(f.status, colour),
                f.severity.value,
                printable(f.check_id),
                printable(f.resource_id),
                printable(f.region),
                _reason(f),
            )
            for f in group
        ]
        fixes = {f.check_id: f.remediation for f in group if f.status is Status.FAIL}
        # Who changed it (CloudTrail) for the findings new since the previous scan.
        changed = [
            f"{f.check_id} {f.resource_id}: {result.attributions[f.finding_id]['summary']}"
            for f in group
            if f.finding_id in result.attributions
        ]
        lines = [
            f"== {printable(service)} ==",
            layout.table(rows, _FINDING_HEADERS, width, wrap=(3, 5)),
            *(wrap_line(printable(line), width) for line in changed),
            *(wrap_line(printable(f"fix {check}: {fix}"), width) for check, fix in fixes.items()),
        ]
        blocks.append("\n".join(lines))
    muted = [
        (
            f.severity.value,
            printable(f.check_id),
            printable(f.resource_id),
            printable(f.region),
            *_suppression(f),
        )
        for f in result.findings
        if f.status is Status.MUTED
    ]
    if muted:
        blocks.append(
            "== suppressed (MUTED) ==\n" + layout.table(muted, _MUTED_HEADERS, width, wrap=(2, 5))
        )
    counts = counts_by_status(result.findings)
    score = posture_score(result.findings)
    meta = result.metadata
    summary = [
        f"{count(len(result.findings), 'finding')}: {counts['PASS']} passed, "
        f"{counts['FAIL']} failed, {count(counts['ERROR'], 'error')}, {counts['MUTED']} "
        f"suppressed; posture score {'n/a' if score is None else score}/100; "
        f"{count(len(meta.checks), 'control')} in {', '.join(meta.regions)} for "
        f"{'account' if len(meta.account_ids) == 1 else 'accounts'} "
        f"{', '.join(meta.account_ids)}"
    ]
    if counts["ERROR"]:
        summary.append(
            f"INCOMPLETE: {count(counts['ERROR'], 'finding')} could not be judged (ERROR)"
        )
    if result.missing_actions:
        summary.append("missing IAM permissions: " + ", ".join(result.missing_actions))
    if result.attribution_left_over:
        summary.append(
            f"not attributed (CloudTrail lookups spent): {len(result.attribution_left_over)}"
        )
    blocks.append("\n".join(wrap_line(printable(line), width) for line in summary))
    return "\n\n".join(blocks) + "\n"
