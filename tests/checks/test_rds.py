"""The RDS controls: encryption with a customer-managed key, no public instances, backup
retention, log exports, clusters over two AZs, deletion protection."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from checks.rds import DATABASE_KEYS, main_log
from scanner.app.config import parse_baseline
from scanner.demo.base import ACCOUNT_ID, DemoAccount
from scanner.demo.kms import make_key
from scanner.demo.rds import make_aurora_cluster, make_db_instance, reference_rds
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import rds
from scanner.engine.registry import get_check
from scanner.engine.session import AwsSession, SessionOptions
from scanner.engine.windows import inside, parse
from scanner.errors import ConfigError
from scanner.model import Finding, ReadError, Status
from tests.checks.judge import by_resource, denied, judge
from tests.factories import KEY_ARN, cluster, described, instance, key, key_arn, members
from tests.helpers import expect, findings_of, scan

A, B = "us-east-1a", "us-east-1b"


AWS_KEY = key("k-aws", manager="AWS")


def judged(check_id: str, values: dict[Any, Any], **params: Any) -> dict[str, Finding]:
    return by_resource(judge(check_id, values, **params))


# --- rds.storage_encrypted_with_cmk ------------------------------------------------------------


def test_encryption_judges_clusters_and_standalone_instances() -> None:
    found = judged(
        "rds.storage_encrypted_with_cmk",
        {
            rds.clusters: [
                cluster("cmk"),
                cluster("managed", kms_key_id=AWS_KEY.arn),
                cluster("plain", storage_encrypted=False, kms_key_id=None),
                cluster("default", kms_key_id=None),
            ],
            rds.instances: [
                instance("cmk-1", cluster_id="cmk", storage_encrypted=False),  # via its cluster
                instance("solo-cmk"),
                instance("solo-plain", storage_encrypted=False, kms_key_id=None),
            ],
            DATABASE_KEYS: described(key(), AWS_KEY),
        },
    )

    expect(
        found,
        {
            "cmk": (
                Status.PASS,
                f"DB cluster cmk is encrypted with customer-managed key {KEY_ARN}",
            ),
            "managed": (Status.FAIL, f"encrypted with AWS-managed key {AWS_KEY.arn}"),
            "plain": (Status.FAIL, "DB cluster plain is not encrypted"),
            "default": (Status.FAIL, "encrypted with the default key (no KmsKeyId returned"),
            "solo-cmk": (Status.PASS, "DB instance solo-cmk is encrypted with customer-managed"),
            "solo-plain": (Status.FAIL, "DB instance solo-plain is not encrypted"),
        },
    )
    assert found["cmk"].evidence == {
        "StorageEncrypted": True,
        "KmsKeyId": KEY_ARN,
        "KeyManager": "CUSTOMER",
    }
    assert found["plain"].evidence == {"StorageEncrypted": False}


def test_encryption_key_not_described_is_error_for_that_cluster() -> None:
    found = judged(
        "rds.storage_encrypted_with_cmk",
        {
            rds.clusters: [cluster("readable"), cluster("denied", kms_key_id=key_arn("k-x"))],
            DATABASE_KEYS: described(key(), refs={key_arn("k-x"): denied("kms:DescribeKey")}),
        },
    )

    expect(
        found,
        {
            "readable": (Status.PASS, "customer-managed key"),
            "denied": (Status.ERROR, "AccessDeniedException on kms:DescribeKey"),
        },
    )


def test_instance_listing_denied_still_judges_clusters() -> None:
    expect(
        judged(
            "rds.deletion_protection",
            {
                rds.clusters: [cluster("main")],
                rds.instance_listing: denied("rds:DescribeDBInstances"),
            },
        ),
        {
            "main": (Status.PASS, "DB cluster main has deletion protection"),
            "*": (Status.ERROR, "could not read rds.instances: AccessDeniedException"),
        },
    )


# --- rds.not_publicly_accessible ---------------------------------------------------------------


def test_public_instances_fail_members_included() -> None:
    found = judged(
        "rds.not_publicly_accessible",
        {
            rds.instances: [
                instance("main-1", cluster_id="main"),
                instance("main-2", cluster_id="main", publicly_accessible=True),
                instance("solo-public", publicly_accessible=True),
                instance("solo-private"),
            ]
        },
    )

    expect(
        found,
        {
            "main-1": (Status.PASS, "DB instance main-1 (cluster main) is not publicly"),
            "main-2": (Status.FAIL, "DB instance main-2 (cluster main) is publicly accessible"),
            "solo-public": (Status.FAIL, "DB instance solo-public is publicly accessible"),
            "solo-private": (Status.PASS, "DB instance solo-private is not publicly accessible"),
        },
    )
    assert found["main-2"].evidence == {"PubliclyAccessible": True}


# --- rds.backup_retention ----------------------------------------------------------------------

BACKUPS = {
    rds.clusters: [
        cluster("week", backup_retention_days=7),
        cluster("day", backup_retention_days=1),
        cluster("month", backup_retention_days=30),
    ],
    rds.instances: [
        instance("week-1", cluster_id="week", backup_retention_days=0),  # judged on the cluster
        instance("solo-off", backup_retention_days=0),
        # a read replica keeps no backups of its own: not judged
        instance("replica", backup_retention_days=0, read_replica_source="solo-off"),
    ],
}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "week": (Status.PASS, "DB cluster week keeps backups for 7 days"),
                "day": (
                    Status.FAIL,
                    "DB cluster day keeps backups for 1 day, below the baseline's 7",
                ),
                "month": (Status.PASS, "keeps backups for 30 days"),
                "solo-off": (
                    Status.FAIL,
                    "solo-off has automated backups off, below the baseline's 7",
                ),
            },
        ),
        (
            {"min_days": 14},
            {
                "week": (Status.FAIL, "keeps backups for 7 days, below the baseline's 14"),
                "day": (Status.FAIL, "below the baseline's 14"),
                "month": (Status.PASS, "keeps backups for 30 days"),
                "solo-off": (Status.FAIL, "automated backups off"),
            },
        ),
    ],
)
def test_backup_retention_against_min_days(params: Any, expected: Any) -> None:
    expect(judged("rds.backup_retention", BACKUPS, **params), expected)


# --- rds.log_exports ---------------------------------------------------------------------------


def test_log_exports_need_the_engines_main_log() -> None:
    mysql = {"engine": "aurora-mysql"}
    found = judged(
        "rds.log_exports",
        {
            rds.clusters: [
                cluster("pg"),
                cluster("pg-none", enabled_log_exports=()),
                cluster("my", **mysql, enabled_log_exports=("error", "slowquery")),
                cluster("my-audit", **mysql, enabled_log_exports=("audit",)),
            ],
            rds.instances: [
                instance("solo-my", engine="mysql", enabled_log_exports=("error",)),
                instance("solo-pg", enabled_log_exports=("upgrade",)),
            ],
        },
    )

    expect(
        found,
        {
            "pg": (Status.PASS, "DB cluster pg (aurora-postgresql) exports its postgresql log"),
            "pg-none": (Status.FAIL, "does not export its postgresql log (exports: none)"),
            "my": (Status.PASS, "DB cluster my (aurora-mysql) exports its error log"),
            "my-audit": (Status.FAIL, "does not export its error log (exports: audit)"),
            "solo-my": (Status.PASS, "DB instance solo-my (mysql) exports its error log"),
            "solo-pg": (Status.FAIL, "solo-pg (postgres) does not export its postgresql log"),
        },
    )


def test_main_log_by_engine() -> None:
    assert main_log("aurora-postgresql") == main_log("postgres") == "postgresql"
    assert main_log("aurora-mysql") == main_log("mysql") == main_log("aurora") == "error"
    assert (main_log("oracle-ee-cdb"), main_log("sqlserver-se")) == ("alert", "error")
    assert main_log("neptune") is None and main_log("docdb") is None  # not judged
    assert main_log("custom-oracle-ee") is None


# --- rds.cluster_multi_az ----------------------------------------------------------------------


def test_cluster_instances_must_span_two_azs() -> None:
    found = judged(
        "rds.cluster_multi_az",
        {
            rds.clusters: [
                cluster("spread"),
                cluster("same"),
                cluster("single"),
                cluster("empty"),
                cluster("v1", engine_mode="serverless"),  # no DB instances: not judged
            ],
            rds.cluster_members: {
                "spread": members(A, B, cluster_id="spread"),
                "same": members(A, A, cluster_id="same"),
                "single": members(B, cluster_id="single"),
            },
        },
    )

    expect(
        found,
        {
            "spread": (Status.PASS, "spans us-east-1a, us-east-1b (spread-1 in us-east-1a, "),
            "same": (
                Status.FAIL,
                "DB cluster same runs in us-east-1a only (same-1 in us-east-1a, "
                "same-2 in us-east-1a)",
            ),
            "single": (Status.FAIL, "runs in us-east-1b only (single-1 in us-east-1b)"),
            "empty": (Status.FAIL, "DB cluster empty has no DB instances"),
        },
    )
    assert found["spread"].evidence == {
        "AvailabilityZones": [A, B],
        "Members": ["spread-1", "spread-2"],
    }


def test_multi_az_counts_members_outside_the_scope(account: DemoAccount) -> None:
    make_aurora_cluster(account, cluster_id="prod", tags={"env": "prod"}, instance_azs=(A,))
    make_aurora_cluster(account, cluster_id="dev", tags={"env": "dev"})
    account.client("rds").create_db_instance(  # an untagged reader: still a member
        DBInstanceIdentifier="prod-reader",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBClusterIdentifier="prod",
        AvailabilityZone=B,
        PubliclyAccessible=False,
    )

    result = scan(account, "rds.cluster_multi_az", scope=Scope(tags={"env": "prod"}))

    assert [(f.resource_id, f.status) for f in result.findings] == [("prod", Status.PASS)]
    assert "prod-reader in us-east-1b" in result.findings[0].message


def test_multi_az_instance_listing_denied_is_error() -> None:
    expect(
        judged(
            "rds.cluster_multi_az",
            {rds.clusters: [cluster()], rds.instance_listing: denied("rds:DescribeDBInstances")},
        ),
        {
            "*": (
                Status.ERROR,
                "could not read rds.instance_listing: AccessDeniedException on "
                "rds:DescribeDBInstances",
            )
        },
    )


# --- rds.deletion_protection -------------------------------------------------------------------


def test_deletion_protection() -> None:
    found = judged(
        "rds.deletion_protection",
        {
            rds.clusters: [cluster("guarded"), cluster("open", deletion_protection=False)],
            rds.instances: [
                instance("open-1", cluster_id="open", deletion_protection=False),  # via cluster
                instance("solo-open", deletion_protection=False),
            ],
        },
    )

    expect(
        found,
        {
            "guarded": (Status.PASS, "DB cluster guarded has deletion protection"),
            "open": (Status.FAIL, "DB cluster open has deletion protection off"),
            "solo-open": (Status.FAIL, "DB instance solo-open has deletion protection off"),
        },
    )


# --- rds.maintenance_window_approved -----------------------------------------------------------

SATURDAY_NIGHT = "sat:22:00-sun:06:00"


def test_maintenance_windows_inside_the_allowed_ones() -> None:
    windows = {
        "sunday": "sun:03:00-sun:03:30",
        "wraps": "sat:23:45-sun:00:15",  # across the week's end, inside the allowed one
        "overruns": "sun:05:45-sun:06:15",  # partly outside
        "weekday": "wed:14:00-wed:14:30",
    }
    found = judged(
        "rds.maintenance_window_approved",
        {
            rds.clusters: [cluster(name, maintenance_window=w) for name, w in windows.items()],
            rds.instances: [
                instance("solo-in", maintenance_window="sun:01:00-sun:01:30"),
                instance("solo-default", maintenance_window="wed:06:38-wed:07:08"),
            ],
        },
        allowed_windows=[SATURDAY_NIGHT, "tue:01:00-tue:02:00"],
    )

    expect(
        found,
        {
            "sunday": (
                Status.PASS,
                "DB cluster sunday: maintenance window sun:03:00-sun:03:30 lies inside "
                "sat:22:00-sun:06:00",
            ),
            "wraps": (Status.PASS, "sat:23:45-sun:00:15 lies inside sat:22:00-sun:06:00"),
            "overruns": (
                Status.FAIL,
                "DB cluster overruns: maintenance window sun:05:45-sun:06:15 lies outside the "
                "allowed windows (sat:22:00-sun:06:00, tue:01:00-tue:02:00)",
            ),
            "weekday": (Status.FAIL, "wed:14:00-wed:14:30 lies outside"),
            "solo-in": (Status.PASS, "DB instance solo-in: maintenance window sun:01:00-sun:01:30"),
            "solo-default": (Status.FAIL, "DB instance solo-default: maintenance window wed:06:38"),
        },
    )


def test_maintenance_window_is_off_until_configured_and_validated() -> None:
    spec = get_check("rds.maintenance_window_approved")
    assert spec.configured_by == "allowed_windows" and spec.defaults() == {"allowed_windows": []}
    with pytest.raises(
        ConfigError, match="controls/rds.maintenance_window_approved/allowed_windows/0"
    ) as raised:
        parse_baseline(
            "version: 1\ncontrols:\n  rds.maintenance_window_approved:\n"
            "    allowed_windows: ['sunday 3am']\n"
        )
    assert raised.value.exit_code == 2


def test_window_arithmetic_wraps_the_week() -> None:
    night = parse(SATURDAY_NIGHT)
    assert night == (6 * 24 * 60 + 22 * 60, 8 * 60)
    assert inside(parse("sat:22:00-sun:06:00"), night)  # type: ignore[arg-type]
    assert inside(parse("sun:05:30-sun:06:00"), night)  # type: ignore[arg-type]
    assert not inside(parse("sat:21:59-sat:22:29"), night)  # type: ignore[arg-type]
    assert not inside(parse("sun:06:00-sun:06:30"), night)  # type: ignore[arg-type]
    assert parse("sun:3:00-sun:04:00") is None and parse("fun:03:00-sun:04:00") is None


def test_maintenance_window_listing_denied_is_error() -> None:
    listing_denied = ReadError(
        code="AccessDeniedException",
        action="rds:DescribeDBClusters",
        detail="injected AccessDeniedException",
    )
    found = judge(
        "rds.maintenance_window_approved",
        {rds.clusters: listing_denied, rds.instances: []},  # instances tolerate it
        allowed_windows=[SATURDAY_NIGHT],
    )

    assert [(f.resource_id, f.status, f.message) for f in found] == [
        (
            "*",
            Status.ERROR,
            "could not read rds.clusters: AccessDeniedException on rds:DescribeDBClusters: "
            "injected AccessDeniedException",
        )
    ]


# --- collectors and the reference stack --------------------------------------------------------


def test_members_of_a_cluster_in_a_tag_scope_are_judged_without_the_tag(
    account: DemoAccount,
) -> None:
    make_aurora_cluster(account, cluster_id="prod", public_instances=True, tags={"env": "prod"})
    for member in ("prod-1", "prod-2"):  # tagged on the cluster only, as AWS allows
        account.client("rds").remove_tags_from_resource(
            ResourceName=f"arn:aws:rds:{account.region}:{ACCOUNT_ID}:db:{member}",
            TagKeys=["env"],
        )
    make_aurora_cluster(account, cluster_id="stage", public_instances=True, tags={"env": "stage"})

    result = scan(account, "rds.not_publicly_accessible", scope=Scope(tags={"env": "prod"}))

    judged = {(f.resource_id, f.status) for f in result.findings}
    assert judged == {("prod-1", Status.FAIL), ("prod-2", Status.FAIL)}


def test_publicly_accessible_omitted_reads_as_not_set(account: DemoAccount) -> None:
    """moto omits PubliclyAccessible when not given (rds-publicly-accessible-omitted): a
    missing value is read as not set, never as an error."""
    account.client("rds").create_db_instance(
        DBInstanceIdentifier="unset",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="dbadmin",
        MasterUserPassword="demo-only-pass",
        AvailabilityZone=A,
    )

    expect(
        findings_of(account, "rds.not_publicly_accessible"),
        {"unset": (Status.PASS, "DB instance unset is not publicly accessible")},
    )


def test_records_carry_what_other_checks_read(account: DemoAccount) -> None:
    key = make_key(account)
    make_aurora_cluster(
        account,
        cluster_id="main",
        key_arn=key,
        security_group_ids=["sg-0123"],
        port=5433,
        tags={"env": "prod"},
    )
    make_aurora_cluster(account, cluster_id="plain", encrypted=False, instance_azs=())
    make_db_instance(account, instance_id="solo", engine="mysql", log_exports=("error",))
    inventory = Inventory(
        AwsSession(SessionOptions()),
        account_id=account.account_id,
        region=account.region,
        scope=Scope(),
    )

    clusters = {c.cluster_id: c for c in inventory.get(rds.clusters)}
    main = clusters["main"]
    assert (main.kms_key_id, main.port, main.security_group_ids) == (key, 5433, ("sg-0123",))
    assert (main.member_instance_ids, main.tags) == (("main-1", "main-2"), {"env": "prod"})
    assert clusters["plain"].kms_key_id is None  # not moto's placeholder
    instances = {i.instance_id: i for i in inventory.get(rds.instances)}
    assert (instances["main-2"].cluster_id, instances["main-2"].availability_zone) == ("main", B)
    assert instances["main-1"].security_group_ids == ("sg-0123",)
    solo = instances["solo"]
    assert (solo.cluster_id, solo.port, solo.engine, solo.standalone) == (None, 3306, "mysql", True)


def test_cluster_listing_follows_pages(account: DemoAccount) -> None:
    """moto returns every cluster in one page: two pages from a Stubber."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("rds", account.region))
    cluster = {
        "DBClusterIdentifier": "first",
        "Engine": "aurora-postgresql",
        "DeletionProtection": True,
    }
    stubber.add_response("describe_db_clusters", {"DBClusters": [cluster], "Marker": "page-2"})
    stubber.add_response(
        "describe_db_clusters",
        {"DBClusters": [{**cluster, "DBClusterIdentifier": "second", "DeletionProtection": False}]},
        {"Marker": "page-2"},
    )
    stubber.add_response("describe_db_instances", {"DBInstances": []})

    with stubber:
        result = scan(account, "rds.deletion_protection", session=session, workers=1)

    assert {f.resource_id: f.status for f in result.findings} == {
        "first": Status.PASS,
        "second": Status.FAIL,
    }


