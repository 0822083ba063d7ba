"""API Gateway REST APIs: APIs, their stages, usage plans with their keys, resources with their
methods, and the CORS origins their OPTIONS methods allow.

API Gateway authorises every read as ``apigateway:GET`` (the IAM action is the HTTP verb)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import apigateway as declared
from scanner.engine.records.apigateway import (
    ALLOW_ORIGIN,
    ApiResource,
    MethodSettings,
    RestApi,
    Stage,
    UsagePlan,
    stage_ref,
)
from scanner.model import ReadError, UnreadableResource

PAGE_SIZE = {"PageSize": 500}
"""The largest page GetRestApis, GetUsagePlans, GetUsagePlanKeys and GetResources allow."""


DEFAULT_SETTING = "*/*"
"""The methodSettings key of a stage's default method setting."""


def api_listing(scope: RegionScope) -> dict[str, RestApi]:
    """Every REST API in the region by id, in or out of scope (stages judge scope themselves)."""
    apis = scope.pages("apigateway", "get_rest_apis", "items", PaginationConfig=PAGE_SIZE)
    return {
        api["id"]: RestApi(
            api_id=api["id"],
            name=api.get("name") or api["id"],
            region=scope.region,
            tags=dict(api.get("tags") or {}),
        )
        for api in apis
    }


def rest_apis(scope: RegionScope) -> list[RestApi]:
    """The REST APIs the baseline scope admits (by API name and API tags)."""
    return [
        api
        for api in scope.get(declared.api_listing).values()
        if scope.scope.includes(api.name, api.tags)
    ]


def stages(scope: RegionScope) -> list[Stage | UnreadableResource]:
    """Every deployed stage in scope: its name is ``<api name>/<stage>``, its tags the API's
    overlaid by the stage's. An API whose stages cannot be read is listed as ``<api-id>/*``."""
    apis = list(scope.get(declared.api_listing).values())

    def read(api: RestApi) -> list[Stage | UnreadableResource]:
        response = scope.attempt(
            lambda: scope.call("apigateway", "get_stages", restApiId=api.api_id)
        )
        if isinstance(response, ReadError):
            return [
                UnreadableResource(
                    ref=stage_ref(scope.region, api.api_id, "*"),
                    error=response,
                    what="the API's stages",
                )
            ]
        listed: list[Stage | UnreadableResource] = []
        for item in response.get("item", []):
            if not item.get("deploymentId"):
                continue  # not deployed: nothing is served, nothing to judge
            stage = _stage(scope.region, api, item)
            if scope.scope.includes(stage.name, {**(api.tags or {}), **(stage.tags or {})}):
                listed.append(stage)
        return listed

    return [stage for listed in scope.map(read, apis) for stage in listed]


def _stage(region: str, api: RestApi, item: Mapping[str, Any]) -> Stage:
    default = (item.get("methodSettings") or {}).get(DEFAULT_SETTING)
    return Stage(
        api_id=api.api_id,
        api_name=api.name,
        stage_name=item["stageName"],
        region=region,
        deployment_id=item["deploymentId"],
        default_settings=None
        if default is None
        else MethodSettings(
            rate_limit=default.get("throttlingRateLimit"),
            burst_limit=default.get("throttlingBurstLimit"),
            logging_level=default.get("loggingLevel"),
        ),
        access_log_destination=(item.get("accessLogSettings") or {}).get("destinationArn") or None,
        tags=dict(item.get("tags") or {}),
    )


def usage_plans(scope: RegionScope) -> list[UsagePlan]:
    """Every usage plan in the region with its throttle, quota and API stages."""
    plans = scope.pages("apigateway", "get_usage_plans", "items", PaginationConfig=PAGE_SIZE)
    return [_usage_plan(scope.region, plan) for plan in plans]


def _usage_plan(region: str, plan: Mapping[str, Any]) -> UsagePlan:
    throttle = plan.get("throttle") or {}
    quota = plan.get("quota") or {}
    return UsagePlan(
        plan_id=plan["id"],
        name=plan.get("name") or plan["id"],
        region=region,
        api_stages=tuple(
            (entry["apiId"], entry["stage"])
            for entry in plan.get("apiStages", [])
            if entry.get("apiId") and entry.get("stage")
        ),
        rate_limit=throttle.get("rateLimit"),
        burst_limit=throttle.get("burstLimit"),
        quota_limit=quota.get("limit"),
        quota_period=quota.get("period"),
        tags=dict(plan.get("tags") or {}),
    )


