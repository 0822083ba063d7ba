"""efs.encrypted_with_cmk, mount_targets_in_private_subnets, backup_policy_enabled,
throughput_and_performance_mode, and the mount target security group collector."""

from __future__ import annotations

from typing import Any

import pytest

from checks.efs import FILE_SYSTEM_KEYS
from scanner.demo.base import DemoAccount
from scanner.demo.efs import make_file_system, reference_efs
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.network import Network, make_security_group, make_vpc, reference_network
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import ec2, efs
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, Status, UnreadableResource
from tests.checks.judge import by_resource, denied, judge, unreadable
from tests.factories import (
    AZS,
    KEY_ARN,
    described,
    file_system,
    key,
    key_arn,
    mount_target,
    network_of,
    vpc_layout,
)
from tests.helpers import expect, fail_operation, scan


@pytest.fixture
def vpc(account: DemoAccount) -> Network:
    return make_vpc(account, nat_per_az=False)


def by_id(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.resource_id: f for f in findings}


AWS_KEY = key("k-aws", manager="AWS")


def test_encrypted_with_cmk() -> None:
    found = judge(
        "efs.encrypted_with_cmk",
        {
            efs.file_systems: [
                file_system("fs-cmk"),
                file_system("fs-aws", kms_key_id=AWS_KEY.arn),
                file_system("fs-plain", encrypted=False, kms_key_id=None),
                file_system("fs-hidden", kms_key_id=key_arn("k-hidden")),
            ],
            FILE_SYSTEM_KEYS: described(
                key(), AWS_KEY, refs={key_arn("k-hidden"): denied("kms:DescribeKey")}
            ),
        },
    )
    expect(
        by_resource(found),
        {
            "fs-cmk": (Status.PASS, f"is encrypted with customer-managed key {KEY_ARN}"),
            "fs-aws": (Status.FAIL, f"is encrypted with AWS-managed key {AWS_KEY.arn}"),
            "fs-plain": (Status.FAIL, "file system fs-plain is not encrypted"),
            "fs-hidden": (Status.ERROR, "AccessDeniedException on kms:DescribeKey"),
        },
    )


def test_mount_targets_in_private_subnets() -> None:
    layout = vpc_layout("vpc-1")
    a, b = AZS
    public_b = f"vpc-1-public-{b[-1]}"
    found = judge(
        "efs.mount_targets_in_private_subnets",
        {
            efs.file_systems: [file_system("fs-private"), file_system("fs-mixed"), file_system()],
            efs.mount_targets: {
                "fs-private": (
                    mount_target("fsmt-1", "fs-private", layout.private(a)),
                    mount_target("fsmt-2", "fs-private", layout.private(b)),
                ),
                "fs-mixed": (
                    mount_target("fsmt-3", "fs-mixed", layout.private(a)),
                    mount_target("fsmt-4", "fs-mixed", public_b),
                ),
                "fs-1": (),  # no mount targets: not judged
                "fs-hidden": unreadable(file_system("fs-hidden").ref, "mount targets of fs-hidden"),
            },
            ec2.routing: network_of(layout)[ec2.network],
        },
    )
    expect(
        by_resource(found),
        {
            "fs-private": (Status.PASS, "all 2 mount target(s) in private subnets"),
            "fs-mixed": (
                Status.FAIL,
                f"has mount targets in public subnets: fsmt-4 in {public_b} "
                "(0.0.0.0/0 -> igw-vpc-1)",
            ),
            "fs-hidden": (
                Status.ERROR,
                "could not read mount targets of fs-hidden: AccessDeniedException",
            ),
        },
    )


