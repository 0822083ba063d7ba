"""The SIEM formats: OCSF, ASFF, JSON Lines and CSV.

Whole documents for one canonical finding; every document of a full demo scan (PASS, FAIL
and injected ERROR findings) against the shipped schemas; OCSF also against py-ocsf-models
and ASFF also against botocore's own model of BatchImportFindings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import botocore.session
import botocore.validate
import jsonschema
import pytest
from moto import mock_aws
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from reports import (
    OutputFormat,
    asff,
    csv_report,
    diff_table,
    html,
    json_findings,
    jsonl,
    ocsf,
    renderer_for,
    table,
)
from scanner.app.config import build_plan, parse_baseline
from scanner.app.pipeline import terminal_width
from scanner.app.suppressions import Suppression
from scanner.app.suppressions import apply as apply_suppressions
from scanner.cli import run
from scanner.demo.base import DemoAccount, speed_up_moto_kms
from scanner.demo.kms import make_key
from scanner.demo.stack import DEMO_BASELINE, build_demo
from scanner.engine.attribution import TrailEvent, rank
from scanner.engine.compliance import Framework
from scanner.engine.registry import all_checks, compliance_of
from scanner.engine.runner import run_scan
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import ConfigError
from scanner.model import Finding, ScanMetadata, ScanResult, Severity, Status
from scanner.store.drift import diff
from tests.helpers import fail_operation, scan
from tests.test_history import finding as history_finding
from tests.test_history import result as history_result
from tests.test_history import snapshot as history_snapshot

SCHEMAS = Path(__file__).parents[1] / "reports" / "schemas"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


META = ScanMetadata(
    scan_id="scan-1",
    tool_version="0.1.0",
    started_at="2026-01-02T03:04:00Z",
    finished_at="2026-01-02T03:04:05Z",
    account_ids=("123456789012",),
    regions=("eu-west-1",),
    baseline_digest="sha256:" + "ab" * 32,
    checks=("kms.cmk_rotation_enabled",),
)
FAILING = Finding(
    finding_id="0123456789abcdef0123456789abcdef",
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
    message='rotation is off, "prod",\nsee key policy',
    evidence={"KeyRotationEnabled": False},
    remediation="Enable automatic rotation.",
)
CANONICAL = ScanResult(metadata=META, findings=(FAILING,))
KMS_4_REQUIREMENTS = [
    "NIST.800-53.r5 SC-12",
    "NIST.800-53.r5 SC-12(2)",
    "NIST.800-53.r5 SC-28(3)",
    "CIS AWS Foundations Benchmark v5.0.0/3.6",
]
"""What kms.cmk_rotation_enabled evidences: Security Hub KMS.4 (not in FSBP) lists these."""


def test_ocsf_event_of_a_failing_finding() -> None:
    assert list(ocsf.events(CANONICAL)) == [
        {
            "activity_id": 1,
            "activity_name": "Create",
            "category_uid": 2,
            "category_name": "Findings",
            "class_uid": 2003,
            "class_name": "Compliance Finding",
            "type_uid": 200301,
            "type_name": "Compliance Finding: Create",
            "time": 1767323045000,
            "severity_id": 4,
            "severity": "High",
            "status_id": 1,
            "status": "New",
            "message": FAILING.message,
            "metadata": {
                "version": "1.9.0",
                "product": {"name": "driftscan", "vendor_name": "driftscan", "version": "0.1.0"},
                "profiles": ["cloud"],
                "event_code": "kms.cmk_rotation_enabled",
                "correlation_uid": "scan-1",
            },
            "cloud": {
                "provider": "AWS",
                "region": "eu-west-1",
                "account": {"uid": "123456789012", "type_id": 10, "type": "AWS Account"},
            },
            "finding_info": {
                "uid": "0123456789abcdef0123456789abcdef",
                "title": "Customer-managed KMS keys rotate",
                "desc": FAILING.message,
            },
            "compliance": {
                "control": "KMS.4",
                "desc": "Customer-managed KMS keys rotate",
                "standards": [
                    "driftscan baseline",
                    "NIST SP 800-53 Rev. 5",
                    "CIS AWS Foundations Benchmark v5.0.0",
                ],
                "requirements": KMS_4_REQUIREMENTS,
                "status_id": 3,
                "status": "Fail",
                "checks": [
                    {
                        "uid": "kms.cmk_rotation_enabled",
                        "name": "Customer-managed KMS keys rotate",
                        "severity_id": 4,
                        "severity": "High",
                        "status_id": 3,
                        "status": "Fail",
                        "standards": ["driftscan baseline"],
                        "version": META.baseline_digest,
                    }
                ],
            },
            "remediation": {"desc": "Enable automatic rotation."},
            "resources": [
                {
                    "uid": "arn:aws:kms:eu-west-1:123456789012:key/k-1",
                    "name": "k-1",
                    "type": "AWS::KMS::Key",
                    "region": "eu-west-1",
                    "cloud_partition": "aws",
                    "data": {"KeyRotationEnabled": False},
                }
            ],
        }
    ]


def test_asff_document_of_a_failing_finding() -> None:
    assert json.loads("".join(asff.render(CANONICAL))) == {
        "Findings": [
            {
                "SchemaVersion": "2018-10-08",
                "Id": "driftscan/0123456789abcdef0123456789abcdef",
                "ProductArn": (
                    "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
                ),
                "ProductName": "driftscan",
                "CompanyName": "driftscan",
                "GeneratorId": "driftscan/kms.cmk_rotation_enabled",
                "AwsAccountId": "123456789012",
                "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
                "CreatedAt": "2026-01-02T03:04:05Z",
                "UpdatedAt": "2026-01-02T03:04:05Z",
                "Severity": {"Label": "HIGH", "Original": "high"},
                "Title": "Customer-managed KMS keys rotate",
                "Description": FAILING.message,
                "Remediation": {"Recommendation": {"Text": "Enable automatic rotation."}},
                "ProductFields": {
                    "driftscan/check_id": "kms.cmk_rotation_enabled",
                    "driftscan/status": "FAIL",
                    "driftscan/service": "kms",
                    "driftscan/scan_id": "scan-1",
                    "driftscan/baseline_digest": META.baseline_digest,
                },
                "Resources": [
                    {
                        "Type": "AwsKmsKey",
                        "Id": "arn:aws:kms:eu-west-1:123456789012:key/k-1",
                        "Partition": "aws",
                        "Region": "eu-west-1",
                        "Details": {"Other": {"CloudFormationType": "AWS::KMS::Key"}},
                    }
                ],
                "Compliance": {
                    "Status": "FAILED",
                    "SecurityControlId": "KMS.4",
                    "RelatedRequirements": KMS_4_REQUIREMENTS,
                },
                "Workflow": {"Status": "NEW"},
                "RecordState": "ACTIVE",
            }
        ]
    }


def test_csv_is_rfc_4180_with_a_header() -> None:
    text = "".join(csv_report.render(CANONICAL))
    assert text.startswith("finding_id,check_id,title,status,severity,")
    assert text.endswith("\r\n")
    # The message holds a comma, quotes and a newline: quoted, quotes doubled.
    assert '"rotation is off, ""prod"",\nsee key policy"' in text
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert dict(zip(header, row, strict=True)) == {
        "finding_id": FAILING.finding_id,
        "check_id": "kms.cmk_rotation_enabled",
        "title": "Customer-managed KMS keys rotate",
        "status": "FAIL",
        "severity": "high",
        "service": "kms",
        "account_id": "123456789012",
        "region": "eu-west-1",
        "resource_type": "AWS::KMS::Key",
        "resource_id": "k-1",
        "resource_arn": "arn:aws:kms:eu-west-1:123456789012:key/k-1",
        "message": FAILING.message,
        "remediation": "Enable automatic rotation.",
        "evidence": '{"KeyRotationEnabled":false}',
        "scan_id": "scan-1",
        "scanned_at": "2026-01-02T03:04:05Z",
        "security_hub": "KMS.4",
        "fsbp": "",
        "nist_800_53": "SC-12;SC-12(2);SC-28(3)",
        "cis": "3.6",
        "changed_by": "",  # known only for a finding new since a previous scan
    }


def test_passing_and_unjudged_findings_map_to_each_formats_own_status() -> None:
    passing = replace(FAILING, status=Status.PASS)
    unjudged = replace(FAILING, status=Status.ERROR)
    [ocsf_pass, ocsf_error] = ocsf.events(replace(CANONICAL, findings=(passing, unjudged)))
    assert (ocsf_pass["severity_id"], ocsf_pass["status_id"]) == (1, 4)  # Informational, Resolved
    assert ocsf_pass["compliance"]["status"] == "Pass"
    assert ocsf_pass["compliance"]["checks"][0]["severity"] == "High"  # the control's own
    assert (ocsf_error["severity_id"], ocsf_error["compliance"]["status"]) == (4, "Warning")
    asff_pass, asff_error = (asff.document(f, META) for f in (passing, unjudged))
    assert asff_pass["Compliance"]["Status"] == "PASSED"
    assert asff_pass["Severity"] == {"Label": "INFORMATIONAL", "Original": "high"}
    assert asff_pass["Workflow"] == {"Status": "RESOLVED"}
    assert asff_error["Compliance"]["Status"] == "NOT_AVAILABLE"
    assert asff_error["Workflow"] == {"Status": "NEW"}


def test_asff_cuts_long_text_to_the_api_limits_and_can_target_another_region() -> None:
    long = replace(FAILING, message="x" * 5000, title="t" * 300, remediation="r" * 600)
    document = asff.document(long, META, product_region="us-east-1")
    assert len(document["Description"]) == 1024
    assert len(document["Title"]) == 256
    assert len(document["Remediation"]["Recommendation"]["Text"]) == 512
    assert document["ProductArn"].startswith("arn:aws:securityhub:us-east-1:123456789012:")
    assert document["Resources"][0]["Region"] == "eu-west-1"
    jsonschema.validate(document, schema("asff"))


@pytest.mark.parametrize(
    ("cloudformation_type", "asff_type"),
    [
        ("AWS::EC2::VPC", "AwsEc2Vpc"),
        ("AWS::RDS::DBCluster", "AwsRdsDbCluster"),
        ("AWS::SecretsManager::Secret", "AwsSecretsManagerSecret"),
        ("AWS::EFS::FileSystem", "Other"),
        ("driftscan::Check", "Other"),
    ],
)
def test_asff_resource_types_come_from_security_hubs_model(
    cloudformation_type: str, asff_type: str
) -> None:
    assert asff.resource_type(cloudformation_type) == asff_type


def test_partition_follows_the_region() -> None:
    assert asff.partition_of("us-gov-west-1") == "aws-us-gov"
    assert asff.partition_of("xx-newer-1") == "aws"  # newer than botocore's data
    finding = replace(FAILING, region="cn-north-1", resource_arn=None)
    document = asff.document(finding, META)
    assert document["ProductArn"].startswith("arn:aws-cn:securityhub:cn-north-1:")
    assert document["Resources"][0] == {
        "Type": "AwsKmsKey",
        "Id": "k-1",
        "Partition": "aws-cn",
        "Region": "cn-north-1",
        "Details": {"Other": {"CloudFormationType": "AWS::KMS::Key"}},
    }


def test_jsonl_line_schema_agrees_with_the_json_reports_finding() -> None:
    line_properties = schema("finding")["properties"]
    finding_properties = schema("findings")["$defs"]["finding"]["properties"]
    extra = {"scan_id", "scanned_at", "resolved"}
    assert set(line_properties) - extra == set(finding_properties)
    for name, rule in finding_properties.items():
        if "$ref" not in rule:
            assert line_properties[name] == rule, name


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_every_output_format_renders(output_format: OutputFormat) -> None:
    text = "".join(renderer_for(output_format)(CANONICAL))
    assert FAILING.resource_id in text


@pytest.mark.parametrize("output_format", [OutputFormat.OCSF, OutputFormat.ASFF])
def test_jsonl_gives_one_object_a_line(output_format: OutputFormat) -> None:
    result = replace(CANONICAL, findings=(FAILING, replace(FAILING, finding_id="f" * 32)))
    lines = "".join(renderer_for(output_format, jsonl=True)(result)).splitlines()
    document = json.loads("".join(renderer_for(output_format)(result)))
    records = document if output_format is OutputFormat.OCSF else document["Findings"]
    assert [json.loads(line) for line in lines] == records


@pytest.mark.parametrize("output_format", [OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV])
def test_jsonl_with_a_format_that_has_no_lines_is_bad_usage(output_format: OutputFormat) -> None:
    with pytest.raises(ConfigError, match="--jsonl applies to the ocsf and asff formats"):
        renderer_for(output_format, jsonl=True)


def test_cli_rejects_jsonl_with_table_before_scanning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No moto account here: the flag check comes before any AWS call.
    assert run(["scan", "-r", "us-east-1", "--services", "kms", "--jsonl"]) == 2
    err = capsys.readouterr().err
    assert err == "driftscan: --jsonl applies to the ocsf and asff formats, not table\n"


def test_cli_writes_ocsf_lines(account: DemoAccount, tmp_path: Path) -> None:
    make_key(account, rotation=False)
    out = tmp_path / "events.jsonl"
    argv = ["scan", "-r", "us-east-1", "--services", "kms", "--fail-on", "never"]
    code = run([*argv, "--format", "ocsf", "--jsonl", "--output", str(out)])
    assert code == 0
    [event] = [json.loads(line) for line in out.read_text().splitlines()]
    jsonschema.validate(event, schema("ocsf-finding"))
    assert event["compliance"]["status"] == "Fail"


def test_finding_ids_are_the_same_in_every_scan(account: DemoAccount) -> None:
    make_key(account, rotation=False)
    first, second = (scan(account, "kms.cmk_rotation_enabled") for _ in range(2))
    assert first.metadata.scan_id != second.metadata.scan_id
    assert [e["finding_info"]["uid"] for e in ocsf.events(first)] == [
        e["finding_info"]["uid"] for e in ocsf.events(second)
    ]
    assert [d["Id"] for d in asff.documents(first)] == [d["Id"] for d in asff.documents(second)]


# --- every document of a full demo scan --------------------------------------------------


@pytest.fixture(scope="module")
def demo_result() -> Iterator[ScanResult]:
    """The demo account (a compliant and a broken stack) scanned with every control, with
    KMS rotation status unreadable so that ERROR findings are exported too, and one control's
    failures suppressed (MUTED)."""
    speed_up_moto_kms()
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("MOTO_EC2_LOAD_DEFAULT_AMIS", "false"),
        ]:
            env.setenv(name, value)
        account = DemoAccount()
        build_demo(account)
        session = AwsSession(SessionOptions())
        fail_operation(session, "kms", "GetKeyRotationStatus")
        plan = build_plan(parse_baseline(DEMO_BASELINE), regions=[account.region])
        accepted = Suppression(check="tagging.environment_suffix", reason="ticket OPS-1")
        yield apply_suppressions(run_scan(plan, session), [accepted], date.today()).result


def test_demo_scan_has_every_status(demo_result: ScanResult) -> None:
    assert all(demo_result.count(status) for status in Status)


def test_table_summary_says_the_scan_is_incomplete(demo_result: ScanResult) -> None:
    summary = "".join(renderer_for(OutputFormat.TABLE)(demo_result)).splitlines()
    errors = demo_result.count(Status.ERROR)
    assert f"INCOMPLETE: {errors} findings could not be judged (ERROR)" in summary
    assert "missing IAM permissions: kms:GetKeyRotationStatus" in summary


def test_every_ocsf_event_of_the_demo_validates_against_schema_and_py_ocsf_models(
    demo_result: ScanResult,
) -> None:
    validator = jsonschema.Draft202012Validator(schema("ocsf-finding"))
    for event in json.loads("".join(ocsf.render(demo_result))):
        validator.validate(event)
        model = ComplianceFinding.model_validate(event)
        # Everything py-ocsf-models knows comes back unchanged: names, types, enum values.
        # It lacks the cloud profile's `cloud` and the compliance object's `status`.
        assert model.model_dump(mode="json", exclude_none=True) == _without(
            event, {("cloud",), ("compliance", "status")}
        )


def _without(document: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    trimmed = json.loads(json.dumps(document))
    for path in paths:
        parent = trimmed
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    return trimmed  # type: ignore[no-any-return]


def test_every_asff_finding_of_the_demo_validates_against_schema_and_botocore(
    demo_result: ScanResult,
) -> None:
    validator = jsonschema.Draft202012Validator(schema("asff"))
    document = json.loads("".join(asff.render(demo_result)))
    for finding in document["Findings"]:
        validator.validate(finding)
    model = botocore.session.get_session().get_service_model("securityhub")
    # botocore's own request validation: unknown fields, types, required members.
    botocore.validate.validate_parameters(
        document, model.operation_model("BatchImportFindings").input_shape
    )
    statuses = {f["Compliance"]["Status"] for f in document["Findings"]}
    assert statuses == {"PASSED", "FAILED", "NOT_AVAILABLE"}


def test_every_jsonl_line_of_the_demo_validates(demo_result: ScanResult) -> None:
    validator = jsonschema.Draft202012Validator(schema("finding"))
    lines = "".join(jsonl.render(demo_result)).splitlines()
    assert len(lines) == len(demo_result.findings)
    for line in lines:
        validator.validate(json.loads(line))


def test_every_csv_row_of_the_demo_is_a_finding(demo_result: ScanResult) -> None:
    rows = list(csv.DictReader(io.StringIO("".join(csv_report.render(demo_result)), newline="")))
    assert [(r["finding_id"], r["status"], r["message"]) for r in rows] == [
        (f.finding_id, f.status.value, f.message) for f in demo_result.findings
    ]


@pytest.mark.parametrize(
    "formula", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_csv_cells_a_spreadsheet_would_run_are_quoted_as_text_unless_raw(formula: str) -> None:
    hostile = replace(FAILING, resource_id=formula, message=formula)
    result = replace(CANONICAL, findings=(hostile,))
    for raw, shown in ((False, "'" + formula), (True, formula)):
        text = "".join(csv_report.render(result, raw=raw))
        header, row = list(csv.reader(io.StringIO(text, newline="")))
        cells = dict(zip(header, row, strict=True))
        assert (cells["resource_id"], cells["message"]) == (shown, shown)
    assert "".join(csv_report.render(CANONICAL)) == "".join(csv_report.render(CANONICAL, raw=True))


def visible(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("width", [80, 100, 200])
@pytest.mark.parametrize("colour", [False, True])
def test_the_table_fits_a_terminal_and_keeps_every_word(
    demo_result: ScanResult, width: int, colour: bool
) -> None:
    text = visible(table.render(demo_result, colour=colour, width=width))
    assert max(len(line) for line in text.splitlines()) <= width
    words = set(text.split())
    joined = "".join(text.split())  # a word wider than its column is broken across lines
    for finding in demo_result.findings:
        shown = {  # a suppressed finding shows why it is suppressed, not its message
            Status.FAIL: f"{finding.message} {finding.remediation}",
            Status.MUTED: finding.evidence.get("suppression", {}).get("reason", ""),
        }.get(finding.status, finding.message)
        for word in f"{finding.resource_id} {shown}".split():
            assert word in words or (len(word) > width // 2 and word in joined), (word, finding)
    assert "…" not in text


def test_the_table_in_a_file_or_pipe_keeps_every_message_whole_on_its_line(
    demo_result: ScanResult,
) -> None:
    lines = table.render(demo_result).splitlines()
    for finding in demo_result.findings:
        if finding.status is not Status.MUTED:
            message = " ".join(finding.message.split())
            assert any(line.endswith(message) for line in lines), message
    longest = max(demo_result.findings, key=lambda f: len(f.message))
    assert len(longest.message) > 110  # the old cut


def test_a_scan_of_one_finding_says_finding_not_findings() -> None:
    summary = table.render(CANONICAL).splitlines()[-1]
    assert summary.startswith("1 finding: 0 passed, 1 failed, 0 errors, 0 suppressed;")
    assert "1 control in eu-west-1 for account 123456789012" in summary


def test_html_trend_labels_scans_of_one_day_with_their_time() -> None:
    points = [
        html.TrendPoint(scan_id=f"s{i}", finished_at=at, failing={}, score=None)
        for i, at in enumerate(
            ["2026-01-01T09:00:00Z", "2026-01-02T08:15:00Z", "2026-01-02T17:45:00Z"]
        )
    ]
    labels = re.findall(
        r'text-anchor="middle">([^<]*)(?:<tspan[^>]*>([^<]*)</tspan>)?',
        html.render(CANONICAL, points),
    )
    assert labels == [("2026-01-01", ""), ("2026-01-02", "08:15"), ("2026-01-02", "17:45")]
    assert "over 3 scans" in html.render(CANONICAL, points)
    assert "over 1 scan<" in html.render(CANONICAL, points[:1])


def test_text_fits_the_terminals_width_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width(Terminal()) == 123
    assert terminal_width(io.StringIO()) is None  # a file or a pipe: never wrapped


@pytest.mark.parametrize("width", [None, 80, 100, 200])
def test_the_diff_table_fits_a_terminal_and_cuts_nothing(width: int | None) -> None:
    long_id = "key-" + "x" * 150
    message = "rotation is off; " + " ".join(f"word{i}" for i in range(60))
    before = history_result(
        "aaaaaaaa-1",
        [history_finding(long_id, Status.PASS)],
        [history_snapshot(long_id, policy="a" * 30), history_snapshot("gone", rotation=True)],
    )
    after = history_result(
        "bbbbbbbb-2",
        [replace(history_finding(long_id, Status.FAIL), message=message)],
        [history_snapshot(long_id, policy="b" * 200), history_snapshot("new", rotation=True)],
    )
    changes = diff(before, after, before_approved=False)
    text = diff_table.render(changes, width=width)
    lines = text.splitlines()
    if width is None:
        assert any(line.endswith(message) for line in lines)
        assert any(line.rstrip().endswith('"' + "b" * 200 + '"') for line in lines)
    else:
        assert max(len(line) for line in lines) <= width
        assert set(message.split()) <= set(text.split())
        whole = diff_table.render(changes)
        assert [text.count(c) for c in "xb"] == [whole.count(c) for c in "xb"]  # nothing cut
    summary = " ".join(text.split())
    assert "1 new failure, 0 resolved" in summary and "1 resource appeared" in summary


def _with_check(check_id: str, resource_type: str) -> Finding:
    return replace(FAILING, check_id=check_id, resource_type=resource_type)


DELETION_UNPROTECTED_CLUSTER = _with_check("rds.deletion_protection", "AWS::RDS::DBCluster")
AWS_MANAGED_KEY_CLUSTER = _with_check("rds.storage_encrypted_with_cmk", "AWS::RDS::DBCluster")
OF_A_REMOVED_CONTROL = _with_check("gone.control", "AWS::KMS::Key")
"""A stored scan's finding of a control this version no longer registers."""


