"""ecs.container_insights_enabled and ecs.task_roles_defined."""

from __future__ import annotations

from typing import Any

from botocore.stub import Stubber

from scanner.demo.base import DemoAccount
from scanner.demo.ecs import (
    FAKE_SECRET_ENVIRONMENT,
    make_cluster,
    make_service,
    make_task_definition,
    reference_ecs,
)
from scanner.demo.iam import make_role
from scanner.engine.inventory import Scope
from scanner.engine.records import ecs
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.checks.judge import by_resource, judge, unreadable
from tests.factories import ecs_cluster, role_arn, task_definition
from tests.helpers import expect, fail_operation, findings_of, scan

PREFIX = "arn:aws:ecs:us-east-1:123456789012"


def test_container_insights_enabled_or_enhanced_passes() -> None:
    found = judge(
        "ecs.container_insights_enabled",
        {
            ecs.clusters: [
                ecs_cluster("on", "enabled"),
                ecs_cluster("enhanced", "enhanced"),
                ecs_cluster("off", "disabled"),
                ecs_cluster("unset", None),
            ]
        },
    )

    expect(
        by_resource(found),
        {
            "on": (Status.PASS, "cluster on has containerInsights enabled"),
            "enhanced": (Status.PASS, "containerInsights enhanced"),
            "off": (Status.FAIL, "cluster off has containerInsights disabled"),
            "unset": (Status.FAIL, "cluster unset has no containerInsights setting"),
        },
    )


def test_task_roles_judged_per_task_definition() -> None:
    found = judge(
        "ecs.task_roles_defined",
        {
            ecs.task_definitions: [
                task_definition("both", services=("main/web", "main/worker")),
                task_definition("no-exec", execution_role_arn=None, services=("main/api",)),
                task_definition("no-task", task_role_arn=None),
                task_definition("neither", execution_role_arn=None, task_role_arn=None),
                task_definition("pathed", task_role_arn=role_arn("service/pathed")),
                unreadable(ecs.task_definition_ref("hidden:1"), "task definition"),
            ]
        },
    )

    expect(
        by_resource(found),
        {
            "both:1": (
                Status.PASS,
                f"task definition both:1 names execution role {role_arn('both-exec')} and "
                f"task role {role_arn('both-task')}",
            ),
            "no-exec:1": (Status.FAIL, "no-exec:1 (run by main/api) has no executionRoleArn"),
            "no-task:1": (Status.FAIL, "has no taskRoleArn"),
            "neither:1": (Status.FAIL, "has no executionRoleArn and no taskRoleArn"),
            "pathed:1": (Status.PASS, f"task role {role_arn('service/pathed')}"),
            "hidden:1": (
                Status.ERROR,
                "could not read task definition: AccessDeniedException on test:Read",
            ),
        },
    )
    assert by_resource(found)["both:1"].evidence == {
        "executionRoleArn": role_arn("both-exec"),
        "taskRoleArn": role_arn("both-task"),
        "services": ["main/web", "main/worker"],
    }


# --- moto and Stubber: what the collectors read ---------------------------------------------


def test_scope_filters_clusters_by_name(account: DemoAccount) -> None:
    make_cluster(account, name="app-prod", insights="enabled")
    make_cluster(account, name="app-stage", insights="disabled")

    result = scan(account, "ecs.container_insights_enabled", scope=Scope(name_suffix="-prod"))

    assert [f.resource_id for f in result.findings] == ["app-prod"]


def cluster_arn(name: str) -> str:
    return f"{PREFIX}:cluster/{name}"


