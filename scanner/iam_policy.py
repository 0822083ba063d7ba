"""The least-privilege IAM policy, generated from what the selected controls declare."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanner.registry import CheckSpec


def required_actions(specs: Iterable[CheckSpec]) -> list[str]:
    return sorted({action for spec in specs for action in spec.actions})


def policy_document(specs: Iterable[CheckSpec]) -> dict[str, Any]:
    """sts:GetCallerIdentity needs no permission, so it is not listed."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DriftscanReadOnly",
                "Effect": "Allow",
                "Action": required_actions(specs),
                "Resource": "*",
            }
        ],
    }