def test_json_finding_names_the_frameworks_its_control_evidences() -> None:
    result = replace(CANONICAL, findings=(FAILING, OF_A_REMOVED_CONTROL))
    document = json.loads("".join(renderer_for(OutputFormat.JSON)(result)))
    jsonschema.validate(document, schema("findings"))
    assert [f["compliance"] for f in document["findings"]] == [
        {
            "security_hub": ["KMS.4"],
            "fsbp": [],
            "nist_800_53": ["SC-12", "SC-12(2)", "SC-28(3)"],
            "cis": ["3.6"],
        },
        {"security_hub": [], "fsbp": [], "nist_800_53": [], "cis": []},
    ]
    line = json.loads("".join(jsonl.render(result)).splitlines()[0])
    jsonschema.validate(line, schema("finding"))
    assert line["compliance"]["security_hub"] == ["KMS.4"]


def test_asff_names_the_security_hub_control_only_when_the_finding_is_its_result() -> None:
    result = replace(
        CANONICAL,
        findings=(DELETION_UNPROTECTED_CLUSTER, AWS_MANAGED_KEY_CLUSTER, OF_A_REMOVED_CONTROL),
    )
    document = json.loads("".join(asff.render(result)))
    for finding in document["Findings"]:
        jsonschema.validate(finding, schema("asff"))
    model = botocore.session.get_session().get_service_model("securityhub")
    botocore.validate.validate_parameters(
        document, model.operation_model("BatchImportFindings").input_shape
    )
    same, stricter, removed = (f["Compliance"] for f in document["Findings"])
    assert same == {
        "Status": "FAILED",
        "SecurityControlId": "RDS.7",
        "RelatedRequirements": [
            "AWS Foundational Security Best Practices v1.0.0/RDS.7",
            "AWS Foundational Security Best Practices v1.0.0/RDS.8",
            "NIST.800-53.r5 CM-3",
            "NIST.800-53.r5 SC-5(2)",
            "NIST.800-53.r5 SI-13(5)",
        ],
    }
    # Stricter than RDS.3 and RDS.27: its FAIL (an AWS-managed key) is no FAIL of theirs.
    assert "SecurityControlId" not in stricter
    assert (
        "AWS Foundational Security Best Practices v1.0.0/RDS.27" in stricter["RelatedRequirements"]
    )
    assert removed == {"Status": "FAILED"}


