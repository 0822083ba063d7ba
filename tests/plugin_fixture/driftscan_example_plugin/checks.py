"""Audit log groups have a metric filter: a collector of its own beside driftscan's logs one."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import Compliance
from scanner.engine.inventory import CheckInputs, Collector, RegionScope, declare
from scanner.engine.records import logs
from scanner.engine.registry import Param, Params, check
from scanner.model import Outcome, Severity, failed, passed
from scanner.textsafe import count


def fetch_metric_filters(scope: RegionScope) -> dict[str, tuple[str, ...]]:
    """Log group name -> the names of its metric filters (runs in the prefetch)."""
    filters: dict[str, tuple[str, ...]] = {}
    for raw in scope.pages("logs", "describe_metric_filters", "metricFilters"):
        group = raw["logGroupName"]
        filters[group] = (*filters.get(group, ()), raw["filterName"])
    return filters


metric_filters: Collector[dict[str, tuple[str, ...]]] = declare(
    "example.metric_filters",
    resource_type="AWS::Logs::MetricFilter",
    actions=["logs:DescribeMetricFilters"],
    fetch="driftscan_example_plugin.checks:fetch_metric_filters",
)


@check(
    id="example.audit_logs_watched",
    severity=Severity.LOW,
    title="Audit log groups have a metric filter",
    description="A log group named like an audit log has a metric filter for an alarm to watch.",
    remediation="aws logs put-metric-filter --log-group-name <name> --filter-name <name> ...",
    rationale="An audit log that nothing watches records an incident without raising it.",
    cfn_property="AWS::Logs::MetricFilter LogGroupName",
    reads=[logs.log_groups, metric_filters],
    params=[
        Param(
            name="name_contains",
            default="audit",
            schema={"type": "string", "minLength": 1},
            description="A log group whose name contains this is an audit log.",
        )
    ],
    compliance=Compliance.none("an example control: it evidences no framework requirement"),
)
def audit_logs_watched(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    filters = inputs[metric_filters]
    for group in inputs[logs.log_groups]:  # the engine reports unreadable ones as ERROR
        if params["name_contains"] in group.name:
            names = filters.get(group.name, ())
            verdict = passed if names else failed
            message = f"log group {group.name} has {count(len(names), 'metric filter')}"
            yield verdict(group.ref, message, metric_filters=list(names))
