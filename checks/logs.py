"""CloudWatch Logs controls: every log group has a bounded retention policy."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import CLOUDWATCH_16, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import logs
from scanner.engine.registry import Param, Params, check
from scanner.model import Outcome, Severity, failed, passed


def _days(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


@check(
    id="logs.retention_set",
    severity=Severity.MEDIUM,
    title="CloudWatch log groups have a retention policy",
    description=(
        "The log group keeps events for at least the baseline's days and not forever: "
        "a group without a retention policy never expires, which is unbounded cost and no "
        "policy at all. Read from DescribeLogGroups (retentionInDays)."
    ),
    remediation="aws logs put-retention-policy --log-group-name <name> --retention-in-days 30",
    rationale=(
        "Logs without a retention policy are kept and billed forever; a policy makes their "
        "lifetime a decision."
    ),
    cfn_property="AWS::Logs::LogGroup RetentionInDays",
    reads=[logs.log_groups],
    params=[
        Param(
            name="min_days",
            default=30,
            schema={"type": "integer", "minimum": 1},
            description="Fewest days a log group must keep its events.",
        )
    ],
    compliance=Compliance(
        stricter_than=(CLOUDWATCH_16,),
        note=(
            "also fails log groups that never expire; the minimum is the baseline's min_days,"
            " Security Hub's default is 365 days"
        ),
    ),
)
def retention_set(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    min_days = int(params["min_days"])
    for group in inputs[logs.log_groups]:
        days = group.retention_days
        evidence = {"retentionInDays": days, "min_days": min_days}
        if days is None:
            yield failed(
                group.ref,
                f"log group {group.name} has no retention policy (events never expire)",
                **evidence,
            )
        elif days < min_days:
            yield failed(
                group.ref,
                f"log group {group.name} keeps events {_days(days)}, "
                f"below the baseline's {min_days}",
                **evidence,
            )
        else:
            yield passed(
                group.ref,
                f"log group {group.name} keeps events {_days(days)} (baseline {min_days})",
                **evidence,
            )