def test_ocsf_compliance_names_the_security_hub_control_and_the_requirements() -> None:
    result = replace(
        CANONICAL,
        findings=(DELETION_UNPROTECTED_CLUSTER, AWS_MANAGED_KEY_CLUSTER, OF_A_REMOVED_CONTROL),
    )
    validator = jsonschema.Draft202012Validator(schema("ocsf-finding"))
    events = list(ocsf.events(result))
    for event in events:
        validator.validate(event)
        model = ComplianceFinding.model_validate(event)
        assert model.model_dump(mode="json", exclude_none=True) == _without(
            event, {("cloud",), ("compliance", "status")}
        )
    same, stricter, removed = (e["compliance"] for e in events)
    assert same["control"] == "RDS.7"
    assert same["standards"] == [
        "driftscan baseline",
        "AWS Foundational Security Best Practices v1.0.0",
        "NIST SP 800-53 Rev. 5",
    ]
    assert same["requirements"][0] == "AWS Foundational Security Best Practices v1.0.0/RDS.7"
    assert stricter["control"] == "rds.storage_encrypted_with_cmk"
    assert "CIS AWS Foundations Benchmark v5.0.0/2.2.1" in stricter["requirements"]
    assert (removed["control"], removed["standards"]) == ("gone.control", ["driftscan baseline"])
    assert "requirements" not in removed


