"""API Gateway REST APIs: APIs, their stages, usage plans with their keys, resources with their
methods, and the CORS origins their OPTIONS methods allow.

API Gateway authorises every read as ``apigateway:GET`` (the IAM action is the HTTP verb).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from scanner.inventory import RegionScope, collector
from scanner.model import ReadError, ResourceRef, UnreadableResource

ACTIONS = ["apigateway:GET"]
PAGE_SIZE = {"PageSize": 500}
"""The largest page GetRestApis, GetUsagePlans, GetUsagePlanKeys and GetResources allow."""
DEFAULT_SETTING = "*/*"
"""The methodSettings key of a stage's default method setting."""


@dataclass(frozen=True, kw_only=True)
class RestApi:
    api_id: str
    name: str
    region: str
    tags: Mapping[str, str] | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:apigateway:{self.region}::/restapis/{self.api_id}"

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::ApiGateway::RestApi", id=self.api_id, arn=self.arn)


@dataclass(frozen=True, kw_only=True)
class MethodSettings:
    """The throttling and logging fields of one methodSettings entry, as AWS returned them."""

    rate_limit: float | None = None
    """throttlingRateLimit (requests per second); None when absent, negative = disabled."""
    burst_limit: int | None = None
    """throttlingBurstLimit; None when absent, negative = disabled."""
    logging_level: str | None = None
    """loggingLevel: ``OFF``, ``ERROR`` or ``INFO``; None when absent."""


@dataclass(frozen=True, kw_only=True)
class Stage:
    api_id: str
    api_name: str
    stage_name: str
    region: str
    deployment_id: str
    default_settings: MethodSettings | None
    """methodSettings["*/*"], or None when the stage has no default method setting."""
    access_log_destination: str | None
    """accessLogSettings.destinationArn, or None."""
    tags: Mapping[str, str] | None = None
    """The stage's own tags (GetStages); scope also counts the API's tags."""

    @property
    def name(self) -> str:
        return f"{self.api_name}/{self.stage_name}"

    @property
    def stage_id(self) -> str:
        return f"{self.api_id}/{self.stage_name}"

    @property
    def ref(self) -> ResourceRef:
        return stage_ref(self.region, self.api_id, self.stage_name)


def stage_ref(region: str, api_id: str, stage_name: str) -> ResourceRef:
    return ResourceRef(
        type="AWS::ApiGateway::Stage",
        id=f"{api_id}/{stage_name}",
        arn=f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{stage_name}",
    )


@dataclass(frozen=True, kw_only=True)
class UsagePlan:
    plan_id: str
    name: str
    region: str
    api_stages: tuple[tuple[str, str], ...]
    """(apiId, stage) pairs the plan covers."""
    rate_limit: float | None = None
    """throttle.rateLimit; None when the plan has no throttle or no rate."""
    burst_limit: int | None = None
    quota_limit: int | None = None
    """quota.limit; None when the plan has no quota."""
    quota_period: str | None = None
    """quota.period: ``DAY``, ``WEEK`` or ``MONTH``."""
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(
            type="AWS::ApiGateway::UsagePlan",
            id=self.plan_id,
            arn=f"arn:aws:apigateway:{self.region}::/usageplans/{self.plan_id}",
        )

    @property
    def label(self) -> str:
        return f"{self.name} ({self.plan_id})" if self.name != self.plan_id else self.plan_id


@collector(name="apigateway.api_listing", resource_type="AWS::ApiGateway::RestApi", actions=ACTIONS)
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


@collector(
    name="apigateway.rest_apis",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[api_listing],
)
def rest_apis(scope: RegionScope) -> list[RestApi]:
    """The REST APIs the baseline scope admits (by API name and API tags)."""
    return [
        api for api in scope.get(api_listing).values() if scope.scope.includes(api.name, api.tags)
    ]


@collector(
    name="apigateway.stages",
    resource_type="AWS::ApiGateway::Stage",
    actions=ACTIONS,
    requires=[api_listing],
)
def stages(scope: RegionScope) -> list[Stage | UnreadableResource]:
    """Every deployed stage in scope: its name is ``<api name>/<stage>``, its tags the API's
    overlaid by the stage's. An API whose stages cannot be read is listed as ``<api-id>/*``."""
    apis = list(scope.get(api_listing).values())

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


@collector(
    name="apigateway.usage_plans", resource_type="AWS::ApiGateway::UsagePlan", actions=ACTIONS
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


@collector(
    name="apigateway.usage_plan_keys",
    resource_type="AWS::ApiGateway::UsagePlan",
    actions=ACTIONS,
    requires=[usage_plans, stages],
)
def usage_plan_keys(scope: RegionScope) -> dict[str, bool | ReadError]:
    """Whether each usage plan covering a stage in scope has at least one API key.

    GetUsagePlanKeys returns each key's value with it: pages of one key are asked for, only the
    presence of a key is kept, and the listing stops at the first key found.
    """
    in_scope = {
        (stage.api_id, stage.stage_name) for stage in scope.get(stages) if isinstance(stage, Stage)
    }
    plan_ids = [
        plan.plan_id for plan in scope.get(usage_plans) if in_scope.intersection(plan.api_stages)
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


ALLOW_ORIGIN = "method.response.header.Access-Control-Allow-Origin"
"""The integration response parameter that sets a CORS preflight's allowed origin."""


@dataclass(frozen=True, kw_only=True)
class ApiResource:
    """One resource of a REST API, from GetResources with its methods embedded."""

    resource_id: str
    verbs: tuple[str, ...]
    """The HTTP verbs of its methods (``ANY``, ``GET``, ``OPTIONS``...), sorted: a snapshot
    of the same resource is the same JSON in every scan."""
    options_origins: Mapping[str, str | None] | None = None
    """The OPTIONS method's integration responses: status code -> the
    Access-Control-Allow-Origin value it sets, as stored (a quoted literal such as
    ``'https://app.example.com'``), None when it sets none. Empty without an OPTIONS
    method or integration; None when GetResources did not embed them (``cors_origins``
    then asks GetIntegrationResponse)."""
    options_statuses: tuple[str, ...] = ()
    """The OPTIONS method's method response status codes."""


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


@collector(
    name="apigateway.resources",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[rest_apis],
)
def resources(scope: RegionScope) -> dict[str, Mapping[str, ApiResource] | UnreadableResource]:
    """GetResources (methods embedded) per REST API in scope: {api id: {path: resource}}."""
    apis = scope.get(rest_apis)

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


@collector(
    name="apigateway.cors_origins",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[rest_apis, resources],
)
def cors_origins(
    scope: RegionScope,
) -> dict[str, Mapping[str, tuple[str, ...]] | UnreadableResource]:
    """The Access-Control-Allow-Origin values each resource's OPTIONS method sets, by API id
    and path (resources without OPTIONS are left out).

    They come embedded in GetResources; where they do not, GetIntegrationResponse reads each
    of the OPTIONS method's response status codes (NotFoundException: no integration, or no
    integration response for that status, so no origin).
    """
    listed = scope.get(resources)
    apis = {api.api_id: api for api in scope.get(rest_apis)}

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
