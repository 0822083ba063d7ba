"""Records as collectors return them, with defaults for a compliant resource: a case names
only the fields it is about (``key(state="Disabled")``). No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scanner.engine.records import (
    apigateway,
    cloudformation,
    ec2,
    ecs,
    efs,
    elasticache,
    iam,
    kinesis,
    kms,
    logs,
    rds,
    secretsmanager,
)
from scanner.model import ReadError
from tests.checks.judge import ACCOUNT, REGION

ARN = f"arn:aws:{{service}}:{REGION}:{ACCOUNT}:{{resource}}"


def arn(service: str, resource: str) -> str:
    """An ARN in the test account and region."""
    return ARN.format(service=service, resource=resource)


def key_arn(key_id: str) -> str:
    return arn("kms", f"key/{key_id}")


KEY_ID = "k-cmk"
KEY_ARN = key_arn(KEY_ID)


def key(key_id: str = KEY_ID, **fields: Any) -> kms.KmsKey:
    """An enabled, customer-managed, symmetric key with KMS-made material."""
    defaults: dict[str, Any] = {
        "key_id": key_id,
        "arn": key_arn(key_id),
        "manager": "CUSTOMER",
        "state": "Enabled",
        "spec": "SYMMETRIC_DEFAULT",
        "origin": "AWS_KMS",
    }
    return kms.KmsKey(**{**defaults, **fields})


def described(
    *keys: kms.KmsKey, refs: Mapping[str, kms.KmsKey | ReadError] | None = None
) -> kms.KeyReferences:
    """The keys resources reference, each by its id and ARN, and ``refs``: keys by other
    names (an alias), or references that could not be described (a ReadError)."""
    names: dict[str, kms.KmsKey | ReadError] = {}
    for item in keys:
        names[item.key_id] = item
        names[item.arn] = item
    return kms.KeyReferences({**names, **(refs or {})})


def stream(name: str = "s1", **fields: Any) -> kinesis.Stream:
    """An active stream encrypted with the customer-managed key KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("kinesis", f"stream/{name}"),
        "status": "ACTIVE",
        "encryption_type": "KMS",
        "kms_key_id": KEY_ARN,
        "retention_hours": 168,
        "stream_mode": "PROVISIONED",
        "open_shard_count": 1,
    }
    return kinesis.Stream(**{**defaults, **fields})


def secret(name: str = "app/db", **fields: Any) -> secretsmanager.Secret:
    """A rotating secret encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("secretsmanager", f"secret:{name}-AbCdEf"),
        "kms_key_id": KEY_ARN,
        "rotation_enabled": True,
        "rotation_lambda_arn": arn("lambda", "function:rotate"),
        "rotation_schedule": "every 30 days",
        "last_rotated": "2026-11-01T00:00:00+00:00",
        "owning_service": None,
        "primary_region": None,
        "tags": None,
    }
    return secretsmanager.Secret(**{**defaults, **fields})


def log_group(name: str = "/ecs/app", **fields: Any) -> logs.LogGroup:
    """A log group kept 30 days, encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("logs", f"log-group:{name}"),
        "retention_days": 30,
        "kms_key_id": KEY_ARN,
    }
    return logs.LogGroup(**{**defaults, **fields})


def cluster(cluster_id: str = "main", **fields: Any) -> rds.DbCluster:
    """A compliant Aurora PostgreSQL cluster with two members, encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "cluster_id": cluster_id,
        "arn": arn("rds", f"cluster:{cluster_id}"),
        "name": cluster_id,
        "tags": None,
        "engine": "aurora-postgresql",
        "engine_mode": "provisioned",
        "status": "available",
        "storage_encrypted": True,
        "kms_key_id": KEY_ARN,
        "backup_retention_days": 7,
        "enabled_log_exports": ("postgresql",),
        "deletion_protection": True,
        "maintenance_window": "sun:03:00-sun:03:30",
        "member_instance_ids": (f"{cluster_id}-1", f"{cluster_id}-2"),
        "port": 5432,
        "security_group_ids": (),
    }
    return rds.DbCluster(**{**defaults, **fields})


def instance(instance_id: str = "solo", **fields: Any) -> rds.DbInstance:
    """A compliant standalone PostgreSQL instance encrypted with KEY_ARN (``cluster_id=``
    makes it a member)."""
    defaults: dict[str, Any] = {
        "instance_id": instance_id,
        "arn": arn("rds", f"db:{instance_id}"),
        "name": instance_id,
        "tags": None,
        "cluster_id": None,
        "engine": "postgres",
        "status": "available",
        "availability_zone": "us-east-1a",
        "publicly_accessible": False,
        "storage_encrypted": True,
        "kms_key_id": KEY_ARN,
        "backup_retention_days": 7,
        "enabled_log_exports": ("postgresql",),
        "deletion_protection": True,
        "maintenance_window": "sun:03:00-sun:03:30",
        "multi_az": False,
        "read_replica_source": None,
        "port": 5432,
        "security_group_ids": (),
    }
    return rds.DbInstance(**{**defaults, **fields})


def members(*zones: str | None, cluster_id: str = "main") -> tuple[rds.ClusterMember, ...]:
    """A cluster's members ``<cluster>-1``, ``<cluster>-2``... in these AZs."""
    return tuple(
        rds.ClusterMember(instance_id=f"{cluster_id}-{n}", availability_zone=zone)
        for n, zone in enumerate(zones, 1)
    )