# --- compliance frameworks in CSV and the HTML report -------------------------------------


def test_csv_framework_columns_come_last_and_say_none_with_empty_cells() -> None:
    unmapped = replace(FAILING, check_id="vpc.nat_gateway_per_az")
    text = "".join(csv_report.render(replace(CANONICAL, findings=(FAILING, unmapped))))
    header, mapped_row, unmapped_row = list(csv.reader(io.StringIO(text, newline="")))
    assert header[-6:] == ["scanned_at", "security_hub", "fsbp", "nist_800_53", "cis", "changed_by"]
    assert mapped_row[-5:-1] == ["KMS.4", "", "SC-12;SC-12(2);SC-28(3)", "3.6"]
    assert unmapped_row[-5:-1] == ["", "", "", ""]


def test_csv_framework_cells_of_the_demo_are_the_json_compliance_lists(
    demo_result: ScanResult,
) -> None:
    rows = list(csv.DictReader(io.StringIO("".join(csv_report.render(demo_result)), newline="")))
    findings = json.loads("".join(json_findings.render(demo_result)))["findings"]
    for row, finding in zip(rows, findings, strict=True):
        for key, ids in finding["compliance"].items():
            assert row[key] == ";".join(ids)
    assert any(row["cis"] for row in rows) and any(not row["fsbp"] for row in rows)