def test_backup_policy_enabled() -> None:
    found = judge(
        "efs.backup_policy_enabled",
        {
            efs.file_systems: [file_system(n) for n in ("fs-on", "fs-none", "fs-off", "fs-x")],
            efs.backup_policies: {
                "fs-on": "ENABLED",
                "fs-none": None,
                "fs-off": "DISABLED",
                "fs-x": unreadable(file_system("fs-x").ref, "backup policy of fs-x"),
            },
        },
    )
    expect(
        by_resource(found),
        {
            "fs-on": (Status.PASS, "backup policy is ENABLED"),
            "fs-none": (Status.FAIL, "file system fs-none has no backup policy"),
            "fs-off": (Status.FAIL, "backup policy is DISABLED, not ENABLED"),
            "fs-x": (Status.ERROR, "could not read backup policy of fs-x"),
        },
    )


MODES = [
    file_system("fs-default"),
    file_system("fs-elastic", throughput_mode="elastic"),
    file_system("fs-maxio", performance_mode="maxIO", throughput_mode="provisioned"),
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "fs-default": (Status.PASS, "generalPurpose, bursting as the baseline"),
                "fs-elastic": (Status.FAIL, "ThroughputMode is elastic, baseline bursting"),
                "fs-maxio": (
                    Status.FAIL,
                    "PerformanceMode is maxIO, baseline generalPurpose; "
                    "ThroughputMode is provisioned, baseline bursting",
                ),
            },
        ),
        (
            {"throughput_mode": "elastic"},
            {
                "fs-default": (Status.FAIL, "ThroughputMode is bursting, baseline elastic"),
                "fs-elastic": (Status.PASS, "generalPurpose, elastic as the baseline"),
                "fs-maxio": (Status.FAIL, "PerformanceMode is maxIO"),
            },
        ),
    ],
)
def test_throughput_and_performance_mode(params: Any, expected: Any) -> None:
    found = judge("efs.throughput_and_performance_mode", {efs.file_systems: MODES}, **params)
    expect(by_resource(found), expected)


# --- moto: what the collectors read ---------------------------------------------------------


def test_unreadable_key_is_error_for_that_file_system(account: DemoAccount) -> None:
    hidden_key = make_key(account)
    hidden = make_file_system(account, key_arn=hidden_key)
    visible = make_file_system(account)
    session = AwsSession(SessionOptions())
    fail_operation(session, "kms", "DescribeKey", when=lambda p: p.get("KeyId") == hidden_key)
    expect(
        by_id(scan(account, "efs.encrypted_with_cmk", session=session).findings),
        {
            hidden: (Status.ERROR, "AccessDeniedException on kms:DescribeKey"),
            visible: (Status.PASS, "customer-managed key"),
        },
    )


def test_private_subnets_need_no_nat_gateway_listing(account: DemoAccount, vpc: Network) -> None:
    private = make_file_system(account, subnet_ids=vpc.private_subnet_ids)
    session = AwsSession(SessionOptions())
    fail_operation(session, "ec2", "DescribeNatGateways")

    result = scan(account, "efs.mount_targets_in_private_subnets", session=session)

    assert [(f.resource_id, f.status) for f in result.findings] == [(private, Status.PASS)]
    assert "DescribeNatGateways" not in session.requests.operations()


def test_unlisted_mount_targets_are_error_for_that_file_system(
    account: DemoAccount, vpc: Network
) -> None:
    hidden = make_file_system(account, subnet_ids=vpc.private_subnet_ids)
    visible = make_file_system(account, subnet_ids=vpc.private_subnet_ids)
    session = AwsSession(SessionOptions())
    fail_operation(
        session, "efs", "DescribeMountTargets", when=lambda p: p.get("FileSystemId") == hidden
    )
    expect(
        by_id(scan(account, "efs.mount_targets_in_private_subnets", session=session).findings),
        {
            hidden: (
                Status.ERROR,
                "AccessDeniedException on elasticfilesystem:DescribeMountTargets",
            ),
            visible: (Status.PASS, "in private subnets"),
        },
    )


