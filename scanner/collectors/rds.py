"""RDS: DB clusters (Aurora, Multi-AZ DB clusters), DB instances, and cluster members' AZs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner.errors import CollectorError
from scanner.inventory import RegionScope, collector
from scanner.model import ResourceRef

GONE_STATUSES = frozenset({"deleting", "deleted"})
"""Cluster and instance statuses of resources that are going away: not judged."""

DEFAULT_PORTS = {
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "aurora": 3306,
    "oracle": 1521,
    "sqlserver": 1433,
    "db2": 50000,
    "neptune": 8182,
    "docdb": 27017,
}
"""Each engine family's default port, used only when AWS names none (an instance being
created has no Endpoint yet)."""


def default_port(engine: str) -> int:
    """``aurora-postgresql`` -> 5432, ``aurora-mysql``/``aurora`` -> 3306, ``oracle-ee`` -> 1521."""
    if "postgres" in engine:
        return 5432
    family = engine.split("-", 1)[0]
    return DEFAULT_PORTS.get(family, 0)


@dataclass(frozen=True, kw_only=True)
class DbCluster:
    cluster_id: str
    arn: str | None
    name: str
    """The cluster identifier."""
    tags: Mapping[str, str] | None
    engine: str
    """``aurora-postgresql``, ``aurora-mysql``, ``postgres``/``mysql`` (Multi-AZ DB
    cluster), ``neptune``, ``docdb``..."""
    engine_mode: str
    """``provisioned``, ``serverless`` (Aurora Serverless v1: no DB instances) ..."""
    status: str
    storage_encrypted: bool
    kms_key_id: str | None
    """The key exactly as AWS returned it (an ARN); only when StorageEncrypted (moto names
    a placeholder on unencrypted clusters: gap rds-default-key-placeholder)."""
    backup_retention_days: int
    """BackupRetentionPeriod (Aurora: 1 to 35)."""
    enabled_log_exports: tuple[str, ...]
    """EnabledCloudwatchLogsExports: ``postgresql``, ``error``, ``audit``..."""
    deletion_protection: bool
    maintenance_window: str | None
    """PreferredMaintenanceWindow, ``ddd:hh:mm-ddd:hh:mm`` in UTC (None when absent)."""
    member_instance_ids: tuple[str, ...]
    """DBClusterMembers' DBInstanceIdentifier, in AWS's order."""
    port: int
    security_group_ids: tuple[str, ...]
    """VpcSecurityGroups' ids."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::RDS::DBCluster", id=self.cluster_id, arn=self.arn)

    @property
    def label(self) -> str:
        return f"DB cluster {self.cluster_id}"


@dataclass(frozen=True, kw_only=True)
class DbInstance:
    instance_id: str
    arn: str | None
    name: str
    """The instance identifier."""
    tags: Mapping[str, str] | None
    cluster_id: str | None
    """DBClusterIdentifier: set for cluster members, None for standalone instances."""
    engine: str
    status: str
    availability_zone: str | None
    """None while AWS has not placed the instance yet."""
    publicly_accessible: bool
    """PubliclyAccessible; a missing value is read as not set (False), never as an error
    (moto omits it when not given: gap rds-publicly-accessible-omitted)."""
    storage_encrypted: bool
    kms_key_id: str | None
    """The key exactly as AWS returned it; only when StorageEncrypted."""
    backup_retention_days: int
    """For cluster members this mirrors the cluster's; judged on the cluster."""
    enabled_log_exports: tuple[str, ...]
    deletion_protection: bool
    """Meaningful for standalone instances; a cluster member's is the cluster's business."""
    maintenance_window: str | None
    """PreferredMaintenanceWindow; judged for standalone instances (a member's own window is
    its cluster's business)."""
    multi_az: bool
    """A standalone instance's Multi-AZ (standby) deployment."""
    read_replica_source: str | None
    """ReadReplicaSourceDBInstanceIdentifier: set on read replicas."""
    port: int
    security_group_ids: tuple[str, ...]

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::RDS::DBInstance", id=self.instance_id, arn=self.arn)

    @property
    def label(self) -> str:
        return f"DB instance {self.instance_id}"

    @property
    def standalone(self) -> bool:
        return self.cluster_id is None


@dataclass(frozen=True, kw_only=True)
class ClusterMember:
    """Where one DB instance of a cluster runs."""

    instance_id: str
    availability_zone: str | None
    """None when the instance was not listed (yet) or AWS has not placed it."""


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in item.get("TagList") or []}