def usage_plan_keys(scope: RegionScope) -> dict[str, bool | ReadError]:
    """Whether each usage plan covering a stage in scope has at least one API key.

    GetUsagePlanKeys returns each key's value with it: pages of one key are asked for, only the
    presence of a key is kept, and the listing stops at the first key found.
    """
    in_scope = {
        (stage.api_id, stage.stage_name)
        for stage in scope.get(declared.stages)
        if isinstance(stage, Stage)
    }
    plan_ids = [
        plan.plan_id
        for plan in scope.get(declared.usage_plans)
        if in_scope.intersection(plan.api_stages)
    ]

    def read(plan_id: str) -> bool | ReadError:
        def first_key() -> bool:
            keys = scope.pages(
                "apigateway",
                "get_usage_plan_keys",
                "items",
                usagePlanId=plan_id,
                PaginationConfig={"PageSize": 1},
            )
            return next(iter(keys), None) is not None

        return scope.attempt(first_key)

    return dict(zip(plan_ids, scope.map(read, plan_ids), strict=True))


def _api_resource(item: Mapping[str, Any]) -> ApiResource:
    methods = item.get("resourceMethods") or {}
    verbs = tuple(sorted({verb.upper() for verb in methods}))
    options = next((m for verb, m in methods.items() if verb.upper() == "OPTIONS"), None) or {}
    integration = options.get("methodIntegration")
    embedded = None if integration is None else integration.get("integrationResponses")
    origins: Mapping[str, str | None] | None = {}
    if embedded is not None:
        origins = {
            status: (response.get("responseParameters") or {}).get(ALLOW_ORIGIN)
            for status, response in embedded.items()
        }
    elif options.get("methodResponses"):
        origins = None  # not embedded: read with GetIntegrationResponse
    return ApiResource(
        resource_id=item["id"],
        verbs=verbs,
        options_origins=origins,
        options_statuses=tuple(options.get("methodResponses") or ()),
    )


def resources(scope: RegionScope) -> dict[str, Mapping[str, ApiResource] | UnreadableResource]:
    """GetResources (methods embedded) per REST API in scope: {api id: {path: resource}}."""
    apis = scope.get(declared.rest_apis)

    def read(api: RestApi) -> Mapping[str, ApiResource] | UnreadableResource:
        api_id = api.api_id

        def paths() -> dict[str, ApiResource]:
            items = scope.pages(
                "apigateway",
                "get_resources",
                "items",
                restApiId=api_id,
                embed=["methods"],
                PaginationConfig=PAGE_SIZE,
            )
            return {item["path"]: _api_resource(item) for item in items if item.get("path")}

        found = scope.attempt(paths)
        if isinstance(found, ReadError):
            return UnreadableResource(ref=api.ref, error=found, what="the API's resources")
        return found

    api_ids = [api.api_id for api in apis]
    return dict(zip(api_ids, scope.map(read, apis), strict=True))


def cors_origins(
    scope: RegionScope,
) -> dict[str, Mapping[str, tuple[str, ...]] | UnreadableResource]:
    """The Access-Control-Allow-Origin values each resource's OPTIONS method sets, by API id
    and path (resources without OPTIONS are left out).

    They come embedded in GetResources; where they do not, GetIntegrationResponse reads each
    of the OPTIONS method's response status codes (NotFoundException: no integration, or no
    integration response for that status, so no origin).
    """
    listed = scope.get(declared.resources)
    apis = {api.api_id: api for api in scope.get(declared.rest_apis)}

    def origins_of(api_id: str, resource: ApiResource) -> tuple[str, ...] | ReadError:
        by_status = resource.options_origins
        if by_status is None:
            by_status = {}
            for status in resource.options_statuses:
                response = scope.attempt(
                    partial(
                        scope.call,
                        "apigateway",
                        "get_integration_response",
                        restApiId=api_id,
                        resourceId=resource.resource_id,
                        httpMethod="OPTIONS",
                        statusCode=status,
                    )
                )
                if isinstance(response, ReadError):
                    if response.code == "NotFoundException":
                        continue
                    return response
                by_status[status] = (response.get("responseParameters") or {}).get(ALLOW_ORIGIN)
        return tuple(origin for origin in by_status.values() if origin is not None)

    def read(api_id: str) -> Mapping[str, tuple[str, ...]] | UnreadableResource:
        paths = listed[api_id]
        if isinstance(paths, UnreadableResource):
            return paths
        found = {}
        for path, resource in paths.items():
            if "OPTIONS" in resource.verbs:
                origins = origins_of(api_id, resource)
                if isinstance(origins, ReadError):
                    return UnreadableResource(
                        ref=apis[api_id].ref,
                        error=origins,
                        what="the integration responses of its OPTIONS methods",
                    )
                found[path] = origins
        return found

    api_ids = list(listed)
    return dict(zip(api_ids, scope.map(read, api_ids), strict=True))