def described_cluster(
    name: str, insights: str, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "clusterName": name,
        "clusterArn": cluster_arn(name),
        "status": "ACTIVE",
        "settings": [{"name": "containerInsights", "value": insights}],
    }
    if tags is not None:
        cluster["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return cluster


def test_describe_clusters_always_asks_for_settings(account: DemoAccount) -> None:
    """AWS returns settings only with include=SETTINGS; moto always does (gap
    ecs-settings-without-include), so the request itself is asserted. A tag scope adds TAGS;
    a cluster deleted since the listing (MISSING) is skipped, another failure is ERROR."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("ecs", account.region))
    names = ["a", "gone", "broken"]
    stubber.add_response("list_clusters", {"clusterArns": [cluster_arn(n) for n in names]})
    stubber.add_response(
        "describe_clusters",
        {
            "clusters": [described_cluster("a", "enabled", {"env": "prod"})],
            "failures": [
                {"arn": cluster_arn("gone"), "reason": "MISSING"},
                {"arn": cluster_arn("broken"), "reason": "INTERNAL_ERROR", "detail": "retry"},
            ],
        },
        {"clusters": [cluster_arn(n) for n in names], "include": ["SETTINGS", "TAGS"]},
    )
    stubber.add_response("list_clusters", {"clusterArns": [cluster_arn("a")]})
    stubber.add_response(
        "describe_clusters",
        {"clusters": [described_cluster("a", "disabled")]},
        {"clusters": [cluster_arn("a")], "include": ["SETTINGS"]},
    )

    with stubber:
        tagged = scan(
            account,
            "ecs.container_insights_enabled",
            scope=Scope(tags={"env": "prod"}),
            session=session,
            workers=1,
        )
        # Same session, a new scan: collectors are memoised per scan, not per session.
        untagged = scan(account, "ecs.container_insights_enabled", session=session, workers=1)
    stubber.assert_no_pending_responses()

    expect(
        {f.resource_id: f for f in tagged.findings},
        {
            "a": (Status.PASS, "containerInsights enabled"),
            "broken": (Status.ERROR, "INTERNAL_ERROR on ecs:DescribeClusters: retry"),
        },
    )
    expect(
        {f.resource_id: f for f in untagged.findings},
        {"a": (Status.FAIL, "containerInsights disabled")},
    )


def test_describe_clusters_in_chunks_of_100(account: DemoAccount) -> None:
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("ecs", account.region))
    names = [f"c{n:03}" for n in range(101)]
    stubber.add_response(
        "list_clusters", {"clusterArns": [cluster_arn(n) for n in names[:60]], "nextToken": "t"}
    )
    stubber.add_response(
        "list_clusters", {"clusterArns": [cluster_arn(n) for n in names[60:]]}, {"nextToken": "t"}
    )
    for chunk in (names[:100], names[100:]):
        stubber.add_response(
            "describe_clusters",
            {"clusters": [described_cluster(n, "enabled") for n in chunk]},
            {"clusters": [cluster_arn(n) for n in chunk], "include": ["SETTINGS"]},
        )

    with stubber:
        result = scan(account, "ecs.container_insights_enabled", session=session, workers=1)
    stubber.assert_no_pending_responses()

    assert len(result.findings) == 101
    assert {f.status for f in result.findings} == {Status.PASS}


def test_task_roles_judged_per_task_definition_a_service_runs(account: DemoAccount) -> None:
    cluster = make_cluster(account, name="main")
    both = make_task_definition(account, family="both")
    make_service(account, cluster, both, name="web")
    make_service(account, cluster, both, name="worker")  # same revision: one finding
    no_exec = make_task_definition(account, family="no-exec", execution_role=False)
    make_service(account, cluster, no_exec, name="api")
    no_task = make_task_definition(account, family="no-task", task_role=False)
    make_service(account, cluster, no_task, name="batch")
    neither = make_task_definition(account, family="neither", execution_role=False, task_role=False)
    make_service(account, make_cluster(account, name="other"), neither, name="cron")
    # Revision 1 is broken but no longer run: only revision 2 is judged.
    make_task_definition(account, family="upgraded", execution_role=False)
    upgraded = make_task_definition(account, family="upgraded")
    make_service(account, cluster, upgraded, name="upgraded")
    make_task_definition(account, family="idle", execution_role=False)  # no service runs it
    pathed = make_role(account, name="pathed", path="/service/")  # used as given
    make_service(
        account, cluster, make_task_definition(account, family="pathed", task_role_arn=pathed)
    )

    found = findings_of(account, "ecs.task_roles_defined")
    expect(
        found,
        {
            "both:1": (Status.PASS, "names execution role arn:aws:iam::123456789012:role/"),
            "no-exec:1": (Status.FAIL, "no-exec:1 (run by main/api) has no executionRoleArn"),
            "no-task:1": (Status.FAIL, "has no taskRoleArn"),
            "neither:1": (Status.FAIL, "has no executionRoleArn and no taskRoleArn"),
            "upgraded:2": (Status.PASS, "names execution role"),
            "pathed:1": (Status.PASS, "task role arn:aws:iam::123456789012:role/service/pathed"),
        },
    )
    assert found["both:1"].evidence["services"] == ["main/web", "main/worker"]


def test_a_rolling_update_judges_the_revision_still_running_too(account: DemoAccount) -> None:
    cluster = make_cluster(account, name="main")
    old = make_task_definition(account, family="app", execution_role=False)
    new = make_task_definition(account, family="app")
    make_service(account, cluster, new, name="web")
    # moto deploys at once: add the old deployment a rolling update still runs tasks of.
    [service] = account.backend("ecs").services.values()
    service.deployments.append(
        {
            **service.deployments[0],
            "id": "ecs-svc/old",
            "status": "ACTIVE",
            "taskDefinition": old,
            "runningCount": 1,
        }
    )

    expect(
        findings_of(account, "ecs.task_roles_defined"),
        {
            "app:1": (Status.FAIL, "app:1 (run by main/web) has no executionRoleArn"),
            "app:2": (Status.PASS, "names execution role"),
        },
    )


def arns(kind: str, names: list[str]) -> list[str]:
    return [f"{PREFIX}:{kind}/{name}" for name in names]


def test_services_are_paged_and_described_ten_at_a_time(account: DemoAccount) -> None:
    """moto neither pages ListServices nor rejects > 10 services per DescribeServices (gap
    ecs-describe-services-limit): a Stubber with two pages and 12 services. Pages of 100 are
    asked for (AWS's default is 10)."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("ecs", account.region))
    cluster = cluster_arn("main")
    services = arns("service/main", [f"s{n:02}" for n in range(12)])
    definition = f"{PREFIX}:task-definition/app:3"
    stubber.add_response("list_clusters", {"clusterArns": [cluster]})
    stubber.add_response("describe_clusters", {"clusters": [described_cluster("main", "enabled")]})
    stubber.add_response(
        "list_services",
        {"serviceArns": services[:10], "nextToken": "p2"},
        {"cluster": cluster, "maxResults": 100},
    )
    stubber.add_response(
        "list_services",
        {"serviceArns": services[10:]},
        {"cluster": cluster, "maxResults": 100, "nextToken": "p2"},
    )
    for chunk in (services[:10], services[10:]):
        described = [
            {
                "serviceName": arn.rsplit("/", 1)[1],
                "serviceArn": arn,
                "status": "ACTIVE",
                "taskDefinition": definition,
            }
            for arn in chunk
        ]
        stubber.add_response(
            "describe_services", {"services": described}, {"cluster": cluster, "services": chunk}
        )
    stubber.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "family": "app",
                "revision": 3,
                "taskDefinitionArn": definition,
                "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            }
        },
        {"taskDefinition": definition},
    )

    with stubber:
        result = scan(account, "ecs.task_roles_defined", session=session, workers=1)
    stubber.assert_no_pending_responses()

    expect(
        {f.resource_id: f for f in result.findings},
        {"app:3": (Status.FAIL, "has no taskRoleArn")},
    )
    assert len(result.findings[0].evidence["services"]) == 12