AZS = ("us-east-1a", "us-east-1b")


def subnet(subnet_id: str, vpc_id: str = "vpc-1", az: str = AZS[0]) -> ec2.Subnet:
    return ec2.Subnet(
        subnet_id=subnet_id,
        arn=None,
        vpc_id=vpc_id,
        availability_zone=az,
        availability_zone_id=None,
        cidr_block="10.0.0.0/24",
        map_public_ip_on_launch=False,
        name=subnet_id,
        tags={},
    )


def route_table(
    table_id: str,
    vpc_id: str = "vpc-1",
    *,
    subnet_ids: tuple[str, ...] = (),
    default_to: str | None = None,
    main: bool = False,
) -> ec2.RouteTable:
    """A route table with its local route, and a 0.0.0.0/0 route to ``default_to``."""
    table = [ec2.Route(destination="10.0.0.0/16", target="local", state="active")]
    if default_to:
        table.append(ec2.Route(destination="0.0.0.0/0", target=default_to, state="active"))
    return ec2.RouteTable(
        route_table_id=table_id,
        vpc_id=vpc_id,
        main=main,
        subnet_ids=subnet_ids,
        routes=tuple(table),
        name=table_id,
        tags={},
    )


def nat_gateway(nat_id: str, vpc_id: str = "vpc-1", *azs: str, **fields: Any) -> ec2.NatGateway:
    """An available public zonal NAT gateway in ``azs`` (the first AZ by default)."""
    defaults: dict[str, Any] = {
        "nat_gateway_id": nat_id,
        "vpc_id": vpc_id,
        "subnet_id": None,
        "state": "available",
        "connectivity_type": "public",
        "availability_mode": "zonal",
        "availability_zones": azs or AZS[:1],
        "name": nat_id,
        "tags": {},
    }
    return ec2.NatGateway(**{**defaults, **fields})


@dataclass
class VpcLayout:
    """A VPC with a public and a private subnet per AZ, as records. Ids are derived from the
    VPC id: ``<vpc>-private-a`` (the subnet in ``us-east-1a``), ``nat-<vpc>-a``."""

    vpc: ec2.Vpc
    subnets: list[ec2.Subnet]
    route_tables: list[ec2.RouteTable]
    nat_gateways: list[ec2.NatGateway]

    def private(self, az: str) -> str:
        return f"{self.vpc.vpc_id}-private-{az[-1]}"

    def nat(self, az: str) -> str:
        return f"nat-{self.vpc.vpc_id}-{az[-1]}"


