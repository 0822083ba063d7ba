"""elasticache.encryption_at_rest, encryption_in_transit, multi_az, snapshot_retention,
maintenance_window_approved."""

from __future__ import annotations

from botocore.stub import Stubber

from scanner.demo.base import DemoAccount
from scanner.demo.elasticache import make_replication_group, reference_elasticache
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import elasticache
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.helpers import expect, fail_operation, findings_of, scan

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-1111-2222-3333-444455556666"


def test_encryption_at_rest(account: DemoAccount) -> None:
    cmk = make_replication_group(account, kms_key_arn=KEY_ARN)
    default_key = make_replication_group(account)
    plain = make_replication_group(account, at_rest=False)

    expect(
        findings_of(account, "elasticache.encryption_at_rest"),
        {
            cmk: (Status.PASS, f"encrypted at rest with key {KEY_ARN}"),
            default_key: (Status.PASS, "with the default ElastiCache key"),
            plain: (Status.FAIL, f"replication group {plain} is not encrypted at rest"),
        },
    )


def test_encryption_in_transit(account: DemoAccount) -> None:
    tls = make_replication_group(account)
    plain = make_replication_group(account, transit=False)

    expect(
        findings_of(account, "elasticache.encryption_in_transit"),
        {
            tls: (Status.PASS, "encrypts connections in transit"),
            plain: (Status.FAIL, "has in-transit encryption off"),
        },
    )


def test_multi_az_needs_multi_az_and_failover(account: DemoAccount) -> None:
    ha = make_replication_group(account)
    no_failover = make_replication_group(account, multi_az=False, failover=False)
    failover_only = make_replication_group(account, multi_az=False, failover=True)

    expect(
        findings_of(account, "elasticache.multi_az"),
        {
            ha: (Status.PASS, "MultiAZ is enabled, AutomaticFailover is enabled"),
            no_failover: (Status.FAIL, "MultiAZ is disabled, AutomaticFailover is disabled"),
            failover_only: (Status.FAIL, "MultiAZ is disabled, AutomaticFailover is enabled"),
        },
    )


def test_snapshot_retention(account: DemoAccount) -> None:
    kept = make_replication_group(account, snapshot_days=7)
    at_minimum = make_replication_group(account, snapshot_days=5)
    short = make_replication_group(account, snapshot_days=1)
    off = make_replication_group(account, snapshot_days=0)

    expect(
        findings_of(account, "elasticache.snapshot_retention"),
        {
            kept: (Status.PASS, "keeps snapshots 7 days (baseline 5), window 03:00-04:00"),
            at_minimum: (Status.PASS, "keeps snapshots 5 days"),
            short: (Status.FAIL, "snapshot retention is 1 day, below the baseline's 5"),
            off: (Status.FAIL, "snapshot retention is 0 days"),
        },
    )
    expect(
        findings_of(account, "elasticache.snapshot_retention", min_days=7),
        {
            kept: (Status.PASS, "baseline 7"),
            at_minimum: (Status.FAIL, "5 days, below the baseline's 7"),
            short: (Status.FAIL, "1 day,"),
            off: (Status.FAIL, "0 days"),
        },
    )


def test_snapshot_window_missing_fails_and_listing_follows_pages(account: DemoAccount) -> None:
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


def test_describe_denied_is_one_error_for_the_region(account: DemoAccount) -> None:
    make_replication_group(account)
    session = AwsSession(SessionOptions())
    fail_operation(session, "elasticache", "DescribeReplicationGroups")

    result = scan(account, "elasticache.encryption_at_rest", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {"*": (Status.ERROR, "could not read elasticache.replication_groups")},
    )


SATURDAY_NIGHT = "sat:22:00-sun:06:00"


def test_maintenance_window_of_every_member(account: DemoAccount) -> None:
    inside = make_replication_group(account, maintenance_window="sun:04:00-sun:05:00")
    wraps = make_replication_group(account, maintenance_window="sat:23:30-sun:00:30")
    overruns = make_replication_group(account, maintenance_window="sun:05:30-sun:06:30")
    # moto gives members no window unless each is created with one
    # (elasticache-member-window-not-inherited): AWS always returns one.
    unset = make_replication_group(account, maintenance_window=None)
    mixed = make_replication_group(account, replicas=2)
    account.backend("elasticache").cache_clusters[
        f"{mixed}-003"
    ].preferred_maintenance_window = "wed:15:00-wed:16:00"

    expect(
        findings_of(
            account, "elasticache.maintenance_window_approved", allowed_windows=[SATURDAY_NIGHT]
        ),
        {
            inside: (
                Status.PASS,
                f"replication group {inside}: {inside}-001: window sun:04:00-sun:05:00 lies "
                f"inside sat:22:00-sun:06:00; {inside}-002: window sun:04:00-sun:05:00",
            ),
            wraps: (Status.PASS, f"{wraps}-001: window sat:23:30-sun:00:30 lies inside"),
            overruns: (
                Status.FAIL,
                f"replication group {overruns}: {overruns}-001: window sun:05:30-sun:06:30 "
                "lies outside the allowed windows (sat:22:00-sun:06:00); ",
            ),
            unset: (Status.FAIL, f"{unset}-001: window is not set; {unset}-002: window is not"),
            mixed: (
                Status.FAIL,
                f"replication group {mixed}: {mixed}-003: window wed:15:00-wed:16:00 lies outside",
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
