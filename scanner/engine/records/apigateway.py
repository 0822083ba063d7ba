"""API Gateway REST APIs: APIs, their stages, usage plans with their keys, resources with their
methods, and the CORS origins their OPTIONS methods allow. Their records and collector
declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/apigateway.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ReadError, ResourceRef, UnreadableResource

ACTIONS = ["apigateway:GET"]


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


api_listing: Collector[dict[str, RestApi]] = declare(
    "apigateway.api_listing",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    fetch="scanner.engine.collectors.apigateway:api_listing",
)
"""Every REST API in the region by id, in or out of scope (stages judge scope themselves)."""


rest_apis: Collector[list[RestApi]] = declare(
    "apigateway.rest_apis",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[api_listing],
    fetch="scanner.engine.collectors.apigateway:rest_apis",
)
"""The REST APIs the baseline scope admits (by API name and API tags)."""


stages: Collector[list[Stage | UnreadableResource]] = declare(
    "apigateway.stages",
    resource_type="AWS::ApiGateway::Stage",
    actions=ACTIONS,
    requires=[api_listing],
    fetch="scanner.engine.collectors.apigateway:stages",
)
"""Every deployed stage in scope: its name is ``<api name>/<stage>``, its tags the API's
overlaid by the stage's. An API whose stages cannot be read is listed as ``<api-id>/*``."""


usage_plans: Collector[list[UsagePlan]] = declare(
    "apigateway.usage_plans",
    resource_type="AWS::ApiGateway::UsagePlan",
    actions=ACTIONS,
    fetch="scanner.engine.collectors.apigateway:usage_plans",
)
"""Every usage plan in the region with its throttle, quota and API stages."""


usage_plan_keys: Collector[dict[str, bool | ReadError]] = declare(
    "apigateway.usage_plan_keys",
    resource_type="AWS::ApiGateway::UsagePlan",
    actions=ACTIONS,
    requires=[usage_plans, stages],
    fetch="scanner.engine.collectors.apigateway:usage_plan_keys",
)
"""Whether each usage plan covering a stage in scope has at least one API key."""


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


resources: Collector[dict[str, Mapping[str, ApiResource] | UnreadableResource]] = declare(
    "apigateway.resources",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[rest_apis],
    fetch="scanner.engine.collectors.apigateway:resources",
)
"""GetResources (methods embedded) per REST API in scope: {api id: {path: resource}}."""


cors_origins: Collector[dict[str, Mapping[str, tuple[str, ...]] | UnreadableResource]] = declare(
    "apigateway.cors_origins",
    resource_type="AWS::ApiGateway::RestApi",
    actions=ACTIONS,
    requires=[rest_apis, resources],
    fetch="scanner.engine.collectors.apigateway:cors_origins",
)
"""The Access-Control-Allow-Origin values each resource's OPTIONS method sets, by API id
and path (resources without OPTIONS are left out)."""
