"""API Gateway controls: stage throttling, execution and access logging, usage plans, routes,
CORS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from checks.apigateway import approved_origin
from scanner.app.config import Baseline, build_plan, parse_baseline
from scanner.demo.apigateway import (
    APP_ORIGIN,
    make_rest_api,
    reference_apigateway,
)
from scanner.demo.base import DemoAccount
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import apigateway
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import ConfigError
from scanner.model import Finding, Status, UnreadableResource
from tests.checks.judge import REGION, by_resource, denied, judge, unreadable
from tests.factories import api_resources, rest_api, stage, usage_plan
from tests.helpers import expect, scan

LOG_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/access"


def deny(session: AwsSession, operation: str, when: Callable[[dict[str, Any]], bool]) -> None:
    """Make ``operation`` fail with AccessDenied for the requests ``when`` picks."""

    def handler(params: dict[str, Any], **_: Any) -> None:
        if when(params):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, operation
            )

    client = session.client("apigateway", "us-east-1")
    client.meta.events.register(f"before-parameter-build.api-gateway.{operation}", handler)


def by_id(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {finding.resource_id: finding for finding in findings}


def settings(rate: float | None, burst: int | None, level: str | None = "INFO") -> Any:
    return apigateway.MethodSettings(rate_limit=rate, burst_limit=burst, logging_level=level)


THROTTLED = [
    stage("good", default_settings=settings(500, 1000)),
    stage("at-max", "v1", default_settings=settings(1000, 2000)),
    stage("zero", default_settings=settings(0, 0)),
    stage("too-high", default_settings=settings(5000, 1000)),
    stage("unset", default_settings=settings(None, None)),  # '*/*' holds the logging level
    stage("no-settings", default_settings=None),  # no '*/*'
    stage("disabled", default_settings=settings(-1.0, -1)),  # AWS reports -1 when disabled
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "good/prod": (Status.PASS, "stage good/prod throttles at 500/s, burst 1000"),
                "at-max/v1": (Status.PASS, "throttles at 1000/s, burst 2000"),
                "zero/prod": (Status.PASS, "(a limit of 0 rejects every request)"),
                "too-high/prod": (Status.FAIL, "rate limit 5000/s above the baseline's 1000"),
                "unset/prod": (Status.FAIL, "no default rate limit; no default burst limit"),
                "no-settings/prod": (Status.FAIL, "no default throttling (no '*/*' method"),
                "disabled/prod": (Status.FAIL, "no default rate limit; no default burst limit"),
            },
        ),
        (
            {"max_rate": 100, "max_burst": 500},
            {
                "good/prod": (Status.FAIL, "rate limit 500/s above the baseline's 100; burst"),
                "at-max/v1": (Status.FAIL, "burst limit 2000 above the baseline's 500"),
                "zero/prod": (Status.PASS, "throttles at 0/s"),
                "too-high/prod": (Status.FAIL, "rate limit 5000/s"),
                "unset/prod": (Status.FAIL, "no default rate limit"),
                "no-settings/prod": (Status.FAIL, "no default throttling"),
                "disabled/prod": (Status.FAIL, "no default rate limit"),
            },
        ),
    ],
)
def test_stage_throttling(params: Any, expected: Any) -> None:
    found = judge("apigateway.stage_throttling", {apigateway.stages: THROTTLED}, **params)
    expect(by_resource(found), expected)


def test_stage_execution_logging() -> None:
    found = judge(
        "apigateway.stage_execution_logging",
        {
            apigateway.stages: [
                stage("info"),
                stage("error", default_settings=settings(1, 1, "ERROR")),
                stage("off", default_settings=settings(1, 1, "OFF")),
                stage("unset", default_settings=settings(1, 1, None)),
                stage("neither", default_settings=None),
                unreadable(apigateway.stage_ref(REGION, "hidden", "*"), "the API's stages"),
            ]
        },
    )
    expect(
        by_resource(found),
        {
            "info/prod": (Status.PASS, "stage info/prod logs at INFO"),
            "error/prod": (Status.PASS, "logs at ERROR"),
            "off/prod": (Status.FAIL, "stage off/prod: execution logging is OFF"),
            "unset/prod": (Status.FAIL, "execution logging is not set"),
            "neither/prod": (Status.FAIL, "execution logging is not set"),
            "hidden/*": (Status.ERROR, "could not read the API's stages: AccessDeniedException"),
        },
    )


def test_stage_access_logging() -> None:
    found = judge(
        "apigateway.stage_access_logging",
        {apigateway.stages: [stage("logged"), stage("silent", access_log_destination=None)]},
    )
    expect(
        by_resource(found),
        {
            "logged/prod": (Status.PASS, f"writes access logs to {LOG_ARN}"),
            "silent/prod": (Status.FAIL, "stage silent/prod has no access log destination"),
        },
    )
    assert by_resource(found)["silent/prod"].resource_arn == (
        "arn:aws:apigateway:us-east-1::/restapis/silent/stages/prod"
    )


def test_unlistable_apis_are_an_error() -> None:
    found = judge("apigateway.stage_throttling", {apigateway.api_listing: denied("apigateway:GET")})
    expect(by_resource(found), {"*": (Status.ERROR, "could not read apigateway.api_listing")})


PLANNED = {
    name: stage(name)
    for name in ("good", "no-plan", "no-quota", "big", "weekly", "no-throttle", "no-key")
}
PLANNED["second-plan"] = stage("second-plan")
PLANNED["keys-hidden"] = stage("keys-hidden")
PLANS = [
    usage_plan("p-good", PLANNED["good"]),
    usage_plan("p-no-quota", PLANNED["no-quota"], quota_limit=None, quota_period=None),
    usage_plan("p-big", PLANNED["big"], quota_limit=500000),
    usage_plan("p-weekly", PLANNED["weekly"], quota_limit=1000, quota_period="WEEK"),
    usage_plan("p-no-throttle", PLANNED["no-throttle"], rate_limit=None, burst_limit=None),
    usage_plan("p-no-key", PLANNED["no-key"]),
    usage_plan("p-first", PLANNED["second-plan"]),
    usage_plan("p-partner", PLANNED["second-plan"], name="partner"),
    usage_plan("p-keys-hidden", PLANNED["keys-hidden"]),
]
KEYS = {
    **{plan.plan_id: True for plan in PLANS},
    "p-no-key": False,
    "p-first": False,
    "p-keys-hidden": denied("apigateway:GET"),
}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "good/prod": (Status.PASS, "with a throttle, quota 10000/MONTH and an API key"),
                "no-plan/prod": (Status.FAIL, "stage no-plan/prod is in no usage plan"),
                "no-quota/prod": (Status.FAIL, "has no quota"),
                "big/prod": (Status.FAIL, "has quota 500000/MONTH, above 100000"),
                "weekly/prod": (Status.FAIL, "counts its quota per WEEK, not per MONTH"),
                "no-throttle/prod": (Status.FAIL, "has no throttle"),
                "no-key/prod": (Status.FAIL, "has no API key"),
                "second-plan/prod": (Status.PASS, "in usage plan partner (p-partner)"),
                "keys-hidden/prod": (
                    Status.ERROR,
                    "could not read the API keys of usage plan p-keys-hidden",
                ),
            },
        ),
        (
            {"max_quota": 500000, "quota_period": "WEEK"},
            {
                "good/prod": (Status.FAIL, "counts its quota per MONTH, not per WEEK"),
                "no-plan/prod": (Status.FAIL, "in no usage plan"),
                "no-quota/prod": (Status.FAIL, "has no quota"),
                "big/prod": (Status.FAIL, "per MONTH, not per WEEK"),
                "weekly/prod": (Status.PASS, "quota 1000/WEEK"),
                "no-throttle/prod": (Status.FAIL, "has no throttle"),
                "no-key/prod": (Status.FAIL, "has no API key"),
                "second-plan/prod": (Status.FAIL, "per MONTH, not per WEEK"),
                "keys-hidden/prod": (Status.FAIL, "per MONTH, not per WEEK"),
            },
        ),
    ],
)
def test_usage_plan_quota(params: Any, expected: Any) -> None:
    found = judge(
        "apigateway.usage_plan_quota",
        {
            apigateway.stages: list(PLANNED.values()),
            apigateway.usage_plans: PLANS,
            apigateway.usage_plan_keys: KEYS,
        },
        **params,
    )
    expect(by_resource(found), expected)


def test_required_routes() -> None:
    hidden = rest_api("hidden")
    found = judge(
        "apigateway.required_routes",
        {
            apigateway.rest_apis: [
                rest_api("full"),
                rest_api("proxy"),
                rest_api("partial"),
                rest_api("bare"),
                hidden,
            ],
            apigateway.resources: {
                "full": api_resources("GET /health", "POST /v1/orders"),
                "proxy": api_resources("ANY /health", "ANY /v1/orders"),
                "partial": api_resources("GET /health", "GET /v1/orders"),
                "bare": api_resources("GET /other"),
                "hidden": unreadable(hidden.ref, "the API's resources"),
            },
        },
        routes=["GET /health", "POST /v1/orders/"],
    )
    expect(
        by_resource(found),
        {
            "full": (Status.PASS, "API full exposes GET /health, POST /v1/orders"),
            "proxy": (Status.PASS, "API proxy exposes"),
            "partial": (Status.FAIL, "API partial lacks POST /v1/orders"),
            "bare": (Status.FAIL, "API bare lacks GET /health, POST /v1/orders"),
            "hidden": (Status.ERROR, "could not read the API's resources"),
        },
    )
    full = by_resource(found)["full"]
    assert full.resource_type == "AWS::ApiGateway::RestApi"
    assert full.resource_arn == "arn:aws:apigateway:us-east-1::/restapis/full"


def test_cors_restricted() -> None:
    app = f"'{APP_ORIGIN}'"
    hidden = rest_api("hidden")
    found = judge(
        "apigateway.cors_restricted",
        {
            apigateway.rest_apis: [
                rest_api(name)
                for name in ("approved", "wildcard", "other", "partial", "headerless")
            ]
            + [hidden],
            apigateway.resources: {
                "approved": api_resources("GET /a", "POST /b/c", options=("/a", "/b/c")),
                "wildcard": api_resources("GET /health", options=("/health",)),
                "other": api_resources("GET /health", options=("/health",)),
                "partial": api_resources("GET /a", "GET /b", options=("/a",)),
                "headerless": api_resources("GET /health", options=("/health",)),
                "hidden": unreadable(hidden.ref, "the API's resources"),
            },
            apigateway.cors_origins: {
                "approved": {"/a": (app,), "/b/c": (app,)},
                "wildcard": {"/health": ("'*'",)},
                "other": {"/health": ("'https://evil.example'",)},
                "partial": {"/a": (app,)},
                "headerless": {},
            },
        },
        allowed_origins=[APP_ORIGIN],
    )
    expect(
        by_resource(found),
        {
            "approved": (
                Status.PASS,
                "API approved: every resource's OPTIONS allows only approved origins",
            ),
            "wildcard": (Status.FAIL, "API wildcard: /health OPTIONS allows origin '*'"),
            "other": (Status.FAIL, "/health OPTIONS allows origin 'https://evil.example'"),
            "partial": (Status.FAIL, "API partial: /b has no OPTIONS method"),
            "headerless": (Status.FAIL, "/health OPTIONS sets no Access-Control-Allow-Origin"),
            "hidden": (Status.ERROR, "could not read the API's resources: AccessDeniedException"),
        },
    )
    assert by_resource(found)["wildcard"].evidence == {
        "origins": {"/health": ("'*'",)},
        "allowed_origins": [APP_ORIGIN],
        "problems": {"/health": "OPTIONS allows origin '*'"},
    }


# --- moto and Stubber: what the collectors read ---------------------------------------------


def test_every_stage_of_an_api_is_judged_and_scope_counts_api_and_stage_tags(
    account: DemoAccount,
) -> None:
    api = make_rest_api(account, name="orders", tags={"env": "prod"}, access_log_arn=None)
    apigw = account.client("apigateway")
    deployment = apigw.get_stages(restApiId=api)["item"][0]["deploymentId"]
    apigw.create_stage(restApiId=api, stageName="canary", deploymentId=deployment)
    tagged_stage = make_rest_api(account, stage_tags={"env": "prod"})
    make_rest_api(account, tags={"env": "stage"})  # out of scope

    result = scan(account, "apigateway.stage_access_logging", scope=Scope(tags={"env": "prod"}))
    expect(
        by_id(result.findings),
        {
            f"{api}/prod": (Status.FAIL, "no access log destination"),
            f"{api}/canary": (Status.FAIL, "no access log destination"),
            f"{tagged_stage}/prod": (Status.PASS, "writes access logs"),
        },
    )
    finding = by_id(result.findings)[f"{api}/canary"]
    assert finding.resource_type == "AWS::ApiGateway::Stage"
    assert finding.resource_arn == f"arn:aws:apigateway:us-east-1::/restapis/{api}/stages/canary"


def test_unreadable_stages_are_errors_for_that_api_only(account: DemoAccount) -> None:
    readable = make_rest_api(account)
    denied = make_rest_api(account)
    session = AwsSession(SessionOptions())
    deny(session, "GetStages", lambda params: params.get("restApiId") == denied)

    result = scan(account, "apigateway.stage_execution_logging", session=session)
    expect(
        by_id(result.findings),
        {
            f"{readable}/prod": (Status.PASS, "logs at INFO"),
            f"{denied}/*": (Status.ERROR, "AccessDeniedException on apigateway:GET"),
        },
    )
    assert result.missing_actions == ("apigateway:GET",)


def test_usage_plan_keys_unreadable_is_an_error(account: DemoAccount) -> None:
    denied_api = make_rest_api(account)
    denied_plan = account.client("apigateway").get_usage_plans()["items"][0]["id"]
    readable = make_rest_api(account)
    broken = make_rest_api(account, usage_plan={"quota": None})
    session = AwsSession(SessionOptions())
    deny(session, "GetUsagePlanKeys", lambda params: params.get("usagePlanId") == denied_plan)

    result = scan(account, "apigateway.usage_plan_quota", session=session)
    expect(
        by_id(result.findings),
        {
            f"{denied_api}/prod": (Status.ERROR, "could not read the API keys of usage plan"),
            f"{readable}/prod": (Status.PASS, "and an API key"),
            f"{broken}/prod": (Status.FAIL, "has no quota"),
        },
    )


def test_usage_plan_keys_are_read_only_for_plans_in_scope(account: DemoAccount) -> None:
    make_rest_api(account, tags={"env": "prod"})
    make_rest_api(account, tags={"env": "stage"})
    session = AwsSession(SessionOptions())

    scan(account, "apigateway.usage_plan_quota", scope=Scope(tags={"env": "prod"}), session=session)
    key_reads = [c for c in session.requests.calls if c.operation == "GetUsagePlanKeys"]
    assert len(key_reads) == 1
    assert '"limit": 1' in key_reads[0].params  # one key value at most crosses the wire


def test_required_routes_is_off_until_routes_are_configured() -> None:
    plan = build_plan(Baseline(), service_names=["apigateway"], default_region="us-east-1")
    assert "apigateway.required_routes" not in {spec.id for spec in plan.checks}
    configured = Baseline(overrides={"apigateway.required_routes": {"routes": ["GET /health"]}})
    plan = build_plan(configured, service_names=["apigateway"], default_region="us-east-1")
    assert "apigateway.required_routes" in {spec.id for spec in plan.checks}


def test_required_routes_unreadable_resources(account: DemoAccount) -> None:
    readable = make_rest_api(account)
    denied = make_rest_api(account)
    session = AwsSession(SessionOptions())
    deny(session, "GetResources", lambda params: params.get("restApiId") == denied)

    result = scan(
        account,
        "apigateway.required_routes",
        params={"apigateway.required_routes": {"routes": ["GET /health"]}},
        session=session,
    )
    expect(
        by_id(result.findings),
        {
            readable: (Status.PASS, "exposes GET /health"),
            denied: (Status.ERROR, "could not read the API's resources"),
        },
    )


def test_cors_origins_must_be_quoted_literals() -> None:
    allowed = {APP_ORIGIN}
    assert approved_origin(f"'{APP_ORIGIN}'", allowed)
    assert approved_origin(f" '{APP_ORIGIN}' ", allowed)
    assert not approved_origin(APP_ORIGIN, allowed)  # unquoted: a mapping expression, not a value
    assert not approved_origin("integration.response.header.Origin", allowed)
    assert not approved_origin("'*'", allowed | {"*"})  # never, whatever the baseline lists


def test_cors_wildcard_never_passes_and_is_off_until_configured() -> None:
    plan = build_plan(Baseline(), service_names=["apigateway"], default_region="us-east-1")
    assert "apigateway.cors_restricted" not in {spec.id for spec in plan.checks}
    with pytest.raises(ConfigError, match="controls/apigateway.cors_restricted/allowed_origins/0"):
        parse_baseline(
            "version: 1\ncontrols:\n  apigateway.cors_restricted:\n    allowed_origins: ['*']\n"
        )


def test_cors_resources_denied_is_error_for_that_api(account: DemoAccount) -> None:
    readable = make_rest_api(account, cors_origin=APP_ORIGIN)
    denied = make_rest_api(account, cors_origin=APP_ORIGIN)
    session = AwsSession(SessionOptions())
    deny(session, "GetResources", lambda params: params.get("restApiId") == denied)

    result = scan(
        account,
        "apigateway.cors_restricted",
        params={"apigateway.cors_restricted": {"allowed_origins": [APP_ORIGIN]}},
        session=session,
    )
    expect(
        by_id(result.findings),
        {
            readable: (Status.PASS, "allows only approved origins"),
            denied: (Status.ERROR, "could not read the API's resources: AccessDeniedException"),
        },
    )
    assert not [c for c in session.requests.calls if c.operation == "GetIntegrationResponse"]


@pytest.fixture
def stubbed(account: DemoAccount) -> Iterator[tuple[Inventory, Stubber]]:
    """An inventory whose API Gateway client answers only from a Stubber (moto never pages)."""
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("apigateway", "us-east-1"))
    with stubber:
        yield (
            Inventory(session, account_id=account.account_id, region="us-east-1", scope=Scope()),
            stubber,
        )
    stubber.assert_no_pending_responses()


def test_rest_apis_follow_position(stubbed: tuple[Inventory, Stubber]) -> None:
    inventory, stubber = stubbed
    stubber.add_response(
        "get_rest_apis",
        {"items": [{"id": "aaa111", "name": "one"}], "position": "p2"},
        {"limit": 500},
    )
    stubber.add_response(
        "get_rest_apis",
        {"items": [{"id": "bbb222", "name": "two", "tags": {"env": "prod"}}]},
        {"limit": 500, "position": "p2"},
    )

    apis = inventory.get(apigateway.rest_apis)
    assert [(api.api_id, api.name, api.tags) for api in apis] == [
        ("aaa111", "one", {}),
        ("bbb222", "two", {"env": "prod"}),
    ]


def test_usage_plans_follow_position(stubbed: tuple[Inventory, Stubber]) -> None:
    inventory, stubber = stubbed
    plan = {
        "throttle": {"rateLimit": 10.0, "burstLimit": 20},
        "quota": {"limit": 5, "period": "DAY"},
    }
    stubber.add_response(
        "get_usage_plans",
        {"items": [{"id": "p1", "name": "one", **plan}], "position": "n2"},
        {"limit": 500},
    )
    stubber.add_response(
        "get_usage_plans",
        {"items": [{"id": "p2", "apiStages": [{"apiId": "a", "stage": "prod"}]}]},
        {"limit": 500, "position": "n2"},
    )

    plans = inventory.get(apigateway.usage_plans)
    assert [(p.plan_id, p.api_stages, p.quota_limit, p.rate_limit) for p in plans] == [
        ("p1", (), 5, 10.0),
        ("p2", (("a", "prod"),), None, None),
    ]


def test_resources_follow_position_with_methods_embedded(
    stubbed: tuple[Inventory, Stubber],
) -> None:
    """The Stubber asserts ``embed=methods``: moto embeds methods whether asked or not
    (apigateway-resources-methods-always-embedded)."""
    inventory, stubber = stubbed
    stubber.add_response(
        "get_rest_apis", {"items": [{"id": "api1", "name": "one"}]}, {"limit": 500}
    )
    asked = {"restApiId": "api1", "limit": 500, "embed": ["methods"]}
    stubber.add_response(
        "get_resources",
        {"items": [{"id": "r0", "path": "/"}, {"id": "r1", "path": "/v1"}], "position": "r2"},
        asked,
    )
    stubber.add_response(
        "get_resources",
        {"items": [{"id": "r2", "path": "/health", "resourceMethods": {"GET": {}, "HEAD": {}}}]},
        {**asked, "position": "r2"},
    )

    routes = inventory.get(apigateway.resources)["api1"]
    assert not isinstance(routes, UnreadableResource)
    assert {path: r.verbs for path, r in routes.items()} == {
        "/": (),
        "/v1": (),
        "/health": ("GET", "HEAD"),
    }


def test_cors_reads_integration_responses_when_not_embedded(
    stubbed: tuple[Inventory, Stubber],
) -> None:
    """moto embeds them in GetResources (apigateway-integration-responses-embedded); where
    AWS does not, each OPTIONS method response's status is asked for."""
    inventory, stubber = stubbed
    stubber.add_response(
        "get_rest_apis", {"items": [{"id": "api1", "name": "one"}, {"id": "api2", "name": "two"}]}
    )
    options = {"methodResponses": {"200": {"statusCode": "200"}, "204": {"statusCode": "204"}}}
    for api_id in ("api1", "api2"):
        stubber.add_response(
            "get_resources",
            {
                "items": [
                    {"id": "r1", "path": "/a", "resourceMethods": {"GET": {}, "OPTIONS": options}}
                ]
            },
            {"restApiId": api_id, "limit": 500, "embed": ["methods"]},
        )
    asked = {"restApiId": "api1", "resourceId": "r1", "httpMethod": "OPTIONS"}
    header = {"method.response.header.Access-Control-Allow-Origin": f"'{APP_ORIGIN}'"}
    stubber.add_response(
        "get_integration_response",
        {"statusCode": "200", "responseParameters": header},
        {**asked, "statusCode": "200"},
    )
    stubber.add_client_error(
        "get_integration_response",
        "NotFoundException",
        http_status_code=404,
        expected_params={**asked, "statusCode": "204"},
    )
    stubber.add_client_error(
        "get_integration_response",
        "AccessDeniedException",
        http_status_code=403,
        expected_params={**asked, "restApiId": "api2", "statusCode": "200"},
    )

    origins = inventory.get(apigateway.cors_origins)

    assert origins["api1"] == {"/a": (f"'{APP_ORIGIN}'",)}  # 204: no integration response
    denied = origins["api2"]
    assert isinstance(denied, UnreadableResource) and denied.ref.id == "api2"
    assert denied.error.code == "AccessDeniedException"


def test_reference_stack_passes_or_fails_every_control(account: DemoAccount) -> None:
    reference_apigateway(account, compliant=True, name="orders-prod", access_log_arn=LOG_ARN)
    reference_apigateway(account, compliant=False, name="orders-stage", access_log_arn=LOG_ARN)
    apis = {api["name"]: api["id"] for api in account.client("apigateway").get_rest_apis()["items"]}
    controls = [
        "apigateway.stage_throttling",
        "apigateway.stage_execution_logging",
        "apigateway.stage_access_logging",
        "apigateway.usage_plan_quota",
        "apigateway.required_routes",
        "apigateway.cors_restricted",
    ]
    result = scan(
        account,
        *controls,
        params={
            "apigateway.required_routes": {"routes": ["GET /health"]},
            "apigateway.cors_restricted": {"allowed_origins": [APP_ORIGIN]},
        },
    )
    statuses = {(f.check_id, f.resource_id.split("/")[0]): f.status for f in result.findings}
    assert statuses == {
        (control, apis[name]): status
        for control in controls
        for name, status in (("orders-prod", Status.PASS), ("orders-stage", Status.FAIL))
    }