def _coverage_row(page: str, framework: str) -> list[str]:
    row = re.search(rf'<tr data-framework="{framework}">(.*?)</tr>', page)
    assert row, framework
    return re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))


def test_html_coverage_per_framework_of_the_demo(demo_result: ScanResult) -> None:
    page = html.render(demo_result)
    mapped = {spec.id: spec.compliance for spec in all_checks()}
    for framework in Framework:
        requirements = {r for c in mapped.values() for r in c.ids(framework)}
        findings = [
            f for f in demo_result.findings if compliance_of(f.check_id).evidences(framework)
        ]
        judged = {
            r
            for f in findings
            if f.status is not Status.ERROR
            for r in compliance_of(f.check_id).ids(framework)
        }
        failing = {
            r
            for f in findings
            if f.status is Status.FAIL
            for r in compliance_of(f.check_id).ids(framework)
        }
        statuses = [str(sum(f.status is s for f in findings)) for s in Status]
        assert _coverage_row(page, framework.value) == [
            f"{len(judged)} of {len(requirements)}",
            str(len(failing)),
            *statuses,
        ]
    # KMS rotation could not be read: CIS 3.6 (only KMS.4 evidences it) is not judged.
    cis_36 = re.search(r"<tr><th>3\.6</th>(.*?)</tr>", page)
    assert cis_36 and re.findall(r"<td[^>]*>(\d+)</td>", cis_36.group(1))[:2] == ["0", "0"]
    judged, _, mapped_cis = _coverage_row(page, "cis")[0].partition(" of ")
    assert int(judged) == int(mapped_cis) - 1


