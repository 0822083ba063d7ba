"""CloudWatch Logs builders: log groups with or without a retention policy."""

from __future__ import annotations

from collections.abc import Mapping

from scanner.demo.base import DemoAccount


def make_log_group(
    account: DemoAccount,
    *,
    name: str | None = None,
    retention_days: int | None = 30,
    kms_key_arn: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A log group; ``retention_days=None`` never expires. Returns its name.

    Use values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...):
    moto accepts any (gap logs-retention-not-validated), AWS does not.
    """
    client = account.client("logs")
    name = name or f"/driftscan/{account.name('logs')}"
    params: dict[str, object] = {"logGroupName": name}
    if kms_key_arn:
        params["kmsKeyId"] = kms_key_arn
    if tags:
        params["tags"] = dict(tags)
    client.create_log_group(**params)
    if retention_days is not None:
        client.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return name


def log_group_arn(account: DemoAccount, name: str) -> str:
    """The log group's ARN as API Gateway access logging names it (no trailing ``:*``)."""
    return f"arn:aws:logs:{account.region}:{account.account_id}:log-group:{name}"


def reference_log_group_names(prefix: str) -> tuple[str, str]:
    """The stack's log groups: the ECS application's and the REST API's access log."""
    return (f"/ecs/{prefix}-app", f"/aws/apigateway/{prefix}-access")


def reference_logs(account: DemoAccount, *, compliant: bool, prefix: str) -> None:
    """The stack's log groups (``reference_log_group_names(prefix)``), compliant or broken.

    Deps: ``prefix``, the environment's name prefix (e.g. ``prod``); the access log group's
    ARN for API Gateway is ``log_group_arn(account, reference_log_group_names(prefix)[1])``.
    Compliant: 30 and 90 days. Broken: the app group never expires, the access log keeps
    7 days.
    """
    app, access = reference_log_group_names(prefix)
    make_log_group(account, name=app, retention_days=30 if compliant else None)
    make_log_group(account, name=access, retention_days=90 if compliant else 7)
