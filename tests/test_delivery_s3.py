"""--send s3:// and security-lake://: whole objects in moto's S3, the spool, exit 5, and the
IAM policy for sending."""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse

from scanner.cli import run
from scanner.delivery import (
    DeliveryOptions,
    DeliveryReport,
    Kind,
    Outgoing,
    RecordFormat,
    deliver,
    open_transports,
    parse_destination,
)
from scanner.delivery import s3 as delivery_s3
from scanner.delivery.s3 import Objects
from scanner.delivery.spool import Spool, spool_dir
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import EXIT_DELIVERY_PENDING, ConfigError
from scanner.model import ScanResult
from tests.test_delivery import _recorded, _two_scans, result_of

BUCKET = "findings-archive"
ACCOUNT = "123456789012"


@pytest.fixture
def bucket(account: DemoAccount) -> Any:
    client = boto3.client("s3", region_name=account.region)
    client.create_bucket(Bucket=BUCKET)
    return client


def objects(client: Any, prefix: str = "") -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing
    }


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def send(result: ScanResult, values: list[str], **options: Any) -> list[DeliveryReport]:
    transports = open_transports(
        values, DeliveryOptions(session=AwsSession(SessionOptions()), **options)
    )
    return deliver(Outgoing(result=result), transports, spool_dir(None))


def two_regions(scan_id: str = "scan-1") -> ScanResult:
    east, west = result_of(3, scan_id), result_of(2, scan_id, region="eu-west-1", first=3)
    return ScanResult(metadata=east.metadata, findings=east.findings + west.findings)


def intercept(
    client: Any, operation: str, refuse: Callable[[dict[str, Any]], bool] = lambda params: True
) -> list[dict[str, Any]]:
    """Record the API parameters of this client's ``operation`` calls; answer those that
    ``refuse`` picks with 403 AccessDenied (not retried) instead of sending them."""
    calls: list[dict[str, Any]] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not refuse(calls[-1]):
            return None
        response = AWSResponse("https://injected.invalid", 403, {}, None)
        return response, {
            "Error": {"Code": "AccessDenied", "Message": "injected AccessDenied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    client.meta.events.register(f"before-parameter-build.s3.{operation}", remember)
    client.meta.events.register(f"before-call.s3.{operation}", answer)
    return calls


# --- destinations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "prefix", "record_format", "label"),
    [
        ("s3://b-1", Kind.S3, "", RecordFormat.JSONL, "s3 s3://b-1/"),
        ("s3://b-1/siem/driftscan/", Kind.S3, "siem/driftscan/", RecordFormat.JSONL, None),
        ("s3://b-1/siem?format=ocsf", Kind.S3, "siem/", RecordFormat.OCSF, "s3 s3://b-1/siem/"),
        ("s3://b-1/siem?format=asff", Kind.S3, "siem/", RecordFormat.ASFF, None),
        ("security-lake://aws-security-data-lake-us-east-1-x/ext/drift", Kind.SECURITY_LAKE,
         "ext/drift/", RecordFormat.JSONL, None),
        ("security-lake://lake/ext/drift/1.0/", Kind.SECURITY_LAKE, "ext/drift/1.0/",
         RecordFormat.JSONL, "security-lake security-lake://lake/ext/drift/1.0/"),
    ],
)  # fmt: skip
def test_bucket_destinations(
    text: str, kind: Kind, prefix: str, record_format: RecordFormat, label: str | None
) -> None:
    destination = parse_destination(text)
    assert (destination.kind, destination.prefix) == (kind, prefix)
    assert destination.record_format is record_format
    if label is not None:
        assert destination.label == label
    # The format is part of the destination: another format is another spool.
    assert (
        parse_destination("s3://b-1/siem?format=ocsf").key != parse_destination("s3://b-1/siem").key
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s3://Bad_Bucket/p", "'Bad_Bucket' is not an S3 bucket name"),
        ("s3://b-1/p?format=csv", "format 'csv' is not one of jsonl, ocsf, asff"),
        ("s3://b-1/p?region=x", "expected ?format=jsonl|ocsf|asff after the prefix"),
        ("s3://b-1/a/../b", "the prefix has an empty, . or .. segment"),
        ("security-lake://lake/drift", "expected security-lake://BUCKET/ext/SOURCE"),
        ("security-lake://lake/ext/drift?format=ocsf", "expected no query after the prefix"),
    ],
)
def test_bad_bucket_destinations_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_destination(text)
    assert message in str(error.value)


