"""EFS builders: file systems with every baseline property selectable, and mount targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scanner.demo.base import DemoAccount
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.network import Network, default_security_group


def make_file_system(
    account: DemoAccount,
    *,
    encrypted: bool = True,
    key_arn: str | None = None,
    aws_managed: bool = False,
    backup: bool = True,
    backup_status: str | None = None,
    performance_mode: str = "generalPurpose",
    throughput_mode: str = "bursting",
    provisioned_mibps: float = 128.0,
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A file system, with one mount target per subnet in ``subnet_ids``; returns its id.

    Encryption: ``key_arn`` when given, else the AWS-managed aws/elasticfilesystem key when
    ``aws_managed`` (made by backend patch: moto has none), else a new customer-managed key.
    ``backup``: the backup policy is ENABLED, else there is none (DescribeBackupPolicy:
    PolicyNotFound). ``backup_status`` forces another status (``DISABLED``, ``ENABLING``...)
    by backend patch (moto cannot PutBackupPolicy: gap efs-put-backup-policy-missing).
    ``security_group_ids`` go on every mount target; empty means the VPC's default group,
    passed explicitly as AWS would pick it (gap efs-mount-target-without-sg).
    """
    client = account.client("efs")
    name = name or account.name("fs")
    params: dict[str, Any] = {
        "CreationToken": name,
        "PerformanceMode": performance_mode,
        "ThroughputMode": throughput_mode,
        "Encrypted": encrypted,
        "Backup": backup,
        "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **(tags or {})}.items()],
    }
    if throughput_mode == "provisioned":
        params["ProvisionedThroughputInMibps"] = provisioned_mibps
    if encrypted:
        # AWS names the key on every encrypted file system; moto only when given one.
        params["KmsKeyId"] = key_arn or (
            aws_managed_key(account, "elasticfilesystem") if aws_managed else make_key(account)
        )
    fs_id = str(client.create_file_system(**params)["FileSystemId"])
    if backup_status is not None:
        _force_backup_status(account, fs_id, backup_status)
    for subnet_id in subnet_ids:
        make_mount_target(account, fs_id, subnet_id, security_group_ids=security_group_ids)
    return fs_id


def make_mount_target(
    account: DemoAccount,
    file_system_id: str,
    subnet_id: str,
    *,
    security_group_ids: Sequence[str] = (),
) -> str:
    """A mount target in ``subnet_id`` (one per AZ per file system); returns its id."""
    groups = list(security_group_ids)
    if not groups:
        vpc_id = account.client("ec2").describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
            "VpcId"
        ]
        groups = [default_security_group(account, vpc_id)]
    response = account.client("efs").create_mount_target(
        FileSystemId=file_system_id, SubnetId=subnet_id, SecurityGroups=groups
    )
    return str(response["MountTargetId"])


def _force_backup_status(account: DemoAccount, file_system_id: str, status: str) -> None:
    """Backend patch: DescribeBackupPolicy answers ``status`` for this file system."""
    file_system = account.backend("efs").file_systems_by_id[file_system_id]
    patched = type(
        "FileSystemWithBackupStatus",
        (type(file_system),),
        {"backup_policy": property(lambda self: {"Status": status})},
    )
    file_system.__class__ = patched


def reference_efs(
    account: DemoAccount,
    *,
    compliant: bool,
    network: Network,
    key_arn: str | None = None,
    name: str | None = None,
) -> None:
    """The stack's EFS file system, compliant or broken for every EFS control.

    Deps: ``network`` (from ``reference_network``: mount targets go in its private subnets,
    or its public ones when broken, with its ``efs`` security group when it has one),
    ``key_arn`` (the customer-managed key for EFS; a new one when None; compliant only) and
    optionally ``name`` (the file system's Name tag; pass one naming the environment).
    Broken: encrypted with the AWS-managed aws/elasticfilesystem key, mount targets in public
    subnets, no backup policy, maxIO performance and provisioned throughput.
    """
    groups = [network.security_groups["efs"]] if "efs" in network.security_groups else []
    make_file_system(
        account,
        name=name,
        key_arn=key_arn if compliant else None,
        aws_managed=not compliant,
        backup=compliant,
        performance_mode="generalPurpose" if compliant else "maxIO",
        throughput_mode="bursting" if compliant else "provisioned",
        subnet_ids=network.private_subnet_ids if compliant else network.public_subnet_ids,
        security_group_ids=groups,
    )
