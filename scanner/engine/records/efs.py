"""EFS: file systems, their mount targets (with security groups) and backup policies. Their
records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/efs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource

SECURITY_GROUPS = "the data store's security groups"
"""What a mount target listed as unreadable hides from the controls that read it."""


NFS_PORT = 2049


@dataclass(frozen=True, kw_only=True)
class FileSystem:
    file_system_id: str
    arn: str | None
    name: str
    """The Name tag (``Name``), else the file system id."""
    tags: Mapping[str, str] | None
    encrypted: bool
    kms_key_id: str | None
    """The key exactly as DescribeFileSystems returned it (an ARN); only when encrypted."""
    performance_mode: str
    """``generalPurpose`` or ``maxIO``."""
    throughput_mode: str
    """``bursting``, ``provisioned`` or ``elastic``."""
    provisioned_throughput_mibps: float | None
    life_cycle_state: str
    availability_zone_name: str | None
    """Set for One Zone file systems only."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EFS::FileSystem", id=self.file_system_id, arn=self.arn)


@dataclass(frozen=True, kw_only=True)
class MountTarget:
    mount_target_id: str
    file_system_id: str
    subnet_id: str
    vpc_id: str | None
    availability_zone: str | None
    ip_address: str | None
    life_cycle_state: str
    security_group_ids: tuple[str, ...] = ()
    """Filled only in the records of ``efs.mount_target_security_groups``
    (DescribeMountTargets does not return them); empty in ``efs.mount_targets``."""
    port: int = NFS_PORT

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EFS::MountTarget", id=self.mount_target_id)

    @property
    def name(self) -> str:
        return self.mount_target_id

    @property
    def tags(self) -> Mapping[str, str] | None:
        return None  # mount targets carry no tags


file_systems: Collector[list[FileSystem]] = declare(
    "efs.file_systems",
    resource_type="AWS::EFS::FileSystem",
    actions=["elasticfilesystem:DescribeFileSystems"],
    fetch="scanner.engine.collectors.efs:file_systems",
)
"""Every file system the baseline scope admits (tags come with DescribeFileSystems)."""


mount_targets: Collector[dict[str, tuple[MountTarget, ...] | UnreadableResource]] = declare(
    "efs.mount_targets",
    resource_type="AWS::EFS::MountTarget",
    actions=["elasticfilesystem:DescribeMountTargets"],
    requires=[file_systems],
    fetch="scanner.engine.collectors.efs:mount_targets",
)
"""Mount targets per file system id (DescribeMountTargets per file system)."""


mount_target_security_groups: Collector[list[MountTarget | UnreadableResource]] = declare(
    "efs.mount_target_security_groups",
    resource_type="AWS::EFS::MountTarget",
    actions=[
        "elasticfilesystem:DescribeMountTargetSecurityGroups",
        "ec2:DescribeNetworkInterfaceAttribute",
    ],
    requires=[file_systems, mount_targets],
    fetch="scanner.engine.collectors.efs:mount_target_security_groups",
)
"""Every mount target of the in-scope file systems with ``security_group_ids`` filled
(port 2049). A file system whose mount targets could not be listed appears as an
UnreadableResource with the file system's ref; a mount target whose groups could not be
read, as one with the mount target's ref."""


backup_policies: Collector[dict[str, str | None | UnreadableResource]] = declare(
    "efs.backup_policies",
    resource_type="AWS::EFS::FileSystem",
    actions=["elasticfilesystem:DescribeBackupPolicy"],
    requires=[file_systems],
    fetch="scanner.engine.collectors.efs:backup_policies",
)
"""Backup policy status per file system id: ``ENABLED``, ``ENABLING``, ``DISABLED``,
``DISABLING``; None when the file system has no backup policy (PolicyNotFound)."""
