"""CloudFormation builders: stacks whose template publishes outputs."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping

from scanner.demo.base import DemoAccount

REFERENCE_OUTPUTS = ("VpcId", "ClusterName", "DatabaseEndpoint", "RedisEndpoint")
"""Output keys the reference stack publishes; a baseline lists them under stack_outputs."""


def make_stack(
    account: DemoAccount,
    *,
    name: str | None = None,
    outputs: Mapping[str, str] | None = None,
    exported: bool = True,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A stack publishing ``outputs`` (key -> value), exported as ``<stack>-<key>``; returns
    its name.

    Its only resource is a WaitConditionHandle: moto cannot model it and only warns, which
    is silenced here.
    """
    name = name or account.name("stack")
    template: dict[str, object] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
    if outputs:
        template["Outputs"] = {
            key: {"Value": value, **({"Export": {"Name": f"{name}-{key}"}} if exported else {})}
            for key, value in outputs.items()
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        account.client("cloudformation").create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
    return name


def reference_cloudformation(account: DemoAccount, *, compliant: bool, stack_name: str) -> None:
    """The stack's CloudFormation stack ``stack_name``, publishing ``REFERENCE_OUTPUTS``.

    Deps: ``stack_name`` (e.g. ``prod-platform``); a baseline configures
    ``cloudformation.required_outputs`` with ``{stack_name: list(REFERENCE_OUTPUTS)}``.
    Broken: ``RedisEndpoint`` is missing.
    """
    keys = REFERENCE_OUTPUTS if compliant else REFERENCE_OUTPUTS[:-1]
    make_stack(
        account, name=stack_name, outputs={key: f"{stack_name}-{key.lower()}" for key in keys}
    )
