"""secretsmanager.secret_encrypted_with_cmk and secretsmanager.rotation_enabled."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.secretsmanager import make_secret, reference_secretsmanager
from scanner.engine.inventory import Scope
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, ScanResult, Status
from tests.helpers import expect, fail_operation, findings_of, scan

ENCRYPTED = "secretsmanager.secret_encrypted_with_cmk"
ROTATION = "secretsmanager.rotation_enabled"


def by_id(result: ScanResult, check_id: str) -> dict[str, Finding]:
    found = [f for f in result.findings if f.check_id == check_id]
    by_resource = {f.resource_id: f for f in found}
    assert len(by_resource) == len(found), "two findings for one resource"
    return by_resource


def test_encryption_needs_a_customer_managed_key(account: DemoAccount) -> None:
    cmk = make_secret(account, key_arn=make_key(account))
    make_key(account, alias="db-secrets")
    by_alias = make_secret(account, key_arn="alias/db-secrets")
    default = make_secret(account, key_arn=None)
    aws_key = make_secret(account, key_arn=aws_managed_key(account, "secretsmanager"))

    expect(
        findings_of(account, ENCRYPTED),
        {
            cmk: (Status.PASS, "encrypted with customer-managed key arn:aws:kms:"),
            by_alias: (Status.PASS, "customer-managed key alias/db-secrets"),
            default: (Status.FAIL, "uses the default AWS-managed key alias/aws/secretsmanager"),
            aws_key: (Status.FAIL, "is encrypted with the AWS-managed key arn:aws:kms:"),
        },
    )


def test_rotation_must_be_enabled(account: DemoAccount) -> None:
    rotating = make_secret(account, rotation=True, rotation_days=7)
    static = make_secret(account, rotation=False)

    expect(
        findings_of(account, ROTATION),
        {
            rotating: (Status.PASS, "rotates automatically (every 7 days)"),
            static: (Status.FAIL, "has rotation disabled"),
        },
    )


def test_secrets_scheduled_for_deletion_are_not_judged(account: DemoAccount) -> None:
    kept = make_secret(account, rotation=False)
    doomed = make_secret(account, rotation=False)
    account.client("secretsmanager").delete_secret(SecretId=doomed, RecoveryWindowInDays=7)

    expect(findings_of(account, ROTATION), {kept: (Status.FAIL, "rotation disabled")})
    expect(findings_of(account, ENCRYPTED), {kept: (Status.FAIL, "default AWS-managed key")})


def test_replicas_are_judged_for_their_key_but_rotate_with_their_primary(
    account: DemoAccount,
) -> None:
    primary = make_secret(account, rotation=False)
    account.client("secretsmanager").replicate_secret_to_regions(
        SecretId=primary, AddReplicaRegions=[{"Region": "us-west-2"}]
    )
    replica_region = DemoAccount(region="us-west-2")

    expect(by_id(scan(replica_region, ROTATION), ROTATION), {})
    expect(
        by_id(scan(replica_region, ENCRYPTED), ENCRYPTED),
        {primary: (Status.FAIL, "default AWS-managed key")},
    )
    expect(findings_of(account, ROTATION), {primary: (Status.FAIL, "rotation disabled")})


def test_unreadable_key_is_an_error_not_a_pass(account: DemoAccount) -> None:
    key = make_key(account)
    hidden = make_secret(account, key_arn=key)
    default = make_secret(account, key_arn=None)
    session = AwsSession(SessionOptions())
    fail_operation(session, "kms", "DescribeKey", when=lambda params: params["KeyId"] == key)

    result = scan(account, ENCRYPTED, session=session)

    expect(
        by_id(result, ENCRYPTED),
        {
            hidden: (Status.ERROR, "could not read key arn:aws:kms:"),
            default: (Status.FAIL, "default AWS-managed key"),  # judged without a call
        },
    )
    assert result.missing_actions == ("kms:DescribeKey",)


def test_unlistable_secrets_are_one_error(account: DemoAccount) -> None:
    make_secret(account)
    session = AwsSession(SessionOptions())
    fail_operation(session, "secretsmanager", "ListSecrets")

    found = by_id(scan(account, ROTATION, session=session), ROTATION)

    assert list(found) == ["*"]
    assert found["*"].status is Status.ERROR
    assert "secretsmanager:ListSecrets" in found["*"].message


def test_secret_values_are_never_read(account: DemoAccount) -> None:
    make_secret(account, key_arn=make_key(account))
    session = AwsSession(SessionOptions())

    scan(account, ENCRYPTED, ROTATION, session=session)

    operations = {c.operation for c in session.requests.calls if "secretsmanager" in c.action}
    assert operations == {"ListSecrets"}


def test_tag_scope_uses_the_tags_listed_with_each_secret(account: DemoAccount) -> None:
    prod = make_secret(account, tags={"env": "prod"})
    make_secret(account, tags={"env": "stage"})
    make_secret(account)

    expect(
        by_id(scan(account, ROTATION, scope=Scope(tags={"env": "prod"})), ROTATION),
        {prod: (Status.PASS, "rotates automatically")},
    )


def test_reference_secret_is_right_or_wrong_for_every_control(account: DemoAccount) -> None:
    reference_secretsmanager(account, compliant=True, key_arn=make_key(account), name="db-prod")
    reference_secretsmanager(account, compliant=False, key_arn=None, name="db-stage")

    expect(
        findings_of(account, ENCRYPTED),
        {
            "db-prod": (Status.PASS, "customer-managed key"),
            "db-stage": (Status.FAIL, "default AWS-managed key"),
        },
    )
    expect(
        findings_of(account, ROTATION),
        {"db-prod": (Status.PASS, "rotates"), "db-stage": (Status.FAIL, "rotation disabled")},
    )
