"""elasticache.encryption_at_rest, encryption_in_transit, multi_az, snapshot_retention,
maintenance_window_approved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from scanner.demo.base import DemoAccount
from scanner.demo.elasticache import make_replication_group, reference_elasticache
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import elasticache
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, Status
from tests.checks.judge import by_resource, denied, judge
from tests.factories import cache_clusters, replication_group
from tests.helpers import expect, fail_operation, findings_of, scan

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-1111-2222-3333-444455556666"


GROUPS = elasticache.replication_groups


def judged(check_id: str, *groups: Any, **params: Any) -> dict[str, Finding]:
    return by_resource(judge(check_id, {GROUPS: list(groups)}, **params))


def test_encryption_at_rest() -> None:
    expect(
        judged(
            "elasticache.encryption_at_rest",
            replication_group("cmk", kms_key_id=KEY_ARN),
            replication_group("default-key"),
            replication_group("plain", at_rest_encryption=False),
        ),
        {
            "cmk": (Status.PASS, f"encrypted at rest with key {KEY_ARN}"),
            "default-key": (Status.PASS, "with the default ElastiCache key"),
            "plain": (Status.FAIL, "replication group plain is not encrypted at rest"),
        },
    )


def test_encryption_in_transit() -> None:
    expect(
        judged(
            "elasticache.encryption_in_transit",
            replication_group("tls"),
            replication_group("plain", transit_encryption=False, transit_encryption_mode=None),
        ),
        {
            "tls": (Status.PASS, "encrypts connections in transit"),
            "plain": (Status.FAIL, "has in-transit encryption off"),
        },
    )


def test_multi_az_needs_multi_az_and_failover() -> None:
    single: dict[str, Any] = {"multi_az": False, "multi_az_status": "disabled"}
    no_failover: dict[str, Any] = {
        "automatic_failover": False,
        "automatic_failover_status": "disabled",
    }
    expect(
        judged(
            "elasticache.multi_az",
            replication_group("ha"),
            replication_group("no-failover", **single, **no_failover),
            replication_group("failover-only", **single),
        ),
        {
            "ha": (Status.PASS, "MultiAZ is enabled, AutomaticFailover is enabled"),
            "no-failover": (Status.FAIL, "MultiAZ is disabled, AutomaticFailover is disabled"),
            "failover-only": (Status.FAIL, "MultiAZ is disabled, AutomaticFailover is enabled"),
        },
    )


RETAINED = [
    replication_group(name, snapshot_retention_limit=days)
    for name, days in (("kept", 7), ("at-minimum", 5), ("short", 1), ("off", 0))
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "kept": (Status.PASS, "keeps snapshots 7 days (baseline 5), window 03:00-04:00"),
                "at-minimum": (Status.PASS, "keeps snapshots 5 days"),
                "short": (Status.FAIL, "snapshot retention is 1 day, below the baseline's 5"),
                "off": (Status.FAIL, "snapshot retention is 0 days"),
            },
        ),
        (
            {"min_days": 7},
            {
                "kept": (Status.PASS, "baseline 7"),
                "at-minimum": (Status.FAIL, "5 days, below the baseline's 7"),
                "short": (Status.FAIL, "1 day,"),
                "off": (Status.FAIL, "0 days"),
            },
        ),
    ],
)
def test_snapshot_retention(params: Any, expected: Any) -> None:
    expect(judged("elasticache.snapshot_retention", *RETAINED, **params), expected)


def test_snapshot_window_missing_fails() -> None:
    expect(
        judged(
            "elasticache.snapshot_retention", replication_group("no-window", snapshot_window=None)
        ),
        {"no-window": (Status.FAIL, "replication group no-window: no SnapshotWindow is set")},
    )


def test_describe_denied_is_one_error_for_the_region() -> None:
    found = judge(
        "elasticache.encryption_at_rest",
        {GROUPS: denied("elasticache:DescribeReplicationGroups")},
    )
    expect(
        by_resource(found),
        {"*": (Status.ERROR, "could not read elasticache.replication_groups")},
    )


SATURDAY_NIGHT = "sat:22:00-sun:06:00"


def test_maintenance_window_of_every_member() -> None:
    inside = replication_group("inside")
    wraps = replication_group("wraps", members=1)
    overruns = replication_group("overruns", members=1)
    unset = replication_group("unset")
    mixed = replication_group("mixed", members=3)
    unlisted = replication_group("unlisted")
    mixed_members = cache_clusters(mixed)
    mixed_members[2] = replace(mixed_members[2], maintenance_window="wed:15:00-wed:16:00")
    found = judge(
        "elasticache.maintenance_window_approved",
        {
            GROUPS: [inside, wraps, overruns, unset, mixed, unlisted],
            elasticache.cache_clusters: [
                *cache_clusters(inside),
                *cache_clusters(wraps, "sat:23:30-sun:00:30"),
                *cache_clusters(overruns, "sun:05:30-sun:06:30"),
                *cache_clusters(unset, None),
                *mixed_members,
                *cache_clusters(unlisted)[:1],
            ],
        },
        allowed_windows=[SATURDAY_NIGHT],
    )

    expect(
        by_resource(found),
        {
            "inside": (
                Status.PASS,
                "replication group inside: inside-001: window sun:04:00-sun:05:00 lies "
                "inside sat:22:00-sun:06:00; inside-002: window sun:04:00-sun:05:00",
            ),
            "wraps": (Status.PASS, "wraps-001: window sat:23:30-sun:00:30 lies inside"),
            "overruns": (
                Status.FAIL,
                "replication group overruns: overruns-001: window sun:05:30-sun:06:30 "
                "lies outside the allowed windows (sat:22:00-sun:06:00)",
            ),
            "unset": (Status.FAIL, "unset-001: window is not set; unset-002: window is not"),
            "mixed": (
                Status.FAIL,
                "replication group mixed: mixed-003: window wed:15:00-wed:16:00 lies outside",
            ),
            "unlisted": (
                Status.ERROR,
                "could not read the maintenance windows of its members: MemberClusterNotListed "
                "on elasticache:DescribeCacheClusters: member clusters not returned: unlisted-002",
            ),
        },
    )


# --- moto and Stubber: what the collectors read ---------------------------------------------


def test_listing_follows_pages_and_reads_a_missing_window(account: DemoAccount) -> None:
    """moto always sets a window (gap elasticache-default-snapshot-window) and ignores
    MaxRecords: two pages from a Stubber, the second holding a group without a window."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("elasticache", account.region))

    def group(group_id: str, **extra: object) -> dict[str, object]:
        return {"ReplicationGroupId": group_id, "SnapshotRetentionLimit": 7, **extra}

    stubber.add_response(
        "describe_replication_groups",
        {"ReplicationGroups": [group("windowed", SnapshotWindow="03:00-04:00")], "Marker": "p2"},
    )
    stubber.add_response(
        "describe_replication_groups", {"ReplicationGroups": [group("no-window")]}, {"Marker": "p2"}
    )
    with stubber:
        result = scan(account, "elasticache.snapshot_retention", session=session, workers=1)
    expect(
        {f.resource_id: f for f in result.findings},
        {
            "windowed": (Status.PASS, "keeps snapshots 7 days"),
            "no-window": (Status.FAIL, "replication group no-window: no SnapshotWindow is set"),
        },
    )