def _group_ids(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(group["VpcSecurityGroupId"] for group in item.get("VpcSecurityGroups") or [])


@collector(
    name="rds.clusters",
    resource_type="AWS::RDS::DBCluster",
    actions=["rds:DescribeDBClusters"],
)
def clusters(scope: RegionScope) -> list[DbCluster]:
    """Every DB cluster the baseline scope admits (tags come with DescribeDBClusters)."""
    listed = []
    for item in scope.pages("rds", "describe_db_clusters", "DBClusters"):
        if item.get("Status") in GONE_STATUSES:
            continue
        record = _cluster(item)
        if scope.scope.includes(record.name, record.tags):
            listed.append(record)
    return listed


def _cluster(item: Mapping[str, Any]) -> DbCluster:
    encrypted = bool(item.get("StorageEncrypted"))
    engine = item.get("Engine", "")
    return DbCluster(
        cluster_id=item["DBClusterIdentifier"],
        arn=item.get("DBClusterArn"),
        name=item["DBClusterIdentifier"],
        tags=_tags(item),
        engine=engine,
        engine_mode=item.get("EngineMode", "provisioned"),
        status=item.get("Status", "available"),
        storage_encrypted=encrypted,
        kms_key_id=item.get("KmsKeyId") if encrypted else None,
        backup_retention_days=int(item.get("BackupRetentionPeriod") or 0),
        enabled_log_exports=tuple(item.get("EnabledCloudwatchLogsExports") or ()),
        deletion_protection=bool(item.get("DeletionProtection")),
        maintenance_window=item.get("PreferredMaintenanceWindow") or None,
        member_instance_ids=tuple(
            member["DBInstanceIdentifier"] for member in item.get("DBClusterMembers") or []
        ),
        port=int(item.get("Port") or default_port(engine)),
        security_group_ids=_group_ids(item),
    )


@collector(
    name="rds.instance_listing",
    resource_type="AWS::RDS::DBInstance",
    actions=["rds:DescribeDBInstances"],
)
def instance_listing(scope: RegionScope) -> tuple[Mapping[str, Any], ...]:
    """DescribeDBInstances as returned, read once for ``instances`` and ``cluster_members``."""
    return tuple(scope.pages("rds", "describe_db_instances", "DBInstances"))


@collector(
    name="rds.instances",
    resource_type="AWS::RDS::DBInstance",
    actions=[],
    requires=[instance_listing, clusters],
)
def instances(scope: RegionScope) -> list[DbInstance]:
    """Every DB instance (cluster members and standalone) the baseline scope admits: by its
    own name and tags, or as a member of an admitted cluster (an Aurora instance does not
    inherit its cluster's tags)."""
    admitted_clusters: set[str] = set()
    # Unreadable clusters: their own controls report it; instances are judged on their own.
    with contextlib.suppress(CollectorError):
        if scope.scope.tags or scope.scope.name_suffix:
            admitted_clusters = {cluster.cluster_id for cluster in scope.get(clusters)}
    listed = []
    for item in scope.get(instance_listing):
        if item.get("DBInstanceStatus") in GONE_STATUSES:
            continue
        record = _instance(item)
        if record.cluster_id in admitted_clusters or scope.scope.includes(record.name, record.tags):
            listed.append(record)
    return listed


def _instance(item: Mapping[str, Any]) -> DbInstance:
    encrypted = bool(item.get("StorageEncrypted"))
    engine = item.get("Engine", "")
    # Endpoint.Port is where the instance listens; DbInstancePort is 0 outside Aurora.
    port = (item.get("Endpoint") or {}).get("Port") or item.get("DbInstancePort")
    return DbInstance(
        instance_id=item["DBInstanceIdentifier"],
        arn=item.get("DBInstanceArn"),
        name=item["DBInstanceIdentifier"],
        tags=_tags(item),
        cluster_id=item.get("DBClusterIdentifier"),
        engine=engine,
        status=item.get("DBInstanceStatus", "available"),
        availability_zone=item.get("AvailabilityZone"),
        publicly_accessible=bool(item.get("PubliclyAccessible", False)),
        storage_encrypted=encrypted,
        kms_key_id=item.get("KmsKeyId") if encrypted else None,
        backup_retention_days=int(item.get("BackupRetentionPeriod") or 0),
        enabled_log_exports=tuple(item.get("EnabledCloudwatchLogsExports") or ()),
        deletion_protection=bool(item.get("DeletionProtection")),
        maintenance_window=item.get("PreferredMaintenanceWindow") or None,
        multi_az=bool(item.get("MultiAZ")),
        read_replica_source=item.get("ReadReplicaSourceDBInstanceIdentifier"),
        port=int(port or default_port(engine)),
        security_group_ids=_group_ids(item),
    )


@collector(
    name="rds.cluster_members",
    resource_type="AWS::RDS::DBInstance",
    actions=[],
    requires=[clusters, instance_listing],
)
def cluster_members(scope: RegionScope) -> dict[str, tuple[ClusterMember, ...]]:
    """Each in-scope cluster's member instances with their AZs, by cluster id.

    Members are read from DescribeDBInstances whatever the baseline scope says of the
    instances themselves: a cluster's availability depends on all of them.
    """
    wanted = scope.get(clusters)
    if not wanted:
        return {}
    listed = {
        item["DBInstanceIdentifier"]: item
        for item in scope.get(instance_listing)
        if item.get("DBClusterIdentifier")
    }

    def members(cluster: DbCluster) -> tuple[ClusterMember, ...]:
        found = []
        for instance_id in cluster.member_instance_ids:
            item = listed.get(instance_id, {})
            if item.get("DBInstanceStatus") not in GONE_STATUSES:
                zone = item.get("AvailabilityZone")
                found.append(ClusterMember(instance_id=instance_id, availability_zone=zone))
        return tuple(found)

    return {cluster.cluster_id: members(cluster) for cluster in wanted}
