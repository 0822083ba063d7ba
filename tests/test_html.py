"""The HTML report: escaping, console links, the trend chart, and a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from reports import html
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.model import Finding, ScanMetadata, ScanResult, Severity, Status

META = ScanMetadata(
    scan_id="scan-1",
    tool_version="0.1.0",
    started_at="2026-01-02T03:04:00Z",
    finished_at="2026-01-02T03:04:05Z",
    account_ids=("123456789012",),
    regions=("eu-west-1", "us-east-1"),
    baseline_digest="",
    checks=("kms.cmk_rotation_enabled", "rds.backup_retention"),
)
BASE = Finding(
    finding_id="0" * 32,
    check_id="kms.cmk_rotation_enabled",
    title="Customer-managed KMS keys rotate",
    status=Status.FAIL,
    severity=Severity.HIGH,
    service="kms",
    account_id="123456789012",
    region="eu-west-1",
    resource_type="AWS::KMS::Key",
    resource_id="k-1",
    resource_arn="arn:aws:kms:eu-west-1:123456789012:key/k-1",
    message="rotation is off",
    evidence={"KeyRotationEnabled": False},
    remediation="Enable automatic rotation.",
)


def _finding(n: int, **changes: object) -> Finding:
    fields = {"finding_id": f"{n:032x}", "resource_id": f"k-{n}", **changes}
    return replace(BASE, **fields)  # type: ignore[arg-type]


RDS = {
    "check_id": "rds.backup_retention",
    "title": "RDS clusters keep backups",
    "service": "rds",
    "severity": Severity.MEDIUM,
    "resource_type": "AWS::RDS::DBCluster",
    "remediation": "Raise BackupRetentionPeriod.",
}
# 3 high kms problems (2 FAIL in two regions, 1 MUTED), 2 medium rds (FAIL, ERROR), 2 PASS.
RESULT = ScanResult(
    metadata=META,
    findings=(
        _finding(1),
        _finding(2, region="us-east-1"),
        _finding(3, status=Status.MUTED, message="rotation is off [suppressed: OPS-1]"),
        _finding(4, status=Status.PASS),
        _finding(5, status=Status.FAIL, **RDS),
        _finding(6, status=Status.ERROR, message="could not read", **RDS),
        _finding(7, status=Status.PASS, **RDS),
    ),
)
TREND = [
    html.TrendPoint(
        scan_id=f"s{i}",
        finished_at=f"2026-01-0{i}T00:00:00Z",
        failing={"critical": 0, "high": 4 - i, "medium": 1, "low": i},
        score=50.0 + 10 * i,
    )
    for i in range(1, 4)
]


def test_everything_from_aws_is_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    finding = _finding(1, message=hostile, resource_id='"><img src=x>', evidence={"k": hostile})
    page = html.render(replace(RESULT, findings=(finding,)))
    assert hostile not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # Self-contained: nothing is fetched when the page is viewed.
    assert not re.search(r'<(link|img|iframe)\b|\ssrc="|@import|url\(', page)


def test_console_links_where_aws_has_a_page() -> None:
    assert html.console_url(BASE) == (
        "https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys/k-1"
    )
    log_group = replace(BASE, resource_type="AWS::Logs::LogGroup", resource_id="/ecs/app")
    assert html.console_url(log_group) == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/%252Fecs%252Fapp"
    )
    role = replace(BASE, resource_type="AWS::IAM::Role", resource_id="app-task")
    assert (
        html.console_url(role) == "https://console.aws.amazon.com/iam/home#/roles/details/app-task"
    )
    assert html.console_url(replace(BASE, region="cn-north-1")) is None
    assert html.console_url(replace(BASE, resource_type="AWS::ECS::TaskDefinition")) is None


def test_trend_chart_draws_a_line_per_severity_and_the_score() -> None:
    page = html.render(RESULT, TREND)
    series = re.findall(r'data-series="([^"]+)"[^>]*><polyline[^>]*points="([^"]+)"', page)
    assert [name for name, _ in series] == [
        "FAIL critical",
        "FAIL high",
        "FAIL medium",
        "FAIL low",
        "posture score",
    ]
    assert all(len(points.split()) == 3 for _, points in series)
    # high falls 3, 2, 1: the y coordinate (down the page) grows.
    high = [float(p.split(",")[1]) for p in series[1][1].split()]
    assert high == sorted(high) and high[0] < high[-1]
    assert "No recorded scans." in html.render(RESULT)


def test_scan_html_with_history_has_a_trend_and_report_rerenders_it(
    account: DemoAccount, tmp_path: Path
) -> None:
    make_key(account, rotation=False)
    store = tmp_path / "h.db"
    argv = [
        "scan",
        "-r",
        "us-east-1",
        "--checks",
        "kms.cmk_rotation_enabled",
        "--history",
        str(store),
        "--format",
        "html",
        "--fail-on",
        "never",
    ]
    assert run([*argv, "-o", str(tmp_path / "1.html")]) == 0
    assert run([*argv, "-o", str(tmp_path / "2.html")]) == 0
    second = (tmp_path / "2.html").read_text()
    assert "Trend: failing findings over 2 scans" in second
    assert 'id="score">0</span>' in second
    assert run(["report", "--last", "--history", str(store), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text() == second
    assert run(["report", "--history", str(store)]) == 2


# --- a real browser -------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")


def _chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM or "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    return done.stdout


def _visible_rows(dom: str) -> list[str]:
    rows = re.findall(r'<tr class="finding"([^>]*)>', dom)
    return [row for row in rows if "hidden" not in row]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_in_a_headless_browser_counts_render_and_filters_work(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(RESULT, TREND))
    url = page.as_uri()
    screenshot = tmp_path / "report.png"

    # One browser start (about a second) both dumps the DOM and takes the screenshot.
    dom = _chromium("--dump-dom", f"--screenshot={screenshot}", "--window-size=1200,1800", url)
    assert screenshot.stat().st_size > 10_000
    print(f"HTML report screenshot: {screenshot}")
    assert re.search(r'<span id="shown">5</span> of 5 shown', dom)
    assert len(_visible_rows(dom)) == 5  # FAIL, ERROR and MUTED rows; PASS only counted
    # PASS: a high and a medium (5 + 2); FAIL: two high and a medium (10 + 2).
    assert 'id="score">36.8</span>' in dom
    assert dom.count("<polyline") == 5

    dom = _chromium("--dump-dom", url + "#severity=high&region=eu-west-1")
    assert re.search(r'<span id="shown">2</span> of 5 shown', dom)
    assert all('data-severity="high"' in r and "eu-west-1" in r for r in _visible_rows(dom))
    assert re.search(r'<article class="control" data-severity="medium" hidden', dom)

    dom = _chromium("--dump-dom", url + "#status=MUTED")
    assert re.search(r'<span id="shown">1</span>', dom)

    # kms.cmk_rotation_enabled evidences CIS 3.6, rds.backup_retention only FSBP and NIST.
    dom = _chromium("--dump-dom", url + "#framework=cis")
    assert re.search(r'<span id="shown">3</span> of 5 shown', dom)
    assert all("kms" in r for r in _visible_rows(dom))
    dom = _chromium("--dump-dom", url + "#framework=fsbp")
    assert re.search(r'<span id="shown">2</span> of 5 shown', dom)
    assert all('data-service="rds"' in r for r in _visible_rows(dom))
