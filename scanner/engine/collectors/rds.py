"""RDS: DB clusters (Aurora, Multi-AZ DB clusters), DB instances, and cluster members' AZs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import rds as declared
from scanner.engine.records.rds import ClusterMember, DbCluster, DbInstance, default_port
from scanner.errors import CollectorError

GONE_STATUSES = frozenset({"deleting", "deleted"})
"""Cluster and instance statuses of resources that are going away: not judged."""


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in item.get("TagList") or []}


def _group_ids(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(group["VpcSecurityGroupId"] for group in item.get("VpcSecurityGroups") or [])


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


def instance_listing(scope: RegionScope) -> tuple[Mapping[str, Any], ...]:
    """DescribeDBInstances as returned, read once for ``instances`` and ``cluster_members``."""
    return tuple(scope.pages("rds", "describe_db_instances", "DBInstances"))


def instances(scope: RegionScope) -> list[DbInstance]:
    """Every DB instance (cluster members and standalone) the baseline scope admits: by its
    own name and tags, or as a member of an admitted cluster (an Aurora instance does not
    inherit its cluster's tags)."""
    admitted_clusters: set[str] = set()
    # Unreadable clusters: their own controls report it; instances are judged on their own.
    with contextlib.suppress(CollectorError):
        if scope.scope.tags or scope.scope.name_suffix:
            admitted_clusters = {cluster.cluster_id for cluster in scope.get(declared.clusters)}
    listed = []
    for item in scope.get(declared.instance_listing):
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


def cluster_members(scope: RegionScope) -> dict[str, tuple[ClusterMember, ...]]:
    """Each in-scope cluster's member instances with their AZs, by cluster id.

    Members are read from DescribeDBInstances whatever the baseline scope says of the
    instances themselves: a cluster's availability depends on all of them.
    """
    wanted = scope.get(declared.clusters)
    if not wanted:
        return {}
    listed = {
        item["DBInstanceIdentifier"]: item
        for item in scope.get(declared.instance_listing)
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
