"""One self-contained HTML page: summary, posture score, trend chart, problems by control.

No network at view time: the style, the SVG chart and the filter script are inline. Every
value from AWS or the user goes through ``escape`` (control characters made visible, then
markup escaped). The trend (earlier scans of the same scope) is passed in by the caller,
which reads it from the history store; ``render`` does no I/O. Filters: ``<select>``s for
service, severity, status, region and framework (``scan --compliance``'s values), also set
from the URL fragment (``#severity=high&framework=fsbp``) so a filtered view can be linked.
Coverage by framework: of the requirements that driftscan's controls evidence, how many
this scan judged (a finding other than ERROR), how many of them have a FAIL finding, and
its findings' statuses.
"""

from __future__ import annotations

import collections
import html
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reports.asff import partition_of
from reports.summary import counts_by_severity, counts_by_status, posture_score
from scanner.engine.compliance import STANDARDS, Compliance, Framework, requirement_ids
from scanner.engine.registry import all_checks, compliance_of
from scanner.model import Finding, ScanResult, Severity, Status
from scanner.textsafe import count, printable


def escape(text: str) -> str:
    """Text for HTML: markup escaped, and control and bidi characters as visible escapes
    (``\u202e`` would make ``gorp\u202eslx.exe`` read ``gorpexe.xls`` in the page)."""
    return html.escape(printable(text))


PROBLEMS = (Status.FAIL, Status.ERROR, Status.MUTED)
"""The statuses listed resource by resource (PASS only counted)."""
SEVERITY_COLOURS = {
    Severity.CRITICAL: "#7b1fa2",
    Severity.HIGH: "#c62828",
    Severity.MEDIUM: "#ef6c00",
    Severity.LOW: "#1565c0",
}


@dataclass(frozen=True, kw_only=True)
class TrendPoint:
    """One stored scan in the trend chart."""

    scan_id: str
    finished_at: str
    failing: Mapping[str, int]
    """FAIL findings by severity value."""
    score: float | None


def trend_point(result: ScanResult) -> TrendPoint:
    by_severity = counts_by_severity(result.findings)
    return TrendPoint(
        scan_id=result.metadata.scan_id,
        finished_at=result.metadata.finished_at,
        failing={severity: counts[Status.FAIL.value] for severity, counts in by_severity.items()},
        score=posture_score(result.findings),
    )


_REGIONAL = "https://{region}.console.aws.amazon.com/"
_CONSOLE = {
    "AWS::KMS::Key": _REGIONAL + "kms/home?region={region}#/kms/keys/{id}",
    "AWS::EC2::VPC": _REGIONAL + "vpcconsole/home?region={region}#VpcDetails:VpcId={id}",
    "AWS::EC2::Subnet": _REGIONAL + "vpcconsole/home?region={region}#SubnetDetails:subnetId={id}",
    "AWS::EC2::RouteTable": _REGIONAL
    + "vpcconsole/home?region={region}#RouteTableDetails:RouteTableId={id}",
    "AWS::EC2::NatGateway": _REGIONAL
    + "vpcconsole/home?region={region}#NatGatewayDetails:natGatewayId={id}",
    "AWS::EC2::SecurityGroup": _REGIONAL + "ec2/home?region={region}#SecurityGroup:groupId={id}",
    "AWS::RDS::DBCluster": _REGIONAL + "rds/home?region={region}#database:id={id};is-cluster=true",
    "AWS::RDS::DBInstance": _REGIONAL
    + "rds/home?region={region}#database:id={id};is-cluster=false",
    "AWS::ElastiCache::ReplicationGroup": _REGIONAL
    + "elasticache/home?region={region}#/redis/{id}",
    "AWS::EFS::FileSystem": _REGIONAL + "efs/home?region={region}#/file-systems/{id}",
    "AWS::Kinesis::Stream": _REGIONAL
    + "kinesis/home?region={region}#/streams/details/{id}/monitoring",
    "AWS::SecretsManager::Secret": _REGIONAL + "secretsmanager/secret?name={id}&region={region}",
    "AWS::ECS::Cluster": _REGIONAL + "ecs/v2/clusters/{id}?region={region}",
    "AWS::CloudFormation::Stack": _REGIONAL
    + "cloudformation/home?region={region}#/stacks/stackinfo?stackId={id}",
    "AWS::Logs::LogGroup": _REGIONAL
    + "cloudwatch/home?region={region}#logsV2:log-groups/log-group/{id}",
    "AWS::IAM::Role": "https://console.aws.amazon.com/iam/home#/roles/details/{id}",
}
"""Console page of a resource type in the commercial partition; ``{id}`` is URL-quoted."""