def test_sse_kms_key_without_a_bucket_destination_exits_2(
    account: DemoAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["scan", "-r", "us-east-1", "--sse-kms-key", "k"]) == 2
    assert capsys.readouterr().err == (
        "driftscan: --sse-kms-key applies to s3:// and security-lake:// destinations\n"
    )


def test_security_lake_without_pyarrow_exits_2_naming_the_extra(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails
    code = run(["scan", "-r", "us-east-1", "--send", "security-lake://lake/ext/drift"])
    assert code == 2
    assert capsys.readouterr().err == (
        "driftscan: --send security-lake:// writes Parquet, which needs pyarrow: "
        "pip install 'driftscan[securitylake]'\n"
    )


# --- objects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_format", "extension", "finding_id"),
    [
        (RecordFormat.JSONL, "jsonl", lambda r: r["finding_id"]),
        (RecordFormat.OCSF, "ocsf.jsonl", lambda r: r["finding_info"]["uid"]),
        (RecordFormat.ASFF, "asff.jsonl", lambda r: r["Id"].removeprefix("driftscan/")),
    ],
)
def test_one_gzipped_object_per_account_and_region_under_a_key_that_sorts_by_time(
    bucket: Any,
    record_format: RecordFormat,
    extension: str,
    finding_id: Callable[[dict[str, Any]], str],
) -> None:
    result = two_regions()
    [report] = send(result, [f"s3://{BUCKET}/siem?format={record_format.value}"])
    assert (report.delivered, report.pending, report.error) == (5, 0, None)
    stored = objects(bucket)
    folder = "siem/2026/01/02/20260102T030405Z_scan-1"
    assert sorted(stored) == [
        f"{folder}_{ACCOUNT}_eu-west-1.{extension}.gz",
        f"{folder}_{ACCOUNT}_us-east-1.{extension}.gz",
    ]
    east = lines(stored[f"{folder}_{ACCOUNT}_us-east-1.{extension}.gz"])
    west = lines(stored[f"{folder}_{ACCOUNT}_eu-west-1.{extension}.gz"])
    assert [finding_id(r) for r in east + west] == [f.finding_id for f in result.findings]


def test_the_writer_is_a_client_of_its_own_apart_from_the_scans_read_only_ones(
    bucket: Any,
) -> None:
    session = AwsSession(SessionOptions())
    [transport] = open_transports([f"s3://{BUCKET}"], DeliveryOptions(session=session))
    deliver(Outgoing(result=result_of(2, "scan-1")), [transport], spool_dir(None))
    assert isinstance(transport, Objects)
    assert len(objects(bucket)) == 1
    # The scan's request log (what the read-only test checks) holds no write, and the scan
    # session's events never saw the writer's calls.
    assert session.requests.calls == []
    writer = transport.writer.client
    assert writer.meta.events is not session.boto_session.events
    assert "PutObject" in writer.meta.service_model.operation_names


def test_an_object_sent_again_is_the_same_bytes_under_the_same_key(bucket: Any) -> None:
    send(result_of(2, "scan-1"), [f"s3://{BUCKET}"])
    first = objects(bucket)
    send(result_of(2, "scan-1"), [f"s3://{BUCKET}"])
    assert objects(bucket) == first


def test_gone_findings_are_resolved_records_in_every_format(bucket: Any, tmp_path: Path) -> None:
    previous, current = _two_scans()
    history = tmp_path / "history.db"
    _recorded(history, previous, current)
    argv = ["export", "--last", "--history", str(history), "--output", str(tmp_path / "r.json")]
    for name in ("jsonl", "ocsf", "asff"):
        argv += ["--send", f"s3://{BUCKET}/{name}?format={name}"]
    assert run(argv) == 0
    [jsonl] = objects(bucket, "jsonl/").values()
    [ocsf] = objects(bucket, "ocsf/").values()
    [asff] = objects(bucket, "asff/").values()
    gone = f"{3:032x}"
    assert [r.get("resolved") for r in lines(jsonl) if r["finding_id"] == gone] == [True]
    [closed] = [e for e in lines(ocsf) if e["finding_info"]["uid"] == gone]
    assert (closed["activity_name"], closed["type_uid"], closed["status"]) == (
        "Close",
        200303,
        "Resolved",
    )
    [archived] = [f for f in lines(asff) if f["Id"] == f"driftscan/{gone}"]
    assert archived["RecordState"] == "ARCHIVED"


