"""RDS builders: Aurora clusters with member instances, standalone DB instances.

moto-gap workarounds (docs/moto-gaps.md): KMS keys are always passed as ARNs
(rds-kms-alias-not-resolved, rds-default-key-placeholder), the AWS-managed aws/rds key is
made by backend patch (kms-no-aws-managed-keys), log exports are set at create
(rds-modify-log-exports-ignored), and every instance is given its AvailabilityZone
(rds-instance-az-always-a) and PubliclyAccessible (rds-publicly-accessible-omitted).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner.demo.base import DemoAccount
from scanner.demo.kms import aws_managed_key, make_key

CLUSTER_INSTANCE_CLASS = "db.r6g.large"
STANDALONE_INSTANCE_CLASS = "db.t3.micro"
MASTER_USERNAME = "dbadmin"
DEMO_PASSWORD = "demo-only-not-a-secret"  # moto needs one; nothing real is protected by it
APPROVED_WINDOW = "sun:03:00-sun:03:30"
"""The compliant stack's maintenance window: inside the demo baseline's Saturday-night one."""
PEAK_WINDOW = "wed:14:00-wed:14:30"
"""The broken stack's: mid-week, mid-day."""


@dataclass(frozen=True, kw_only=True)
class AuroraCluster:
    """What ``make_aurora_cluster`` built."""

    cluster_id: str
    arn: str
    instance_ids: tuple[str, ...]
    """Member instances, in ``instance_azs`` order (``<cluster_id>-1``, ``-2``...)."""


def _default_port(engine: str) -> int:
    return 5432 if "postgres" in engine else 3306


def _tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def _key(account: DemoAccount, key_arn: str | None, aws_managed: bool) -> str:
    """``key_arn``, else the AWS-managed aws/rds key, else a new customer-managed key."""
    return key_arn or (aws_managed_key(account, "rds") if aws_managed else make_key(account))


def make_subnet_group(account: DemoAccount, name: str, subnet_ids: Sequence[str]) -> str:
    """A DB subnet group over ``subnet_ids``; returns its name."""
    account.client("rds").create_db_subnet_group(
        DBSubnetGroupName=name, DBSubnetGroupDescription=name, SubnetIds=list(subnet_ids)
    )
    return name


def make_aurora_cluster(
    account: DemoAccount,
    *,
    cluster_id: str | None = None,
    engine: str = "aurora-postgresql",
    encrypted: bool = True,
    key_arn: str | None = None,
    aws_managed: bool = False,
    backup_days: int = 7,
    log_exports: Sequence[str] = ("postgresql",),
    deletion_protection: bool = True,
    maintenance_window: str | None = None,
    instance_azs: Sequence[str] | None = None,
    public_instances: bool | Collection[int] = False,
    security_group_ids: Sequence[str] = (),
    port: int | None = None,
    subnet_ids: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
) -> AuroraCluster:
    """An Aurora cluster with one member instance per entry of ``instance_azs`` (default
    ``<region>a`` and ``<region>b``; the first is the writer).

    Encryption (when ``encrypted``): ``key_arn`` when given, else the AWS-managed aws/rds
    key when ``aws_managed``, else a new customer-managed key. ``public_instances``: True or
    False for every member, or the indexes (into ``instance_azs``) of the public ones.
    ``subnet_ids``: a DB subnet group ``<cluster_id>-subnets`` over them (else moto's default).
    ``port`` defaults to the engine's (5432 for PostgreSQL, else 3306).
    ``maintenance_window``: the cluster's PreferredMaintenanceWindow (else moto's
    wed:02:40-wed:03:10).
    """
    client = account.client("rds")
    cluster_id = cluster_id or account.name("aurora")
    azs = list(instance_azs if instance_azs is not None else _two_azs(account))
    params: dict[str, Any] = {
        "DBClusterIdentifier": cluster_id,
        "Engine": engine,
        "MasterUsername": MASTER_USERNAME,
        "MasterUserPassword": DEMO_PASSWORD,
        "StorageEncrypted": encrypted,
        "BackupRetentionPeriod": backup_days,
        "EnableCloudwatchLogsExports": list(log_exports),
        "DeletionProtection": deletion_protection,
        "Port": port or _default_port(engine),
        "VpcSecurityGroupIds": list(security_group_ids),
        "Tags": _tags(tags),
    }
    if encrypted:
        params["KmsKeyId"] = _key(account, key_arn, aws_managed)
    if maintenance_window:
        params["PreferredMaintenanceWindow"] = maintenance_window
    if subnet_ids:
        params["DBSubnetGroupName"] = make_subnet_group(
            account, f"{cluster_id}-subnets", subnet_ids
        )
    arn = str(client.create_db_cluster(**params)["DBCluster"]["DBClusterArn"])
    instance_ids = []
    for index, az in enumerate(azs):
        public = (
            public_instances if isinstance(public_instances, bool) else index in public_instances
        )
        instance_id = f"{cluster_id}-{index + 1}"
        client.create_db_instance(
            DBInstanceIdentifier=instance_id,
            DBInstanceClass=CLUSTER_INSTANCE_CLASS,
            Engine=engine,
            DBClusterIdentifier=cluster_id,
            AvailabilityZone=az,
            PubliclyAccessible=public,
            Tags=_tags(tags),
        )
        instance_ids.append(instance_id)
    return AuroraCluster(cluster_id=cluster_id, arn=arn, instance_ids=tuple(instance_ids))


