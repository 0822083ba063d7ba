"""RDS controls: customer-managed encryption, no public instances, backups, logs, AZs,
deletion protection, maintenance windows."""

from __future__ import annotations

from collections.abc import Iterator

from checks.kms import key_manager_verdict
from scanner.engine.compliance import RDS_2, RDS_3, RDS_7, RDS_8, RDS_11, RDS_15, RDS_27, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import kms, rds
from scanner.engine.registry import Param, Params, check
from scanner.engine.windows import ALLOWED_WINDOWS, verdict
from scanner.model import Outcome, Severity, failed, passed

Judged = rds.DbCluster | rds.DbInstance

MAIN_LOGS = {
    "aurora-postgresql": "postgresql",
    "postgres": "postgresql",
    "aurora-mysql": "error",
    "aurora": "error",
    "mysql": "error",
    "mariadb": "error",
    "oracle": "alert",
    "sqlserver": "error",
    "db2": "diag.log",
}
"""The log each engine writes its errors to, by engine or engine family (``oracle-ee``)."""


def main_log(engine: str) -> str | None:
    """The engine's main log type, or None for engines not judged (neptune, docdb, custom-*)."""
    return MAIN_LOGS.get(engine) or MAIN_LOGS.get(engine.split("-", 1)[0])


DATABASE_KEYS = kms.keys_used_by(rds.clusters, rds.instances)
"""The keys clusters and instances encrypt with, described during the prefetch."""


def _clusters_and_standalone(inputs: CheckInputs) -> Iterator[Judged]:
    """Every cluster, then every standalone instance (members are judged through their
    cluster). The checks declare both listings ``independent``: one that could not be read
    is the engine's ERROR and the other is still judged."""
    yield from inputs[rds.clusters]
    yield from (instance for instance in inputs[rds.instances] if instance.standalone)