def console_url(finding: Finding) -> str | None:
    """The AWS console page of the finding's resource, where we know one."""
    template = _CONSOLE.get(finding.resource_type)
    if template is None or partition_of(finding.region) != "aws":
        return None
    resource = quote(finding.resource_id, safe="")
    if finding.resource_type == "AWS::Logs::LogGroup":
        resource = quote(resource, safe="")  # the console quotes log group names twice
    return template.format(region=finding.region, id=resource)


def render(result: ScanResult, trend: Sequence[TrendPoint] = ()) -> str:
    """The page; ``trend``: the scans of the chart, oldest first (empty: no chart)."""
    meta = result.metadata
    title = f"driftscan report: {', '.join(meta.account_ids)} ({', '.join(meta.regions)})"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _header(result),
        _summary(result),
        _chart(trend),
        _coverage(result),
        _problems(result),
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(result: ScanResult) -> str:
    meta = result.metadata
    score = posture_score(result.findings)
    counts = counts_by_status(result.findings)
    shown = "n/a" if score is None else f"{score:g}"
    facts = [
        ("scan", meta.scan_id),
        ("finished", meta.finished_at),
        ("tool", f"driftscan {meta.tool_version}"),
        ("controls", str(len(meta.checks))),
        ("baseline", meta.baseline_digest or "defaults"),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    totals = ", ".join(f"{counts[s.value]} {s.value}" for s in Status)
    missing = (
        f'<p class="warn">Missing IAM permissions: {escape(", ".join(result.missing_actions))}</p>'
        if result.missing_actions
        else ""
    )
    return (
        f'<div class="head"><div class="score"><span id="score">{escape(shown)}</span>'
        "<small>posture score / 100</small></div>"
        f'<dl>{items}</dl></div><p id="totals">{count(len(result.findings), "finding")}: '
        f"{escape(totals)}</p>{missing}"
    )


def _count_table(caption: str, rows: Iterable[tuple[str, Mapping[str, int]]]) -> str:
    head = "".join(f"<th>{s.value}</th>" for s in Status)
    body = "".join(
        f"<tr><th>{escape(name)}</th>"
        + "".join(f'<td class="{s.value}">{counts[s.value]}</td>' for s in Status)
        + "</tr>"
        for name, counts in rows
    )
    return (
        f'<table class="counts"><caption>{escape(caption)}</caption>'
        f"<tr><th></th>{head}</tr>{body}</table>"
    )


def _summary(result: ScanResult) -> str:
    by_service = sorted(result.findings, key=lambda f: f.service)
    services = [
        (service, counts_by_status(group))
        for service, group in itertools.groupby(by_service, key=lambda f: f.service)
    ]
    return (
        '<section class="summary">'
        + _count_table("by severity", counts_by_severity(result.findings).items())
        + _count_table("by service", services)
        + "</section>"
    )


def _coverage(result: ScanResult) -> str:
    """Per framework: its requirements the scan judged and those with a FAIL, then the
    statuses of the findings of the controls that evidence it; requirement by requirement in
    a fold."""
    head = "".join(f"<th>{s.value}</th>" for s in Status)
    rows, folds = [], []
    for framework in Framework:
        findings = [f for f in result.findings if compliance_of(f.check_id).evidences(framework)]
        requirements = _requirement_counts(framework, findings)
        judged = [r for r, counts in requirements.items() if _judged(counts)]
        with_fail = [r for r, counts in requirements.items() if counts[Status.FAIL.value]]
        name = escape(STANDARDS[framework])
        by_status = counts_by_status(findings)
        rows.append(
            f'<tr data-framework="{framework.value}"><th>{name}</th>'
            f'<td class="judged">{len(judged)} of {len(requirements)}</td>'
            f'<td class="with-fail">{len(with_fail)}</td>'
            + "".join(f'<td class="{s.value}">{by_status[s.value]}</td>' for s in Status)
            + "</tr>"
        )
        lines = "".join(
            f"<tr><th>{escape(requirement)}</th>"
            + "".join(f'<td class="{s.value}">{counts[s.value]}</td>' for s in Status)
            + "</tr>"
            for requirement, counts in requirements.items()
        )
        folds.append(
            f'<details data-framework="{framework.value}"><summary>{name}: requirement by '
            f'requirement</summary><table class="counts"><tr><th></th>{head}</tr>{lines}'
            "</table></details>"
        )
    return (
        '<section class="coverage"><h2>Coverage by framework</h2><p>A requirement is judged '
        "when a control evidencing it read its evidence (a finding other than ERROR); it has a "
        "FAIL when one of them has a FAIL finding. A finding counts for every requirement its "
        "control evidences, as its <code>compliance</code> lists in JSON say; where a control "
        "is stricter than the Security Hub control (see <code>driftscan checks show</code>), "
        'its FAIL may not fail that requirement.</p><table class="counts">'
        "<tr><th>framework</th><th>requirements judged</th><th>with a FAIL</th>"
        f"{head}</tr>{''.join(rows)}</table>{''.join(folds)}</section>"
    )


def _requirement_counts(
    framework: Framework, findings: Sequence[Finding]
) -> dict[str, dict[str, int]]:
    """Every requirement of ``framework`` that a control of driftscan evidences, with the
    statuses of the findings evidencing it (a finding counts for each of its requirements)."""
    mapped = requirement_ids(framework, (spec.compliance for spec in all_checks()))
    counts = {requirement: {s.value: 0 for s in Status} for requirement in mapped}
    for finding in findings:
        for requirement in compliance_of(finding.check_id).ids(framework):
            counts[requirement][finding.status.value] += 1
    return counts


def _judged(counts: Mapping[str, int]) -> bool:
    """A requirement is judged by a finding that read its evidence: any but ERROR."""
    return any(n for status, n in counts.items() if status != Status.ERROR.value)


def _chart(trend: Sequence[TrendPoint]) -> str:
    """Failing findings per severity over the scans (left axis) and the score (right axis)."""
    if not trend:
        return '<section class="trend"><h2>Trend</h2><p>No recorded scans.</p></section>'
    width, height, pad = 720, 220, 40
    top = max([1, *(n for point in trend for n in point.failing.values())])
    step = (width - 2 * pad) / max(1, len(trend) - 1)

    def x(i: int) -> float:
        return pad + i * step if len(trend) > 1 else width / 2

    def y(value: float, scale: float) -> float:
        return height - pad - value / scale * (height - 2 * pad)

    lines = []
    for severity, colour in SEVERITY_COLOURS.items():
        points = [(x(i), y(p.failing.get(severity.value, 0), top)) for i, p in enumerate(trend)]
        lines.append(_series(points, colour, f"FAIL {severity.value}", dashed=False))
    scored = [(x(i), y(p.score, 100)) for i, p in enumerate(trend) if p.score is not None]
    lines.append(_series(scored, "#2e7d32", "posture score", dashed=True))
    days = collections.Counter(p.finished_at[:10] for p in trend)
    labels = "".join(
        _label(p, x(i), height - pad + 16, with_time=days[p.finished_at[:10]] > 1)
        for i, p in enumerate(trend)
        if len(trend) <= 8 or i in (0, len(trend) - 1)
    )
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#888"/>'
        f'<text x="{pad - 6}" y="{pad + 4}" text-anchor="end">{top}</text>'
        f'<text x="{pad - 6}" y="{height - pad + 4}" text-anchor="end">0</text>'
        f'<text x="{width - pad + 6}" y="{pad + 4}">100</text>'
    )
    legend = "".join(
        f'<span><i style="background:{colour}"></i>FAIL {severity.value}</span>'
        for severity, colour in SEVERITY_COLOURS.items()
    )
    return (
        f'<section class="trend"><h2>Trend: failing findings over {count(len(trend), "scan")}</h2>'
        f'<svg id="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="failing findings per severity">{axes}{"".join(lines)}'
        f'{labels}</svg><p class="legend">{legend}<span><i class="dash"></i>posture score '
        "(right axis)</span></p></section>"
    )


