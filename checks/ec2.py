"""EC2 controls: the security groups in front of the data stores admit only what they must."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from scanner.engine.compliance import EC2_18, EC2_19, Compliance
from scanner.engine.inventory import CheckInputs, Collector
from scanner.engine.records import ec2, efs, elasticache, rds
from scanner.engine.registry import Params, check
from scanner.model import (
    Outcome,
    ReadError,
    ResourceRef,
    Severity,
    failed,
    passed,
    unreadable,
)

T = TypeVar("T")

DATASTORE_SOURCES: tuple[Collector[Any], ...] = (
    rds.clusters,
    elasticache.replication_groups,
    elasticache.cache_clusters,
    efs.mount_target_security_groups,
)


@check(
    id="ec2.datastore_sg_least_privilege",
    severity=Severity.HIGH,
    title="Data-store security groups admit only the store's port from security groups",
    description=(
        "Every security group attached to an RDS DB cluster, an ElastiCache replication "
        "group or an EFS mount target admits ingress only on the store's own port (the "
        "resource's configured port: 5432, 6379 and 2049 by default) and only from security "
        "groups: no CIDR range or prefix list, no 0.0.0.0/0 or ::/0, no all-traffic rule, no "
        "port range. A group attached to several stores may admit each store's port. One "
        "finding per security group."
    ),
    remediation="aws ec2 revoke-security-group-ingress --group-id <sg-id> "
    "--ip-permissions <the rule>; then admit the port from the application's security group",
    rationale=(
        "A data store reachable from CIDR ranges or on every port is one leaked credential or "
        "compromised host away from a breach."
    ),
    cfn_property=(
        "AWS::EC2::SecurityGroupIngress SourceSecurityGroupId (no CidrIp), FromPort and ToPort "
        "the store's port"
    ),
    reads=[ec2.security_groups, *DATASTORE_SOURCES],
    independent=DATASTORE_SOURCES,
    partial_evidence=True,  # a group a store names but the listing lacks is ERROR
    compliance=Compliance(
        stricter_than=(EC2_18, EC2_19),
        note=(
            "judges only the groups of RDS clusters, ElastiCache replication groups and EFS"
            " mount targets; a group that admits no CIDR range passes EC2.18 and EC2.19"
        ),
    ),
)
def datastore_sg_least_privilege(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    attached: dict[str, dict[int, list[str]]] = {}  # group id -> port -> stores

    def attach(group_ids: tuple[str, ...], port: int, store: str) -> None:
        for group_id in group_ids:
            stores = attached.setdefault(group_id, {}).setdefault(port, [])
            if store not in stores:  # several mount targets of one file system share groups
                stores.append(store)

    for cluster in inputs[rds.clusters]:
        attach(cluster.security_group_ids, cluster.port, f"DB cluster {cluster.cluster_id}")
    cache_groups = elasticache.security_groups_by_group(inputs[elasticache.cache_clusters])
    for replication_group in inputs[elasticache.replication_groups]:
        group_id = replication_group.group_id
        attach(cache_groups.get(group_id, ()), replication_group.port, f"cache {group_id}")
    for target in inputs[efs.mount_target_security_groups]:
        attach(target.security_group_ids, target.port, f"EFS {target.file_system_id}")

    groups = {group.group_id: group for group in inputs[ec2.security_groups]}
    for group_id, stores in sorted(attached.items()):
        group = groups.get(group_id)
        users = "; ".join(f"{', '.join(names)} (port {port})" for port, names in stores.items())
        if group is None:
            ref = ResourceRef(type="AWS::EC2::SecurityGroup", id=group_id)
            error = ReadError(
                code="NotFound",
                action="ec2:DescribeSecurityGroups",
                detail=f"{group_id} (used by {users}) was not listed",
            )
            yield unreadable(ref, error, "the security group")
            continue
        problems = [
            f"{rule.describe()} ({why})"
            for rule in group.ingress
            if (why := _rule_problem(rule, set(stores)))
        ]
        evidence = {"AttachedTo": users, "Ingress": [rule.describe() for rule in group.ingress]}
        if problems:
            yield failed(
                group.ref,
                f"{group_id} ({group.name}) in front of {users} admits " + "; ".join(problems),
                **evidence,
            )
        else:
            yield passed(
                group.ref,
                f"{group_id} ({group.name}) in front of {users} admits "
                "only the store's port from security groups",
                **evidence,
            )


def _rule_problem(rule: ec2.IngressRule, ports: set[int]) -> str | None:
    """Why one ingress rule is broader than the store needs, or None."""
    if rule.all_traffic:
        return "all traffic"
    if rule.protocol not in ("tcp", "6"):
        return f"protocol {rule.protocol}"
    if rule.from_port != rule.to_port or rule.from_port not in ports:
        return "not the store's port"
    if rule.cidrs or rule.prefix_list_ids:
        return "open to the world" if rule.open_to_world else "admits a CIDR range"
    return None
