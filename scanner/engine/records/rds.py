"""RDS: DB clusters (Aurora, Multi-AZ DB clusters), DB instances, and cluster members' AZs.
Their records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/rds.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef

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


clusters: Collector[list[DbCluster]] = declare(
    "rds.clusters",
    resource_type="AWS::RDS::DBCluster",
    actions=["rds:DescribeDBClusters"],
    fetch="scanner.engine.collectors.rds:clusters",
)
"""Every DB cluster the baseline scope admits (tags come with DescribeDBClusters)."""


instance_listing: Collector[tuple[Mapping[str, Any], ...]] = declare(
    "rds.instance_listing",
    resource_type="AWS::RDS::DBInstance",
    actions=["rds:DescribeDBInstances"],
    fetch="scanner.engine.collectors.rds:instance_listing",
)
"""DescribeDBInstances as returned, read once for ``instances`` and ``cluster_members``."""


instances: Collector[list[DbInstance]] = declare(
    "rds.instances",
    resource_type="AWS::RDS::DBInstance",
    actions=[],
    requires=[instance_listing, clusters],
    fetch="scanner.engine.collectors.rds:instances",
)
"""Every DB instance (cluster members and standalone) the baseline scope admits: by its
own name and tags, or as a member of an admitted cluster (an Aurora instance does not
inherit its cluster's tags)."""


cluster_members: Collector[dict[str, tuple[ClusterMember, ...]]] = declare(
    "rds.cluster_members",
    resource_type="AWS::RDS::DBInstance",
    actions=[],
    requires=[clusters, instance_listing],
    fetch="scanner.engine.collectors.rds:cluster_members",
)
"""Each in-scope cluster's member instances with their AZs, by cluster id."""
