"""kinesis.stream_encrypted_with_cmk and kinesis.retention_period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from checks.kinesis import STREAM_KEYS
from scanner.demo.base import DemoAccount
from scanner.demo.kinesis import make_stream, reference_kinesis
from scanner.demo.kms import make_key
from scanner.engine.inventory import Scope
from scanner.engine.records import kinesis
from scanner.engine.registry import get_check
from scanner.engine.runner import ScanPlan, run_scan
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, ScanResult, Status
from tests.checks.judge import by_resource, denied, judge
from tests.factories import KEY_ARN, described, key, key_arn, stream
from tests.helpers import expect, fail_operation, findings_of, scan

ENCRYPTED = "kinesis.stream_encrypted_with_cmk"
RETENTION = "kinesis.retention_period"


def by_id(result: ScanResult, check_id: str) -> dict[str, Finding]:
    found = [f for f in result.findings if f.check_id == check_id]
    by_resource = {f.resource_id: f for f in found}
    assert len(by_resource) == len(found), "two findings for one resource"
    return by_resource


AWS_KEY = key("k-aws", manager="AWS")


def test_encryption_needs_a_customer_managed_key() -> None:
    found = judge(
        ENCRYPTED,
        {
            kinesis.streams: [
                stream("cmk"),
                stream("by-alias", kms_key_id="alias/orders-stream"),
                stream("aws-alias", kms_key_id="alias/aws/kinesis"),
                stream("aws-arn", kms_key_id=AWS_KEY.arn),
                stream("plain", encryption_type="NONE", kms_key_id=None),
                stream("hidden", kms_key_id=key_arn("k-hidden")),
            ],
            STREAM_KEYS: described(
                key(),
                AWS_KEY,
                refs={
                    "alias/orders-stream": key("k-orders"),
                    key_arn("k-hidden"): denied("kms:DescribeKey"),
                },
            ),
        },
    )

    expect(
        by_resource(found),
        {
            "cmk": (Status.PASS, f"encrypted with customer-managed key {KEY_ARN}"),
            "by-alias": (Status.PASS, "customer-managed key alias/orders-stream"),
            "aws-alias": (Status.FAIL, "AWS-managed key alias/aws/kinesis"),  # by name
            "aws-arn": (Status.FAIL, f"is encrypted with the AWS-managed key {AWS_KEY.arn}"),
            "plain": (Status.FAIL, "is not encrypted (EncryptionType NONE)"),
            "hidden": (Status.ERROR, f"could not read key {key_arn('k-hidden')}"),
        },
    )


STREAMS = [stream("day", retention_hours=24), stream("week", retention_hours=168)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "day": (Status.PASS, "keeps records for 24 hours"),
                "week": (Status.PASS, "168 hours"),
            },
        ),
        (
            {"min_hours": 48},
            {
                "day": (Status.FAIL, "keeps records for 24 hours, below the baseline's 48"),
                "week": (Status.PASS, "keeps records for 168 hours"),
            },
        ),
    ],
)
def test_retention_meets_the_baseline_minimum(params: Any, expected: Any) -> None:
    expect(by_resource(judge(RETENTION, {kinesis.streams: STREAMS}, **params)), expected)


def test_unlistable_streams_are_one_error() -> None:
    found = by_resource(judge(RETENTION, {kinesis.streams: denied("kinesis:ListStreams")}))

    assert list(found) == ["*"]
    assert found["*"].status is Status.ERROR
    assert "kinesis:ListStreams" in found["*"].message


# --- moto and Stubber: what the collector reads ---------------------------------------------


def test_every_stream_is_judged_past_the_first_page(account: DemoAccount) -> None:
    """moto pages ListStreams by 10 without NextToken; the boto3 paginator would stop at 10."""
    names = [make_stream(account, encryption=None, name=f"s{n:02}") for n in range(25)]
    session = AwsSession(SessionOptions())

    found = by_id(scan(account, RETENTION, session=session), RETENTION)

    assert sorted(found) == names
    assert {f.status for f in found.values()} == {Status.PASS}
    calls = [c.operation for c in session.requests.calls if c.action.startswith("kinesis")]
    assert calls.count("ListStreams") == 3
    assert calls.count("DescribeStreamSummary") == 25
    assert not session.requests.duplicates()


def summary(name: str, *, hours: int = 24, status: str = "ACTIVE") -> dict[str, Any]:
    """A DescribeStreamSummary result as AWS returns it (all required members)."""
    return {
        "StreamDescriptionSummary": {
            "StreamName": name,
            "StreamARN": arn(name),
            "StreamStatus": status,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "RetentionPeriodHours": hours,
            "StreamCreationTimestamp": datetime(2024, 1, 1, tzinfo=UTC),
            "EnhancedMonitoring": [{"ShardLevelMetrics": ["IncomingBytes"]}],
            "EncryptionType": "NONE",
            "OpenShardCount": 1,
        }
    }


def arn(name: str) -> str:
    return f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"


def listed(*names: str, status: str = "ACTIVE") -> list[dict[str, Any]]:
    return [
        {
            "StreamName": n,
            "StreamARN": arn(n),
            "StreamStatus": status,
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
        }
        for n in names
    ]


@pytest.fixture
def stubbed(account: DemoAccount) -> Iterator[tuple[AwsSession, Stubber]]:
    """A session whose Kinesis client answers only from the Stubber (KMS and STS: moto)."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("kinesis", account.region))
    with stubber:
        yield session, stubber
    stubber.assert_no_pending_responses()


