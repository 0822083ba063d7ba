"""API Gateway builders: REST APIs with a deployed stage, routes, and a usage plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from scanner.demo.base import DemoAccount


class UsagePlanSpec(TypedDict, total=False):
    """A usage plan for the stage; a key left out takes the compliant default."""

    rate: float | None
    """throttle.rateLimit; None (with burst None) makes a plan without a throttle."""
    burst: int | None
    quota: tuple[int, str] | None
    """(limit, period); None makes a plan without a quota."""
    api_key: bool
    """Attach one API key to the plan."""


COMPLIANT_PLAN: UsagePlanSpec = {
    "rate": 100,
    "burst": 200,
    "quota": (10000, "MONTH"),
    "api_key": True,
}
APP_ORIGIN = "https://app.example.com"
"""The one origin the reference stack's front end is served from (the demo baseline's)."""
DEFAULT_ACCESS_LOG = "default"
"""``access_log_arn`` placeholder: a log group ARN named after the API."""


def make_rest_api(
    account: DemoAccount,
    *,
    name: str | None = None,
    stage: str = "prod",
    throttle: tuple[float, int] | None = (500, 1000),
    logging_level: str | None = "INFO",
    access_log_arn: str | None = DEFAULT_ACCESS_LOG,
    routes: Sequence[str] = ("GET /health",),
    usage_plan: UsagePlanSpec | None = COMPLIANT_PLAN,
    tags: Mapping[str, str] | None = None,
    stage_tags: Mapping[str, str] | None = None,
    api_id: str | None = None,
    cors_origin: str | None = None,
) -> str:
    """A REST API with ``routes`` (MOCK integrations) deployed to ``stage``; returns its id.

    ``throttle``: (rate, burst) of the stage's default method setting, or None for none.
    ``logging_level``: INFO, ERROR, OFF, or None to leave it unset. ``access_log_arn``:
    destination of access logs, None for none. ``usage_plan``: see UsagePlanSpec, None for
    no plan. ``api_id`` fixes the id (moto's ``_custom_id_`` tag). ``cors_origin``: give
    every route's resource an OPTIONS method allowing this origin (see ``add_cors``).
    """
    apigw = account.client("apigateway")
    name = name or account.name("api")
    api_tags = {**(tags or {}), **({"_custom_id_": api_id} if api_id else {})}
    rest_api_id: str = apigw.create_rest_api(name=name, tags=api_tags)["id"]
    add_routes(account, rest_api_id, routes)
    if cors_origin:
        add_cors(account, rest_api_id, cors_origin)
    deployment = apigw.create_deployment(restApiId=rest_api_id)["id"]
    apigw.create_stage(
        restApiId=rest_api_id, stageName=stage, deploymentId=deployment, tags=dict(stage_tags or {})
    )
    patches = []
    if logging_level:
        patches.append(_replace("/*/*/logging/loglevel", logging_level))
    if throttle:
        patches.append(_replace("/*/*/throttling/rateLimit", str(throttle[0])))
        patches.append(_replace("/*/*/throttling/burstLimit", str(throttle[1])))
    if access_log_arn:
        if access_log_arn == DEFAULT_ACCESS_LOG:
            access_log_arn = (
                f"arn:aws:logs:{account.region}:{account.account_id}"
                f":log-group:/aws/apigateway/{name}"
            )
        patches.append(_replace("/accessLogSettings/destinationArn", access_log_arn))
        patches.append(_replace("/accessLogSettings/format", "$context.requestId"))
    if patches:
        apigw.update_stage(restApiId=rest_api_id, stageName=stage, patchOperations=patches)
    if logging_level and not throttle:
        # moto fills 1000/2000 throttling into '*/*' on the first patch (gap
        # apigateway-method-setting-default-throttle): take them out again.
        settings = account.backend("apigateway").apis[rest_api_id].stages[stage].method_settings
        for key in ("throttlingRateLimit", "throttlingBurstLimit"):
            settings["*/*"].pop(key, None)
    if usage_plan is not None:
        make_usage_plan(account, rest_api_id, stage, **usage_plan)
    return rest_api_id


def _replace(path: str, value: str) -> dict[str, str]:
    return {"op": "replace", "path": path, "value": value}


def add_routes(account: DemoAccount, rest_api_id: str, routes: Sequence[str]) -> None:
    """Create each 'VERB /path' route (nested resources as needed) with a MOCK integration."""
    apigw = account.client("apigateway")
    by_path = {
        item["path"]: item["id"]
        for item in apigw.get_resources(restApiId=rest_api_id, limit=500)["items"]
    }
    for route in routes:
        verb, _, path = route.partition(" ")
        parent = by_path["/"]
        current = ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}"
            if current not in by_path:
                by_path[current] = apigw.create_resource(
                    restApiId=rest_api_id, parentId=parent, pathPart=part
                )["id"]
            parent = by_path[current]
        resource_id = by_path[path.rstrip("/") or "/"]
        apigw.put_method(
            restApiId=rest_api_id, resourceId=resource_id, httpMethod=verb, authorizationType="NONE"
        )
        apigw.put_integration(
            restApiId=rest_api_id, resourceId=resource_id, httpMethod=verb, type="MOCK"
        )
    if not routes:  # a deployment needs at least one method
        apigw.put_method(
            restApiId=rest_api_id,
            resourceId=by_path["/"],
            httpMethod="GET",
            authorizationType="NONE",
        )
        apigw.put_integration(
            restApiId=rest_api_id, resourceId=by_path["/"], httpMethod="GET", type="MOCK"
        )


def add_cors(
    account: DemoAccount, rest_api_id: str, origin: str, *, paths: Sequence[str] = ()
) -> None:
    """An OPTIONS method (MOCK integration) on each resource of ``paths`` (default: every
    resource with a method), whose 200 integration response sets Access-Control-Allow-Origin
    to ``origin`` as API Gateway stores it: a quoted literal ('https://app.example.com')."""
    apigw = account.client("apigateway")
    resources = apigw.get_resources(restApiId=rest_api_id, limit=500)["items"]
    header = "method.response.header.Access-Control-Allow-Origin"
    for item in resources:
        if not (item["path"] in paths if paths else item.get("resourceMethods")):
            continue
        method = {"restApiId": rest_api_id, "resourceId": item["id"], "httpMethod": "OPTIONS"}
        apigw.put_method(**method, authorizationType="NONE")
        apigw.put_method_response(**method, statusCode="200", responseParameters={header: False})
        apigw.put_integration(
            **method, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
        )
        apigw.put_integration_response(
            **method, statusCode="200", responseParameters={header: f"'{origin}'"}
        )


def make_usage_plan(
    account: DemoAccount,
    rest_api_id: str,
    stage: str,
    *,
    rate: float | None = 100,
    burst: int | None = 200,
    quota: tuple[int, str] | None = (10000, "MONTH"),
    api_key: bool = True,
    name: str | None = None,
) -> str:
    """A usage plan covering the stage; returns its id."""
    apigw = account.client("apigateway")
    params: dict[str, Any] = {
        "name": name or account.name("plan"),
        "apiStages": [{"apiId": rest_api_id, "stage": stage}],
    }
    if rate is not None and burst is not None:
        params["throttle"] = {"rateLimit": rate, "burstLimit": burst}
    if quota is not None:
        params["quota"] = {"limit": quota[0], "period": quota[1]}
    plan_id: str = apigw.create_usage_plan(**params)["id"]
    if api_key:
        key_id = apigw.create_api_key(name=account.name("key"), enabled=True)["id"]
        apigw.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
    return plan_id


def reference_apigateway(
    account: DemoAccount, *, compliant: bool, name: str, access_log_arn: str
) -> None:
    """The stack's REST API ``name`` with a ``prod`` stage.

    Deps: ``access_log_arn``, the ARN of the stack's API access log group (logs builder).
    Compliant: throttled 500/s burst 1000, INFO execution logs, access logs to
    ``access_log_arn``, a usage plan (throttle, 10000/MONTH quota, one API key), and
    ``GET /health``, each resource with an OPTIONS method allowing only
    ``APP_ORIGIN``. Broken: no default throttling, execution logging OFF, no access logs,
    no usage plan, only ``GET /orders`` (no ``GET /health``), and CORS open to any origin
    ('*').
    """
    if compliant:
        make_rest_api(
            account,
            name=name,
            access_log_arn=access_log_arn,
            routes=("GET /health", "GET /orders"),
            cors_origin=APP_ORIGIN,
        )
    else:
        make_rest_api(
            account,
            name=name,
            throttle=None,
            logging_level="OFF",
            access_log_arn=None,
            routes=("GET /orders",),
            usage_plan=None,
            cors_origin="*",
        )
