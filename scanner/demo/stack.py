"""The reference production stack (controls.md), built compliant or broken, and the demo."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from unittest import mock

import boto3

from scanner.demo.apigateway import APP_ORIGIN, reference_apigateway
from scanner.demo.base import ACCOUNT_ID, DemoAccount, same_ids_every_run, speed_up_moto_kms
from scanner.demo.cloudformation import REFERENCE_OUTPUTS, reference_cloudformation
from scanner.demo.console_changes import apply_console_changes
from scanner.demo.ecs import reference_ecs
from scanner.demo.efs import reference_efs
from scanner.demo.elasticache import reference_elasticache
from scanner.demo.kinesis import reference_kinesis
from scanner.demo.kms import make_key
from scanner.demo.logs import (
    log_group_arn,
    make_log_group,
    reference_log_group_names,
    reference_logs,
)
from scanner.demo.network import reference_network
from scanner.demo.rds import reference_rds
from scanner.demo.secretsmanager import reference_secretsmanager
from scanner.errors import ConfigError

DEMO_REGION = "us-east-1"
COMPLIANT_ENV = "prod"
MAINTENANCE_WINDOW = "sat:22:00-sun:06:00"
"""The demo baseline's one approved maintenance window (UTC), wrapping into Sunday."""
BROKEN_ENV = "stage"


def baseline_for(envs: Sequence[str]) -> str:
    """The demo's baseline for stacks of these environments: turns on the controls that are
    off until configured (the suffix is the compliant env's; maintenance on Saturday night,
    CORS for the stack's front end), and asks seven days of Kinesis retention (AWS's
    minimum, 24 hours, always meets the default)."""
    outputs = "".join(f"\n      {env}-stack: {list(REFERENCE_OUTPUTS)}" for env in envs)
    return f"""\
version: 1
controls:
  kinesis.retention_period: {{min_hours: 168}}
  apigateway.required_routes: {{routes: ["GET /health"]}}
  apigateway.cors_restricted: {{allowed_origins: ["{APP_ORIGIN}"]}}
  rds.maintenance_window_approved: {{allowed_windows: ["{MAINTENANCE_WINDOW}"]}}
  elasticache.maintenance_window_approved: {{allowed_windows: ["{MAINTENANCE_WINDOW}"]}}
  tagging.environment_suffix: {{suffix: "{COMPLIANT_ENV}"}}
  cloudformation.required_outputs:
    stack_outputs:{outputs}
"""


DEMO_BASELINE = baseline_for((COMPLIANT_ENV, BROKEN_ENV))


def build_reference_stack(account: DemoAccount, *, compliant: bool, env: str) -> None:
    """One environment's stack: every control of controls.md passes, or every one fails.

    Every resource name carries ``env``; the demo baseline's suffix is the compliant env.
    """
    network = reference_network(account, compliant=compliant, name=f"{env}-vpc")
    groups = network.security_groups

    def data_key(service: str) -> str:
        # One customer-managed key per data service; the broken stack's keys do not rotate.
        return make_key(account, rotation=compliant, alias=f"{env}-{service}")

    reference_efs(
        account, compliant=compliant, network=network, key_arn=data_key("efs"), name=f"{env}-files"
    )
    reference_rds(
        account,
        compliant=compliant,
        key_arn=data_key("rds"),
        security_group_ids=[groups["database"]],
        name=f"{env}-db",
    )
    reference_elasticache(
        account,
        compliant=compliant,
        security_group_ids=[groups["cache"]],
        key_arn=data_key("elasticache"),
        group_id=f"{env}-redis",
    )
    reference_kinesis(
        account, compliant=compliant, key_arn=data_key("kinesis"), name=f"{env}-events"
    )
    reference_secretsmanager(
        account, compliant=compliant, key_arn=data_key("secrets"), name=f"{env}-db-credentials"
    )
    reference_ecs(
        account,
        compliant=compliant,
        prefix=env,
        subnet_ids=network.private_subnet_ids,
        security_group_ids=[groups["app"]],
    )
    reference_logs(account, compliant=compliant, prefix=env)
    # The audit log group is encrypted with a key that is in use: broken, it is disabled.
    audit_key = make_key(
        account, alias=f"{env}-audit", state="Enabled" if compliant else "Disabled"
    )
    make_log_group(account, name=f"/{env}/audit", retention_days=365, kms_key_arn=audit_key)
    access_log = log_group_arn(account, reference_log_group_names(env)[1])
    reference_apigateway(account, compliant=compliant, name=f"{env}-api", access_log_arn=access_log)
    reference_cloudformation(account, compliant=compliant, stack_name=f"{env}-stack")


def build_demo(account: DemoAccount) -> None:
    """The demo account: a compliant ``prod`` stack beside a broken ``stage`` one."""
    build_reference_stack(account, compliant=True, env=COMPLIANT_ENV)
    build_reference_stack(account, compliant=False, env=BROKEN_ENV)


@contextmanager
def demo_account(*, drift: bool = False) -> Iterator[tuple[boto3.Session, str, list[str]]]:
    """An in-process moto account holding the demo stacks, a session into it, and what
    ``drift`` changed. The account is the same on every run (ids, names, ARNs, the account
    id), so two demo scans recorded in one history store compare; ``drift`` then applies
    console changes to the compliant stack (scanner.demo.console_changes)."""
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise ConfigError("the demo needs moto: pip install -e '.[demo]'") from exc
    speed_up_moto_kms()
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # not needed; slow to load
    # A MOTO_ACCOUNT_ID in the caller's environment would move every ARN: pinned.
    pinned_account = mock.patch.dict(os.environ, {"MOTO_ACCOUNT_ID": ACCOUNT_ID})
    with warnings.catch_warnings(), pinned_account, mock_aws():
        warnings.simplefilter("ignore")
        account = DemoAccount(region=DEMO_REGION)
        with same_ids_every_run():
            build_demo(account)
            changes = apply_console_changes(account, COMPLIANT_ENV) if drift else []
        yield (
            boto3.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=DEMO_REGION,
            ),
            DEMO_REGION,
            changes,
        )