def test_unreadable_task_definition_or_services_are_errors(account: DemoAccount) -> None:
    main = make_cluster(account, name="main")
    make_service(account, main, make_task_definition(account, family="ok"), name="ok")
    make_service(account, main, make_task_definition(account, family="hidden"), name="hidden")
    locked = make_cluster(account, name="locked")
    make_service(account, locked, make_task_definition(account, family="behind"), name="x")
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "ecs",
        "DescribeTaskDefinition",
        when=lambda params: "hidden" in params["taskDefinition"],
    )
    fail_operation(session, "ecs", "ListServices", when=lambda params: params["cluster"] == locked)

    result = scan(account, "ecs.task_roles_defined", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {
            "ok:1": (Status.PASS, "names execution role"),
            "hidden:1": (
                Status.ERROR,
                "could not read task definition: AccessDeniedException on "
                "ecs:DescribeTaskDefinition",
            ),
            "locked": (
                Status.ERROR,
                "could not read the cluster's services: AccessDeniedException on ecs:ListServices",
            ),
        },
    )
    assert result.missing_actions == ("ecs:DescribeTaskDefinition", "ecs:ListServices")


def test_describe_clusters_denied_is_error_per_cluster(account: DemoAccount) -> None:
    make_cluster(account, name="main")
    session = AwsSession(SessionOptions())
    fail_operation(session, "ecs", "DescribeClusters")

    result = scan(account, "ecs.container_insights_enabled", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {"main": (Status.ERROR, "AccessDeniedException on ecs:DescribeClusters")},
    )


def test_reference_stack_part(account: DemoAccount) -> None:
    reference_ecs(account, compliant=True, prefix="prod")
    reference_ecs(account, compliant=False, prefix="stage")
    session = AwsSession(SessionOptions())

    result = scan(
        account,
        "ecs.container_insights_enabled",
        "ecs.task_roles_defined",
        "iam.task_role_least_privilege",
        session=session,
    )

    assert {(f.check_id, f.resource_id): f.status for f in result.findings} == {
        ("ecs.container_insights_enabled", "prod-cluster"): Status.PASS,
        ("ecs.container_insights_enabled", "stage-cluster"): Status.FAIL,
        ("ecs.task_roles_defined", "prod-app:1"): Status.PASS,
        ("ecs.task_roles_defined", "stage-app:1"): Status.FAIL,
        ("iam.task_role_least_privilege", "prod-app-task"): Status.PASS,
        ("iam.task_role_least_privilege", "stage-app-task"): Status.FAIL,
    }
    assert session.requests.duplicates() == {}
    # Container environments may hold secrets: never copied into records or findings.
    assert FAKE_SECRET_ENVIRONMENT["DB_PASSWORD"] not in repr(result)
    assert result.resources
