"""kms.cmk_rotation_enabled and kms.key_in_use_enabled: the judgement over records, and moto
for what the collectors read (paging, per-key failures, which keys are described)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from checks.kms import KEYS_IN_USE
from scanner.demo.base import DemoAccount
from scanner.demo.kinesis import make_stream
from scanner.demo.kms import aws_managed_key, make_key
from scanner.demo.logs import make_log_group
from scanner.demo.rds import make_aurora_cluster
from scanner.demo.secretsmanager import make_secret
from scanner.engine.records import kinesis, kms, logs, secretsmanager
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import ReadError, Status
from tests.checks.judge import denied, judge, unreadable, verdicts
from tests.factories import described, key, log_group, secret, stream
from tests.helpers import expect, fail_operation, findings_of, scan

ROTATES = key("k-rotates", aliases=("alias/app-prod",))
STATIC = key("k-static")
UNDESCRIBED = ReadError(code="AccessDeniedException", action="kms:DescribeKey")


@pytest.mark.parametrize(
    ("keys", "rotation", "expected"),
    [
        pytest.param(
            [ROTATES, STATIC],
            {"k-rotates": True, "k-static": False},
            {
                "k-rotates": (
                    Status.PASS,
                    "key k-rotates (alias/app-prod) rotates automatically",
                    {"KeyRotationEnabled": True},
                ),
                "k-static": (
                    Status.FAIL,
                    "key k-static has automatic rotation off",
                    {"KeyRotationEnabled": False},
                ),
            },
            id="on-and-off",
        ),
        pytest.param(
            [ROTATES, key("k-disabled", state="Disabled")],
            {"k-rotates": True},
            {
                "k-rotates": (
                    Status.PASS,
                    "key k-rotates (alias/app-prod) rotates automatically",
                    {"KeyRotationEnabled": True},
                )
            },
            id="rotation-not-applicable-is-not-judged",
        ),
        pytest.param(
            [ROTATES, STATIC],
            {"k-rotates": True, "k-static": unreadable(STATIC.ref, "rotation status of k-static")},
            {
                "k-rotates": (
                    Status.PASS,
                    "key k-rotates (alias/app-prod) rotates automatically",
                    {"KeyRotationEnabled": True},
                ),
                "k-static": (
                    Status.ERROR,
                    "could not read rotation status of k-static: "
                    "AccessDeniedException on test:Read",
                    {"error_code": "AccessDeniedException", "action": "test:Read"},
                ),
            },
            id="unreadable-status-is-error-for-that-key",
        ),
        pytest.param(
            denied("kms:ListKeys"),
            {},
            {
                "*": (
                    Status.ERROR,
                    "could not read kms.keys: AccessDeniedException on kms:ListKeys",
                    {"error_code": "AccessDeniedException", "action": "kms:ListKeys"},
                )
            },
            id="listing-denied-is-one-error",
        ),
    ],
)
def test_rotation(keys: Any, rotation: Any, expected: Any) -> None:
    found = judge("kms.cmk_rotation_enabled", {kms.keys: keys, kms.rotation_status: rotation})
    assert verdicts(found) == expected


def test_rotation_applies_to_enabled_customer_symmetric_kms_made_keys_only() -> None:
    assert kms.rotation_applies(key())
    for other in (
        key(state="Disabled"),
        key(state="PendingDeletion"),
        key(spec="RSA_2048"),
        key(spec="HMAC_256"),
        key(origin="EXTERNAL"),
        key(manager="AWS"),
    ):
        assert not kms.rotation_applies(other), other


ENABLED = key("k-enabled")
DISABLED = key("k-disabled", state="Disabled")
PENDING = key("k-pending", state="PendingDeletion")


@pytest.mark.parametrize(
    ("listings", "keys", "expected"),
    [
        pytest.param(
            {
                kinesis.streams: [stream("s1", kms_key_id=ENABLED.arn)],
                secretsmanager.secrets: [secret("app/db", kms_key_id=DISABLED.arn)],
                logs.log_groups: [log_group("/ecs/app", kms_key_id=PENDING.arn)],
            },
            described(ENABLED, DISABLED, PENDING, key("k-unused", state="Disabled")),
            {
                "k-enabled": (
                    Status.PASS,
                    "key k-enabled is Enabled; used by s1",
                    {"KeyState": "Enabled", "UsedBy": ["s1"]},
                ),
                "k-disabled": (
                    Status.FAIL,
                    "key k-disabled is Disabled but used by app/db",
                    {"KeyState": "Disabled", "UsedBy": ["app/db"]},
                ),
                "k-pending": (
                    Status.FAIL,
                    "key k-pending is PendingDeletion but used by /ecs/app",
                    {"KeyState": "PendingDeletion", "UsedBy": ["/ecs/app"]},
                ),
            },
            id="one-finding-per-key-in-use",
        ),
        pytest.param(
            {
                kinesis.streams: [
                    stream("s1", kms_key_id="alias/app"),
                    stream("s2", kms_key_id=ENABLED.arn),
                ],
                logs.log_groups: [log_group("/ecs/app", kms_key_id=ENABLED.key_id)],
            },
            described(ENABLED, refs={"alias/app": ENABLED}),
            {
                "k-enabled": (
                    Status.PASS,
                    "key k-enabled is Enabled; used by /ecs/app, s1, s2",
                    {"KeyState": "Enabled", "UsedBy": ["/ecs/app", "s1", "s2"]},
                ),
            },
            id="a-key-by-several-names-is-one-finding",
        ),
        pytest.param(
            {kinesis.streams: [stream("s1", kms_key_id=ENABLED.arn)]},
            described(refs={ENABLED.arn: UNDESCRIBED}),
            {
                "k-enabled": (
                    Status.ERROR,
                    "could not read the state of the key used by s1: "
                    "AccessDeniedException on kms:DescribeKey",
                    {"error_code": "AccessDeniedException", "action": "kms:DescribeKey"},
                ),
            },
            id="undescribed-key-is-error",
        ),
        pytest.param(
            {
                kinesis.streams: denied("kinesis:ListStreams"),
                logs.log_groups: [
                    log_group("/ecs/app", kms_key_id=ENABLED.arn),
                    unreadable(log_group("/ecs/other").ref, "log group tags"),
                ],
            },
            described(ENABLED),
            {
                "*": (
                    Status.ERROR,
                    "could not read kinesis.streams: AccessDeniedException on kinesis:ListStreams",
                    {"error_code": "AccessDeniedException", "action": "kinesis:ListStreams"},
                ),
                "/ecs/other": (
                    Status.ERROR,
                    "could not read log group tags: AccessDeniedException on test:Read",
                    {"error_code": "AccessDeniedException", "action": "test:Read"},
                ),
                "k-enabled": (
                    Status.PASS,
                    "key k-enabled is Enabled; used by /ecs/app",
                    {"KeyState": "Enabled", "UsedBy": ["/ecs/app"]},
                ),
            },
            id="unreadable-resources-are-errors-and-the-rest-is-judged",
        ),
    ],
)
def test_key_in_use_enabled(listings: Any, keys: Any, expected: Any) -> None:
    found = judge("kms.key_in_use_enabled", {**listings, KEYS_IN_USE: keys})
    assert verdicts(found) == expected


# --- moto: what the collectors read -------------------------------------------------------


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


def test_key_in_use_enabled_in_moto(account: DemoAccount) -> None:
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
