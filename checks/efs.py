"""EFS controls: customer-managed encryption, private mount targets, backups, modes."""

from __future__ import annotations

from collections.abc import Iterator

from checks.kms import key_manager_verdict
from scanner.engine.compliance import EFS_1, EFS_7, EFS_8, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import ec2, efs, kms
from scanner.engine.registry import Param, Params, check
from scanner.model import Outcome, ReadError, Severity, failed, passed, unreadable

FILE_SYSTEM_KEYS = kms.keys_used_by(efs.file_systems)
"""The keys file systems encrypt with, described during the prefetch."""


@check(
    id="efs.encrypted_with_cmk",
    severity=Severity.HIGH,
    title="EFS file systems are encrypted with a customer-managed KMS key",
    description=(
        "The file system is encrypted at rest and its KMS key is customer-managed, not the "
        "AWS-managed aws/elasticfilesystem key, so key policy, rotation and revocation stay "
        "under the account's control. The key's manager is read with DescribeKey; a key that "
        "cannot be described is ERROR. Encryption cannot be turned on after creation: a new "
        "file system is needed."
    ),
    remediation=(
        "aws efs create-file-system --encrypted --kms-key-id <customer-managed-key-arn> ..., "
        "then copy the data (AWS DataSync or AWS Backup restore) and switch mounts"
    ),
    rationale=(
        "A customer-managed key lets you control, audit and revoke access to the data "
        "independently of the file system."
    ),
    cfn_property="AWS::EFS::FileSystem Encrypted: true, KmsKeyId: <customer-managed key>",
    reads=[efs.file_systems, FILE_SYSTEM_KEYS],
    partial_evidence=True,  # a key that cannot be described is ERROR for the file system
    compliance=Compliance(
        stricter_than=(EFS_1, EFS_8),
        note="also requires a customer-managed key: aws/elasticfilesystem fails here only",
    ),
)
def encrypted_with_cmk(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    keys = inputs[FILE_SYSTEM_KEYS]
    for fs in inputs[efs.file_systems]:
        if not fs.encrypted:
            yield failed(
                fs.ref, f"file system {fs.file_system_id} is not encrypted", Encrypted=False
            )
            continue
        if not fs.kms_key_id:
            # AWS always names the key; without one the default aws/elasticfilesystem key is used.
            yield failed(
                fs.ref,
                f"file system {fs.file_system_id} is encrypted with the default key "
                "(no KmsKeyId returned: aws/elasticfilesystem)",
                Encrypted=True,
                KmsKeyId=None,
            )
            continue
        subject = f"file system {fs.file_system_id}"
        yield key_manager_verdict(
            fs.ref, subject, fs.kms_key_id, keys, Encrypted=True, KmsKeyId=fs.kms_key_id
        )


@check(
    id="efs.mount_targets_in_private_subnets",
    severity=Severity.MEDIUM,
    title="EFS mount targets sit in private subnets",
    description=(
        "Every mount target of the file system sits in a private subnet: the subnet's route "
        "table (explicit association, else the VPC's main table) has no default route "
        "(0.0.0.0/0 or ::/0) to an internet gateway. One finding per file system, naming the "
        "mount targets in public subnets. A file system without mount targets is not judged. "
        "Security groups are judged by ec2.datastore_sg_least_privilege."
    ),
    remediation=(
        "aws efs delete-mount-target --mount-target-id <id>; "
        "aws efs create-mount-target --file-system-id <fs-id> --subnet-id <private-subnet> "
        "--security-groups <sg>"
    ),
    rationale=(
        "A mount target in a public subnet puts NFS one security group rule away from the internet."
    ),
    cfn_property="AWS::EFS::MountTarget SubnetId: <a private subnet>",
    reads=[efs.file_systems, efs.mount_targets, ec2.routing],
    partial_evidence=True,  # a subnet whose routing cannot be read is ERROR for the file system
    compliance=Compliance.none(
        "EFS.6 judges whether the subnet assigns public IPs on launch, not its route to an"
        " internet gateway: another requirement"
    ),
)
def mount_targets_in_private_subnets(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    targets_by_fs = inputs[efs.mount_targets]
    network = inputs[ec2.routing]
    for fs in inputs[efs.file_systems]:
        targets = targets_by_fs.get(fs.file_system_id, ())
        if not targets:
            continue  # nothing mounts it: not judged
        routes = {t.mount_target_id: network.internet_route(t.subnet_id) for t in targets}
        error = next((r for r in routes.values() if isinstance(r, ReadError)), None)
        if error is not None:
            yield unreadable(fs.ref, error, "mount target subnet routing")
            continue
        subnets = {t.mount_target_id: t.subnet_id for t in targets}
        public = [
            f"{t.mount_target_id} in {t.subnet_id} ({routes[t.mount_target_id]})"
            for t in targets
            if routes[t.mount_target_id] is not None
        ]
        if public:
            yield failed(
                fs.ref,
                f"file system {fs.file_system_id} has mount targets in public subnets: "
                + ", ".join(public),
                mount_targets=subnets,
                public=public,
            )
        else:
            yield passed(
                fs.ref,
                f"file system {fs.file_system_id}: all {len(targets)} mount target(s) in "
                f"private subnets ({', '.join(sorted(set(subnets.values())))})",
                mount_targets=subnets,
            )


@check(
    id="efs.backup_policy_enabled",
    severity=Severity.MEDIUM,
    title="EFS automatic backups are enabled",
    description=(
        "The file system's backup policy (DescribeBackupPolicy) is ENABLED, so AWS Backup "
        "takes daily backups. No policy at all (PolicyNotFound), DISABLED, ENABLING and "
        "DISABLING fail. The backup plan's schedule and retention are not judged."
    ),
    remediation=(
        "aws efs put-backup-policy --file-system-id <fs-id> --backup-policy Status=ENABLED"
    ),
    rationale="Without backups, deleted or corrupted files cannot be restored.",
    cfn_property="AWS::EFS::FileSystem BackupPolicy: {Status: ENABLED}",
    reads=[efs.file_systems, efs.backup_policies],
    compliance=Compliance(same_as=(EFS_7,)),
)
def backup_policy_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    policies = inputs[efs.backup_policies]
    for fs in inputs[efs.file_systems]:
        status = policies.get(fs.file_system_id)
        name = f"file system {fs.file_system_id}"
        if status == "ENABLED":
            yield passed(fs.ref, f"{name} backup policy is ENABLED", Status=status)
        elif status is None:
            yield failed(fs.ref, f"{name} has no backup policy", Status=None)
        else:
            yield failed(fs.ref, f"{name} backup policy is {status}, not ENABLED", Status=status)


@check(
    id="efs.throughput_and_performance_mode",
    severity=Severity.LOW,
    title="EFS performance and throughput modes match the baseline",
    description=(
        "PerformanceMode and ThroughputMode (DescribeFileSystems) equal the baseline's, so "
        "cost and latency behave as the stack was sized for. Provisioned throughput amounts "
        "are not judged."
    ),
    remediation=(
        "aws efs update-file-system --file-system-id <fs-id> --throughput-mode <mode>; "
        "the performance mode is fixed at creation (a new file system is needed)"
    ),
    rationale=(
        "The wrong mode throttles the application when burst credits run out, or costs more "
        "than needed; the performance mode cannot be changed later."
    ),
    cfn_property="AWS::EFS::FileSystem PerformanceMode and ThroughputMode",
    reads=[efs.file_systems],
    params=[
        Param(
            name="performance_mode",
            default="generalPurpose",
            schema={"type": "string", "enum": ["generalPurpose", "maxIO"]},
            description="Required PerformanceMode.",
        ),
        Param(
            name="throughput_mode",
            default="bursting",
            schema={"type": "string", "enum": ["bursting", "provisioned", "elastic"]},
            description="Required ThroughputMode.",
        ),
    ],
    compliance=Compliance.none("sizing, not a security requirement"),
)
def throughput_and_performance_mode(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    wanted = {
        "PerformanceMode": str(params["performance_mode"]),
        "ThroughputMode": str(params["throughput_mode"]),
    }
    for fs in inputs[efs.file_systems]:
        seen = {"PerformanceMode": fs.performance_mode, "ThroughputMode": fs.throughput_mode}
        wrong = [f"{k} is {seen[k]}, baseline {wanted[k]}" for k in seen if seen[k] != wanted[k]]
        modes = f"{fs.performance_mode}, {fs.throughput_mode} as the baseline"
        message = f"file system {fs.file_system_id}: {'; '.join(wrong) or modes}"
        yield (failed if wrong else passed)(fs.ref, message, **seen)