def sequential_scan(account: DemoAccount, session: AwsSession, *check_ids: str) -> ScanResult:
    """One worker, so per-stream calls reach the Stubber in listing order."""
    specs = tuple(get_check(check_id) for check_id in check_ids)
    plan = ScanPlan(
        checks=specs,
        params={spec.id: spec.defaults() for spec in specs},
        regions=(account.region,),
        workers=1,
    )
    return run_scan(plan, session)


def test_list_streams_follows_next_token_like_aws(
    account: DemoAccount, stubbed: tuple[AwsSession, Stubber]
) -> None:
    session, stubber = stubbed
    stubber.add_response(
        "list_streams",
        {
            "StreamNames": ["alpha", "beta"],
            "StreamSummaries": listed("alpha", "beta"),
            "HasMoreStreams": True,
            "NextToken": "page-2",
        },
        {},
    )
    stubber.add_response(
        "list_streams",
        {"StreamNames": ["gamma"], "StreamSummaries": listed("gamma"), "HasMoreStreams": False},
        {"NextToken": "page-2"},
    )
    for name, hours in (("alpha", 24), ("beta", 48), ("gamma", 168)):
        stubber.add_response(
            "describe_stream_summary", summary(name, hours=hours), {"StreamARN": arn(name)}
        )

    found = by_id(sequential_scan(account, session, RETENTION), RETENTION)

    expect(
        found,
        {
            "alpha": (Status.PASS, "24 hours"),
            "beta": (Status.PASS, "48 hours"),
            "gamma": (Status.PASS, "168 hours"),
        },
    )
    assert found["gamma"].resource_arn == arn("gamma")


def test_list_streams_without_token_or_summaries_pages_by_last_name(
    account: DemoAccount, stubbed: tuple[AwsSession, Stubber]
) -> None:
    """The older response shape: names only, HasMoreStreams, no NextToken."""
    session, stubber = stubbed
    stubber.add_response("list_streams", {"StreamNames": ["a", "b"], "HasMoreStreams": True}, {})
    stubber.add_response(
        "list_streams",
        {"StreamNames": ["c"], "HasMoreStreams": False},
        {"ExclusiveStartStreamName": "b"},
    )
    for name in ("a", "b", "c"):
        stubber.add_response("describe_stream_summary", summary(name), {"StreamName": name})

    expect(
        by_id(sequential_scan(account, session, RETENTION), RETENTION),
        dict.fromkeys(("a", "b", "c"), (Status.PASS, "24 hours")),
    )


def test_deleting_and_vanished_streams_are_not_judged(
    account: DemoAccount, stubbed: tuple[AwsSession, Stubber]
) -> None:
    session, stubber = stubbed
    stubber.add_response(
        "list_streams",
        {
            "StreamNames": ["kept", "going", "gone"],
            "StreamSummaries": [
                *listed("kept"),
                *listed("going", status="DELETING"),  # never described
                *listed("gone"),
            ],
            "HasMoreStreams": False,
        },
        {},
    )
    stubber.add_response("describe_stream_summary", summary("kept"), {"StreamARN": arn("kept")})
    stubber.add_client_error(
        "describe_stream_summary",
        "ResourceNotFoundException",
        expected_params={"StreamARN": arn("gone")},
    )

    expect(
        by_id(sequential_scan(account, session, ENCRYPTED), ENCRYPTED),
        {"kept": (Status.FAIL, "stream kept is not encrypted")},
    )


def test_unreadable_summary_is_an_error_for_that_stream_only(account: DemoAccount) -> None:
    readable = make_stream(account, encryption="cmk")
    hidden = make_stream(account, encryption="cmk")
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "kinesis",
        "DescribeStreamSummary",
        when=lambda params: params.get("StreamARN", "").endswith(f"/{hidden}"),
    )

    result = scan(account, ENCRYPTED, RETENTION, session=session)

    for check_id in (ENCRYPTED, RETENTION):
        found = by_id(result, check_id)
        assert found[readable].status is Status.PASS
        assert found[hidden].status is Status.ERROR
        assert "AccessDeniedException on kinesis:DescribeStreamSummary" in found[hidden].message
    assert result.missing_actions == ("kinesis:DescribeStreamSummary",)


def test_tag_scope_reads_tags_and_drops_other_streams(account: DemoAccount) -> None:
    prod = make_stream(account, encryption=None, tags={"env": "prod"})
    make_stream(account, encryption=None, tags={"env": "stage"})
    make_stream(account, encryption=None)

    result = scan(account, RETENTION, scope=Scope(tags={"env": "prod"}))

    expect(by_id(result, RETENTION), {prod: (Status.PASS, "24 hours")})


def test_reference_stream_is_right_or_wrong_for_every_control(account: DemoAccount) -> None:
    reference_kinesis(account, compliant=True, key_arn=make_key(account), name="events-prod")
    reference_kinesis(account, compliant=False, key_arn=None, name="events-stage")

    expect(
        findings_of(account, ENCRYPTED),
        {
            "events-prod": (Status.PASS, "customer-managed key"),
            "events-stage": (Status.FAIL, "not encrypted"),
        },
    )
    expect(
        findings_of(account, RETENTION, min_hours=168),
        {
            "events-prod": (Status.PASS, "168 hours"),
            "events-stage": (Status.FAIL, "below the baseline's 168"),
        },
    )
