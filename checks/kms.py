"""KMS controls: customer-managed keys rotate; keys in use are enabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.engine.compliance import KMS_4, Compliance
from scanner.engine.inventory import CheckInputs, Collector
from scanner.engine.records import efs, elasticache, kinesis, kms, logs, rds, secretsmanager
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

THE_AWS_KEY = "the AWS-managed key"
"""How some services' messages name an AWS-managed key (``key_manager_verdict(aws_key=)``)."""


def key_manager_verdict(
    resource: ResourceRef,
    subject: str,
    key_ref: str,
    keys: kms.KeyReferences,
    *,
    aws_key: str = "AWS-managed key",
    **evidence: Any,
) -> Outcome:
    """The verdict of the ``*_encrypted_with_cmk`` controls on a resource (``subject``: "stream
    s1") that encrypts with ``key_ref``: PASS for a customer-managed key, FAIL for an
    AWS-managed one, ERROR when the key could not be described."""
    manager = keys.manager_of(key_ref)
    if isinstance(manager, ReadError):
        return unreadable(resource, manager, f"key {key_ref}")
    evidence["KeyManager"] = manager
    if manager == "CUSTOMER":
        message = f"{subject} is encrypted with customer-managed key {key_ref}"
        return passed(resource, message, **evidence)
    message = f"{subject} is encrypted with {aws_key} {key_ref}, not a customer-managed one"
    return failed(resource, message, **evidence)


@check(
    id="kms.cmk_rotation_enabled",
    severity=Severity.HIGH,
    title="Customer-managed KMS keys rotate automatically",
    description=(
        "Every enabled, customer-managed, symmetric KMS key has automatic rotation on. "
        "Rotation limits how much data one key version protects. AWS-managed keys rotate "
        "on their own, and disabled, asymmetric, HMAC or imported keys cannot rotate "
        "automatically, so they are not judged."
    ),
    remediation="aws kms enable-key-rotation --key-id <key-id>",
    rationale=(
        "Rotation limits how much data one key version protects, and most compliance frameworks"
        " require it."
    ),
    cfn_property="AWS::KMS::Key EnableKeyRotation: true",
    reads=[kms.keys, kms.rotation_status],
    compliance=Compliance(same_as=(KMS_4,)),
)
def cmk_rotation_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    status = inputs[kms.rotation_status]
    for key in inputs[kms.keys]:
        if key.key_id not in status:
            continue  # rotation does not apply to this key
        if status[key.key_id]:
            yield passed(key.ref, f"key {key.label} rotates automatically", KeyRotationEnabled=True)
        else:
            yield failed(
                key.ref, f"key {key.label} has automatic rotation off", KeyRotationEnabled=False
            )


ENCRYPTED_RESOURCES: tuple[Collector[Any], ...] = (
    efs.file_systems,
    rds.clusters,
    rds.instances,
    elasticache.replication_groups,
    kinesis.streams,
    secretsmanager.secrets,
    logs.log_groups,
)
"""Collectors whose records carry ``kms_key_id``: the resources that encrypt with a key."""

KEYS_IN_USE = kms.keys_used_by(*ENCRYPTED_RESOURCES, aws_aliases=True)
"""Every key those resources encrypt with, AWS-managed ones included, described."""


@check(
    id="kms.key_in_use_enabled",
    severity=Severity.CRITICAL,
    title="KMS keys that scanned resources encrypt with are enabled",
    description=(
        "Every KMS key that a scanned resource (EFS file system, RDS cluster or instance, "
        "ElastiCache replication group, Kinesis stream, secret, log group) encrypts with is "
        "Enabled. A Disabled key or one pending deletion makes that data unreadable: the "
        "database cannot start, the stream cannot be read. One finding per key, naming the "
        "resources that use it."
    ),
    remediation="aws kms enable-key --key-id <key-id>  "
    "(or: aws kms cancel-key-deletion --key-id <key-id>, then enable-key)",
    rationale=(
        "A disabled key makes the data it encrypts unreadable now; a key pending deletion loses"
        " it for good."
    ),
    cfn_property="AWS::KMS::Key Enabled: true",
    reads=[KEYS_IN_USE, *ENCRYPTED_RESOURCES],
    independent=ENCRYPTED_RESOURCES,
    partial_evidence=True,  # a key that cannot be described is ERROR for the key
    compliance=Compliance.none(
        "KMS.3 fails any key pending deletion, used or not, and passes disabled keys; this"
        " judges only keys in use and fails disabled ones: neither implies the other"
    ),
)
def key_in_use_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    users: dict[str, list[str]] = {}
    for source in ENCRYPTED_RESOURCES:
        for record in inputs[source]:
            if key_ref := getattr(record, "kms_key_id", None):
                users.setdefault(key_ref, []).append(record.ref.id)
    described = inputs[KEYS_IN_USE].described
    keys: dict[str, tuple[kms.KmsKey, list[str]]] = {}
    for key_ref in users:
        key = described[key_ref]
        if isinstance(key, ReadError):
            ref = ResourceRef(type="AWS::KMS::Key", id=key_ref.split(":key/")[-1])
            yield unreadable(ref, key, f"the state of the key used by {', '.join(users[key_ref])}")
            continue
        keys.setdefault(key.key_id, (key, []))[1].extend(users[key_ref])
    for key, resources in keys.values():
        used_by = ", ".join(sorted(set(resources)))
        evidence = {"KeyState": key.state, "UsedBy": sorted(set(resources))}
        if key.state == "Enabled":
            yield passed(key.ref, f"key {key.key_id} is Enabled; used by {used_by}", **evidence)
        else:
            yield failed(
                key.ref,
                f"key {key.key_id} is {key.state} but used by {used_by}",
                **evidence,
            )