@check(
    id="rds.storage_encrypted_with_cmk",
    severity=Severity.HIGH,
    title="RDS clusters and standalone instances are encrypted with a customer-managed key",
    description=(
        "Each DB cluster, and each DB instance that belongs to no cluster, has StorageEncrypted "
        "and a customer-managed KMS key, not the AWS-managed aws/rds key, so key policy, "
        "rotation and revocation stay under the account's control. Cluster members are judged "
        "through their cluster. The key's manager is read with DescribeKey; a key that cannot "
        "be described is ERROR. Encryption cannot be changed in place."
    ),
    remediation=(
        "aws rds create-db-cluster-snapshot ...; aws rds copy-db-cluster-snapshot "
        "--kms-key-id <customer-managed-key-arn> ...; aws rds restore-db-cluster-from-snapshot "
        "... (standalone instances: the db-snapshot equivalents), then switch clients"
    ),
    rationale=(
        "A customer-managed key lets you control, audit and revoke access to the data and "
        "decide who may restore its snapshots."
    ),
    cfn_property="AWS::RDS::DBCluster StorageEncrypted: true, KmsKeyId: <customer-managed key>",
    reads=[rds.clusters, rds.instances, DATABASE_KEYS],
    independent=[rds.clusters, rds.instances],
    partial_evidence=True,  # a key that cannot be described is ERROR for the database
    compliance=Compliance(
        stricter_than=(RDS_3, RDS_27),
        note="also requires a customer-managed key: aws/rds fails here only",
    ),
)
def storage_encrypted_with_cmk(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    keys = inputs[DATABASE_KEYS]
    for db in _clusters_and_standalone(inputs):
        if not db.storage_encrypted:
            yield failed(db.ref, f"{db.label} is not encrypted", StorageEncrypted=False)
        elif not db.kms_key_id:
            # AWS always names the key of encrypted storage; none means the default aws/rds.
            yield failed(
                db.ref,
                f"{db.label} is encrypted with the default key (no KmsKeyId returned: aws/rds)",
                StorageEncrypted=True,
                KmsKeyId=None,
            )
        else:
            yield key_manager_verdict(
                db.ref, db.label, db.kms_key_id, keys, StorageEncrypted=True, KmsKeyId=db.kms_key_id
            )


@check(
    id="rds.not_publicly_accessible",
    severity=Severity.HIGH,
    title="RDS DB instances are not publicly accessible",
    description=(
        "No DB instance, cluster members included, has PubliclyAccessible set: a public "
        "instance gets a DNS name resolving to a public IP, one security-group rule away from "
        "the internet. Read from DescribeDBInstances; a missing value is read as not set."
    ),
    remediation=(
        "aws rds modify-db-instance --db-instance-identifier <id> --no-publicly-accessible "
        "--apply-immediately"
    ),
    rationale=(
        "A publicly accessible instance gets a public address: the database is then one "
        "security group rule away from the internet."
    ),
    cfn_property="AWS::RDS::DBInstance PubliclyAccessible: false",
    reads=[rds.instances],
    compliance=Compliance(same_as=(RDS_2,)),
)
def not_publicly_accessible(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for db in inputs[rds.instances]:
        where = f"{db.label} (cluster {db.cluster_id})" if db.cluster_id else db.label
        evidence = {"PubliclyAccessible": db.publicly_accessible}
        if db.publicly_accessible:
            yield failed(db.ref, f"{where} is publicly accessible", **evidence)
        else:
            yield passed(db.ref, f"{where} is not publicly accessible", **evidence)


@check(
    id="rds.backup_retention",
    severity=Severity.MEDIUM,
    title="RDS automated backups are kept for the baseline's minimum",
    description=(
        "Each DB cluster, and each standalone DB instance, keeps automated backups "
        "(BackupRetentionPeriod) for at least `min_days` days, the window for point-in-time "
        "recovery. Cluster members are judged through their cluster; read replicas are not "
        "judged (they are restored from their source's backups)."
    ),
    remediation=(
        "aws rds modify-db-cluster --db-cluster-identifier <id> --backup-retention-period 7 "
        "--apply-immediately  (standalone: aws rds modify-db-instance "
        "--db-instance-identifier <id> ...)"
    ),
    rationale=(
        "Backups shorter than the baseline cannot restore to a point before a problem that was "
        "found late."
    ),
    cfn_property=(
        "AWS::RDS::DBCluster BackupRetentionPeriod (AWS::RDS::DBInstance for a standalone instance)"
    ),
    reads=[rds.clusters, rds.instances],
    independent=[rds.clusters, rds.instances],
    params=[
        Param(
            name="min_days",
            default=7,
            schema={"type": "integer", "minimum": 1, "maximum": 35},
            description="Fewest days automated backups must be kept (AWS allows up to 35).",
        )
    ],
    compliance=Compliance(
        same_as=(RDS_11,),
        note=(
            "the minimum is the baseline's min_days (Security Hub's default is 7); RDS.11"
            " judges DB instances, so findings on clusters name no Security Hub control"
        ),
    ),
)
def backup_retention(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    min_days = params["min_days"]
    for db in _clusters_and_standalone(inputs):
        if isinstance(db, rds.DbInstance) and db.read_replica_source:
            continue
        days = db.backup_retention_days
        evidence = {"BackupRetentionPeriod": days, "min_days": min_days}
        kept = f"keeps backups for {days} day{'' if days == 1 else 's'}"
        if days >= min_days:
            yield passed(db.ref, f"{db.label} {kept}", **evidence)
        else:
            held = kept if days else "has automated backups off"
            message = f"{db.label} {held}, below the baseline's {min_days}"
            yield failed(db.ref, message, **evidence)


@check(
    id="rds.log_exports",
    severity=Severity.MEDIUM,
    title="RDS clusters and standalone instances export their main log to CloudWatch Logs",
    description=(
        "EnabledCloudwatchLogsExports of each DB cluster, and of each standalone DB instance, "
        "holds the engine's main log: postgresql for aurora-postgresql and postgres; error "
        "for aurora-mysql, mysql, mariadb and sqlserver; alert for oracle; diag.log for db2. "
        "Without it, database errors and failed logins are lost with the host. Cluster "
        "members are judged through their cluster; other engines (neptune, docdb, RDS "
        "Custom) are not judged."
    ),
    remediation=(
        "aws rds modify-db-cluster --db-cluster-identifier <id> "
        '--cloudwatch-logs-export-configuration \'{"EnableLogTypes":["postgresql"]}\'  '
        "(standalone: aws rds modify-db-instance --db-instance-identifier <id> ...)"
    ),
    rationale=(
        "Exported logs outlive the instance's own log rotation and can be searched and alarmed on."
    ),
    cfn_property=(
        "AWS::RDS::DBCluster EnableCloudwatchLogsExports (AWS::RDS::DBInstance for a standalone"
        " instance)"
    ),
    reads=[rds.clusters, rds.instances],
    independent=[rds.clusters, rds.instances],
    compliance=Compliance.none(
        "RDS.9 requires more logs per engine (audit, error, general and slow query for"
        " MySQL) than the main log judged here, so passing here does not pass it"
    ),
)
def log_exports(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for db in _clusters_and_standalone(inputs):
        wanted = main_log(db.engine)
        if wanted is None:
            continue
        exported = list(db.enabled_log_exports)
        evidence = {"Engine": db.engine, "EnabledCloudwatchLogsExports": exported}
        if wanted in exported:
            yield passed(db.ref, f"{db.label} ({db.engine}) exports its {wanted} log", **evidence)
        else:
            shown = ", ".join(exported) or "none"
            message = (
                f"{db.label} ({db.engine}) does not export its {wanted} log (exports: {shown})"
            )
            yield failed(db.ref, message, **evidence)


@check(
    id="rds.cluster_multi_az",
    severity=Severity.MEDIUM,
    title="RDS cluster instances span at least two Availability Zones",
    description=(
        "The DB instances of each DB cluster run in at least two Availability Zones, so a "
        "reader in another AZ can take over when the writer's AZ fails. Read from "
        "DBClusterMembers and each member's AvailabilityZone (DescribeDBInstances). Aurora "
        "Serverless v1 clusters have no DB instances and are not judged; standalone "
        "instances' Multi-AZ standby is not judged here."
    ),
    remediation=(
        "aws rds create-db-instance --db-cluster-identifier <id> --engine <engine> "
        "--db-instance-class <class> --availability-zone <another AZ> "
        "--db-instance-identifier <new-id>"
    ),
    rationale="A cluster whose instances all sit in one AZ goes down with that AZ.",
    cfn_property=(
        "AWS::RDS::DBInstance AvailabilityZone: a second instance of the cluster in another AZ"
    ),
    reads=[rds.clusters, rds.cluster_members],
    compliance=Compliance(same_as=(RDS_15,)),
)
def cluster_multi_az(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    members = inputs[rds.cluster_members]
    for cluster in inputs[rds.clusters]:
        if cluster.engine_mode == "serverless":
            continue
        placed = members.get(cluster.cluster_id, ())
        zones = sorted({m.availability_zone for m in placed if m.availability_zone})
        where = ", ".join(
            f"{m.instance_id} in {m.availability_zone or 'no AZ yet'}" for m in placed
        )
        evidence = {"AvailabilityZones": zones, "Members": [m.instance_id for m in placed]}
        if len(zones) >= 2:
            message = f"{cluster.label} spans {', '.join(zones)} ({where})"
            yield passed(cluster.ref, message, **evidence)
        elif not placed:
            yield failed(cluster.ref, f"{cluster.label} has no DB instances", **evidence)
        else:
            message = f"{cluster.label} runs in {', '.join(zones) or 'no AZ'} only ({where})"
            yield failed(cluster.ref, message, **evidence)


@check(
    id="rds.deletion_protection",
    severity=Severity.MEDIUM,
    title="RDS clusters and standalone instances have deletion protection",
    description=(
        "DeletionProtection is true on each DB cluster and on each standalone DB instance, so "
        "that no API call, console click or stack update deletes the database. Cluster "
        "members are judged through their cluster (deleting a member does not delete data)."
    ),
    remediation=(
        "aws rds modify-db-cluster --db-cluster-identifier <id> --deletion-protection "
        "--apply-immediately  (standalone: aws rds modify-db-instance "
        "--db-instance-identifier <id> --deletion-protection)"
    ),
    rationale=(
        "Deletion protection stops one mistaken command or stack update from deleting the database."
    ),
    cfn_property=(
        "AWS::RDS::DBCluster DeletionProtection: true (AWS::RDS::DBInstance for a standalone "
        "instance)"
    ),
    reads=[rds.clusters, rds.instances],
    independent=[rds.clusters, rds.instances],
    compliance=Compliance(same_as=(RDS_7, RDS_8)),
)
def deletion_protection(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for db in _clusters_and_standalone(inputs):
        if db.deletion_protection:
            yield passed(db.ref, f"{db.label} has deletion protection", DeletionProtection=True)
        else:
            yield failed(
                db.ref, f"{db.label} has deletion protection off", DeletionProtection=False
            )


@check(
    id="rds.maintenance_window_approved",
    severity=Severity.LOW,
    title="RDS maintenance windows fall inside the approved windows",
    description=(
        "The PreferredMaintenanceWindow of each DB cluster, and of each standalone DB "
        "instance, lies entirely inside one of `allowed_windows` (UTC, ddd:hh:mm-ddd:hh:mm; a "
        "window may wrap from Saturday to Sunday), so patching and engine upgrades restart "
        "the database only when the team expects it. Cluster members are judged through "
        "their cluster. Off until allowed_windows is configured."
    ),
    remediation=(
        "aws rds modify-db-cluster --db-cluster-identifier <id> --preferred-maintenance-window "
        "sun:03:00-sun:03:30  (standalone: aws rds modify-db-instance "
        "--db-instance-identifier <id> ...)"
    ),
    rationale=(
        "Maintenance outside the approved window restarts the database at peak time or when "
        "nobody is on call."
    ),
    cfn_property=(
        "AWS::RDS::DBCluster PreferredMaintenanceWindow (AWS::RDS::DBInstance for a standalone "
        "instance)"
    ),
    reads=[rds.clusters, rds.instances],
    independent=[rds.clusters, rds.instances],
    params=[ALLOWED_WINDOWS],
    configured_by=ALLOWED_WINDOWS.name,
    compliance=Compliance.none("no framework requirement names maintenance windows"),
)
def maintenance_window_approved(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    allowed = list(params["allowed_windows"])
    if not allowed:
        return
    for db in _clusters_and_standalone(inputs):
        ok, phrase = verdict(db.maintenance_window, allowed)
        evidence = {"PreferredMaintenanceWindow": db.maintenance_window, "allowed_windows": allowed}
        message = f"{db.label}: maintenance window {phrase}"
        yield (passed if ok else failed)(db.ref, message, **evidence)