def vpc_layout(
    vpc_id: str,
    azs: tuple[str, ...] = AZS,
    *,
    nat: bool = True,
    nat_per_az: bool = True,
    cross_az: bool = False,
    nat_fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> VpcLayout:
    """Public subnets route to an internet gateway; each private subnet to the NAT gateway of
    its AZ (``nat_per_az``), else to the first AZ's, or (``cross_az``) to the next AZ's;
    ``nat_fields`` overrides the fields of a NAT gateway by AZ."""
    vpc = ec2.Vpc(
        vpc_id=vpc_id,
        arn=None,
        owner_id=ACCOUNT,
        cidr_block="10.0.0.0/16",
        is_default=False,
        state="available",
        name=vpc_id,
        tags={},
    )
    layout = VpcLayout(vpc, [], [], [])
    igw = f"igw-{vpc_id}"
    layout.route_tables.append(route_table(f"rtb-{vpc_id}-main", vpc_id, main=True))
    nat_azs = azs if nat_per_az else azs[:1]
    for az in nat_azs if nat else ():
        fields = (nat_fields or {}).get(az, {})
        layout.nat_gateways.append(nat_gateway(layout.nat(az), vpc_id, az, **fields))
    for n, az in enumerate(azs):
        public = f"{vpc_id}-public-{az[-1]}"
        layout.subnets += [subnet(public, vpc_id, az), subnet(layout.private(az), vpc_id, az)]
        layout.route_tables.append(
            route_table(f"rtb-{public}", vpc_id, subnet_ids=(public,), default_to=igw)
        )
        egress_az = azs[(n + 1) % len(azs)] if cross_az else az if nat_per_az else azs[0]
        layout.route_tables.append(
            route_table(
                f"rtb-{layout.private(az)}",
                vpc_id,
                subnet_ids=(layout.private(az),),
                default_to=layout.nat(egress_az) if nat else None,
            )
        )
    return layout


def network_of(*layouts: VpcLayout) -> dict[Any, Any]:
    """The collector values of these VPCs: ``ec2.vpcs`` and the joined ``ec2.network``."""
    return {
        ec2.vpcs: [layout.vpc for layout in layouts],
        ec2.network: ec2.Network.of(
            [s for layout in layouts for s in layout.subnets],
            [t for layout in layouts for t in layout.route_tables],
            [n for layout in layouts for n in layout.nat_gateways],
        ),
    }


def stack(
    name: str = "prod-network", outputs: Mapping[str, str] | None = None, **fields: Any
) -> cloudformation.Stack:
    """A CREATE_COMPLETE stack whose outputs (``{"VpcId": "vpc-1"}``) are all exported as
    ``<stack>-<key>``; ``exported=False`` exports none."""
    exported = fields.pop("exported", True)
    defaults: dict[str, Any] = {
        "stack_name": name,
        "stack_id": arn("cloudformation", f"stack/{name}/1"),
        "status": "CREATE_COMPLETE",
        "outputs": {
            key: cloudformation.StackOutput(
                value=value, export_name=f"{name}-{key}" if exported else None
            )
            for key, value in (outputs or {}).items()
        },
        "name": name,
    }
    return cloudformation.Stack(**{**defaults, **fields})


def file_system(fs_id: str = "fs-1", **fields: Any) -> efs.FileSystem:
    """A general-purpose, bursting file system encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "file_system_id": fs_id,
        "arn": arn("elasticfilesystem", f"file-system/{fs_id}"),
        "name": fs_id,
        "tags": None,
        "encrypted": True,
        "kms_key_id": KEY_ARN,
        "performance_mode": "generalPurpose",
        "throughput_mode": "bursting",
        "provisioned_throughput_mibps": None,
        "life_cycle_state": "available",
        "availability_zone_name": None,
    }
    return efs.FileSystem(**{**defaults, **fields})


def mount_target(mt_id: str, fs_id: str = "fs-1", subnet_id: str = "subnet-1") -> efs.MountTarget:
    return efs.MountTarget(
        mount_target_id=mt_id,
        file_system_id=fs_id,
        subnet_id=subnet_id,
        vpc_id="vpc-1",
        availability_zone=AZS[0],
        ip_address="10.0.1.10",
        life_cycle_state="available",
    )


def ecs_cluster(name: str = "main", insights: str | None = "enabled") -> ecs.EcsCluster:
    return ecs.EcsCluster(
        name=name,
        arn=arn("ecs", f"cluster/{name}"),
        status="ACTIVE",
        container_insights=insights,
    )


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def task_definition(family: str = "app", revision: int = 1, **fields: Any) -> ecs.TaskDefinition:
    """A revision run by ``main/<family>`` that names an execution and a task role."""
    defaults: dict[str, Any] = {
        "family": family,
        "revision": revision,
        "arn": arn("ecs", f"task-definition/{family}:{revision}"),
        "execution_role_arn": role_arn(f"{family}-exec"),
        "task_role_arn": role_arn(f"{family}-task"),
        "services": (f"main/{family}",),
    }
    return ecs.TaskDefinition(**{**defaults, **fields})


def replication_group(
    group_id: str = "redis", members: int = 2, **fields: Any
) -> elasticache.ReplicationGroup:
    """A compliant Redis replication group with members ``<group>-001``..., encrypted at
    rest with the default ElastiCache key."""
    defaults: dict[str, Any] = {
        "group_id": group_id,
        "arn": arn("elasticache", f"replicationgroup:{group_id}"),
        "engine": "redis",
        "at_rest_encryption": True,
        "transit_encryption": True,
        "transit_encryption_mode": "required",
        "multi_az": True,
        "multi_az_status": "enabled",
        "automatic_failover": True,
        "automatic_failover_status": "enabled",
        "snapshot_retention_limit": 7,
        "snapshot_window": "03:00-04:00",
        "member_clusters": tuple(f"{group_id}-{n:03}" for n in range(1, members + 1)),
        "kms_key_id": None,
        "port": 6379,
        "name": group_id,
    }
    return elasticache.ReplicationGroup(**{**defaults, **fields})


def cache_clusters(
    group: elasticache.ReplicationGroup, window: str | None = "sun:04:00-sun:05:00"
) -> list[elasticache.CacheCluster]:
    """The group's member clusters, each with this maintenance window."""
    return [
        elasticache.CacheCluster(
            cache_cluster_id=member,
            arn=arn("elasticache", f"cluster:{member}"),
            replication_group_id=group.group_id,
            security_group_ids=(),
            maintenance_window=window,
            name=member,
        )
        for member in group.member_clusters
    ]


def inline(role: str, document: Mapping[str, Any] | ReadError) -> iam.RolePolicy:
    """The role's inline policy ``<role>-inline``."""
    return iam.RolePolicy(name=f"{role}-inline", kind="inline", arn=None, document=document)


def managed(name: str, document: Mapping[str, Any] | ReadError) -> iam.RolePolicy:
    """A customer-managed policy in the test account (its default version's document)."""
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    return iam.RolePolicy(name=name, kind="managed", arn=policy_arn, document=document)


def task_role(name: str, *policies: iam.RolePolicy) -> iam.IamRole:
    """A task role that task definition ``app:1`` runs as."""
    return iam.IamRole(
        name=name, arn=role_arn(name), policies=policies, task_definitions=("app:1",)
    )


def tcp(port: int, *sources: str) -> ec2.IngressRule:
    """A TCP rule for one port from security groups (``sg-...``) and CIDR ranges."""
    return ec2.IngressRule(
        protocol="tcp",
        from_port=port,
        to_port=port,
        cidrs=tuple(s for s in sources if not s.startswith("sg-")),
        source_group_ids=tuple(s for s in sources if s.startswith("sg-")),
    )


def security_group(group_id: str, name: str, *ingress: ec2.IngressRule) -> ec2.SecurityGroup:
    return ec2.SecurityGroup(
        group_id=group_id,
        arn=None,
        name=name,
        vpc_id="vpc-1",
        owner_id=ACCOUNT,
        description=name,
        ingress=ingress,
        tags={},
    )


def rest_api(api_id: str, name: str | None = None) -> apigateway.RestApi:
    return apigateway.RestApi(api_id=api_id, name=name or api_id, region=REGION)


def stage(api_id: str, stage_name: str = "prod", **fields: Any) -> apigateway.Stage:
    """A stage throttled at 500/s (burst 1000), logging at INFO, writing access logs."""
    defaults: dict[str, Any] = {
        "api_id": api_id,
        "api_name": api_id,
        "stage_name": stage_name,
        "region": REGION,
        "deployment_id": "d1",
        "default_settings": apigateway.MethodSettings(
            rate_limit=500.0, burst_limit=1000, logging_level="INFO"
        ),
        "access_log_destination": arn("logs", "log-group:/aws/apigateway/access"),
    }
    return apigateway.Stage(**{**defaults, **fields})


def usage_plan(plan_id: str, *stages: apigateway.Stage, **fields: Any) -> apigateway.UsagePlan:
    """A plan covering these stages, throttled, with a quota of 10000 a MONTH."""
    defaults: dict[str, Any] = {
        "plan_id": plan_id,
        "name": plan_id,
        "region": REGION,
        "api_stages": tuple((s.api_id, s.stage_name) for s in stages),
        "rate_limit": 100.0,
        "burst_limit": 200,
        "quota_limit": 10000,
        "quota_period": "MONTH",
    }
    return apigateway.UsagePlan(**{**defaults, **fields})


def api_resources(*routes: str, options: Iterable[str] = ()) -> dict[str, apigateway.ApiResource]:
    """An API's resources by path from routes (``"GET /health"``); ``options`` adds an OPTIONS
    method to these paths."""
    verbs: dict[str, set[str]] = {}
    for route in routes:
        verb, _, path = route.partition(" ")
        verbs.setdefault(path, set()).add(verb)
    for path in options:
        verbs.setdefault(path, set()).add("OPTIONS")
    return {
        path: apigateway.ApiResource(resource_id=f"r{n}", verbs=tuple(sorted(found)))
        for n, (path, found) in enumerate(sorted(verbs.items()))
    }
