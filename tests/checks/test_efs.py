"""efs.encrypted_with_cmk, mount_targets_in_private_subnets, backup_policy_enabled,
throughput_and_performance_mode, and the mount target security group collector."""

from __future__ import annotations

import pytest

from scanner.demo.base import DemoAccount
from scanner.demo.efs import make_file_system, make_mount_target, reference_efs
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.network import Network, make_security_group, make_vpc, reference_network
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import efs
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, Status, UnreadableResource
from tests.helpers import expect, fail_operation, findings_of, scan


@pytest.fixture
def vpc(account: DemoAccount) -> Network:
    return make_vpc(account, nat_per_az=False)


def by_id(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.resource_id: f for f in findings}


def test_encrypted_with_cmk(account: DemoAccount) -> None:
    cmk = make_key(account)
    customer = make_file_system(account, key_arn=cmk)
    aws = make_file_system(account, aws_managed=True)
    plain = make_file_system(account, encrypted=False)
    expect(
        findings_of(account, "efs.encrypted_with_cmk"),
        {
            customer: (Status.PASS, f"is encrypted with customer-managed key {cmk}"),
            aws: (Status.FAIL, "is encrypted with AWS-managed key arn:aws:kms:"),
            plain: (Status.FAIL, f"file system {plain} is not encrypted"),
        },
    )


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


def test_mount_targets_in_private_subnets(account: DemoAccount, vpc: Network) -> None:
    a, b = vpc.azs
    private = make_file_system(account, subnet_ids=vpc.private_subnet_ids)
    mixed = make_file_system(account, subnet_ids=[vpc.private_subnets[a]])
    exposed = make_mount_target(account, mixed, vpc.public_subnets[b])
    make_file_system(account)  # no mount targets: not judged
    expect(
        findings_of(account, "efs.mount_targets_in_private_subnets"),
        {
            private: (Status.PASS, "all 2 mount target(s) in private subnets"),
            mixed: (
                Status.FAIL,
                f"has mount targets in public subnets: {exposed} in {vpc.public_subnets[b]} "
                f"(0.0.0.0/0 -> {vpc.igw_id})",
            ),
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


def test_backup_policy_enabled(account: DemoAccount) -> None:
    enabled = make_file_system(account)
    none = make_file_system(account, backup=False)
    disabled = make_file_system(account, backup_status="DISABLED")  # backend patch
    hidden = make_file_system(account)
    expect(
        findings_of(account, "efs.backup_policy_enabled"),
        {
            enabled: (Status.PASS, "backup policy is ENABLED"),
            none: (Status.FAIL, f"file system {none} has no backup policy"),
            disabled: (Status.FAIL, "backup policy is DISABLED, not ENABLED"),
            hidden: (Status.PASS, "ENABLED"),
        },
    )
    session = AwsSession(SessionOptions())
    fail_operation(
        session, "efs", "DescribeBackupPolicy", when=lambda p: p.get("FileSystemId") == hidden
    )
    found = by_id(scan(account, "efs.backup_policy_enabled", session=session).findings)
    assert found[hidden].status is Status.ERROR
    assert "elasticfilesystem:DescribeBackupPolicy" in found[hidden].message
    assert found[none].status is Status.FAIL  # PolicyNotFound stays FAIL, not ERROR


def test_throughput_and_performance_mode(account: DemoAccount) -> None:
    default = make_file_system(account)
    elastic = make_file_system(account, throughput_mode="elastic")
    max_io = make_file_system(account, performance_mode="maxIO", throughput_mode="provisioned")
    check = "efs.throughput_and_performance_mode"
    expect(
        findings_of(account, check),
        {
            default: (Status.PASS, "generalPurpose, bursting as the baseline"),
            elastic: (Status.FAIL, "ThroughputMode is elastic, baseline bursting"),
            max_io: (
                Status.FAIL,
                "PerformanceMode is maxIO, baseline generalPurpose; "
                "ThroughputMode is provisioned, baseline bursting",
            ),
        },
    )
    expect(
        findings_of(account, check, throughput_mode="elastic"),
        {
            default: (Status.FAIL, "ThroughputMode is bursting, baseline elastic"),
            elastic: (Status.PASS, "generalPurpose, elastic as the baseline"),
            max_io: (Status.FAIL, "PerformanceMode is maxIO"),
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
