"""Several accounts through an assumed role: --accounts, --organization, a refused role,
and the regions an account has enabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.engine import runner
from scanner.engine.accounts import (
    AccountsRequest,
    enabled_regions,
    organization_accounts,
    resolve_targets,
)
from scanner.engine.registry import get_check
from scanner.engine.runner import ScanPlan, run_scan
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import ConfigError
from scanner.model import Status
from tests.helpers import fail_operation

ROLE = "driftscan-audit"


def _member_accounts(count: int) -> list[str]:
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    return [
        organizations.create_account(AccountName=f"member-{n}", Email=f"m{n}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for n in range(count)
    ]


def _in_account(account_id: str, service: str) -> Any:
    """A client acting in the account (moto maps AssumeRole credentials to it)."""
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE}", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_each_account_is_scanned_with_its_own_credentials(
    account: DemoAccount, tmp_path: Path
) -> None:
    first, second = _member_accounts(2)
    _in_account(first, "kms").create_key()  # no rotation: FAIL in the first account only
    rotating = _in_account(second, "kms").create_key()["KeyMetadata"]["KeyId"]
    _in_account(second, "kms").enable_key_rotation(KeyId=rotating)
    out = tmp_path / "findings.json"

    code = run(
        ["scan", "--role-name", ROLE, "--accounts", f"{first},{second}"]
        + ["--checks", "kms.cmk_rotation_enabled", "--format", "json", "-o", str(out)]
        + ["--no-history", "--region", "us-east-1"]
    )

    report = json.loads(out.read_text())
    by_account = {(f["account_id"], f["status"]) for f in report["findings"]}
    assert by_account == {(first, "FAIL"), (second, "PASS")}
    assert sorted(report["scan"]["account_ids"]) == sorted([first, second])
    assert code == 1


def test_a_refused_role_is_error_for_its_account_and_the_others_go_on(
    account: DemoAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    good, refused = _member_accounts(2)
    _in_account(good, "kms").create_key()
    session = AwsSession(SessionOptions())
    fail_operation(
        session, "sts", "AssumeRole", code="AccessDenied", when=lambda p: refused in p["RoleArn"]
    )
    request = AccountsRequest(role_name=ROLE, account_ids=(good, refused))

    targets = resolve_targets(session, request, "us-east-1")

    assert [(t.account_id, t.session is not None) for t in targets] == [
        (good, True),
        (refused, False),
    ]
    error = targets[1].error
    assert error is not None and (error.code, error.action) == ("AccessDenied", "sts:AssumeRole")
    assert targets[0].session is not None
    assert targets[0].session.account_id("us-east-1") == good

    spec = get_check("kms.cmk_rotation_enabled")
    plan = ScanPlan(checks=(spec,), params={spec.id: spec.defaults()}, regions=("us-east-1",))
    result = run_scan(plan, session, targets=targets)

    found = {(f.account_id, f.status, f.resource_type) for f in result.findings}
    assert found == {
        (good, Status.FAIL, "AWS::KMS::Key"),
        (refused, Status.ERROR, "AWS::::Account"),
    }
    (refusal,) = [f for f in result.findings if f.account_id == refused]
    assert refusal.message.startswith(f"could not scan account {refused}: AccessDenied")
    assert result.missing_actions == ("sts:AssumeRole",)


def test_organization_lists_active_accounts_only(account: DemoAccount) -> None:
    members = _member_accounts(3)
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.close_account(AccountId=members[0])
    session = AwsSession(SessionOptions())

    listed = organization_accounts(session, "us-east-1")

    assert members[0] not in listed
    assert set(members[1:]) <= set(listed)


def test_all_regions_less_the_excluded_ones(account: DemoAccount, tmp_path: Path) -> None:
    regions = enabled_regions(AwsSession(SessionOptions()), "us-east-1")
    assert "us-east-1" in regions and "eu-west-1" in regions
    excluded = [r for r in regions if r not in ("us-east-1", "eu-west-1")]
    out = tmp_path / "findings.json"

    code = run(
        ["scan", "--all-regions", "--exclude-regions", ",".join(excluded), "--no-history"]
        + ["--checks", "kms.cmk_rotation_enabled", "--format", "json", "-o", str(out)]
    )

    assert code == 0
    assert json.loads(out.read_text())["scan"]["regions"] == ["eu-west-1", "us-east-1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--accounts", "123456789012"], "need --role-name"),
        (["--role-name", ROLE], "either --accounts"),
        (["--role-name", ROLE, "--accounts", "12345"], "not an AWS account id"),
        (["--all-regions", "--region", "us-east-1"], "contradict"),
        (["--exclude-regions", "us-east-1"], "needs --all-regions or --region"),
        (["--region", "us-east-1", "--exclude-regions", "us-east-1"], "leaves no region"),
    ],
)
def test_bad_account_and_region_options_exit_2(
    account: DemoAccount, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(["scan", "--no-history", *argv]) == 2
    assert message in capsys.readouterr().err


def test_accounts_request_needs_a_source() -> None:
    with pytest.raises(ConfigError):
        AccountsRequest(role_name=ROLE, account_ids=("123456789012",), organization=True)


def test_accounts_are_read_in_a_sliding_window_and_each_lets_its_clients_go(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organization's memory follows a window of accounts: the next account's reads start
    as soon as the oldest is judged (no barrier), each account's clients are closed once it
    is judged, and the findings are those of one pass over every account."""
    members = _member_accounts(3)
    for member in members:
        _in_account(member, "kms").create_key()  # rotation off: one FAIL per account
    session = AwsSession(SessionOptions())
    request = AccountsRequest(role_name=ROLE, account_ids=tuple(members))
    targets = resolve_targets(session, request, "us-east-1")
    events: list[str] = []
    for target in targets:
        assert target.session is not None
        close = target.session.close_clients
        monkeypatch.setattr(
            target.session,
            "close_clients",
            lambda close=close, account=target.account_id: (
                events.append(f"judged {account}"),
                close(),
            ),
        )

    class Reading(runner.Inventory):
        def __init__(self, *args: Any, account_id: str, **kwargs: Any) -> None:
            events.append(f"reads {account_id}")
            super().__init__(*args, account_id=account_id, **kwargs)

    monkeypatch.setattr(runner, "Inventory", Reading)
    spec = get_check("kms.cmk_rotation_enabled")
    plan = ScanPlan(checks=(spec,), params={spec.id: {}}, regions=("us-east-1",), workers=4)
    monkeypatch.setattr(runner, "SHARDS_IN_FLIGHT", 2)  # one region: two accounts at once

    result = run_scan(plan, session, targets=targets)

    first, second, third = members
    assert events == [
        f"reads {first}",
        f"reads {second}",
        f"judged {first}",
        f"reads {third}",  # before the second is judged: the window slides
        f"judged {second}",
        f"judged {third}",
    ]
    assert sorted((f.account_id, f.status) for f in result.findings) == [
        (member, Status.FAIL) for member in sorted(members)
    ]
