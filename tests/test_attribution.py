"""CloudTrail attribution against a loopback stand-in for LookupEvents (moto has none)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from scanner.engine import attribution
from scanner.engine.attribution import (
    WRITE_CALLS,
    Attribution,
    AttributionReason,
    AttributionStatus,
    Attributor,
    CauseEvent,
    ControlWrites,
    LookupAnswer,
    LookupKey,
    MemoryLookupCache,
    RateLimiters,
    SlidingWindowLimiter,
    Subject,
    Window,
    parse_event,
)
from scanner.engine.registry import all_checks
from tests.cloudtrail_standin import (
    ACCOUNT,
    ASSUMED_ROLE,
    AWS_SERVICE,
    FASTER,
    IAM_USER,
    ROOT,
    CloudTrailStandIn,
    faster_lookup_limiter,
    record,
)

REGION = "us-east-1"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NOW_TEXT = "2026-12-07T12:00:00Z"
WINDOW = Window(start=datetime(2026, 12, 6, tzinfo=UTC), end=NOW - timedelta(hours=1))
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
GROUP = "sg-0a1b2c3d4e5f60718"
LOG_GROUP = "/ecs/prod-api"
CLUSTER = "prod-db"
KMS = "kms.amazonaws.com"
KEY = [("AWS::KMS::Key", KEY_ARN)]

RECORDS = [
    record(name="CreateKey", source=KMS, when="2026-11-01T10:00:00Z", identity=ROOT, resources=KEY),
    record(
        name="EnableKeyRotation",
        source=KMS,
        when="2026-12-06T08:00:00Z",
        identity=IAM_USER,
        resources=KEY,
        parameters={"keyId": KEY_ID},
    ),
    record(
        name="DisableKeyRotation",
        source=KMS,
        when="2026-12-06T09:14:03Z",
        identity=ASSUMED_ROLE,
        resources=KEY,
        parameters={"keyId": KEY_ID},
        source_ip="203.0.113.24",
    ),
    record(
        name="TagResource",
        source=KMS,
        when="2026-12-06T10:00:00Z",
        identity=IAM_USER,
        resources=KEY,
        parameters={"keyId": KEY_ID, "tags": [{"tagKey": "team", "tagValue": "db"}]},
    ),
    record(
        name="DisableKey",
        source=KMS,
        when="2026-12-06T11:00:00Z",
        identity=ROOT,
        resources=KEY,
        parameters={"keyId": KEY_ID},
        source_ip="192.0.2.10",
    ),
    record(
        name="DescribeKey",
        source=KMS,
        when="2026-12-06T12:00:00Z",
        identity=IAM_USER,
        resources=KEY,
        parameters={"keyId": KEY_ID},
        read_only=True,
    ),
    record(
        name="AuthorizeSecurityGroupIngress",
        source="ec2.amazonaws.com",
        when="2026-12-06T14:30:00Z",
        identity=IAM_USER,
        resources=[("AWS::EC2::SecurityGroup", GROUP)],
        parameters={
            "groupId": GROUP,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 5432,
                        "toPort": 5432,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    }
                ]
            },
        },
    ),
    record(
        name="PutRetentionPolicy",
        source="logs.amazonaws.com",
        when="2026-12-06T16:00:00Z",
        identity=AWS_SERVICE,
        resources=[("AWS::Logs::LogGroup", LOG_GROUP)],
        parameters={"logGroupName": LOG_GROUP, "retentionInDays": 1},
    ),
    record(
        name="ModifyDBCluster",
        source="rds.amazonaws.com",
        when="2026-12-06T17:00:00Z",
        identity=IAM_USER,
        resources=[("AWS::RDS::DBCluster", CLUSTER)],
        parameters={"dBClusterIdentifier": CLUSTER, "backupRetentionPeriod": 1},
    ),
]


@pytest.fixture
def standin() -> Iterator[CloudTrailStandIn]:
    with CloudTrailStandIn(list(RECORDS)).running() as server:
        server.window = 1.0 / FASTER
        yield server


def attributor(
    standin: CloudTrailStandIn, client: Any = None, window: Window = WINDOW, **options: Any
) -> Attributor:
    options.setdefault("limiters", RateLimiters(faster_lookup_limiter))
    return Attributor(
        lambda account, region: client or standin.client(region),
        window,
        now=lambda: NOW,
        **options,
    )


def subject(check_id: str | None, resource_id: str, arn: str | None = None) -> Subject:
    return Subject(
        check_id=check_id,
        account_id=ACCOUNT,
        region=REGION,
        resource_id=resource_id,
        resource_arn=arn,
    )


def test_key_rotation_turned_off_by_an_assumed_role(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject("kms.cmk_rotation_enabled", KEY_ID, KEY_ARN))

    assert found.status is AttributionStatus.FOUND
    assert found.cause == CauseEvent(
        event_name="DisableKeyRotation",
        event_source=KMS,
        event_time="2026-12-06T09:14:03Z",
        principal=f"arn:aws:iam::{ACCOUNT}:role/RoleToBeAssumed",
        session_name="MySessionName",
        source="203.0.113.24",
        event_id=RECORDS[2]["eventID"],
        plausible_cause=True,
    )
    assert found.summary() == (
        f"changed by arn:aws:iam::{ACCOUNT}:role/RoleToBeAssumed (session MySessionName) with"
        f" DisableKeyRotation at 2026-12-06T09:14:03Z from 203.0.113.24"
        f" (event {RECORDS[2]['eventID']})"
    )
    # Every write of the window, newest first: the CreateKey of November is outside it, and
    # the DescribeKey of noon only read the key.
    assert [(e.event_name, e.plausible_cause) for e in found.events] == [
        ("DisableKey", False),
        ("TagResource", False),
        ("DisableKeyRotation", True),
        ("EnableKeyRotation", False),
    ]
    # CloudTrail records the key under its ARN: both lookup attributes were asked.
    asked = [r["LookupAttributes"][0]["AttributeValue"] for r in standin.requests]
    assert asked == [KEY_ID, KEY_ARN]


def test_port_opened_by_an_iam_user(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject("ec2.datastore_sg_least_privilege", GROUP))

    assert found.cause is not None
    assert (found.cause.event_name, found.cause.principal, found.cause.session_name) == (
        "AuthorizeSecurityGroupIngress",
        f"arn:aws:iam::{ACCOUNT}:user/Alice",
        None,
    )
    assert (found.cause.event_time, found.cause.source) == ("2026-12-06T14:30:00Z", "198.51.100.7")
    assert found.cause.event_id == RECORDS[6]["eventID"]
    assert found.cause.changed["ipPermissions"]["items"][0]["fromPort"] == 5432


def test_root_and_aws_service_identities(standin: CloudTrailStandIn) -> None:
    attributions = attributor(standin)
    by_root = attributions.attribute(subject("kms.key_in_use_enabled", KEY_ID, KEY_ARN)).cause
    by_service = attributions.attribute(subject("logs.retention_set", LOG_GROUP)).cause

    assert by_root is not None and by_service is not None
    assert (by_root.event_name, by_root.principal, by_root.source) == (
        "DisableKey",
        "root",
        "192.0.2.10",
    )
    assert (by_service.principal, by_service.source, by_service.changed) == (
        "cloudformation.amazonaws.com",
        "cloudformation.amazonaws.com",
        {"retentionInDays": 1},
    )


def test_other_identities_name_their_arn() -> None:
    federated = {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:Bob",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/Bob",
        "accountId": ACCOUNT,
    }
    rec = record(name="DisableKey", source=KMS, when=NOW_TEXT, identity=federated, resources=KEY)

    event = parse_event({"EventId": rec["eventID"], "CloudTrailEvent": json.dumps(rec)})

    assert (event.principal, event.principal_type, event.session_name) == (
        f"arn:aws:sts::{ACCOUNT}:federated-user/Bob",
        "FederatedUser",
        None,
    )
    with pytest.raises(ValueError, match="not an object"):
        parse_event({"EventId": "e-1", "CloudTrailEvent": "[]"})


def test_a_drifted_resource_blames_its_newest_write(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject(None, KEY_ARN))

    assert found.cause is not None
    assert (found.cause.event_name, found.cause.principal) == ("DisableKey", "root")


def test_no_event_is_none_with_the_reason(standin: CloudTrailStandIn) -> None:
    attributions = attributor(standin)

    nothing = attributions.attribute(subject("logs.retention_set", "/ecs/other"))
    assert (nothing.status, nothing.reason, nothing.events) == (
        AttributionStatus.NONE,
        AttributionReason.NO_EVENTS,
        (),
    )
    # ModifyDBCluster changed the backup retention, not the deletion protection.
    other_field = attributions.attribute(subject("rds.deletion_protection", CLUSTER))
    assert (other_field.status, other_field.reason) == (
        AttributionStatus.NONE,
        AttributionReason.NO_MATCHING_CALL,
    )
    assert [e.event_name for e in other_field.events] == ["ModifyDBCluster"]
    assert attributions.attribute(subject("rds.backup_retention", CLUSTER)).cause is not None


def test_a_window_older_than_the_event_history(standin: CloudTrailStandIn) -> None:
    old = Window(start=NOW - timedelta(days=120), end=NOW)

    found = attributor(standin, window=old).attribute(subject("logs.retention_set", "/ecs/other"))

    assert (found.status, found.reason) == (
        AttributionStatus.NONE,
        AttributionReason.OUTSIDE_EVENT_HISTORY,
    )
    assert standin.requests[0]["StartTime"] == (NOW - timedelta(days=90)).timestamp()


def test_a_control_without_calls_on_its_resource_asks_nothing(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject("cloudformation.stack_drift", "prod-stack"))

    assert (found.status, found.reason) == (
        AttributionStatus.NONE,
        AttributionReason.NOT_ATTRIBUTABLE,
    )
    assert "stack's resources" in found.detail
    assert standin.requests == []


def test_a_plugin_control_is_not_attributable(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject("example.audit_logs_watched", LOG_GROUP))

    assert (found.status, found.reason) == (
        AttributionStatus.NONE,
        AttributionReason.NOT_ATTRIBUTABLE,
    )
    assert standin.requests == []


def test_access_denied_is_unavailable_with_the_reason(standin: CloudTrailStandIn) -> None:
    standin.deny = True
    attributions = attributor(standin)

    found = attributions.attribute(subject("kms.cmk_rotation_enabled", KEY_ID, KEY_ARN))
    # The account and region deny every lookup: the next resource is not asked again.
    assert attributions.attribute(subject("logs.retention_set", LOG_GROUP)) == found
    assert len(standin.requests) == 1

    assert (found.status, found.reason) == (
        AttributionStatus.UNAVAILABLE,
        AttributionReason.ACCESS_DENIED,
    )
    assert found.detail.startswith("AccessDeniedException on cloudtrail:LookupEvents: User:")
    assert found.summary().startswith(
        "changed by: not known (access denied: AccessDeniedException on cloudtrail:LookupEvents"
    )


def test_throttled_past_retries_is_unavailable(standin: CloudTrailStandIn) -> None:
    standin.limit = 0
    client = standin.client(config=Config(retries={"mode": "standard", "max_attempts": 1}))

    found = attributor(standin, client).attribute(subject("logs.retention_set", LOG_GROUP))

    assert (found.status, found.reason) == (
        AttributionStatus.UNAVAILABLE,
        AttributionReason.THROTTLED,
    )


def test_an_unreachable_endpoint_is_unavailable(standin: CloudTrailStandIn) -> None:
    closed = boto3.client(
        "cloudtrail",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )

    found = attributor(standin, closed).attribute(subject("logs.retention_set", LOG_GROUP))

    assert (found.status, found.reason) == (
        AttributionStatus.UNAVAILABLE,
        AttributionReason.LOOKUP_FAILED,
    )
    assert "Could not connect" in found.detail


def test_the_budget_names_what_is_left_over(standin: CloudTrailStandIn) -> None:
    attributions = attributor(standin, max_lookups=1)
    first = subject("ec2.datastore_sg_least_privilege", GROUP)
    second = subject("logs.retention_set", LOG_GROUP)

    assert attributions.attribute(first).status is AttributionStatus.FOUND
    found = attributions.attribute(second)

    assert (found.status, found.reason) == (
        AttributionStatus.UNAVAILABLE,
        AttributionReason.BUDGET_EXHAUSTED,
    )
    assert attributions.left_over == (second,)
    assert len(standin.requests) == 1


def test_the_cache_avoids_a_second_request(standin: CloudTrailStandIn) -> None:
    cache = MemoryLookupCache()
    group = subject("ec2.datastore_sg_least_privilege", GROUP)
    first = attributor(standin, cache=cache).attribute(group)

    # Another scan over the same window, with no budget at all: the cache answers.
    again = attributor(standin, cache=cache, max_lookups=0).attribute(group)

    assert again == first
    assert len(standin.requests) == 1


def test_a_recent_window_is_asked_once_per_scan_and_not_cached(
    standin: CloudTrailStandIn,
) -> None:
    cache = MemoryLookupCache()
    recent = Window(start=WINDOW.start, end=NOW - timedelta(minutes=5))
    attributions = attributor(standin, window=recent, cache=cache, max_lookups=1)

    # Two controls judge one resource: one lookup, one request.
    for check_id in ("rds.backup_retention", "rds.deletion_protection"):
        assert attributions.attribute(subject(check_id, CLUSTER)).events

    assert len(standin.requests) == 1
    key = LookupKey(
        account_id=ACCOUNT,
        region=REGION,
        attribute="ResourceName",
        value=CLUSTER,
        start="2026-12-06T00:00:00Z",
        end="2026-12-07T11:55:00Z",
    )
    assert cache.get(key) is None


def test_a_cached_answer_survives_the_history_store(standin: CloudTrailStandIn) -> None:
    cache = MemoryLookupCache()
    attributor(standin, cache=cache).attribute(subject("logs.retention_set", LOG_GROUP))
    key = LookupKey(
        account_id=ACCOUNT,
        region=REGION,
        attribute="ResourceName",
        value=LOG_GROUP,
        start="2026-12-06T00:00:00Z",
        end="2026-12-07T11:00:00Z",
    )
    answer = cache.get(key)

    assert answer is not None and [e.event_name for e in answer.events] == ["PutRetentionPolicy"]
    assert LookupAnswer.from_dict(json.loads(json.dumps(answer.as_dict()))) == answer


def test_pages_are_followed(standin: CloudTrailStandIn) -> None:
    standin.page_size = 2

    found = attributor(standin).attribute(subject("kms.cmk_rotation_enabled", KEY_ARN))

    assert [e.event_name for e in found.events] == [
        "DisableKey",
        "TagResource",
        "DisableKeyRotation",
        "EnableKeyRotation",
    ]
    assert [r.get("NextToken") for r in standin.requests] == [None, "2", "4"]


def test_more_pages_than_the_maximum_are_named(
    standin: CloudTrailStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.page_size = 2
    monkeypatch.setattr(attribution, "MAX_PAGES", 1)

    found = attributor(standin).attribute(subject("kms.cmk_rotation_enabled", KEY_ARN))

    assert found.truncated
    assert [e.event_name for e in found.events] == ["DisableKey"]  # and a DescribeKey


def test_never_more_than_two_requests_in_any_second(standin: CloudTrailStandIn) -> None:
    """On the faster clock: never more than two in any window of the stand-in's."""
    attributions = attributor(standin)
    groups = [subject("ec2.datastore_sg_least_privilege", f"sg-{n:017x}") for n in range(12)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        reasons = list(pool.map(lambda group: attributions.attribute(group).reason, groups))

    assert reasons == [AttributionReason.NO_EVENTS] * 12
    assert (len(standin.arrivals), standin.throttled) == (12, 0)
    # No three arrivals within a window: each is a window or more after the one before last.
    assert all(
        b - a >= standin.window
        for a, b in zip(standin.arrivals, standin.arrivals[2:], strict=False)
    )


def test_the_limiter_slides_its_window() -> None:
    clock = [0.0]
    sent: list[float] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = SlidingWindowLimiter(2, 1.0, clock=lambda: clock[0], sleep=sleep)
    for at in (0.0, 0.1, 0.1, 1.05, 1.06):
        clock[0] = max(clock[0], at)
        limiter.acquire()
        sent.append(clock[0])
        limiter.release()  # answered at once: the slot frees a period after it was sent

    assert sent == [0.0, 0.1, 1.0, 1.1, 2.0]


def test_every_control_has_an_entry() -> None:
    assert set(WRITE_CALLS) == {spec.id for spec in all_checks()}


def test_judged_fields_are_matched_without_case() -> None:
    (call,) = [c for c in WRITE_CALLS["elasticache.multi_az"].calls if c.fields]

    assert call.changed({"MultiAZEnabled": False, "replicationGroupId": "prod"}) == {
        "MultiAZEnabled": False
    }


def test_an_entry_is_calls_or_a_reason() -> None:
    with pytest.raises(ValueError, match="calls, or a reason"):
        ControlWrites()


def test_an_attribution_survives_the_history_store(standin: CloudTrailStandIn) -> None:
    found = attributor(standin).attribute(subject("ec2.datastore_sg_least_privilege", GROUP))

    assert Attribution.from_dict(json.loads(json.dumps(found.as_dict()))) == found
