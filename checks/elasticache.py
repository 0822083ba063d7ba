"""ElastiCache controls: replication groups are encrypted, highly available and backed up, and
are maintained inside the approved windows."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import (
    ELASTICACHE_1,
    ELASTICACHE_3,
    ELASTICACHE_4,
    ELASTICACHE_5,
    Compliance,
)
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import elasticache
from scanner.engine.registry import Param, Params, check
from scanner.engine.windows import ALLOWED_WINDOWS, verdict
from scanner.model import Outcome, ReadError, Severity, failed, passed, unreadable


def _days(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


BOTH_MUST_BE_ON = {True: "", False: " (both must be enabled)"}
"""What a multi_az FAIL message adds."""


@check(
    id="elasticache.encryption_at_rest",
    severity=Severity.HIGH,
    title="ElastiCache replication groups are encrypted at rest",
    description=(
        "The replication group has AtRestEncryptionEnabled, so its snapshots and swap are "
        "encrypted. Read from DescribeReplicationGroups. Whether the key is customer-managed "
        "is not judged here (the key is shown in the evidence)."
    ),
    remediation=(
        "At-rest encryption can only be set at creation: create an encrypted group "
        "(--at-rest-encryption-enabled --kms-key-id <key>) from a snapshot and switch over"
    ),
    rationale="Unencrypted disks and snapshots expose the cached data to whoever obtains them.",
    cfn_property="AWS::ElastiCache::ReplicationGroup AtRestEncryptionEnabled: true",
    reads=[elasticache.replication_groups],
    compliance=Compliance(same_as=(ELASTICACHE_4,)),
)
def encryption_at_rest(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for group in inputs[elasticache.replication_groups]:
        evidence = {
            "AtRestEncryptionEnabled": group.at_rest_encryption,
            "KmsKeyId": group.kms_key_id,
        }
        name = f"replication group {group.group_id}"
        if group.at_rest_encryption:
            key = f"key {group.kms_key_id}" if group.kms_key_id else "the default ElastiCache key"
            yield passed(group.ref, f"{name} is encrypted at rest with {key}", **evidence)
        else:
            yield failed(group.ref, f"{name} is not encrypted at rest", **evidence)


@check(
    id="elasticache.encryption_in_transit",
    severity=Severity.HIGH,
    title="ElastiCache replication groups encrypt connections (TLS)",
    description=(
        "The replication group has TransitEncryptionEnabled, so clients and replicas talk TLS. "
        "Read from DescribeReplicationGroups. TransitEncryptionMode 'preferred' (plain-text "
        "connections still accepted during a migration) passes but is named in the message."
    ),
    remediation=(
        "aws elasticache modify-replication-group --replication-group-id <id> "
        "--transit-encryption-enabled --transit-encryption-mode preferred, then required"
    ),
    rationale="Without TLS, cache traffic (often sessions and tokens) can be read on the network.",
    cfn_property="AWS::ElastiCache::ReplicationGroup TransitEncryptionEnabled: true",
    reads=[elasticache.replication_groups],
    compliance=Compliance(same_as=(ELASTICACHE_5,)),
)
def encryption_in_transit(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for group in inputs[elasticache.replication_groups]:
        evidence = {
            "TransitEncryptionEnabled": group.transit_encryption,
            "TransitEncryptionMode": group.transit_encryption_mode,
        }
        if not group.transit_encryption:
            yield failed(
                group.ref,
                f"replication group {group.group_id} has in-transit encryption off",
                **evidence,
            )
            continue
        mode = group.transit_encryption_mode
        note = (
            " (mode preferred: plain-text connections are still accepted)"
            if mode == "preferred"
            else ""
        )
        yield passed(
            group.ref,
            f"replication group {group.group_id} encrypts connections in transit{note}",
            **evidence,
        )


@check(
    id="elasticache.multi_az",
    severity=Severity.MEDIUM,
    title="ElastiCache replication groups are Multi-AZ with automatic failover",
    description=(
        "MultiAZ is enabled and AutomaticFailover is enabled, so losing the primary's node or "
        "Availability Zone promotes a replica. Read from DescribeReplicationGroups; "
        "'enabling' counts as not yet enabled."
    ),
    remediation=(
        "aws elasticache modify-replication-group --replication-group-id <id> "
        "--automatic-failover-enabled --multi-az-enabled --apply-immediately "
        "(needs at least one replica)"
    ),
    rationale=(
        "Without Multi-AZ failover an AZ or primary node failure takes the cache down until it "
        "is rebuilt."
    ),
    cfn_property=(
        "AWS::ElastiCache::ReplicationGroup MultiAZEnabled: true, AutomaticFailoverEnabled: true"
    ),
    reads=[elasticache.replication_groups],
    compliance=Compliance(
        stricter_than=(ELASTICACHE_3,), note="also requires MultiAZ, not only automatic failover"
    ),
)
def multi_az(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for group in inputs[elasticache.replication_groups]:
        evidence = {
            "MultiAZ": group.multi_az_status,
            "AutomaticFailover": group.automatic_failover_status,
            "MemberClusters": list(group.member_clusters),
        }
        ok = group.multi_az and group.automatic_failover
        message = (
            f"replication group {group.group_id}: MultiAZ is {group.multi_az_status}, "
            f"AutomaticFailover is {group.automatic_failover_status}{BOTH_MUST_BE_ON[ok]}"
        )
        yield (passed if ok else failed)(group.ref, message, **evidence)


@check(
    id="elasticache.snapshot_retention",
    severity=Severity.MEDIUM,
    title="ElastiCache replication groups keep automatic snapshots",
    description=(
        "SnapshotRetentionLimit is at least the baseline's days and a SnapshotWindow is set, "
        "so the cache can be restored after data loss. Read from DescribeReplicationGroups; "
        "manual snapshots are not counted."
    ),
    remediation=(
        "aws elasticache modify-replication-group --replication-group-id <id> "
        "--snapshot-retention-limit <days> --snapshot-window 03:00-04:00"
    ),
    rationale="Without snapshots a failed or deleted cluster loses its data.",
    cfn_property="AWS::ElastiCache::ReplicationGroup SnapshotRetentionLimit: <days>",
    reads=[elasticache.replication_groups],
    params=[
        Param(
            name="min_days",
            default=5,
            schema={"type": "integer", "minimum": 1},
            description="Fewest days of automatic snapshots a replication group must keep.",
        )
    ],
    compliance=Compliance(
        same_as=(ELASTICACHE_1,),
        note="the minimum is the baseline's min_days; Security Hub's default is 1 day",
    ),
)
def snapshot_retention(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    min_days = int(params["min_days"])
    for group in inputs[elasticache.replication_groups]:
        days, window = group.snapshot_retention_limit, group.snapshot_window
        evidence = {"SnapshotRetentionLimit": days, "SnapshotWindow": window, "min_days": min_days}
        problems = []
        if days < min_days:
            problems.append(f"snapshot retention is {_days(days)}, below the baseline's {min_days}")
        if not window:
            problems.append("no SnapshotWindow is set")
        if problems:
            yield failed(
                group.ref, f"replication group {group.group_id}: {'; '.join(problems)}", **evidence
            )
        else:
            yield passed(
                group.ref,
                f"replication group {group.group_id} keeps snapshots {_days(days)} "
                f"(baseline {min_days}), window {window}",
                **evidence,
            )


@check(
    id="elasticache.maintenance_window_approved",
    severity=Severity.LOW,
    title="ElastiCache maintenance windows fall inside the approved windows",
    description=(
        "Every member cache cluster of the replication group has a PreferredMaintenanceWindow "
        "lying entirely inside one of `allowed_windows` (UTC, ddd:hh:mm-ddd:hh:mm; a window "
        "may wrap from Saturday to Sunday), so node replacement and engine patching fail over "
        "the primary only when the team expects it. The windows are read from "
        "DescribeCacheClusters; a member that it does not return makes the group ERROR. "
        "Off until allowed_windows is configured."
    ),
    remediation=(
        "aws elasticache modify-replication-group --replication-group-id <id> "
        "--preferred-maintenance-window sun:03:00-sun:04:00 --apply-immediately"
    ),
    rationale=(
        "Maintenance outside the approved window fails the cache over at peak time or when "
        "nobody is on call."
    ),
    cfn_property="AWS::ElastiCache::ReplicationGroup PreferredMaintenanceWindow",
    reads=[elasticache.replication_groups, elasticache.cache_clusters],
    partial_evidence=True,  # a member cluster the listing lacks is ERROR for its group
    params=[ALLOWED_WINDOWS],
    configured_by=ALLOWED_WINDOWS.name,
    compliance=Compliance.none("no framework requirement names maintenance windows"),
)
def maintenance_window_approved(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    allowed = list(params["allowed_windows"])
    if not allowed:
        return
    windows = {
        cluster.cache_cluster_id: cluster.maintenance_window
        for cluster in inputs[elasticache.cache_clusters]
    }
    for group in inputs[elasticache.replication_groups]:
        listed = [member for member in group.member_clusters if member in windows]
        verdicts = {member: verdict(windows[member], allowed) for member in listed}
        evidence = {
            "PreferredMaintenanceWindows": {member: windows[member] for member in listed},
            "allowed_windows": allowed,
        }
        wrong = [
            f"{member}: window {phrase}" for member, (ok, phrase) in verdicts.items() if not ok
        ]
        unlisted = [member for member in group.member_clusters if member not in windows]
        if wrong:
            message = f"replication group {group.group_id}: {'; '.join(wrong)}"
            yield failed(group.ref, message, **evidence)
        elif unlisted or not listed:
            missing = ReadError(
                code="MemberClusterNotListed",
                action="elasticache:DescribeCacheClusters",
                detail=f"member clusters not returned: {', '.join(unlisted) or 'none listed'}",
            )
            yield unreadable(group.ref, missing, "the maintenance windows of its members")
        else:
            shown = "; ".join(
                f"{member}: window {phrase}" for member, (_, phrase) in verdicts.items()
            )
            yield passed(group.ref, f"replication group {group.group_id}: {shown}", **evidence)
