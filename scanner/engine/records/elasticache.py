"""ElastiCache (Redis/Valkey) replication groups and the security groups of their members.
Their records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/elasticache.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource

DEFAULT_PORT = 6379
"""Redis and Valkey listen here unless the group was created with another Port."""


GROUP_TYPE = "AWS::ElastiCache::ReplicationGroup"


@dataclass(frozen=True, kw_only=True)
class ReplicationGroup:
    group_id: str
    arn: str | None
    engine: str
    at_rest_encryption: bool
    transit_encryption: bool
    transit_encryption_mode: str | None
    """``required`` or ``preferred`` (plain-text connections still accepted); None if absent."""
    multi_az: bool
    """MultiAZ == ``enabled``."""
    multi_az_status: str
    """MultiAZ as returned (``enabled``/``disabled``); ``disabled`` when absent."""
    automatic_failover: bool
    """AutomaticFailover == ``enabled`` (``enabling`` is not yet enabled)."""
    automatic_failover_status: str
    snapshot_retention_limit: int
    """Days of automatic snapshots kept; 0 (or absent) means automatic snapshots are off."""
    snapshot_window: str | None
    member_clusters: tuple[str, ...]
    kms_key_id: str | None
    """KmsKeyId as returned, only when at-rest encryption is on with a customer key."""
    port: int
    name: str
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=GROUP_TYPE, id=self.group_id, arn=self.arn)


@dataclass(frozen=True, kw_only=True)
class CacheCluster:
    """A member cache cluster (node) of an in-scope replication group."""

    cache_cluster_id: str
    arn: str | None
    replication_group_id: str
    security_group_ids: tuple[str, ...]
    """VPC security groups (CacheCluster.SecurityGroups[].SecurityGroupId)."""
    maintenance_window: str | None
    """PreferredMaintenanceWindow, ``ddd:hh:mm-ddd:hh:mm`` in UTC (None when absent)."""
    name: str
    tags: Mapping[str, str] | None = None
    """Not read: scope is decided by the replication group."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(
            type="AWS::ElastiCache::CacheCluster", id=self.cache_cluster_id, arn=self.arn
        )


replication_groups: Collector[list[ReplicationGroup | UnreadableResource]] = declare(
    "elasticache.replication_groups",
    resource_type=GROUP_TYPE,
    actions=["elasticache:DescribeReplicationGroups", "elasticache:ListTagsForResource"],
    fetch="scanner.engine.collectors.elasticache:replication_groups",
)
"""Every replication group in the region that the baseline scope admits."""


cache_clusters: Collector[list[CacheCluster]] = declare(
    "elasticache.cache_clusters",
    resource_type="AWS::ElastiCache::CacheCluster",
    actions=["elasticache:DescribeCacheClusters"],
    requires=[replication_groups],
    fetch="scanner.engine.collectors.elasticache:cache_clusters",
)
"""The member clusters of in-scope replication groups, with their VPC security groups."""


def security_groups_by_group(clusters: Iterable[CacheCluster]) -> dict[str, tuple[str, ...]]:
    """Replication group id -> the security group ids of its members (first-seen order)."""
    by_group: dict[str, dict[str, None]] = {}
    for cluster in clusters:
        ids = by_group.setdefault(cluster.replication_group_id, {})
        ids.update(dict.fromkeys(cluster.security_group_ids))
    return {group: tuple(ids) for group, ids in by_group.items()}
