"""kms.cmk_rotation_enabled and kms.key_in_use_enabled."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.kms import aws_managed_key, make_key
from scanner.model import Status
from tests.helpers import expect, findings_of


def key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def test_rotation_judges_enabled_customer_symmetric_keys_only(account: DemoAccount) -> None:
    rotating = make_key(account, rotation=True, alias="app-prod")
    static = make_key(account, rotation=False)
    make_key(account, rotation=False, state="Disabled")  # cannot rotate: not judged
    make_key(account, rotation=False, state="PendingDeletion")
    make_key(account, rotation=False, spec="RSA_2048")  # asymmetric: never rotates
    make_key(account, rotation=False, spec="HMAC_256")
    aws_managed_key(account, "rds")  # AWS-managed (moto gap: backend patch)

    expect(
        findings_of(account, "kms.cmk_rotation_enabled"),
        {
            key_id(rotating): (Status.PASS, "(alias/app-prod) rotates automatically"),
            key_id(static): (Status.FAIL, "has automatic rotation off"),
        },
    )
