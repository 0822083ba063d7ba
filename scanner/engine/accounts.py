"""Which accounts and regions to scan: an assumed role per account, the organization's
active accounts, the caller's enabled regions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

from scanner.engine.inventory import read_error
from scanner.engine.session import AWS_FAILURES, AwsSession
from scanner.errors import ConfigError
from scanner.model import ReadError

log = logging.getLogger(__name__)

SESSION_NAME = "driftscan"
"""RoleSessionName of every assumed role: CloudTrail shows driftscan's reads by it."""
DISCOVERY_REGION = "us-east-1"
"""Where DescribeRegions is asked when the session names no region."""
OPTED_IN = frozenset({"opt-in-not-required", "opted-in"})


@dataclass(frozen=True, kw_only=True)
class AccountsRequest:
    """``--role-name`` with ``--accounts`` or ``--organization``, and ``--external-id``."""

    role_name: str
    account_ids: tuple[str, ...] = ()
    organization: bool = False
    external_id: str | None = None

    def __post_init__(self) -> None:
        if bool(self.account_ids) == self.organization:
            raise ConfigError("--role-name needs either --accounts ID,... or --organization")
        bad = [a for a in self.account_ids if not (len(a) == 12 and a.isdigit())]
        if bad:
            raise ConfigError(f"not an AWS account id (12 digits): {', '.join(bad)}")


@dataclass(frozen=True, kw_only=True)
class Target:
    """One account to scan: its session, or why none could be had."""

    account_id: str
    session: AwsSession | None
    error: ReadError | None = None


def _call(action: str, read: Any) -> Any:
    try:
        return read()
    except AWS_FAILURES as exc:
        raise ConfigError(f"cannot {action}: {read_error(exc, action)}") from exc


def organization_accounts(session: AwsSession, region: str) -> list[str]:
    """The ACTIVE accounts of the caller's organization (management or delegated account)."""
    client = session.client("organizations", region)

    def read() -> list[str]:
        pages = client.get_paginator("list_accounts").paginate()
        return [a["Id"] for page in pages for a in page["Accounts"] if a["Status"] == "ACTIVE"]

    return sorted(_call("organizations:ListAccounts", read))


def enabled_regions(session: AwsSession, region: str) -> list[str]:
    """The regions enabled in the caller's account (EC2 DescribeRegions)."""
    client = session.client("ec2", region)
    regions = _call("ec2:DescribeRegions", lambda: client.describe_regions()["Regions"])
    return sorted(r["RegionName"] for r in regions if r.get("OptInStatus", "") in OPTED_IN | {""})


def assumed_session(
    session: AwsSession, account_id: str, request: AccountsRequest, region: str
) -> AwsSession:
    """A session whose credentials come from AssumeRole into the account, refreshed by
    botocore before they expire; the role is assumed once here, to fail early."""
    partition = session.boto_session.get_partition_for_region(region)
    role_arn = f"arn:{partition}:iam::{account_id}:role/{request.role_name}"
    extra: dict[str, Any] = {"RoleSessionName": SESSION_NAME}
    if request.external_id:
        extra["ExternalId"] = request.external_id

    def client_creator(service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", session.options.endpoint_url)
        kwargs.setdefault("region_name", region)
        return session.boto_session.client(service, **kwargs)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=client_creator,
        source_credentials=session.boto_session.get_credentials(),
        role_arn=role_arn,
        extra_args=extra,
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    credentials.get_frozen_credentials()  # AssumeRole now: a refused role fails here
    core = botocore.session.Session()
    core._credentials = credentials  # what boto3 does for profiles with a role_arn
    return AwsSession(session.options, boto3.Session(botocore_session=core, region_name=region))


def account_ids(session: AwsSession, request: AccountsRequest, region: str) -> list[str]:
    """The accounts the request names (--accounts, or the organization's), each once."""
    listed: Sequence[str] = (
        organization_accounts(session, region) if request.organization else request.account_ids
    )
    return list(dict.fromkeys(listed))


def resolve_targets(session: AwsSession, request: AccountsRequest, region: str) -> list[Target]:
    """A target per account; an account whose role cannot be assumed carries the error."""
    targets = []
    for account_id in account_ids(session, request, region):
        try:
            targets.append(
                Target(
                    account_id=account_id,
                    session=assumed_session(session, account_id, request, region),
                )
            )
        except AWS_FAILURES as exc:
            error = read_error(exc, "sts:AssumeRole")
            log.warning("cannot assume %s in %s: %s", request.role_name, account_id, error)
            targets.append(Target(account_id=account_id, session=None, error=error))
    return targets