def test_html_rows_carry_their_frameworks_for_the_filter(demo_result: ScanResult) -> None:
    page = html.render(demo_result)
    options = re.search(r'<select name="framework" id="filter-framework">(.*?)</select>', page)
    assert options and re.findall(r'value="([^"]*)"', options.group(1)) == [
        "",
        "fsbp",
        "cis",
        "nist-800-53",
    ]
    assert 'data-framework="fsbp cis nist-800-53"' in page  # rds.not_publicly_accessible
    assert 'data-framework=""' in page  # tagging.environment_suffix maps to none
    assert "<b>Frameworks:</b> AWS Foundational Security Best Practices v1.0.0: RDS.2; " in page
    assert "<b>Frameworks:</b> none (" in page
    assert (
        "SI-7(6) (stricter than Security Hub RDS.3, RDS.27: a FAIL here may not fail them)" in page
    )


def _attributed() -> ScanResult:
    """CANONICAL with who turned the key's rotation off, as the scan attributes it; the
    session name carries a terminal escape (AWS text is shown escaped)."""
    event = TrailEvent(
        event_id="3c5e8a1b-0000-4000-8000-000000000001",
        event_name="DisableKeyRotation",
        event_source="kms.amazonaws.com",
        event_time="2026-01-02T02:00:00Z",
        principal="arn:aws:iam::123456789012:role/Admin",
        principal_type="AssumedRole",
        session_name="bob\x1b[2J",
        source="198.51.100.7",
        request_parameters={"keyId": "k-1"},
    )
    attribution = rank("kms.cmk_rotation_enabled", [event]).as_dict()
    return replace(CANONICAL, attributions={FAILING.finding_id: attribution})


