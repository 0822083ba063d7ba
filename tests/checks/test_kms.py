"""kms.cmk_rotation_enabled and kms.key_in_use_enabled."""

from __future__ import annotations

from botocore.stub import Stubber

from scanner.demo.base import DemoAccount
from scanner.demo.kinesis import make_stream
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.logs import make_log_group
from scanner.demo.rds import make_aurora_cluster
from scanner.demo.secretsmanager import make_secret
from scanner.engine.inventory import Scope
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.helpers import expect, fail_operation, findings_of, scan


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


def test_rotation_status_denied_is_error_for_that_key_only(account: DemoAccount) -> None:
    readable = make_key(account, rotation=True)
    denied = make_key(account, rotation=True)
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "kms",
        "GetKeyRotationStatus",
        when=lambda params: params["KeyId"] == key_id(denied),
    )

    result = scan(account, "kms.cmk_rotation_enabled", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {
            key_id(readable): (Status.PASS, "rotates automatically"),
            key_id(denied): (Status.ERROR, "AccessDeniedException on kms:GetKeyRotationStatus"),
        },
    )
    assert result.missing_actions == ("kms:GetKeyRotationStatus",)


def test_aliases_denied_still_judges_rotation(account: DemoAccount) -> None:
    static = make_key(account, rotation=False, alias="app-prod")
    session = AwsSession(SessionOptions())
    fail_operation(session, "kms", "ListAliases")

    result = scan(account, "kms.cmk_rotation_enabled", session=session)

    [finding] = result.findings
    assert (finding.status, finding.resource_id) == (Status.FAIL, key_id(static))
    assert result.missing_actions == ("kms:ListAliases",)


def test_list_keys_denied_is_one_error_for_the_region(account: DemoAccount) -> None:
    make_key(account, rotation=True)
    session = AwsSession(SessionOptions())
    fail_operation(session, "kms", "ListKeys")

    result = scan(account, "kms.cmk_rotation_enabled", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {"*": (Status.ERROR, "could not read kms.keys: AccessDeniedException on kms:ListKeys")},
    )


def test_list_keys_follows_pages(account: DemoAccount) -> None:
    """moto ignores Limit (gap kms-listkeys-no-pagination): two pages from a Stubber."""
    session = AwsSession(SessionOptions())
    client = session.client("kms", account.region)
    # Sorted: the key directory describes keys in id order, and a Stubber answers in order.
    keys = sorted((make_key(account) for _ in range(2)), key=key_id)
    stubber = Stubber(client)
    stubber.add_response(
        "list_keys",
        {
            "Keys": [{"KeyId": key_id(keys[0]), "KeyArn": keys[0]}],
            "Truncated": True,
            "NextMarker": "page-2",
        },
    )
    stubber.add_response(
        "list_keys",
        {"Keys": [{"KeyId": key_id(keys[1]), "KeyArn": keys[1]}], "Truncated": False},
        {"Marker": "page-2"},
    )
    for arn in keys:
        stubber.add_response(
            "describe_key",
            expected_params={"KeyId": arn},  # described by ARN, as referenced
            service_response={
                "KeyMetadata": {
                    "KeyId": key_id(arn),
                    "Arn": arn,
                    "KeyManager": "CUSTOMER",
                    "KeyState": "Enabled",
                    "KeySpec": "SYMMETRIC_DEFAULT",
                    "Origin": "AWS_KMS",
                }
            },
        )
    stubber.add_response("list_aliases", {"Aliases": [], "Truncated": False})
    for enabled in (True, False):
        stubber.add_response("get_key_rotation_status", {"KeyRotationEnabled": enabled})

    with stubber:
        result = scan(account, "kms.cmk_rotation_enabled", session=session, workers=1)

    assert {f.resource_id: f.status for f in result.findings} == {
        key_id(keys[0]): Status.PASS,
        key_id(keys[1]): Status.FAIL,
    }


def test_key_in_use_enabled(account: DemoAccount) -> None:
    enabled = make_key(account)
    disabled = make_key(account, state="Disabled")
    pending = make_key(account, state="PendingDeletion")
    make_key(account, state="Disabled")  # used by nothing: not judged
    stream = make_stream(account, key_arn=enabled)
    secret = make_secret(account, key_arn=disabled)
    logs = make_log_group(account, name="/ecs/app", kms_key_arn=pending)

    expect(
        findings_of(account, "kms.key_in_use_enabled"),
        {
            key_id(enabled): (Status.PASS, f"key {key_id(enabled)} is Enabled; used by {stream}"),
            key_id(disabled): (
                Status.FAIL,
                f"key {key_id(disabled)} is Disabled but used by {secret}",
            ),
            key_id(pending): (
                Status.FAIL,
                f"key {key_id(pending)} is PendingDeletion but used by {logs}",
            ),
        },
    )


def test_key_in_use_of_an_unreadable_resource_is_error(account: DemoAccount) -> None:
    key = make_key(account)
    group = make_log_group(account, name="/ecs/app", kms_key_arn=key, tags={"env": "prod"})
    session = AwsSession(SessionOptions())
    fail_operation(session, "cloudwatch-logs", "ListTagsForResource")

    result = scan(
        account, "kms.key_in_use_enabled", scope=Scope(tags={"env": "prod"}), session=session
    )

    [finding] = result.findings
    assert (finding.status, finding.resource_id) == (Status.ERROR, group)
    assert finding.message.startswith("could not read log group tags: AccessDenied")


def test_only_the_keys_selected_checks_reference_are_described_once(account: DemoAccount) -> None:
    """The keys of the selected controls' resources are described during the prefetch, each
    once however many resources use it; no other listing is read, no other key described."""
    shared = make_key(account)
    make_aurora_cluster(account, cluster_id="one", key_arn=shared)
    make_aurora_cluster(account, cluster_id="two", key_arn=shared)
    make_stream(account, key_arn=make_key(account))  # a stream's key: no RDS check reads it
    make_key(account)  # referenced by nothing
    session = AwsSession(SessionOptions())

    result = scan(account, "rds.storage_encrypted_with_cmk", session=session)

    assert {f.resource_id: f.status for f in result.findings} == {
        "one": Status.PASS,
        "two": Status.PASS,
    }
    described = [c.params for c in session.requests.calls if c.operation == "DescribeKey"]
    assert described == [f'{{"KeyId": "{shared}"}}']
    assert session.requests.operations() == {
        "GetCallerIdentity",
        "DescribeDBClusters",
        "DescribeDBInstances",
        "DescribeKey",
    }