def _two_azs(account: DemoAccount) -> tuple[str, str]:
    return f"{account.region}a", f"{account.region}b"


def make_db_instance(
    account: DemoAccount,
    *,
    instance_id: str | None = None,
    engine: str = "postgres",
    encrypted: bool = True,
    key_arn: str | None = None,
    aws_managed: bool = False,
    backup_days: int = 7,
    log_exports: Sequence[str] = ("postgresql",),
    deletion_protection: bool = True,
    public: bool = False,
    availability_zone: str | None = None,
    multi_az: bool = False,
    maintenance_window: str | None = None,
    security_group_ids: Sequence[str] = (),
    port: int | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A standalone DB instance (in no cluster); returns its id.

    Encryption as in ``make_aurora_cluster``. ``availability_zone`` defaults to
    ``<region>a`` (ignored with ``multi_az``). ``log_exports`` must suit the engine
    (``postgresql`` for postgres, ``error`` for mysql/mariadb). ``maintenance_window``:
    its PreferredMaintenanceWindow (else moto's wed:06:38-wed:07:08).
    """
    instance_id = instance_id or account.name("db")
    params: dict[str, Any] = {
        "DBInstanceIdentifier": instance_id,
        "DBInstanceClass": STANDALONE_INSTANCE_CLASS,
        "Engine": engine,
        "AllocatedStorage": 20,
        "MasterUsername": MASTER_USERNAME,
        "MasterUserPassword": DEMO_PASSWORD,
        "StorageEncrypted": encrypted,
        "BackupRetentionPeriod": backup_days,
        "EnableCloudwatchLogsExports": list(log_exports),
        "DeletionProtection": deletion_protection,
        "PubliclyAccessible": public,
        "MultiAZ": multi_az,
        "Port": port or _default_port(engine),
        "VpcSecurityGroupIds": list(security_group_ids),
        "Tags": _tags(tags),
    }
    if not multi_az:
        params["AvailabilityZone"] = availability_zone or f"{account.region}a"
    if encrypted:
        params["KmsKeyId"] = _key(account, key_arn, aws_managed)
    if maintenance_window:
        params["PreferredMaintenanceWindow"] = maintenance_window
    account.client("rds").create_db_instance(**params)
    return instance_id


def reference_rds(
    account: DemoAccount,
    *,
    compliant: bool,
    key_arn: str | None,
    security_group_ids: Sequence[str],
    subnet_ids: Sequence[str] | None = None,
    name: str | None = None,
) -> None:
    """The stack's Aurora PostgreSQL cluster ``name`` with two instances (``<name>-1`` writer,
    ``<name>-2`` reader), compliant or broken for every RDS control.

    Deps: ``key_arn`` (the customer-managed key for RDS; a new one when None; compliant
    only), ``security_group_ids`` (the database security groups, e.g. ``reference_network``'s
    ``database`` group), optionally ``subnet_ids`` (the private subnets, for a DB subnet
    group) and ``name`` (pass one naming the environment).
    Compliant: encrypted with ``key_arn``, 7 days' backups, postgresql log exported,
    instances in two AZs, neither public, deletion protection on, maintenance in
    APPROVED_WINDOW. Broken: encrypted with the AWS-managed aws/rds key, 1 day's backups,
    no log exports, both instances in one AZ, the reader publicly accessible, deletion
    protection off, maintenance in PEAK_WINDOW.
    """
    first, second = _two_azs(account)
    make_aurora_cluster(
        account,
        cluster_id=name,
        key_arn=key_arn if compliant else None,
        aws_managed=not compliant,
        backup_days=7 if compliant else 1,
        log_exports=("postgresql",) if compliant else (),
        deletion_protection=compliant,
        maintenance_window=APPROVED_WINDOW if compliant else PEAK_WINDOW,
        instance_azs=(first, second) if compliant else (first, first),
        public_instances=False if compliant else (1,),
        security_group_ids=security_group_ids,
        subnet_ids=subnet_ids or (),
    )