def test_an_attributed_finding_names_who_changed_it_in_every_format() -> None:
    result = _attributed()
    summary = result.attributions[FAILING.finding_id]["summary"]
    assert summary.startswith("changed by arn:aws:iam::123456789012:role/Admin (session bob")

    table_text = table.render(result)
    assert "kms.cmk_rotation_enabled k-1: changed by arn:aws:iam::123456789012:role/Admin" in (
        table_text
    )
    assert "\x1b[2J" not in table_text
    document = json.loads("".join(json_findings.render(result)))
    jsonschema.validate(document, schema("findings"))
    assert document["findings"][0]["attribution"]["events"][0]["plausible_cause"] is True
    line = json.loads("".join(jsonl.render(result)))
    jsonschema.validate(line, schema("finding"))
    assert line["attribution"]["summary"] == summary
    (row,) = csv.DictReader(io.StringIO("".join(csv_report.render(result)), newline=""))
    assert row["changed_by"] == summary
    assert "\x1b" not in html.render(result) and "DisableKeyRotation" in html.render(result)

    (event,) = ocsf.events(result)
    jsonschema.validate(event, schema("ocsf-finding"))
    assert event["actor"] == {
        "user": {"uid": "arn:aws:iam::123456789012:role/Admin", "name": "bob\x1b[2J"},
        "session": {"issuer": "arn:aws:iam::123456789012:role/Admin"},
    }
    assert event["metadata"]["profiles"] == ["cloud", "host"]
    assert event["finding_info"]["related_events"] == [
        {
            "uid": "3c5e8a1b-0000-4000-8000-000000000001",
            "type": "DisableKeyRotation",
            "product_uid": "kms.amazonaws.com",
        }
    ]
    model = ComplianceFinding.model_validate(event)
    # py-ocsf-models knows the related event's uid and type, not the host profile's actor.
    dumped = model.model_dump(mode="json", exclude_none=True)
    assert dumped["finding_info"]["related_events"] == [
        {"uid": "3c5e8a1b-0000-4000-8000-000000000001", "type": "DisableKeyRotation"}
    ]

    document = json.loads("".join(asff.render(result)))
    (finding,) = document["Findings"]
    jsonschema.validate(finding, schema("asff"))
    model_asff = botocore.session.get_session().get_service_model("securityhub")
    botocore.validate.validate_parameters(
        document, model_asff.operation_model("BatchImportFindings").input_shape
    )
    fields = finding["ProductFields"]
    assert fields["driftscan/changed_by"] == summary
    assert fields["driftscan/changed_by_event_name"] == "DisableKeyRotation"
    assert fields["driftscan/changed_by_principal"] == "arn:aws:iam::123456789012:role/Admin"