RDS_CHECKS = (
    "rds.storage_encrypted_with_cmk",
    "rds.not_publicly_accessible",
    "rds.backup_retention",
    "rds.log_exports",
    "rds.cluster_multi_az",
    "rds.deletion_protection",
    "rds.maintenance_window_approved",
)


def test_reference_rds(account: DemoAccount) -> None:
    reference_rds(
        account, compliant=True, key_arn=make_key(account), security_group_ids=[], name="prod-db"
    )
    reference_rds(
        account, compliant=False, key_arn=make_key(account), security_group_ids=[], name="stage-db"
    )

    windows = {"rds.maintenance_window_approved": {"allowed_windows": [SATURDAY_NIGHT]}}
    result = scan(account, *RDS_CHECKS, params=windows)

    statuses = {(f.check_id, f.resource_id): f.status for f in result.findings}
    per_cluster = [check_id for check_id in RDS_CHECKS if check_id != "rds.not_publicly_accessible"]
    assert statuses == {
        **{(check_id, "prod-db"): Status.PASS for check_id in per_cluster},
        **{(check_id, "stage-db"): Status.FAIL for check_id in per_cluster},
        ("rds.not_publicly_accessible", "prod-db-1"): Status.PASS,
        ("rds.not_publicly_accessible", "prod-db-2"): Status.PASS,
        ("rds.not_publicly_accessible", "stage-db-1"): Status.PASS,
        ("rds.not_publicly_accessible", "stage-db-2"): Status.FAIL,
    }
