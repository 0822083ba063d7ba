"""``driftscan demo --drift``: the hand-made console changes that drift the demo's prod stack.

Each is a change someone makes in the AWS console on a busy day, applied after the account
is built and before it is scanned, so a scan of the drifted account, compared with an earlier
demo scan in the same history store, shows new failures and configuration changes.
"""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.logs import reference_log_group_names
from scanner.demo.network import DB_PORT, tcp_from_cidrs

LOWERED_RETENTION_DAYS = 7
"""The application log group's retention after the change (the stack keeps 30 days)."""


def apply_console_changes(account: DemoAccount, env: str) -> list[str]:
    """Drift the ``env`` stack; returns one line per change, saying what was done."""
    return [
        _key_rotation_off(account, alias=f"alias/{env}-rds"),
        _retention_lowered(account, group=reference_log_group_names(env)[0]),
        _database_port_opened(account, group_name=f"{env}-vpc-database"),
        _throttling_removed(account, api_name=f"{env}-api"),
    ]


def _key_rotation_off(account: DemoAccount, *, alias: str) -> str:
    kms = account.client("kms")
    (key_id,) = [
        entry["TargetKeyId"]
        for entry in kms.list_aliases()["Aliases"]
        if entry["AliasName"] == alias
    ]
    kms.disable_key_rotation(KeyId=key_id)
    return f"turned off automatic rotation of KMS key {key_id} ({alias})"


def _retention_lowered(account: DemoAccount, *, group: str) -> str:
    account.client("logs").put_retention_policy(
        logGroupName=group, retentionInDays=LOWERED_RETENTION_DAYS
    )
    return f"lowered the retention of log group {group} to {LOWERED_RETENTION_DAYS} days"


def _database_port_opened(account: DemoAccount, *, group_name: str) -> str:
    ec2 = account.client("ec2")
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [group_name]}]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[tcp_from_cidrs(DB_PORT, "0.0.0.0/0")]
    )
    return f"opened port {DB_PORT} to 0.0.0.0/0 on security group {group['GroupId']} ({group_name})"


def _throttling_removed(account: DemoAccount, *, api_name: str) -> str:
    apigw = account.client("apigateway")
    (api_id,) = [api["id"] for api in apigw.get_rest_apis()["items"] if api["name"] == api_name]
    (stage,) = apigw.get_stages(restApiId=api_id)["item"]
    # The console's "Disable throttling" removes the stage's default rate and burst limits;
    # moto ignores UpdateStage's `remove` of them, so they go from its model directly.
    settings = account.backend("apigateway").apis[api_id].stages[stage["stageName"]]
    for limit in ("throttlingRateLimit", "throttlingBurstLimit"):
        settings.method_settings["*/*"].pop(limit)
    return f"removed the default throttling of API stage {api_id}/{stage['stageName']} ({api_name})"
