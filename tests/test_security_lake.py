"""--send security-lake://: the demo scan's OCSF events as Parquet in moto's S3, read back
with pyarrow and validated against the OCSF schema ``--format ocsf`` is validated against."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from reports import ocsf
from scanner.delivery import DeliveryOptions, Outgoing, deliver, open_transports
from scanner.delivery.security_lake import events
from scanner.delivery.spool import spool_dir
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import ScanResult
from scanner.store.scratch import grouped
from tests.test_delivery import result_of
from tests.test_formats import demo_result  # noqa: F401  (a fixture)

LAKE = "aws-security-data-lake-us-east-1-abc"
LOCATION = "ext/driftscan/"
SCHEMA = json.loads(
    (Path(__file__).parents[1] / "reports" / "schemas" / "ocsf-finding.schema.json").read_text()
)


def events_of(body: bytes) -> list[dict[str, Any]]:
    """Parquet rows as OCSF events: no nulls (absent attributes), json_t parsed."""
    events = [_without_nulls(row) for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    for event in events:
        for resource in event["resources"]:
            if "data" in resource:
                resource["data"] = json.loads(resource["data"])
    return events


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_the_demo_scan_reads_back_from_parquet_as_valid_ocsf_1_3_events(
    demo_result: ScanResult,  # noqa: F811
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=LAKE)
    transports = open_transports(
        [f"security-lake://{LAKE}/{LOCATION}"],
        DeliveryOptions(session=AwsSession(SessionOptions())),
    )
    [report] = deliver(Outgoing(result=demo_result), transports, spool_dir(None))
    assert (report.delivered, report.pending) == (len(demo_result.findings), 0)

    [listed] = s3.list_objects_v2(Bucket=LAKE)["Contents"]
    meta, finding = demo_result.metadata, demo_result.findings[0]
    day = meta.finished_at[:10].replace("-", "")
    assert listed["Key"].startswith(
        f"{LOCATION}region={finding.region}/accountId={finding.account_id}/eventDay={day}/"
    )
    assert listed["Key"].endswith(f"_{meta.scan_id}.parquet")
    body = s3.get_object(Bucket=LAKE, Key=listed["Key"])["Body"].read()

    events = events_of(body)
    assert sorted(e["finding_info"]["uid"] for e in events) == sorted(
        f.finding_id for f in demo_result.findings
    )
    # As --format ocsf writes them (tuples become lists), at OCSF 1.3.0.
    expected = {
        e["finding_info"]["uid"]: ocsf.at_security_lake_version(e)
        for e in json.loads("".join(ocsf.render(demo_result)))
    }
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in events:
        # Nothing is lost on the way through Parquet, and every row is a valid event.
        assert event == expected[event["finding_info"]["uid"]]
        assert (event["metadata"]["version"], event["class_uid"]) == ("1.3.0", 2003)
        validator.validate(event)
        ComplianceFinding.model_validate(event)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_parquet_columns_have_ocsf_types_and_zstd_pages() -> None:
    events = [ocsf.at_security_lake_version(e) for e in ocsf.events(result_of(3, "scan-1"))]
    from scanner.delivery.security_lake import parquet

    file = pq.ParquetFile(io.BytesIO(parquet(events)))
    schema = file.schema_arrow
    assert schema.field("time").type == pa.int64()  # timestamp_t: ms since the epoch
    assert schema.field("type_uid").type == pa.int64()  # long_t
    assert schema.field("class_uid").type == pa.int32()  # integer_t
    assert schema.field("cloud").type.field("account").type.field("type_id").type == pa.int32()
    assert schema.field("resources").type.value_type.field("data").type == pa.string()  # json_t
    assert schema.field("compliance").type.field("standards").type == pa.list_(pa.string())
    assert file.metadata.row_group(0).column(0).compression == "ZSTD"


def test_one_object_per_region_account_and_day_and_gone_findings_close() -> None:
    east = result_of(2, "scan-9")
    west = result_of(1, "scan-9", region="eu-west-1", first=2)
    other = replace(result_of(1, "scan-9", first=3).findings[0], account_id="210987654321")
    gone = result_of(1, "scan-8", first=4).findings
    outgoing = Outgoing(
        result=replace(east, findings=(*east.findings, *west.findings, other)), gone=gone
    )
    objects = dict(grouped(events(outgoing, LOCATION)))
    name = "eventDay=20260102/20260102T030405Z_scan-9.parquet"
    assert {key: len(events) for key, events in objects.items()} == {
        f"{LOCATION}region=us-east-1/accountId=123456789012/{name}": 3,
        f"{LOCATION}region=eu-west-1/accountId=123456789012/{name}": 1,
        f"{LOCATION}region=us-east-1/accountId=210987654321/{name}": 1,
    }
    [closed] = [
        event
        for event in objects[f"{LOCATION}region=us-east-1/accountId=123456789012/{name}"]
        if event["finding_info"]["uid"] == gone[0].finding_id
    ]
    assert (closed["activity_id"], closed["status"]) == (3, "Resolved")
    jsonschema.Draft202012Validator(SCHEMA).validate(closed)
