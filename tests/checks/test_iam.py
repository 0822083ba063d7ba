"""iam.task_role_least_privilege, iam.task_role_grants_scoped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from checks.iam import unscoped_data_grants, wildcard_grants
from scanner.demo.base import DemoAccount
from scanner.demo.ecs import make_cluster, make_service, make_task_definition
from scanner.demo.iam import ADMIN_POLICY, make_role, scoped_policy
from scanner.engine.records import iam
from scanner.engine.records.iam import decode_document
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, ReadError, Status
from tests.checks.judge import by_resource, judge
from tests.factories import inline, managed, task_role
from tests.helpers import expect, fail_operation, findings_of, scan


def allow(action: Any, resource: Any = "*", key: str = "Action") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", key: action, "Resource": resource}],
    }


def run_as(account: DemoAccount, cluster: str, role_arn: str) -> None:
    """A service running a task definition whose task role is ``role_arn``."""
    make_service(account, cluster, make_task_definition(account, task_role_arn=role_arn))


DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"},
}
POLICY_DENIED = ReadError(code="AccessDenied", action="iam:GetRolePolicy")


def judged(check_id: str, *roles: Any) -> dict[str, Finding]:
    return by_resource(judge(check_id, {iam.task_roles: list(roles)}))


def test_task_roles_with_wildcard_grants_fail() -> None:
    found = judged(
        "iam.task_role_least_privilege",
        task_role("scoped", inline("scoped", scoped_policy())),
        task_role("bare"),
        task_role("inline-admin", inline("inline-admin", ADMIN_POLICY)),
        task_role("attached-admin", managed("attached-admin-managed-1", ADMIN_POLICY)),
        task_role(
            "listed", inline("listed", allow(["s3:GetObject", "*:*"], ["arn:aws:s3:::b", "*"]))
        ),
        task_role("not-action", inline("not-action", allow(["iam:*"], key="NotAction"))),
        task_role("denied", inline("denied", DENY_ALL)),
        task_role("one-bucket", inline("one-bucket", allow("*", "arn:aws:s3:::b/*"))),
        task_role("service-wide", inline("service-wide", allow("s3:*"))),
        task_role("locked", inline("locked", POLICY_DENIED)),
        task_role("admin", inline("admin", ADMIN_POLICY), managed("hidden", POLICY_DENIED)),
    )

    expect(
        found,
        {
            "scoped": (Status.PASS, "task role scoped: none of its policies (1) allows"),
            "bare": (Status.PASS, "none of its policies (0)"),
            "inline-admin": (
                Status.FAIL,
                'task role inline-admin: inline policy inline-admin-inline allows Action "*" '
                'on Resource "*"',
            ),
            "attached-admin": (
                Status.FAIL,
                "managed policy attached-admin-managed-1 (arn:aws:iam::123456789012:policy/"
                'attached-admin-managed-1) allows Action "*" on Resource "*"',
            ),
            "listed": (Status.FAIL, 'allows Action "*" on Resource "*"'),
            "not-action": (Status.FAIL, 'allows NotAction ["iam:*"] on Resource "*"'),
            "denied": (Status.PASS, "none of its policies"),
            "one-bucket": (Status.PASS, "none of its policies"),
            "service-wide": (Status.PASS, "none of its policies"),
            "locked": (
                Status.ERROR,
                "could not read inline policy locked-inline of task role locked: AccessDenied "
                "on iam:GetRolePolicy",
            ),
            # a wildcard read decides, whatever could not be read
            "admin": (Status.FAIL, 'inline policy admin-inline allows Action "*"'),
        },
    )


def test_only_the_default_policy_version_counts(account: DemoAccount) -> None:
    iam = account.client("iam")
    cluster = make_cluster(account)
    tightened = make_role(account, name="tightened", managed_policy_documents=[ADMIN_POLICY])
    widened = make_role(account, name="widened", managed_policy_documents=[scoped_policy()])
    for role, document in (("tightened", scoped_policy()), ("widened", ADMIN_POLICY)):
        iam.create_policy_version(
            PolicyArn=f"arn:aws:iam::123456789012:policy/{role}-managed-1",
            PolicyDocument=json.dumps(document),
            SetAsDefault=True,
        )
    run_as(account, cluster, tightened)
    run_as(account, cluster, widened)

    expect(
        findings_of(account, "iam.task_role_least_privilege"),
        {
            "tightened": (Status.PASS, "none of its policies (1)"),
            "widened": (Status.FAIL, "managed policy widened-managed-1"),
        },
    )


def test_unreadable_evidence_is_error_unless_a_wildcard_was_read(account: DemoAccount) -> None:
    cluster = make_cluster(account)
    shared = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:*:q"}],
    }
    hidden = make_role(account, name="hidden", managed_policy_documents=[shared])
    admin = make_role(
        account, name="admin", inline_policy=ADMIN_POLICY, managed_policy_documents=[shared]
    )
    iam = account.client("iam")
    iam.attach_role_policy(  # the policy made for "hidden", unreadable below
        RoleName="admin", PolicyArn="arn:aws:iam::123456789012:policy/hidden-managed-1"
    )
    run_as(account, cluster, hidden)
    run_as(account, cluster, admin)
    run_as(account, cluster, "arn:aws:iam::123456789012:role/deleted")  # no such role
    locked = make_role(account, name="locked", inline_policy=scoped_policy())
    run_as(account, cluster, locked)
    make_service(account, cluster, make_task_definition(account, family="opaque"))
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "iam",
        "GetPolicyVersion",
        code="AccessDenied",
        when=lambda params: params["PolicyArn"].endswith("/hidden-managed-1"),
    )
    fail_operation(
        session,
        "iam",
        "GetRolePolicy",
        code="AccessDenied",
        when=lambda params: params["RoleName"] == "locked",
    )
    fail_operation(
        session,
        "ecs",
        "DescribeTaskDefinition",
        when=lambda params: "opaque" in params["taskDefinition"],
    )

    result = scan(account, "iam.task_role_least_privilege", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {
            "hidden": (
                Status.ERROR,
                "could not read managed policy hidden-managed-1 (arn:aws:iam::123456789012:"
                "policy/hidden-managed-1) of task role hidden: AccessDenied on "
                "iam:GetPolicyVersion",
            ),
            "admin": (Status.FAIL, 'inline policy admin-inline allows Action "*"'),
            "deleted": (Status.ERROR, "NoSuchEntity on iam:GetRole"),
            "locked": (Status.ERROR, "AccessDenied on iam:GetRolePolicy"),
            "opaque:1": (
                Status.ERROR,
                "could not read task definition: "
                "AccessDeniedException on ecs:DescribeTaskDefinition",
            ),
        },
    )


def test_policy_documents_may_arrive_url_encoded() -> None:
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:userid": "a%b"}},
            }
        ]
    }
    assert decode_document(quote(json.dumps(document)), "iam:GetRolePolicy") == document
    assert decode_document(json.dumps(document), "iam:GetRolePolicy") == document
    assert decode_document(document, "iam:GetRolePolicy") is document
    malformed = decode_document("%7Bnot json", "iam:GetRolePolicy")
    assert isinstance(malformed, ReadError)
    assert malformed.code == "MalformedPolicyDocument"


def test_wildcard_grants_reads_every_statement_form() -> None:
    assert wildcard_grants(ADMIN_POLICY) == ['Action "*" on Resource "*"']
    assert wildcard_grants(
        allow("*", key="Action")
        | {"Statement": {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::logs/*"}}
    ) == ['Action "*" on NotResource "arn:aws:s3:::logs/*"']
    assert wildcard_grants(allow(["*"], ["*"])) == ['Action "*" on Resource "*"']
    assert wildcard_grants(allow("s3:*")) == []
    assert wildcard_grants({"Statement": "garbage"}) == []
    assert wildcard_grants({}) == []


# --- iam.task_role_grants_scoped ---------------------------------------------------------------

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-1111-2222-3333-444455556666"


def test_task_roles_must_name_the_data_resources_they_use() -> None:
    every_service = ["kms:*", "kinesis:*", "secretsmanager:*", "elasticfilesystem:*"]
    documents: dict[str, Mapping[str, Any] | ReadError] = {
        "named": allow(["kinesis:PutRecord", "kms:Decrypt"], [STREAM, KEY]),
        "s3-only": allow("s3:*"),
        "kms-star": allow("kms:*"),
        "put-star": allow("kinesis:Put*", "arn:aws:kinesis:us-east-1:123456789012:*"),
        "partial-arn": allow(
            "elasticfilesystem:ClientMount", "arn:aws:elasticfilesystem:*:*:file-system/*"
        ),
        "s3-arn": allow("kms:Decrypt", "arn:aws:s3:::*"),  # another service's ARN
        "not-resource": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:Get*", "NotResource": STREAM}
            ],
        },
        "spares-data": allow(every_service, key="NotAction"),
        "not-action": allow(["kms:Decrypt"], key="NotAction"),
        "locked": POLICY_DENIED,
    }
    found = judged(
        "iam.task_role_grants_scoped",
        *(task_role(name, inline(name, document)) for name, document in documents.items()),
        task_role("admin", managed("admin-managed-1", ADMIN_POLICY)),
    )

    expect(
        found,
        {
            "named": (
                Status.PASS,
                "task role named: none of its policies (1) allows an action of kinesis, "
                "secretsmanager, kms or elasticfilesystem on every resource",
            ),
            "s3-only": (Status.PASS, "none of its policies (1)"),
            "partial-arn": (Status.PASS, "none of its policies (1)"),
            "s3-arn": (Status.PASS, "none of its policies (1)"),
            "spares-data": (Status.PASS, "none of its policies (1)"),
            "kms-star": (
                Status.FAIL,
                "task role kms-star: inline policy kms-star-inline allows kms:* on Resource *",
            ),
            "put-star": (
                Status.FAIL,
                "allows kinesis:Put* on Resource arn:aws:kinesis:us-east-1:123456789012:*",
            ),
            "not-resource": (
                Status.FAIL,
                f'allows secretsmanager:Get* on NotResource "{STREAM}"',
            ),
            "not-action": (Status.FAIL, 'allows NotAction ["kms:Decrypt"] on Resource *'),
            "admin": (
                Status.FAIL,
                "managed policy admin-managed-1 (arn:aws:iam::123456789012:"
                "policy/admin-managed-1) allows * on Resource *",
            ),
            "locked": (
                Status.ERROR,
                "could not read inline policy locked-inline of task role locked: AccessDenied "
                "on iam:GetRolePolicy",
            ),
        },
    )


def test_grants_scoped_in_moto(account: DemoAccount) -> None:
    cluster = make_cluster(account)
    run_as(account, cluster, make_role(account, name="scoped", inline_policy=scoped_policy()))
    run_as(account, cluster, make_role(account, name="locked", inline_policy=scoped_policy()))
    run_as(account, cluster, make_role(account, name="open", inline_policy=allow("kms:*")))
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "iam",
        "GetRolePolicy",
        code="AccessDenied",
        when=lambda params: params["RoleName"] == "locked",
    )

    result = scan(account, "iam.task_role_grants_scoped", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {
            "locked": (
                Status.ERROR,
                "could not read inline policy locked-inline of task role locked: AccessDenied "
                "on iam:GetRolePolicy",
            ),
            "open": (Status.FAIL, "allows kms:* on Resource *"),
            "scoped": (Status.PASS, "none of its policies (1)"),
        },
    )


def test_unscoped_data_grants_reads_every_statement_form() -> None:
    assert unscoped_data_grants(ADMIN_POLICY) == ["* on Resource *"]
    assert unscoped_data_grants(allow(["s3:GetObject", "kms:Decrypt", "kin*:Get*"])) == [
        "kms:Decrypt, kin*:Get* on Resource *"
    ]
    assert unscoped_data_grants(allow("KMS:Decrypt", "arn:aws:*:*:*:*")) == [
        "KMS:Decrypt on Resource arn:aws:*:*:*:*"
    ]
    assert unscoped_data_grants(allow(["kms:*"], key="NotAction")) == [
        'NotAction ["kms:*"] on Resource *'  # still grants kinesis, secretsmanager, EFS
    ]
    assert unscoped_data_grants(allow("kinesis:PutRecord", STREAM)) == []
    every_key = "arn:aws:kms:us-east-1:123456789012:*"
    assert unscoped_data_grants(
        allow(["kms:Decrypt", "kinesis:PutRecord"], [every_key, STREAM])
    ) == [
        f"kms:Decrypt on Resource {every_key}"  # the stream is named: only kms is unscoped
    ]
    assert (
        unscoped_data_grants(
            allow("kms:Decrypt")
            | {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
        )
        == []
    )
