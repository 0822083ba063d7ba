"""KMS controls: customer-managed keys rotate; keys in use are enabled."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.collectors import kms
from scanner.inventory import CheckInputs
from scanner.model import Outcome, Severity, UnreadableResource, failed, passed, unreadable
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
    reads=[kms.keys, kms.rotation_status],
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