def test_tags_denied_is_error_for_that_group_only(account: DemoAccount) -> None:
    tagged = make_replication_group(account, tags={"env": "prod"})
    denied = make_replication_group(account, tags={"env": "prod"})
    make_replication_group(account, tags={"env": "stage"})  # out of scope
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "elasticache",
        "ListTagsForResource",
        when=lambda params: params["ResourceName"].endswith(f":{denied}"),
    )

    result = scan(
        account, "elasticache.multi_az", scope=Scope(tags={"env": "prod"}), session=session
    )

    expect(
        {f.resource_id: f for f in result.findings},
        {
            tagged: (Status.PASS, "MultiAZ is enabled"),
            denied: (
                Status.ERROR,
                "AccessDeniedException on elasticache:ListTagsForResource",
            ),
        },
    )


def test_maintenance_window_members_unlisted_or_denied_are_errors(account: DemoAccount) -> None:
    group = make_replication_group(account)
    del account.backend("elasticache").cache_clusters[f"{group}-002"]  # as moto leaves them
    expect(
        findings_of(
            account, "elasticache.maintenance_window_approved", allowed_windows=[SATURDAY_NIGHT]
        ),
        {
            group: (
                Status.ERROR,
                "could not read the maintenance windows of its members: MemberClusterNotListed "
                f"on elasticache:DescribeCacheClusters: member clusters not returned: {group}-002",
            )
        },
    )

    session = AwsSession(SessionOptions())
    fail_operation(session, "elasticache", "DescribeCacheClusters")
    result = scan(
        account,
        "elasticache.maintenance_window_approved",
        params={"elasticache.maintenance_window_approved": {"allowed_windows": [SATURDAY_NIGHT]}},
        session=session,
    )
    expect(
        {f.resource_id: f for f in result.findings},
        {"*": (Status.ERROR, "could not read elasticache.cache_clusters: AccessDenied")},
    )


