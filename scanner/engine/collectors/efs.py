"""EFS: file systems, their mount targets (with security groups) and backup policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import efs as declared
from scanner.engine.records.efs import SECURITY_GROUPS, FileSystem, MountTarget
from scanner.model import ReadError, UnreadableResource

GONE_STATES = frozenset({"deleting", "deleted"})
"""Life cycle states of file systems and mount targets that are going away: not judged."""


def file_systems(scope: RegionScope) -> list[FileSystem]:
    """Every file system the baseline scope admits (tags come with DescribeFileSystems)."""
    listed = []
    for item in scope.pages("efs", "describe_file_systems", "FileSystems"):
        if item.get("LifeCycleState") in GONE_STATES:
            continue
        record = _file_system(item)
        if scope.scope.includes(record.name, record.tags):
            listed.append(record)
    return listed


def _file_system(item: Mapping[str, Any]) -> FileSystem:
    tags = {tag["Key"]: tag.get("Value", "") for tag in item.get("Tags") or []}
    encrypted = bool(item.get("Encrypted"))
    return FileSystem(
        file_system_id=item["FileSystemId"],
        arn=item.get("FileSystemArn"),
        name=item.get("Name") or tags.get("Name") or item["FileSystemId"],
        tags=tags,
        encrypted=encrypted,
        kms_key_id=item.get("KmsKeyId") if encrypted else None,
        performance_mode=item.get("PerformanceMode", "generalPurpose"),
        throughput_mode=item.get("ThroughputMode", "bursting"),
        provisioned_throughput_mibps=item.get("ProvisionedThroughputInMibps"),
        life_cycle_state=item.get("LifeCycleState", "available"),
        availability_zone_name=item.get("AvailabilityZoneName"),
    )


def mount_targets(scope: RegionScope) -> dict[str, tuple[MountTarget, ...] | UnreadableResource]:
    """Mount targets per file system id (DescribeMountTargets per file system)."""
    listed = scope.get(declared.file_systems)

    def read(fs: FileSystem) -> tuple[MountTarget, ...] | UnreadableResource:
        def listing() -> tuple[MountTarget, ...]:
            pages = scope.pages(
                "efs", "describe_mount_targets", "MountTargets", FileSystemId=fs.file_system_id
            )
            return tuple(
                _mount_target(item)
                for item in pages
                if item.get("LifeCycleState") not in GONE_STATES
            )

        found = scope.attempt(listing)
        if isinstance(found, ReadError):
            return UnreadableResource(ref=fs.ref, error=found, what="mount targets")
        return found

    ids = [fs.file_system_id for fs in listed]
    return dict(zip(ids, scope.map(read, listed), strict=True))


def _mount_target(item: Mapping[str, Any]) -> MountTarget:
    return MountTarget(
        mount_target_id=item["MountTargetId"],
        file_system_id=item["FileSystemId"],
        subnet_id=item["SubnetId"],
        vpc_id=item.get("VpcId"),
        availability_zone=item.get("AvailabilityZoneName"),
        ip_address=item.get("IpAddress"),
        life_cycle_state=item.get("LifeCycleState", "available"),
    )


def mount_target_security_groups(scope: RegionScope) -> list[MountTarget | UnreadableResource]:
    """Every mount target of the in-scope file systems with ``security_group_ids`` filled
    (port 2049). A file system whose mount targets could not be listed appears as an
    UnreadableResource with the file system's ref; a mount target whose groups could not be
    read, as one with the mount target's ref."""
    listed: list[MountTarget | UnreadableResource] = []
    targets: list[MountTarget] = []
    by_fs = scope.get(declared.mount_targets)
    for fs in scope.get(declared.file_systems):
        found = by_fs.get(fs.file_system_id, ())
        if isinstance(found, UnreadableResource):
            listed.append(found)
        else:
            targets.extend(found)

    def read(target: MountTarget) -> MountTarget | UnreadableResource:
        response = scope.attempt(
            lambda: scope.call(
                "efs", "describe_mount_target_security_groups", MountTargetId=target.mount_target_id
            )
        )
        if isinstance(response, ReadError):
            return UnreadableResource(ref=target.ref, error=response, what=SECURITY_GROUPS)
        return replace(target, security_group_ids=tuple(response.get("SecurityGroups") or ()))

    listed.extend(scope.map(read, targets))
    return listed


def backup_policies(scope: RegionScope) -> dict[str, str | None | UnreadableResource]:
    """Backup policy status per file system id: ``ENABLED``, ``ENABLING``, ``DISABLED``,
    ``DISABLING``; None when the file system has no backup policy (PolicyNotFound)."""
    listed = scope.get(declared.file_systems)

    def read(fs: FileSystem) -> str | None | UnreadableResource:
        response = scope.attempt(
            lambda: scope.call("efs", "describe_backup_policy", FileSystemId=fs.file_system_id)
        )
        if isinstance(response, ReadError):
            if response.code == "PolicyNotFound":
                return None
            return UnreadableResource(ref=fs.ref, error=response, what="backup policy")
        return str((response.get("BackupPolicy") or {}).get("Status") or "") or None

    ids = [fs.file_system_id for fs in listed]
    return dict(zip(ids, scope.map(read, listed), strict=True))
