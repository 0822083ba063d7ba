"""KMS controls: customer-managed keys rotate; keys in use are enabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.collectors import efs, elasticache, kinesis, kms, logs, rds, secretsmanager
from scanner.compliance import KMS_4, Compliance
from scanner.inventory import CheckInputs, Collector
from scanner.model import (
    Outcome,
    ReadError,
    ResourceRef,
    Severity,
    UnreadableResource,
    failed,
    passed,
    unreadable,
)
from scanner.registry import Params, check


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
        if isinstance(key, UnreadableResource):
            yield unreadable(key.ref, key.error, "key metadata")
            continue
        if key.key_id not in status:
            continue  # rotation does not apply to this key
        enabled = status[key.key_id]
        if not isinstance(enabled, bool):
            yield unreadable(key.ref, enabled, "rotation status")
        elif enabled:
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
    reads=[kms.key_directory, *ENCRYPTED_RESOURCES],
    compliance=Compliance.none(
        "KMS.3 fails any key pending deletion, used or not, and passes disabled keys; this"
        " judges only keys in use and fails disabled ones: neither implies the other"
    ),
)
def key_in_use_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    users: dict[str, list[str]] = {}
    for source in ENCRYPTED_RESOURCES:
        records = inputs.try_get(source)
        if isinstance(records, ReadError):
            yield source.unreadable(records)
            continue
        for record in records:
            if isinstance(record, UnreadableResource):  # the key it uses is unknown
                yield unreadable(record.ref, record.error, "the key it encrypts with")
                continue
            key_ref = getattr(record, "kms_key_id", None)
            if key_ref:
                users.setdefault(key_ref, []).append(record.ref.id)
    keys: dict[str, tuple[kms.KmsKey, list[str]]] = {}
    for key_ref, key in inputs[kms.key_directory].lookup_many(users).items():
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