def test_sse_kms_key_encrypts_every_object(account: DemoAccount, bucket: Any) -> None:
    key = make_key(account)
    send(two_regions(), [f"s3://{BUCKET}", "security-lake://" + BUCKET + "/ext/drift"],
         sse_kms_key=key)  # fmt: skip
    stored = objects(bucket)
    assert len(stored) == 4
    for name in stored:
        head = bucket.head_object(Bucket=BUCKET, Key=name)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)


# --- multipart ----------------------------------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto takes parts of any size (S3: 5 MiB but the last), so that a test's object of a
    few KB goes up in several parts."""
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1)


def multipart_transport(session: AwsSession, **writer: Any) -> Objects:
    [transport] = open_transports([f"s3://{BUCKET}/big"], DeliveryOptions(session=session))
    assert isinstance(transport, Objects)
    transport.writer.multipart_threshold = 1024
    transport.writer.part_size = 256
    for name, value in writer.items():
        setattr(transport.writer, name, value)
    return transport


def test_a_large_object_goes_up_in_parts_and_reads_back_whole(
    account: DemoAccount, bucket: Any, small_parts: None
) -> None:
    key = make_key(account)
    transport = multipart_transport(AwsSession(SessionOptions()), sse_kms_key=key)
    result = result_of(60, "scan-1")
    parts = intercept(transport.writer.client, "UploadPart", refuse=lambda params: False)
    [report] = deliver(Outgoing(result=result), [transport], spool_dir(None))
    assert (report.delivered, report.pending) == (60, 0)
    assert len(parts) > 2
    [(name, body)] = objects(bucket).items()
    assert [r["finding_id"] for r in lines(body)] == [f.finding_id for f in result.findings]
    assert bucket.head_object(Bucket=BUCKET, Key=name)["SSEKMSKeyId"] == key


def test_a_failed_multipart_upload_is_aborted_leaving_no_object_and_no_upload(
    bucket: Any, small_parts: None
) -> None:
    transport = multipart_transport(AwsSession(SessionOptions()))
    third = intercept(transport.writer.client, "UploadPart", lambda p: p["PartNumber"] == 3)
    aborts = intercept(transport.writer.client, "AbortMultipartUpload", lambda params: False)
    [report] = deliver(Outgoing(result=result_of(60, "scan-1")), [transport], spool_dir(None))
    assert (report.delivered, report.pending) == (0, 60)
    assert report.error is not None
    assert report.error.startswith("s3:PutObject s3://findings-archive/big/2026/01/02/")
    assert report.error.endswith(".jsonl.gz: AccessDenied: injected AccessDenied")
    assert len(third) == 3 and len(aborts) == 1
    assert objects(bucket) == {}
    assert bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    # The next run sends the spooled object first: whole, once.
    transport = multipart_transport(AwsSession(SessionOptions()))
    [report] = deliver(Outgoing(result=result_of(1, "scan-2")), [transport], spool_dir(None))
    assert (report.delivered, report.pending) == (61, 0)
    stored = objects(bucket)
    assert [len(lines(body)) for _, body in sorted(stored.items())] == [60, 1]


# --- the CLI: a scan, its report and its objects ------------------------------------------


def _scanned(account: DemoAccount) -> None:
    make_key(account, rotation=True)
    make_key(account, rotation=False)
    make_key(account, rotation=False)


def test_a_scan_leaves_objects_holding_exactly_its_findings(
    account: DemoAccount, bucket: Any, tmp_path: Path
) -> None:
    _scanned(account)
    report = tmp_path / "report.jsonl"
    argv = ["scan", "-r", "us-east-1", "--checks", "kms.cmk_rotation_enabled", "-f", "jsonl"]
    argv += ["--output", str(report), "--fail-on", "never"]
    argv += ["--send", f"s3://{BUCKET}/siem", "--send", f"security-lake://{BUCKET}/ext/drift"]
    assert run(argv) == 0
    findings = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(findings) == 3
    [(key, body)] = objects(bucket, "siem/").items()
    assert [r["finding_id"] for r in lines(body)] == [f["finding_id"] for f in findings]
    assert key.endswith(f"_{findings[0]['scan_id']}_{findings[0]['account_id']}_us-east-1.jsonl.gz")
    [(key, body)] = objects(bucket, "ext/").items()
    assert key.startswith(
        f"ext/drift/region=us-east-1/accountId={findings[0]['account_id']}/eventDay="
    )
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert sorted(r["finding_info"]["uid"] for r in rows) == sorted(
        f["finding_id"] for f in findings
    )


def test_a_refused_put_exits_5_and_the_next_run_delivers_it(
    account: DemoAccount, bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _scanned(account)
    plain_client = delivery_s3.s3_client

    def refusing_client(session: AwsSession) -> Any:
        client = plain_client(session)
        intercept(client, "PutObject")
        return client

    argv = ["scan", "-r", "us-east-1", "--checks", "kms.cmk_rotation_enabled", "-f", "json"]
    argv += ["--fail-on", "never", "--send", f"s3://{BUCKET}/siem"]
    monkeypatch.setattr(delivery_s3, "s3_client", refusing_client)
    assert run([*argv, "--output", str(tmp_path / "1.json")]) == EXIT_DELIVERY_PENDING
    [spool] = spool_dir(None).glob("*.jsonl")
    [owed] = Spool(spool).load()
    assert owed.findings == 3
    assert objects(bucket) == {}

    monkeypatch.setattr(delivery_s3, "s3_client", plain_client)
    assert run([*argv, "--output", str(tmp_path / "2.json")]) == 0
    scans = [json.loads((tmp_path / name).read_text()) for name in ("1.json", "2.json")]
    stored = objects(bucket)
    assert sorted(key.split("_")[1] for key in stored) == sorted(s["scan"]["id"] for s in scans)
    assert not spool.exists()


# --- iam-policy --send --------------------------------------------------------------------


def _policy(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert run(["iam-policy", "--checks", "kms.cmk_rotation_enabled", *argv]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_iam_policy_for_sending_is_a_separate_minimal_statement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scan_only = _policy(capsys)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policy = _policy(
        capsys,
        "--send", f"s3://{BUCKET}/siem",
        "--send", "security-lake://lake/ext/drift",
        "--sse-kms-key", key,
    )  # fmt: skip
    assert policy["Statement"] == [
        *scan_only["Statement"],
        {
            "Sid": "DriftscanSendObjects",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/siem/*", "arn:aws:s3:::lake/ext/drift/*"],
        },
        {
            "Sid": "DriftscanSendEncrypted",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key,
        },
    ]
    by_id = _policy(capsys, "--send", f"s3://{BUCKET}", "--sse-kms-key", "1234abcd")
    assert by_id["Statement"][1]["Resource"] == [f"arn:aws:s3:::{BUCKET}/*"]
    assert by_id["Statement"][2]["Resource"] == "arn:aws:kms:*:*:key/1234abcd"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--send", "securityhub"], "iam-policy --send takes s3:// and security-lake:// "
         "destinations, not securityhub (each finding's region)"),
        (["--send", "s3://b-1", "--sse-kms-key", "alias/siem"], "give the key's id or ARN"),
        (["--sse-kms-key", "k"], "--sse-kms-key applies to s3:// and security-lake://"),
    ],
)  # fmt: skip
def test_bad_iam_policy_send_usage_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["iam-policy", *argv]) == 2
    assert message in capsys.readouterr().err


def test_records_say_who_changed_a_new_failure_in_every_format(bucket: Any) -> None:
    result = two_regions()
    changed = result.findings[0]
    attribution = {
        "summary": "changed by arn:aws:iam::123456789012:user/Alice with DisableKeyRotation",
        "status": "found",
        "reason": None,
        "detail": "",
        "truncated": False,
        "events": [
            {
                "event_name": "DisableKeyRotation",
                "event_source": "kms.amazonaws.com",
                "event_time": "2026-01-02T03:00:00Z",
                "principal": "arn:aws:iam::123456789012:user/Alice",
                "session_name": None,
                "source": "198.51.100.7",
                "event_id": "e-1",
                "plausible_cause": True,
                "changed": {},
            }
        ],
    }
    result = replace(result, attributions={changed.finding_id: attribution})
    send(result, [f"s3://{BUCKET}/{name}?format={name}" for name in ("jsonl", "ocsf", "asff")])
    records = {
        name: [r for body in objects(bucket, f"{name}/").values() for r in lines(body)]
        for name in ("jsonl", "ocsf", "asff")
    }
    [jsonl] = [r for r in records["jsonl"] if "attribution" in r]
    assert jsonl["finding_id"] == changed.finding_id and jsonl["attribution"] == attribution
    [ocsf] = [e for e in records["ocsf"] if "actor" in e]
    assert ocsf["actor"]["user"]["uid"] == "arn:aws:iam::123456789012:user/Alice"
    [asff] = [f for f in records["asff"] if "driftscan/changed_by" in f["ProductFields"]]
    assert asff["Id"] == f"driftscan/{changed.finding_id}"
