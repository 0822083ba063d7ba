"""The least-privilege IAM policy, generated from what the selected controls declare."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from scanner.delivery import Destination
from scanner.engine.attribution import LOOKUP_ACTION
from scanner.engine.registry import CheckSpec
from scanner.errors import ConfigError


def required_actions(specs: Iterable[CheckSpec]) -> list[str]:
    return sorted({action for spec in specs for action in spec.actions})


def policy_document(
    specs: Iterable[CheckSpec],
    delivery: Sequence[dict[str, Any]] = (),
    *,
    attribution: bool = True,
) -> dict[str, Any]:
    """sts:GetCallerIdentity needs no permission, so it is not listed. ``delivery``: the
    statements of ``--send`` destinations (``delivery_statements``), kept apart from the
    scan's reads. ``attribution``: the scan asks CloudTrail who changed what
    (cloudtrail:LookupEvents, a read) unless ``--no-attribution``."""
    actions = required_actions(specs) + ([LOOKUP_ACTION] if attribution else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DriftscanReadOnly",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": "*",
            },
            *delivery,
        ],
    }


def delivery_statements(
    destinations: Sequence[Destination], sse_kms_key: str | None
) -> list[dict[str, Any]]:
    """What writing to S3 and Security Lake destinations needs, and nothing else: PutObject
    under each destination's prefix (small objects, and each request of a multipart upload),
    AbortMultipartUpload (a failed multipart upload is aborted), and with ``sse_kms_key``
    kms:GenerateDataKey (S3 asks KMS for each object's data key) and kms:Decrypt (S3 reads
    the encrypted parts back to complete a multipart upload)."""
    if not destinations:
        return []
    others = [d.label for d in destinations if d.bucket is None]
    if others:
        raise ConfigError(
            f"iam-policy --send takes s3:// and security-lake:// destinations, not {others[0]}"
        )
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DriftscanSendObjects",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
            "Resource": sorted({f"arn:aws:s3:::{d.bucket}/{d.prefix}*" for d in destinations}),
        }
    ]
    if sse_kms_key is not None:
        statements.append(
            {
                "Sid": "DriftscanSendEncrypted",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn(sse_kms_key),
            }
        )
    return statements


def key_arn(key: str) -> str:
    """The IAM resource of a KMS key given as an ARN or a key id; IAM grants on keys, not
    on aliases, so an alias cannot be turned into a resource without reading KMS."""
    if key.startswith("arn:") and ":key/" in key:
        return key
    if key.startswith("alias/") or ":alias/" in key:
        raise ConfigError(
            f"iam-policy --sse-kms-key {key}: give the key's id or ARN (an IAM policy "
            "grants on a key, not on an alias)"
        )
    return f"arn:aws:kms:*:*:key/{key}"
