"""ElastiCache builders: Redis replication groups with their member cache clusters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scanner.demo.base import DemoAccount

NODE_TYPE = "cache.t3.micro"
APPROVED_WINDOW = "sun:04:00-sun:05:00"
"""The compliant stack's maintenance window: inside the demo baseline's Saturday-night one."""
PEAK_WINDOW = "wed:15:00-wed:16:00"
"""The broken stack's: mid-week, mid-day."""


def make_replication_group(
    account: DemoAccount,
    *,
    group_id: str | None = None,
    at_rest: bool = True,
    transit: bool = True,
    multi_az: bool = True,
    failover: bool = True,
    snapshot_days: int = 7,
    snapshot_window: str | None = "03:00-04:00",
    maintenance_window: str | None = APPROVED_WINDOW,
    security_group_ids: Sequence[str] = (),
    kms_key_arn: str | None = None,
    replicas: int = 1,
    port: int | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A Redis replication group (one primary, ``replicas`` replicas); returns its id.

    ``snapshot_window=None`` leaves the window to the service (moto then says "05:00-6:00",
    never empty: gap elasticache-default-snapshot-window). moto-gap workarounds: members are
    sized with ReplicasPerNodeGroup (elasticache-numcacheclusters-ignored), each member is
    created as a cache cluster (elasticache-member-clusters-missing) and given the security
    groups by backend patch (elasticache-cache-cluster-sgs-missing) and the group's
    ``maintenance_window`` (moto gives a member none: elasticache-member-window-not-inherited;
    None leaves it so).
    """
    client = account.client("elasticache")
    group_id = group_id or account.name("redis")
    azs = [f"{account.region}{suffix}" for suffix in "abcdef"][: replicas + 1]
    params: dict[str, object] = {
        "ReplicationGroupId": group_id,
        "ReplicationGroupDescription": f"redis {group_id}",
        "Engine": "redis",
        "CacheNodeType": NODE_TYPE,
        "ReplicasPerNodeGroup": replicas,
        "PreferredCacheClusterAZs": azs,
        "AtRestEncryptionEnabled": at_rest,
        "TransitEncryptionEnabled": transit,
        "MultiAZEnabled": multi_az,
        "AutomaticFailoverEnabled": failover,
        "SnapshotRetentionLimit": snapshot_days,
        "SecurityGroupIds": list(security_group_ids),
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if snapshot_window:
        params["SnapshotWindow"] = snapshot_window
    if maintenance_window:
        params["PreferredMaintenanceWindow"] = maintenance_window
    if at_rest and kms_key_arn:
        params["KmsKeyId"] = kms_key_arn
    if port:
        params["Port"] = port
    group = client.create_replication_group(**params)["ReplicationGroup"]
    backend = account.backend("elasticache")
    for member, az in zip(group["MemberClusters"], azs, strict=False):
        client.create_cache_cluster(
            CacheClusterId=member,
            ReplicationGroupId=group_id,
            CacheNodeType=NODE_TYPE,
            Engine="redis",
            PreferredAvailabilityZone=az,
            **({"PreferredMaintenanceWindow": maintenance_window} if maintenance_window else {}),
        )
        backend.cache_clusters[member].security_groups = [
            {"SecurityGroupId": sg, "Status": "active"} for sg in security_group_ids
        ]
    return group_id


def reference_elasticache(
    account: DemoAccount,
    *,
    compliant: bool,
    security_group_ids: Sequence[str],
    key_arn: str | None = None,
    group_id: str | None = None,
) -> None:
    """The stack's Redis replication group, compliant or broken for every ElastiCache control.

    Deps: ``security_group_ids`` (the cache's security groups, from the network builder),
    ``key_arn`` (the customer-managed KMS key for at-rest encryption, compliant only), and
    optionally ``group_id`` (default: a fresh ``redis-<n>``; pass one naming the environment).
    Compliant: maintenance in APPROVED_WINDOW. Broken: no at-rest or in-transit encryption,
    single-AZ without failover, 1 day of snapshots, maintenance in PEAK_WINDOW.
    """
    make_replication_group(
        account,
        group_id=group_id,
        at_rest=compliant,
        transit=compliant,
        multi_az=compliant,
        failover=compliant,
        snapshot_days=7 if compliant else 1,
        maintenance_window=APPROVED_WINDOW if compliant else PEAK_WINDOW,
        security_group_ids=security_group_ids,
        kms_key_arn=key_arn if compliant else None,
    )