def test_backup_policy_read_per_file_system(account: DemoAccount) -> None:
    enabled = make_file_system(account)
    none = make_file_system(account, backup=False)
    disabled = make_file_system(account, backup_status="DISABLED")  # backend patch
    hidden = make_file_system(account)
    session = AwsSession(SessionOptions())
    fail_operation(
        session, "efs", "DescribeBackupPolicy", when=lambda p: p.get("FileSystemId") == hidden
    )
    expect(
        by_id(scan(account, "efs.backup_policy_enabled", session=session).findings),
        {
            enabled: (Status.PASS, "backup policy is ENABLED"),
            none: (Status.FAIL, f"file system {none} has no backup policy"),  # not ERROR
            disabled: (Status.FAIL, "backup policy is DISABLED, not ENABLED"),
            hidden: (Status.ERROR, "elasticfilesystem:DescribeBackupPolicy"),
        },
    )


def test_scope_filters_file_systems(account: DemoAccount) -> None:
    prod = make_file_system(account, tags={"env": "prod"})
    make_file_system(account, tags={"env": "dev"})
    result = scan(account, "efs.throughput_and_performance_mode", scope=Scope(tags={"env": "prod"}))
    assert [f.resource_id for f in result.findings] == [prod]


def test_mount_target_security_groups_collector(account: DemoAccount, vpc: Network) -> None:
    group = make_security_group(account, vpc.vpc_id)
    fs = make_file_system(account, subnet_ids=vpc.private_subnet_ids, security_group_ids=[group])
    targets = account.client("efs").describe_mount_targets(FileSystemId=fs)["MountTargets"]
    denied = targets[0]["MountTargetId"]
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "efs",
        "DescribeMountTargetSecurityGroups",
        when=lambda p: p.get("MountTargetId") == denied,
    )
    inventory = Inventory(
        session, account_id=account.account_id, region=account.region, scope=Scope()
    )
    records = inventory.get(efs.mount_target_security_groups)

    by_ref = {record.ref.id: record for record in records}
    assert set(by_ref) == {t["MountTargetId"] for t in targets}
    unreadable = by_ref[denied]
    assert isinstance(unreadable, UnreadableResource)
    assert unreadable.error.action == "elasticfilesystem:DescribeMountTargetSecurityGroups"
    readable = by_ref[targets[1]["MountTargetId"]]
    assert isinstance(readable, efs.MountTarget)
    assert (readable.security_group_ids, readable.port) == ((group,), 2049)
    assert (readable.file_system_id, readable.vpc_id) == (fs, vpc.vpc_id)


def test_reference_efs(account: DemoAccount) -> None:
    good = reference_network(account, compliant=True, name="prod")
    bad = reference_network(account, compliant=False, name="stage")
    reference_efs(account, compliant=True, network=good, name="prod-data")
    reference_efs(account, compliant=False, network=bad, name="stage-data")
    ids = {
        fs["Name"]: fs["FileSystemId"]
        for fs in account.client("efs").describe_file_systems()["FileSystems"]
    }
    result = scan(
        account,
        "efs.encrypted_with_cmk",
        "efs.mount_targets_in_private_subnets",
        "efs.backup_policy_enabled",
        "efs.throughput_and_performance_mode",
    )
    statuses = {(f.check_id, f.resource_id): f.status for f in result.findings}
    assert len(statuses) == 8
    for (_, resource_id), status in statuses.items():
        assert status is (Status.PASS if resource_id == ids["prod-data"] else Status.FAIL)
    groups = {
        record.security_group_ids
        for record in Inventory(
            AwsSession(SessionOptions()),
            account_id=account.account_id,
            region=account.region,
            scope=Scope(),
        ).get(efs.mount_target_security_groups)
        if isinstance(record, efs.MountTarget)
    }
    assert groups == {(good.security_groups["efs"],), (bad.security_groups["efs"],)}


def test_aws_managed_key_builder_is_reused(account: DemoAccount) -> None:
    assert aws_managed_key(account, "elasticfilesystem") == aws_managed_key(
        account, "elasticfilesystem"
    )
