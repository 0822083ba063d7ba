"""API Gateway REST API controls: stage throttling and logging, usage plans, routes, CORS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from scanner.engine.compliance import APIGATEWAY_1, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import apigateway
from scanner.engine.records.apigateway import ApiResource, Stage, UsagePlan
from scanner.engine.registry import Param, Params, check
from scanner.model import (
    Outcome,
    ReadError,
    Severity,
    failed,
    passed,
    unreadable,
)

ROUTE_PATTERN = r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /\S*$"


def _limit(value: float | None) -> float | None:
    """A throttling value that limits anything: absent or negative (-1, disabled) is None."""
    return None if value is None or value < 0 else value


@check(
    id="apigateway.stage_throttling",
    severity=Severity.HIGH,
    title="API Gateway stages throttle requests by default",
    description=(
        "The stage's default method setting (methodSettings '*/*') sets both a rate limit and "
        "a burst limit, each at most the baseline's. Without them a stage only has the "
        "account-wide limit, so one client can exhaust it for every API in the account. "
        "Per-method overrides and usage-plan throttles are not judged here; a limit of 0 "
        "passes (it is within the maximum) but blocks every request."
    ),
    remediation=(
        "aws apigateway update-stage --rest-api-id <id> --stage-name <stage> --patch-operations "
        "op=replace,path=/*/*/throttling/rateLimit,value=<rate> "
        "op=replace,path=/*/*/throttling/burstLimit,value=<burst>"
    ),
    rationale=(
        "Without a default rate limit one client or bot can exhaust the backend and the "
        "account's API Gateway quota."
    ),
    cfn_property=(
        "AWS::ApiGateway::Stage MethodSettings: [{ResourcePath: /*, HttpMethod: '*', "
        "ThrottlingRateLimit, ThrottlingBurstLimit}]"
    ),
    reads=[apigateway.stages],
    params=[
        Param(
            name="max_rate",
            default=1000,
            schema={"type": "number", "minimum": 0},
            description="highest default rate limit allowed, requests per second",
        ),
        Param(
            name="max_burst",
            default=2000,
            schema={"type": "integer", "minimum": 0},
            description="highest default burst limit allowed, requests",
        ),
    ],
    compliance=Compliance.none("no Security Hub control judges stage throttling"),
)
def stage_throttling(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    max_rate, max_burst = params["max_rate"], params["max_burst"]
    for stage in inputs[apigateway.stages]:
        settings = stage.default_settings
        if settings is None:
            yield failed(
                stage.ref,
                f"stage {stage.stage_id}: no default throttling (no '*/*' method setting)",
                methodSettings=None,
            )
            continue
        rate, burst = _limit(settings.rate_limit), _limit(settings.burst_limit)
        evidence = {
            "throttlingRateLimit": settings.rate_limit,
            "throttlingBurstLimit": settings.burst_limit,
        }
        problems = []
        if rate is None:
            problems.append("no default rate limit")
        elif rate > max_rate:
            problems.append(f"rate limit {rate:g}/s above the baseline's {max_rate}")
        if burst is None:
            problems.append("no default burst limit")
        elif burst > max_burst:
            problems.append(f"burst limit {burst:g} above the baseline's {max_burst}")
        if problems:
            yield failed(stage.ref, f"stage {stage.stage_id}: {'; '.join(problems)}", **evidence)
        else:
            note = " (a limit of 0 rejects every request)" if 0 in (rate, burst) else ""
            yield passed(
                stage.ref,
                f"stage {stage.stage_id} throttles at {rate:g}/s, burst {burst:g}{note}",
                **evidence,
            )


@check(
    id="apigateway.stage_execution_logging",
    severity=Severity.MEDIUM,
    title="API Gateway stages log execution at INFO or ERROR",
    description=(
        "The stage's default method setting (methodSettings '*/*') logs to CloudWatch at "
        "INFO or ERROR level. Without execution logs, failed requests and integration "
        "errors cannot be investigated. Per-method overrides are not judged."
    ),
    remediation=(
        "aws apigateway update-stage --rest-api-id <id> --stage-name <stage> --patch-operations "
        "op=replace,path=/*/*/logging/loglevel,value=ERROR"
    ),
    rationale=(
        "Execution logs are how integration errors and latency are diagnosed; without them "
        "failures are invisible."
    ),
    cfn_property=(
        "AWS::ApiGateway::Stage MethodSettings: [{ResourcePath: /*, HttpMethod: '*', "
        "LoggingLevel: INFO}]"
    ),
    reads=[apigateway.stages],
    compliance=Compliance(
        same_as=(APIGATEWAY_1,),
        note=(
            "judges the stage's default method setting; APIGateway.1 judges every method, so a"
            " per-method override that turns logging off fails it only"
        ),
    ),
)
def stage_execution_logging(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for stage in inputs[apigateway.stages]:
        level = stage.default_settings.logging_level if stage.default_settings else None
        if level in ("INFO", "ERROR"):
            yield passed(stage.ref, f"stage {stage.stage_id} logs at {level}", loggingLevel=level)
        else:
            observed = f"is {level}" if level else "is not set"
            yield failed(
                stage.ref,
                f"stage {stage.stage_id}: execution logging {observed}",
                loggingLevel=level,
            )


@check(
    id="apigateway.stage_access_logging",
    severity=Severity.MEDIUM,
    title="API Gateway stages write access logs",
    description=(
        "The stage's accessLogSettings names a destination (a CloudWatch log group or a "
        "Firehose stream), so every request is recorded with its caller. The log format "
        "and whether the destination exists are not judged."
    ),
    remediation=(
        "aws apigateway update-stage --rest-api-id <id> --stage-name <stage> --patch-operations "
        "op=replace,path=/accessLogSettings/destinationArn,value=<log-group-arn> "
        "op=replace,path=/accessLogSettings/format,value='$context.requestId'"
    ),
    rationale=(
        "Without access logs there is no record of who called the API, which incident response "
        "and audits need."
    ),
    cfn_property="AWS::ApiGateway::Stage AccessLogSetting: {DestinationArn, Format}",
    reads=[apigateway.stages],
    compliance=Compliance.none(
        "APIGateway.9 judges access logging of API Gateway V2 (HTTP, WebSocket) stages only;"
        " Security Hub has no access-logging control for the REST API stages judged here"
    ),
)
def stage_access_logging(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for stage in inputs[apigateway.stages]:
        if stage.access_log_destination:
            yield passed(
                stage.ref,
                f"stage {stage.stage_id} writes access logs to {stage.access_log_destination}",
                destinationArn=stage.access_log_destination,
            )
        else:
            yield failed(
                stage.ref,
                f"stage {stage.stage_id} has no access log destination",
                destinationArn=None,
            )


def _plan_problems(
    plan: UsagePlan, has_key: bool | ReadError | None, max_quota: int, period: str
) -> list[str]:
    """What keeps a usage plan from meeting the baseline (empty: it meets it)."""
    problems = []
    if plan.rate_limit is None or plan.burst_limit is None:
        problems.append("has no throttle")
    if plan.quota_limit is None:
        problems.append("has no quota")
    else:
        if plan.quota_limit > max_quota:
            problems.append(f"has quota {plan.quota_limit}/{plan.quota_period}, above {max_quota}")
        if plan.quota_period != period:
            problems.append(f"counts its quota per {plan.quota_period}, not per {period}")
    if has_key is False:
        problems.append("has no API key")
    return problems


def _has_key(keys: Mapping[str, object], plan: UsagePlan) -> bool | ReadError | None:
    """Whether the plan has an API key (None: not read), or why that could not be read."""
    found = keys.get(plan.plan_id)
    return found if isinstance(found, bool | ReadError) else None


def _judge_stage(
    stage: Stage, plans: Sequence[UsagePlan], keys: Mapping[str, object], params: Params
) -> Outcome:
    covering = [p for p in plans if (stage.api_id, stage.stage_name) in p.api_stages]
    if not covering:
        return failed(stage.ref, f"stage {stage.stage_id} is in no usage plan", usagePlans=[])
    evidence = [
        {
            "id": p.plan_id,
            "throttle": {"rateLimit": p.rate_limit, "burstLimit": p.burst_limit},
            "quota": {"limit": p.quota_limit, "period": p.quota_period},
            "hasApiKey": keys.get(p.plan_id) if isinstance(keys.get(p.plan_id), bool) else None,
        }
        for p in covering
    ]
    verdicts = [
        (p, _plan_problems(p, _has_key(keys, p), params["max_quota"], params["quota_period"]))
        for p in covering
    ]
    for plan, problems in verdicts:
        if not problems and keys.get(plan.plan_id) is True:
            return passed(
                stage.ref,
                f"stage {stage.stage_id} is in usage plan {plan.label} with a throttle, "
                f"quota {plan.quota_limit}/{plan.quota_period} and an API key",
                usagePlans=evidence,
            )
    for plan, problems in verdicts:
        key_error = _has_key(keys, plan)
        if not problems and isinstance(key_error, ReadError):
            return unreadable(stage.ref, key_error, f"the API keys of usage plan {plan.label}")
    reasons = "; ".join(f"plan {p.label} {', '.join(problems)}" for p, problems in verdicts)
    return failed(stage.ref, f"stage {stage.stage_id}: {reasons}", usagePlans=evidence)


@check(
    id="apigateway.usage_plan_quota",
    severity=Severity.MEDIUM,
    title="API Gateway stages belong to a throttled usage plan with a quota and API keys",
    description=(
        "At least one usage plan lists the stage and has a throttle (rate and burst), a "
        "quota of at most max_quota requests per quota_period, and at least one API key. "
        "This bounds what each client may spend. Whether methods require an API key, and "
        "per-method throttles within a plan, are not judged."
    ),
    remediation=(
        "aws apigateway create-usage-plan --name <name> --api-stages apiId=<id>,stage=<stage> "
        "--throttle rateLimit=<rate>,burstLimit=<burst> --quota limit=<n>,period=MONTH; "
        "aws apigateway create-usage-plan-key --usage-plan-id <plan> --key-id <key> "
        "--key-type API_KEY"
    ),
    rationale=(
        "API keys in a usage plan with a quota bound what any single consumer can use or cost."
    ),
    cfn_property=(
        "AWS::ApiGateway::UsagePlan ApiStages, Throttle, Quota; AWS::ApiGateway::UsagePlanKey"
    ),
    reads=[apigateway.stages, apigateway.usage_plans, apigateway.usage_plan_keys],
    partial_evidence=True,  # a plan whose API keys cannot be read is ERROR for its stages
    params=[
        Param(
            name="max_quota",
            default=100000,
            schema={"type": "integer", "minimum": 1},
            description="highest quota a usage plan may grant per quota_period, requests",
        ),
        Param(
            name="quota_period",
            default="MONTH",
            schema={"enum": ["DAY", "WEEK", "MONTH"]},
            description="the period the usage plan's quota must be counted over",
        ),
    ],
    compliance=Compliance.none("no Security Hub control judges usage plans, quotas or API keys"),
)
def usage_plan_quota(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    plans, keys = inputs[apigateway.usage_plans], inputs[apigateway.usage_plan_keys]
    for stage in inputs[apigateway.stages]:
        yield _judge_stage(stage, plans, keys, params)


def _route(route: str) -> tuple[str, str]:
    verb, _, path = route.partition(" ")
    path = path.strip()
    return verb.upper(), (path.rstrip("/") or "/")


def _exposes(routes: Mapping[str, ApiResource], verb: str, path: str) -> bool:
    resource = routes.get(path)
    verbs = resource.verbs if resource else ()
    return verb in verbs or "ANY" in verbs


@check(
    id="apigateway.required_routes",
    severity=Severity.LOW,
    title="REST APIs expose the routes the baseline requires",
    description=(
        "Each REST API in scope has every route the baseline lists (e.g. 'GET /health'): a "
        "resource with that path whose methods include the verb or ANY. Health and status "
        "routes are what load balancers and monitors call. Off until routes are configured; "
        "whether the route is deployed to a stage is not judged."
    ),
    remediation=(
        "aws apigateway create-resource ...; aws apigateway put-method ...; "
        "aws apigateway create-deployment --rest-api-id <id> --stage-name <stage>"
    ),
    rationale=(
        "Health checks and callers depend on these routes; a missing one breaks load balancer "
        "checks or clients after a deploy."
    ),
    cfn_property=(
        "AWS::ApiGateway::Resource PathPart with an AWS::ApiGateway::Method HttpMethod for each"
        " route"
    ),
    reads=[apigateway.rest_apis, apigateway.resources],
    params=[
        Param(
            name="routes",
            default=[],
            schema={"type": "array", "items": {"type": "string", "pattern": ROUTE_PATTERN}},
            description="routes every REST API must expose, as 'VERB /path'; [] turns it off",
        )
    ],
    configured_by="routes",
    compliance=Compliance.none(
        "a functional check of the baseline's routes, no security requirement"
    ),
)
def required_routes(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    required = [_route(route) for route in params["routes"]]
    if not required:
        return
    found = inputs[apigateway.resources]
    for api in inputs[apigateway.rest_apis]:
        routes = found[api.api_id]
        wanted = [f"{verb} {path}" for verb, path in required]
        missing = [f"{verb} {path}" for verb, path in required if not _exposes(routes, verb, path)]
        if missing:
            message = f"API {api.name} lacks {', '.join(missing)}"
            yield failed(api.ref, message, missing=missing, required=wanted)
        else:
            yield passed(api.ref, f"API {api.name} exposes {', '.join(wanted)}", required=wanted)


ORIGIN_PATTERN = r"^https?://[^\s/*]+$"
"""An origin as browsers send it: scheme, host and optional port; no path, no wildcard."""


def _literal(value: str) -> str | None:
    """The origin a header value names: API Gateway stores a literal quoted
    (``'https://a.example'``); anything else maps a request or backend value (None)."""
    value = value.strip()
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else None


def approved_origin(value: str, allowed: set[str]) -> bool:
    """Whether a header value as stored allows one of ``allowed`` (never "*")."""
    origin = _literal(value)
    return origin is not None and origin != "*" and origin in allowed


def _cors_problems(
    resources: Mapping[str, ApiResource], origins: Mapping[str, tuple[str, ...]], allowed: set[str]
) -> dict[str, str]:
    """What is wrong with each resource that serves a method other than OPTIONS, by path."""
    problems = {}
    for path, resource in sorted(resources.items()):
        if not set(resource.verbs) - {"OPTIONS"}:
            continue
        if "OPTIONS" not in resource.verbs:
            problems[path] = "has no OPTIONS method"
        elif not (set_origins := origins.get(path, ())):
            problems[path] = "OPTIONS sets no Access-Control-Allow-Origin"
        elif refused := [value for value in set_origins if not approved_origin(value, allowed)]:
            problems[path] = f"OPTIONS allows origin {', '.join(refused)}"
    return problems


@check(
    id="apigateway.cors_restricted",
    severity=Severity.MEDIUM,
    title="REST APIs answer CORS preflights only for the approved origins",
    description=(
        "One finding per REST API: every resource that has a method other than OPTIONS also "
        "has an OPTIONS method whose integration responses set Access-Control-Allow-Origin, "
        "each to an origin listed in `allowed_origins`. '*' never passes, whatever the "
        "baseline lists; a value mapped from the request or backend (not a quoted literal) "
        "is not an approved origin either. Read from GetResources with its methods embedded, "
        "and GetIntegrationResponse where they are not. CORS headers set by a proxy "
        "integration's backend (Lambda) are not seen. Off until allowed_origins is configured."
    ),
    remediation=(
        "aws apigateway put-integration-response --rest-api-id <id> --resource-id <resource> "
        "--http-method OPTIONS --status-code 200 --response-parameters "
        "\"method.response.header.Access-Control-Allow-Origin='https://app.example.com'\", "
        "then aws apigateway create-deployment --rest-api-id <id> --stage-name <stage>"
    ),
    rationale=(
        "A wildcard or missing origin policy lets any web page call the API from a user's "
        "browser, or breaks the approved front end."
    ),
    cfn_property=(
        "AWS::ApiGateway::Method (HttpMethod OPTIONS) Integration.IntegrationResponses[]."
        "ResponseParameters method.response.header.Access-Control-Allow-Origin"
    ),
    reads=[apigateway.rest_apis, apigateway.resources, apigateway.cors_origins],
    params=[
        Param(
            name="allowed_origins",
            default=[],
            schema={"type": "array", "items": {"type": "string", "pattern": ORIGIN_PATTERN}},
            description=(
                "origins a preflight may allow, e.g. 'https://app.example.com'; [] turns it off"
            ),
        )
    ],
    configured_by="allowed_origins",
    compliance=Compliance.none("no Security Hub control judges CORS origins"),
)
def cors_restricted(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    allowed = set(params["allowed_origins"])
    if not allowed:
        return
    found, cors = inputs[apigateway.resources], inputs[apigateway.cors_origins]
    for api in inputs[apigateway.rest_apis]:
        origins = cors[api.api_id]
        problems = _cors_problems(found[api.api_id], origins, allowed)
        evidence = {"origins": dict(origins), "allowed_origins": sorted(allowed)}
        if problems:
            named = "; ".join(f"{path} {problem}" for path, problem in problems.items())
            yield failed(api.ref, f"API {api.name}: {named}", problems=problems, **evidence)
        else:
            message = f"API {api.name}: every resource's OPTIONS allows only approved origins"
            yield passed(api.ref, message, **evidence)
