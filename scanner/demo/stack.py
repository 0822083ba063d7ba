"""The reference production stack (controls.md), built compliant and broken side by side."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from scanner.demo.base import DemoAccount, speed_up_moto_kms
from scanner.demo.kms import make_key
from scanner.errors import ConfigError

DEMO_REGION = "us-east-1"


def build_reference_stack(account: DemoAccount, *, compliant: bool, env: str) -> None:
    """One environment's stack: every control of controls.md passes, or every one fails."""
    make_key(account, rotation=compliant, alias=f"{env}-data")


def build_demo(account: DemoAccount) -> None:
    """The demo account: a compliant ``prod`` stack beside a broken ``stage`` one."""
    build_reference_stack(account, compliant=True, env="prod")
    build_reference_stack(account, compliant=False, env="stage")


@contextmanager
def demo_account() -> Iterator[tuple[boto3.Session, str]]:
    """An in-process moto account holding the demo stacks, and a session into it."""
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise ConfigError("the demo needs moto: pip install 'driftscan[demo]'") from exc
    speed_up_moto_kms()
    with warnings.catch_warnings(), mock_aws():
        warnings.simplefilter("ignore")
        build_demo(DemoAccount(region=DEMO_REGION))
        yield (
            boto3.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=DEMO_REGION,
            ),
            DEMO_REGION,
        )