def test_records_carry_port_key_and_member_security_groups(account: DemoAccount) -> None:
    """moto gaps elasticache-member-clusters-missing / -cache-cluster-sgs-missing: the builder
    creates the members and patches their security groups."""
    group = make_replication_group(
        account, kms_key_arn=KEY_ARN, security_group_ids=("sg-0a1", "sg-0b2"), port=6380
    )
    other = make_replication_group(account, at_rest=False, replicas=2, security_group_ids=("sg-9",))
    inventory = Inventory(
        AwsSession(SessionOptions()),
        account_id=account.account_id,
        region=account.region,
        scope=Scope(),
    )

    groups = {g.ref.id: g for g in inventory.get(elasticache.replication_groups)}
    clusters = inventory.get(elasticache.cache_clusters)

    first = groups[group]
    assert isinstance(first, elasticache.ReplicationGroup)
    assert (first.port, first.kms_key_id, first.member_clusters) == (
        6380,
        KEY_ARN,
        (f"{group}-001", f"{group}-002"),
    )
    second = groups[other]
    assert isinstance(second, elasticache.ReplicationGroup)
    assert (second.port, second.kms_key_id, len(second.member_clusters)) == (6379, None, 3)
    assert {c.cache_cluster_id: c.replication_group_id for c in clusters} == {
        f"{group}-001": group,
        f"{group}-002": group,
        f"{other}-001": other,
        f"{other}-002": other,
        f"{other}-003": other,
    }
    assert elasticache.security_groups_by_group(clusters) == {
        group: ("sg-0a1", "sg-0b2"),
        other: ("sg-9",),
    }


def test_reference_stack(account: DemoAccount) -> None:
    reference_elasticache(
        account, compliant=True, security_group_ids=["sg-1"], key_arn=KEY_ARN, group_id="redis-prod"
    )
    reference_elasticache(
        account, compliant=False, security_group_ids=["sg-2"], group_id="redis-stage"
    )

    result = scan(
        account,
        "elasticache.encryption_at_rest",
        "elasticache.encryption_in_transit",
        "elasticache.multi_az",
        "elasticache.snapshot_retention",
        "elasticache.maintenance_window_approved",
        params={"elasticache.maintenance_window_approved": {"allowed_windows": [SATURDAY_NIGHT]}},
    )

    statuses = {(f.check_id, f.resource_id): f.status for f in result.findings}
    assert len(statuses) == 10
    for (_, resource_id), status in statuses.items():
        assert status is (Status.PASS if resource_id == "redis-prod" else Status.FAIL)