def _label(point: TrendPoint, x: float, y: float, *, with_time: bool) -> str:
    """A scan's date under its point; with its time (``HH:MM`` UTC) on a second line when
    another scan of the chart has the same date."""
    time = (
        f'<tspan x="{x:.1f}" dy="12">{escape(point.finished_at[11:16])}</tspan>'
        if with_time
        else ""
    )
    return (
        f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{escape(point.finished_at[:10])}{time}'
        f"<title>{escape(point.scan_id)} {escape(point.finished_at)}</title></text>"
    )


def _series(points: Sequence[tuple[float, float]], colour: str, name: str, *, dashed: bool) -> str:
    if not points:
        return ""
    coordinates = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    dots = "".join(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3"/>' for px, py in points)
    return (
        f'<g class="series" data-series="{escape(name)}" stroke="{colour}" fill="{colour}">'
        f'<polyline fill="none" stroke-width="2"{dash} points="{coordinates}"/>{dots}</g>'
    )


def _problems(result: ScanResult) -> str:
    problems = sorted(
        (f for f in result.findings if f.status in PROBLEMS),
        key=lambda f: (-f.severity.rank, f.check_id, f.status, f.region, f.resource_id),
    )
    filters = "".join(
        _select(name, sorted({str(getattr(f, name)) for f in problems}))
        for name in ("service", "severity", "status", "region")
    ) + _select(
        "framework",
        [fw.value for fw in Framework if any(fw in _frameworks(f.check_id) for f in problems)],
    )
    groups = [
        _control(list(group), result.attributions)
        for _, group in itertools.groupby(problems, key=lambda f: (f.severity, f.check_id))
    ]
    return (
        '<section class="problems"><h2>Failing resources by control</h2>'
        f'<form class="filters">{filters}<output><span id="shown">{len(problems)}</span> of '
        f"{len(problems)} shown</output></form>"
        + ("".join(groups) or "<p>Nothing failed.</p>")
        + "</section>"
    )


def _select(name: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return (
        f'<label>{name} <select name="{name}" id="filter-{name}">'
        f'<option value="">all</option>{options}</select></label>'
    )


def _control(findings: list[Finding], attributions: Mapping[str, Mapping[str, Any]]) -> str:
    first = findings[0]
    rows = "".join(_row(f, attributions.get(f.finding_id)) for f in findings)
    return (
        f'<article class="control" data-severity="{escape(first.severity.value)}">'
        f'<h3><span class="sev {escape(first.severity.value)}">'
        f"{escape(first.severity.value)}</span> {escape(first.title)} "
        f"<code>{escape(first.check_id)}</code></h3>"
        f"{_requirements(compliance_of(first.check_id))}"
        f'<p class="fix"><b>Remediation:</b> {escape(first.remediation)}</p>'
        "<table><tr><th>status</th><th>resource</th><th>region</th><th>observed</th></tr>"
        f"{rows}</table></article>"
    )


def _requirements(compliance: Compliance) -> str:
    """The requirements a control's findings evidence, framework by framework."""
    if compliance.none_because:
        named = f"none ({escape(compliance.none_because)})"
    else:
        other = [i for i in compliance.security_hub if i not in compliance.fsbp]
        parts = [
            *(
                (STANDARDS[framework], compliance.ids(framework))
                for framework in Framework
                if compliance.evidences(framework)
            ),
            *([("Security Hub (not in FSBP)", tuple(other))] if other else []),
        ]
        named = "; ".join(f"{escape(name)}: {escape(', '.join(ids))}" for name, ids in parts)
        if stricter := [control.id for control in compliance.stricter_than]:
            named += escape(
                f" (stricter than Security Hub {', '.join(stricter)}: a FAIL here may not "
                "fail them)"
            )
    return f'<p class="frameworks"><b>Frameworks:</b> {named}</p>'


def _frameworks(check_id: str) -> list[Framework]:
    compliance = compliance_of(check_id)
    return [framework for framework in Framework if compliance.evidences(framework)]


def _row(finding: Finding, attribution: Mapping[str, Any] | None = None) -> str:
    """A finding's row; with who changed it (CloudTrail) under its message when known."""
    url = console_url(finding)
    name = escape(finding.resource_id)
    resource = f'<a href="{escape(url)}" rel="noreferrer">{name}</a>' if url else name
    arn = f"<br><small>{escape(finding.resource_arn)}</small>" if finding.resource_arn else ""
    evidence = escape(json.dumps(dict(finding.evidence), sort_keys=True, default=str))
    changed = (
        f'<br><small class="changed-by">{escape(str(attribution["summary"]))}</small>'
        if attribution is not None
        else ""
    )
    attributes = " ".join(
        f'data-{key}="{escape(value)}"'
        for key, value in (
            ("service", finding.service),
            ("severity", finding.severity.value),
            ("status", finding.status.value),
            ("region", finding.region),
            ("framework", " ".join(_frameworks(finding.check_id))),
        )
    )
    return (
        f'<tr class="finding" {attributes}><td class="{finding.status.value}">'
        f"{finding.status.value}</td><td>{resource}{arn}</td><td>{escape(finding.region)}</td>"
        f"<td>{escape(finding.message)}{changed}<pre>{evidence}</pre></td></tr>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}h3{font-size:1em;margin:.3em 0}
.head{display:flex;gap:2em;align-items:center}.score{text-align:center}
.score span{font-size:3em;font-weight:bold;display:block}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 1em;margin:0}dt{color:#666}dd{margin:0}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:left;vertical-align:top}
.summary{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
caption{font-weight:bold;text-align:left}
.FAIL{color:#c62828;font-weight:bold}.ERROR{color:#ef6c00}.MUTED{color:#777}.PASS{color:#2e7d32}
.sev{color:#fff;padding:0 4px;border-radius:3px;font-size:.85em}
.critical{background:#7b1fa2}.high{background:#c62828}.medium{background:#ef6c00}
.low{background:#1565c0}
pre{white-space:pre-wrap;word-break:break-all;margin:.2em 0;color:#555;font-size:.85em}
.control{border-top:1px solid #ddd;padding:.5em 0}.fix{margin:.2em 0}
.filters{display:flex;gap:1em;position:sticky;top:0;background:#fff;padding:.4em 0}
.frameworks{margin:.2em 0;color:#555}details{margin:.3em 0}
.legend span{margin-right:1em}.legend i{display:inline-block;width:12px;height:12px;
margin-right:4px}.legend i.dash{border-top:2px dashed #2e7d32;height:0}
svg text{font-size:11px;fill:#444}.warn{color:#ef6c00}
[hidden]{display:none}
@media print{.filters{display:none}.control{break-inside:avoid}a{color:inherit;
text-decoration:none}body{max-width:none;margin:0;font-size:11px}}
"""

_SCRIPT = """
(function () {
  var names = ["service", "severity", "status", "region", "framework"];
  // A finding evidences several frameworks: data-framework lists them, space-separated.
  var lists = {framework: true};
  function matches(row, n) {
    var have = row.dataset[n] || "";
    return lists[n] ? have.split(" ").indexOf(wanted[n]) >= 0 : have === wanted[n];
  }
  var wanted = {};
  function apply() {
    var shown = 0, params = [];
    names.forEach(function (n) {
      var v = document.getElementById("filter-" + n).value;
      wanted[n] = v;
      if (v) params.push(n + "=" + encodeURIComponent(v));
    });
    document.querySelectorAll("article.control").forEach(function (article) {
      var visible = 0;
      article.querySelectorAll("tr.finding").forEach(function (row) {
        var ok = names.every(function (n) { return !wanted[n] || matches(row, n); });
        row.hidden = !ok;
        if (ok) visible++;
      });
      article.hidden = visible === 0;
      shown += visible;
    });
    document.getElementById("shown").textContent = shown;
    history.replaceState(null, "", params.length ? "#" + params.join("&") : location.pathname);
  }
  location.hash.slice(1).split("&").forEach(function (pair) {
    var kv = pair.split("="), select = document.getElementById("filter-" + kv[0]);
    if (select && kv.length === 2) select.value = decodeURIComponent(kv[1]);
  });
  names.forEach(function (n) {
    document.getElementById("filter-" + n).addEventListener("change", apply);
  });
  apply();
})();
"""
