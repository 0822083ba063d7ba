"""The driftscan command line. Commands are thin: the work lives in scanner/ and reports/."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from tabulate import tabulate

from reports import OutputFormat, renderer_for
from scanner import __version__
from scanner.app.config import (
    Baseline,
    baseline_schema,
    build_plan,
    default_baseline_yaml,
    load_baseline,
    load_suppressions,
    parse_baseline,
)
from scanner.app.executors import ExecutorKind, scheduler_address
from scanner.app.iam_policy import delivery_statements, policy_document
from scanner.app.pipeline import (
    Interrupted,
    LogFormat,
    ScanRequest,
    emit,
    execute,
    say,
    text_log_handler,
    transports_for,
    trend,
    use_log_format,
    with_cfn_drift,
)
from scanner.app.pipeline import send as send_findings
from scanner.cli.base import DriftscanGroup, DriftscanTyper, UsageProblem
from scanner.cli.history import (
    HistoryOpt,
    LockTimeoutOpt,
    diff_command,
    history_app,
    snapshot_app,
)
from scanner.cli.history import _open as open_store
from scanner.delivery import DeliveryOptions, check_destinations, parse_destination
from scanner.demo.stack import DEMO_BASELINE, DEMO_REGION, demo_account
from scanner.engine.accounts import DISCOVERY_REGION, AccountsRequest, enabled_regions
from scanner.engine.compliance import CIS_VERSION, Framework
from scanner.engine.registry import all_checks, get_check
from scanner.engine.runner import DEFAULT_WORKERS, FailOn, ScanPlan
from scanner.engine.session import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_TIMEOUT_SECONDS,
    IN_FLIGHT,
    AwsSession,
    SessionOptions,
    limit_malloc_arenas,
)
from scanner.errors import (
    EXIT_DELIVERY_PENDING,
    EXIT_FAILURES,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_UNSCANNABLE,
    EXIT_USAGE,
    ConfigError,
    DriftscanError,
)
from scanner.model import Severity
from scanner.output import ensure_writable, write_file
from scanner.store.history import HistoryError
from scanner.store.location import HistoryLocation, default_location
from scanner.textsafe import clip

EXIT_CODES_HELP = f"""
Exit codes: {EXIT_OK} complete, nothing failed at or above --fail-on;
{EXIT_FAILURES} at least one failing finding at or above --fail-on (with --fail-on new:
a failure the previous scan did not have, or configuration drift from --drift-from);
{EXIT_USAGE} bad usage or input (unknown option or check id, bad value, malformed baseline);
{EXIT_UNSCANNABLE} nothing could be scanned (no credentials, endpoint unreachable, another run
holds the history store, an installed control plugin cannot be loaded);
{EXIT_INCOMPLETE} the scan finished but some evidence could not be read (ERROR findings)
and nothing reached --fail-on;
{EXIT_DELIVERY_PENDING} --send could not deliver every finding (pending in the spool, or rejected)
and nothing reached --fail-on;
130 or 143 interrupted by SIGINT or SIGTERM: nothing half-written.
"""


class _Driftscan(DriftscanGroup):
    order = (
        "scan",
        "demo",
        "checks",
        "baseline",
        "diff",
        "history",
        "snapshot",
        "report",
        "export",
        "iam-policy",
    )
    """The order a user needs them in: scan (or try the demo), then what explains and tunes a
    scan, then what reads the recorded scans."""


app = DriftscanTyper(
    cls=_Driftscan,
    name="driftscan",
    help="Judge a live AWS account against the driftscan baseline (read-only).\n" + EXIT_CODES_HELP,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
checks_app = DriftscanTyper(help="List and explain the baseline's controls.")
baseline_app = DriftscanTyper(help="Write and validate baseline files.")
app.add_typer(checks_app, name="checks")
app.add_typer(baseline_app, name="baseline")
app.add_typer(history_app, name="history")
app.add_typer(snapshot_app, name="snapshot")
app.command("diff")(diff_command)

log = logging.getLogger("driftscan")


def _split(values: Sequence[str] | None) -> list[str]:
    """Accept both ``--checks a,b`` and ``--checks a --checks b``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


Regions = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        "-r",
        metavar="REGION",
        help="Region to scan; repeat for several. "
        "Default: the baseline's scope.regions, else the session's region.",
    ),
]
ChecksOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--checks",
        "-c",
        metavar="ID,...",
        help="Only these control ids (comma-separated or repeated).",
    ),
]
ServicesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--services",
        "-s",
        metavar="NAME,...",
        help="Only controls of these services, e.g. kms,rds.",
    ),
]
SeverityOpt = Annotated[
    Severity | None,
    typer.Option("--severity", help="Only controls of this severity or higher."),
]
ComplianceOpt = Annotated[
    Framework | None,
    typer.Option(
        "--compliance",
        metavar="FRAMEWORK",
        help="Only controls that evidence a requirement of this framework: fsbp (AWS "
        f"Foundational Security Best Practices), cis (CIS AWS Foundations Benchmark {CIS_VERSION}"
        "), nist-800-53 (NIST SP 800-53 Rev. 5).",
    ),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        "-b",
        metavar="FILE",
        help="Baseline file (YAML or JSON): parameters, "
        "controls turned off, scope. See `driftscan baseline init`.",
    ),
]
SuppressionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--suppressions",
        metavar="FILE",
        help="Suppressions file (YAML or JSON): failures accepted, with a reason and an "
        "optional expiry date, reported as MUTED and not counted for --fail-on.",
    ),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the report to FILE instead of stdout (a regular file is replaced "
        "atomically; a device or FIFO is written into).",
    ),
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a FAIL finding has this severity or higher; `new`: when a FAIL is new "
        "since the previous scan of the same scope, or the configuration drifted from "
        "--drift-from (needs the history store).",
    ),
]
WorkersOpt = Annotated[
    int,
    typer.Option("--workers", min=1, max=128, metavar="N", help="Concurrent API readers."),
]
InFlightOpt = Annotated[
    int | None,
    typer.Option(
        "--max-in-flight",
        min=1,
        max=128,
        metavar="N",
        help="At most this many requests in flight to one AWS service in one region. "
        f"Default: {DEFAULT_IN_FLIGHT}; "
        + ", ".join(f"{service} {n}" for service, n in sorted(IN_FLIGHT.items()))
        + ". Lower it when the account is near its API request quotas.",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=1,
        max=600,
        help="Seconds one attempt of an AWS request may take once connected, its whole answer "
        f"included (default {DEFAULT_TIMEOUT_SECONDS:g}). Failed attempts are retried: see "
        "README, Timeouts and retries, for the worst case.",
    ),
]
CfnDriftOpt = Annotated[
    bool,
    typer.Option(
        "--cfn-drift",
        help="Turn on cloudformation.stack_drift: starts a drift detection job per stack "
        "(DetectStackDrift, the one call that is not a read).",
    ),
]
JsonlOpt = Annotated[
    bool,
    typer.Option(
        "--jsonl", help="One JSON object a line instead of one document (formats ocsf, asff)."
    ),
]
CsvRawOpt = Annotated[
    bool,
    typer.Option(
        "--csv-raw",
        help="Write CSV cells exactly as read. By default a cell starting with = + - @ (or "
        "a tab or CR) gets a leading ' so that a spreadsheet shows it as text instead of "
        "running it as a formula.",
    ),
]
SendOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--send",
        metavar="DESTINATION",
        help="After writing the report, deliver the findings to splunk-hec://HOST[:PORT] "
        "(token from DRIFTSCAN_HEC_TOKEN), an https:// webhook (JSON Lines; optional bearer "
        "token from DRIFTSCAN_WEBHOOK_TOKEN), securityhub[:REGION], "
        "s3://BUCKET/PREFIX (one gzipped object per account and region; JSON Lines, or "
        "OCSF or ASFF lines with ?format=ocsf or ?format=asff) or "
        "security-lake://BUCKET/ext/SOURCE (OCSF Parquet; needs "
        "driftscan[securitylake]). Repeatable. What cannot be delivered is spooled and sent "
        "first next run.",
    ),
]
SseKmsKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--sse-kms-key",
        metavar="KEY",
        help="The KMS key (id, ARN or alias) that encrypts the objects of s3:// and "
        "security-lake:// destinations (SSE-KMS). Default: the bucket's default encryption.",
    ),
]
CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        help="PEM file of extra CA certificates to trust for --send (TLS is always verified).",
    ),
]
OnlyChangesOpt = Annotated[
    bool,
    typer.Option(
        "--only-changes",
        help="--send only findings that are new or changed (status or message) since the "
        "previous scan of the same scope in the history store. Findings gone since then are "
        "sent as resolved, with or without this option.",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", metavar="NAME", help="AWS profile from ~/.aws/config."),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        metavar="URL",
        help="Send every request here (LocalStack, a moto server).",
    ),
]

DriftFromOpt = Annotated[
    str | None,
    typer.Option(
        "--drift-from",
        metavar="approved|ID",
        help="Report every resource whose configuration changed since this scan "
        "(`approved`: the scope's approved snapshot), and every resource added or removed.",
    ),
]
NoAttributionOpt = Annotated[
    bool,
    typer.Option(
        "--no-attribution",
        help="Do not ask CloudTrail (LookupEvents) who changed each new failure and "
        "drifted resource since the previous scan in the history store.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No report on stdout (--output still written): one line per new problem, "
        "nothing when there is none. For cron.",
    ),
]


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"driftscan {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log progress; -vv logs API calls.")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            # Eager: printed while the options are parsed, before a command is required.
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, handlers=[text_log_handler()])
    # Never botocore's or urllib3's own debug lines: they hold request headers (the access key
    # id, session token, signature) and response bodies (whatever a resource holds). -vv logs
    # each API call from scanner.engine.session instead.
    for wire in ("botocore", "urllib3"):
        logging.getLogger(wire).setLevel(logging.WARNING)


@app.command(epilog=EXIT_CODES_HELP)
def scan(
    region: Regions = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    baseline: BaselineOpt = None,
    suppressions: SuppressionsOpt = None,
    checks: ChecksOpt = None,
    services: ServicesOpt = None,
    severity: SeverityOpt = None,
    compliance: ComplianceOpt = None,
    output_format: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.HIGH,
    workers: WorkersOpt = DEFAULT_WORKERS,
    max_in_flight: InFlightOpt = None,
    timeout: TimeoutOpt = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Scan the built-in demo account (needs the demo extra).")
    ] = False,
    jsonl: JsonlOpt = False,
    csv_raw: CsvRawOpt = False,
    send: SendOpt = None,
    ca_bundle: CaBundleOpt = None,
    sse_kms_key: SseKmsKeyOpt = None,
    only_changes: OnlyChangesOpt = False,
    history: HistoryOpt = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="Do not record the scan in the history store.")
    ] = False,
    drift_from: DriftFromOpt = None,
    no_attribution: NoAttributionOpt = False,
    quiet: QuietOpt = False,
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", help="Format of stderr lines and --quiet's lines."),
    ] = LogFormat.TEXT,
    lock_timeout: LockTimeoutOpt = 0,
    cfn_drift: CfnDriftOpt = False,
    role_name: Annotated[
        str | None,
        typer.Option(
            "--role-name",
            metavar="NAME",
            help="Scan other accounts through this IAM role (STS AssumeRole into each of "
            "--accounts or --organization).",
        ),
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--accounts",
            metavar="ID,...",
            help="With --role-name: these account ids (comma-separated).",
        ),
    ] = None,
    organization: Annotated[
        bool,
        typer.Option(
            "--organization",
            help="With --role-name: every ACTIVE account of the organization "
            "(Organizations ListAccounts; run from the management or a delegated account).",
        ),
    ] = False,
    external_id: Annotated[
        str | None,
        typer.Option("--external-id", metavar="ID", help="ExternalId to pass to AssumeRole."),
    ] = None,
    all_regions: Annotated[
        bool,
        typer.Option(
            "--all-regions",
            help="Scan every region enabled in the caller's account (EC2 DescribeRegions).",
        ),
    ] = False,
    exclude_regions: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-regions",
            metavar="REGION,...",
            help="Leave these regions out of --all-regions or --region.",
        ),
    ] = None,
    executor: Annotated[
        ExecutorKind,
        typer.Option(
            "--executor",
            help="Where the scan runs: `local` threads, or `dask`: a shard per account (per "
            "region of the workers' own account without --role-name) on the Dask cluster of "
            "--scheduler (needs the dask extra).",
        ),
    ] = ExecutorKind.LOCAL,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="With --executor dask: the Dask scheduler, e.g. tcp://10.0.0.5:8786.",
        ),
    ] = None,
) -> int:
    """Scan the account and report every control's findings."""
    use_log_format(log_format)
    if history is not None and no_history:
        raise ConfigError("--history and --no-history contradict each other")
    # The demo account is made up: it is recorded only in a store named explicitly.
    recorded = not no_history and (history is not None or not demo)
    request = ScanRequest(
        baseline=_demo_baseline(baseline) if demo else load_baseline(baseline),
        regions=tuple(_split(region)),
        check_ids=tuple(_split(checks)),
        service_names=tuple(_split(services)),
        min_severity=severity,
        framework=compliance,
        output_format=output_format,
        output=output,
        fail_on=fail_on,
        workers=workers,
        jsonl=jsonl,
        csv_raw=csv_raw,
        send=tuple(send or ()),
        ca_bundle=ca_bundle,
        sse_kms_key=sse_kms_key,
        only_changes=only_changes,
        history=(history or default_location()) if recorded else None,
        drift_from=drift_from,
        # The demo account is moto's, which has no CloudTrail event history to ask.
        attribution=not (no_attribution or demo),
        quiet=quiet,
        lock_timeout=lock_timeout,
        cfn_drift=cfn_drift,
        suppressions=load_suppressions(suppressions),
    )
    if role_name is None and (accounts or organization or external_id):
        raise ConfigError("--accounts, --organization and --external-id need --role-name")
    if role_name is not None:
        request = replace(
            request,
            accounts=AccountsRequest(
                role_name=role_name,
                account_ids=tuple(_split(accounts)),
                organization=organization,
                external_id=external_id,
            ),
        )
    if (executor is ExecutorKind.DASK) != (scheduler is not None):
        raise ConfigError("--executor dask and --scheduler ADDRESS go together")
    if scheduler is not None:
        if demo:
            raise ConfigError("--demo scans an in-process account: not on --executor dask")
        request = replace(request, scheduler=scheduler_address(scheduler))
    if all_regions and request.regions:
        raise ConfigError("--all-regions and --region contradict each other")
    if exclude_regions and not (all_regions or request.regions):
        raise ConfigError("--exclude-regions needs --all-regions or --region")
    if demo:
        if profile or role_name or all_regions or exclude_regions:
            raise ConfigError(
                "--demo scans the built-in account: --profile, --role-name, --all-regions "
                "and --exclude-regions do not apply to it"
            )
        return _scan_demo(request, max_in_flight)
    session = AwsSession(
        SessionOptions(
            profile=profile,
            endpoint_url=endpoint_url,
            max_in_flight=max_in_flight,
            timeout=timeout,
            record_requests=False,
        )
    )
    _checked_plan(request, known_regions=session.known_regions())
    session.require_credentials()
    if all_regions or exclude_regions:
        request = replace(
            request,
            regions=_regions(session, request.regions, all_regions, set(_split(exclude_regions))),
        )
    return execute(request, session, session.default_region)


def _regions(
    session: AwsSession, given: Sequence[str], all_regions: bool, excluded: set[str]
) -> tuple[str, ...]:
    """``--region`` or ``--all-regions`` (the scan checked they do not contradict each
    other), less ``--exclude-regions``."""
    regions = (
        enabled_regions(session, session.default_region or DISCOVERY_REGION)
        if all_regions
        else list(given)
    )
    kept = tuple(region for region in regions if region not in excluded)
    if not kept:
        raise ConfigError("--exclude-regions leaves no region to scan")
    return kept


@app.command(epilog=EXIT_CODES_HELP)
def demo(
    checks: ChecksOpt = None,
    services: ServicesOpt = None,
    severity: SeverityOpt = None,
    compliance: ComplianceOpt = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            "-b",
            metavar="FILE",
            help="Baseline file; default: the demo's own, which "
            "turns on every control (see `driftscan baseline init`).",
        ),
    ] = None,
    output_format: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.NEVER,
    workers: WorkersOpt = DEFAULT_WORKERS,
    max_in_flight: InFlightOpt = None,
    jsonl: JsonlOpt = False,
    csv_raw: CsvRawOpt = False,
    suppressions: SuppressionsOpt = None,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            metavar="FILE",
            help="Record the demo scan in this history store (SQLite), for `diff`, "
            "`snapshot approve`, --fail-on new and --drift-from. Without it nothing is recorded.",
        ),
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift",
            help="Before the scan, make console changes to the prod stack: key rotation off, "
            "a log group's retention lowered, 5432 open to 0.0.0.0/0, throttling removed.",
        ),
    ] = False,
    drift_from: DriftFromOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Build the reference stack in an in-process moto account (a compliant prod stack
    beside a broken stage one) and scan it: real output without AWS credentials. The
    account is the same on every run; --drift changes it as a console user would."""
    request = ScanRequest(
        baseline=_demo_baseline(baseline),
        suppressions=load_suppressions(suppressions),
        check_ids=tuple(_split(checks)),
        service_names=tuple(_split(services)),
        min_severity=severity,
        framework=compliance,
        output_format=output_format,
        output=output,
        fail_on=fail_on,
        workers=workers,
        jsonl=jsonl,
        csv_raw=csv_raw,
        history=HistoryLocation(path=history) if history else None,
        drift_from=drift_from,
        attribution=False,  # moto has no CloudTrail event history to ask
        quiet=quiet,
    )
    return _scan_demo(request, max_in_flight, drift=drift)


def _demo_baseline(path: Path | None) -> Baseline:
    """``--baseline``'s file, else the demo's own (it turns on every control)."""
    return load_baseline(path) if path else parse_baseline(DEMO_BASELINE, "demo baseline")


def _checked_plan(
    request: ScanRequest, *, demo: bool = False, known_regions: Collection[str] = ()
) -> ScanPlan:
    """The plan of what scan, demo or iam-policy was asked, once every flag and file of the
    request is known to be good: the one place that checks them, before any other I/O
    (credentials, the demo account, the history store opened), so that a typo exits 2 at
    once. The region may still be missing: it can come from the session, whose credentials
    are checked first."""
    if request.history is None and (request.fail_on is FailOn.NEW or request.drift_from):
        raise ConfigError(
            "--fail-on new and --drift-from read the history store: "
            + (
                "the demo records none unless `driftscan demo --history FILE` names one"
                if demo
                else "drop --no-history"
            )
        )
    _check_only_changes(
        request.only_changes, send=request.send, history=request.history is not None
    )
    regions = request.regions
    if demo:
        if set(regions) - {DEMO_REGION}:
            raise ConfigError(f"the demo account has one region, {DEMO_REGION}: drop --region")
        regions = known_regions = (DEMO_REGION,)
    plan = build_plan(
        with_cfn_drift(request.baseline) if request.cfn_drift else request.baseline,
        check_ids=request.check_ids,
        service_names=request.service_names,
        min_severity=request.min_severity,
        framework=request.framework,
        regions=regions,
        default_region=DISCOVERY_REGION,  # a stand-in: see above
        known_regions=known_regions,
        workers=request.workers,
    )
    renderer_for(request.output_format, jsonl=request.jsonl)
    if request.output is not None:
        ensure_writable(request.output)
    check_destinations(
        request.send,
        DeliveryOptions(
            ca_bundle=request.ca_bundle, env=os.environ, sse_kms_key=request.sse_kms_key
        ),
    )
    if request.history is not None:
        request.history.check()
    return plan


def _check_only_changes(only_changes: bool, *, send: Sequence[str], history: bool) -> None:
    """--only-changes chooses what --send delivers, by the history store (scan and export)."""
    if only_changes and not send:
        raise ConfigError("--only-changes chooses what --send delivers: add --send")
    if only_changes and not history:
        raise ConfigError("--only-changes reads the history store: drop --no-history")


def _scan_demo(request: ScanRequest, max_in_flight: int | None, *, drift: bool = False) -> int:
    _checked_plan(request, demo=True)
    with demo_account(drift=drift) as (boto_session, region, changes):
        for change in changes:
            say(f"demo --drift: {change}", level="info")
        options = SessionOptions(max_in_flight=max_in_flight, record_requests=False)
        session = AwsSession(options, boto_session)
        return execute(replace(request, regions=(region,)), session, region)


@app.command()
def export(
    scan_id: Annotated[
        str | None,
        typer.Option("--scan", metavar="ID", help="The recorded scan (an id or a unique prefix)."),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The latest complete scan.")] = False,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.JSON,
    output: OutputOpt = None,
    jsonl: JsonlOpt = False,
    csv_raw: CsvRawOpt = False,
    send: SendOpt = None,
    ca_bundle: CaBundleOpt = None,
    sse_kms_key: SseKmsKeyOpt = None,
    only_changes: OnlyChangesOpt = False,
    history: HistoryOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    timeout: TimeoutOpt = None,
) -> int:
    """Write a recorded scan in any format, and --send it, without scanning again.

    Exit codes: 0 done; 2 bad usage, no such scan or store; 5 some findings could not be
    delivered (pending in the spool, or rejected)."""
    if (scan_id is None) == (not last):
        raise ConfigError("export needs one of --scan ID and --last")
    _check_only_changes(only_changes, send=tuple(send or ()), history=True)
    location = history or default_location()
    render = renderer_for(output_format, jsonl=jsonl, csv_raw=csv_raw)
    session = AwsSession(
        SessionOptions(profile=profile, endpoint_url=endpoint_url, timeout=timeout)
    )
    transports = transports_for(
        tuple(send or ()),
        ca_bundle,
        session,
        sse_kms_key=sse_kms_key,
    )
    if output is not None:
        ensure_writable(output)
    with open_store(location) as store:
        record = store.find_complete(scan_id) if scan_id else store.latest()
        if record is None:
            raise HistoryError(f"no complete scan in {location} to export")
        # Findings only, read from the store as they are written and sent.
        result = store.load(record, resources=False, streamed=True)
        emit(render(result), output)
        return send_findings(result, transports, EXIT_OK, location, only_changes=only_changes)


@app.command()
def report(
    scan_id: Annotated[
        str | None,
        typer.Option("--scan", metavar="ID", help="The recorded scan (an id or a unique prefix)."),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The latest complete scan.")] = False,
    output: OutputOpt = None,
    history: HistoryOpt = None,
) -> None:
    """Write the HTML report of a recorded scan, with the trend of the scans of its scope.

    Exit codes: 0 written; 2 bad usage, no such scan or store, unwritable output."""
    if (scan_id is None) == (not last):
        raise ConfigError("report needs one of --scan ID and --last")
    location = history or default_location()
    if output is not None:
        ensure_writable(output)
    with open_store(location) as store:
        record = store.find_complete(scan_id) if scan_id else store.latest()
        if record is None:
            raise HistoryError(f"no complete scan in {location} to report")
        result = store.load(record, resources=False)  # findings only
    emit(renderer_for(OutputFormat.HTML, trend=functools.partial(trend, location))(result), output)


@checks_app.command("list")
def checks_list(
    services: ServicesOpt = None,
    compliance: ComplianceOpt = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Add a column of the framework requirements each control evidences."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every control: id, service, severity, title; with --wide or --json, the framework
    requirements it evidences."""
    wanted = set(_split(services))
    specs = [
        s
        for s in all_checks()
        if (not wanted or s.service in wanted)
        and (compliance is None or s.compliance.evidences(compliance))
    ]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "service": s.service,
                        "severity": s.severity.value,
                        "title": s.title,
                        "compliance": s.compliance.as_dict(),
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
        return
    headers = ["id", "service", "severity", "title", *(["frameworks"] if wide else [])]
    rows = [
        (s.id, s.service, s.severity.value, s.title, *([s.compliance.summary()] if wide else []))
        for s in specs
    ]
    typer.echo(tabulate(rows, headers=headers))


@checks_app.command("show")
def checks_show(
    check_id: Annotated[str, typer.Argument(metavar="ID", help="A control id.")],
) -> None:
    """A control's description, why it matters, parameters, evidence, the framework
    requirements it evidences (with their sources) and remediation (an AWS CLI command and the
    CloudFormation property)."""
    spec = get_check(check_id)
    lines = [
        f"{spec.id}  ({spec.severity.value}, {spec.service})",
        spec.title,
        "",
        spec.description,
        "",
        *(["Why it matters:", f"  {spec.rationale}", ""] if spec.rationale else []),
        "Parameters:" if spec.params else "Parameters: none",
    ]
    lines += [f"  {p.name} = {json.dumps(p.default)}: {p.description}" for p in spec.params]
    lines += ["", "Reads (IAM actions):", *(f"  {action}" for action in spec.actions)]
    lines += ["", "Frameworks:", *(f"  {line}" for line in spec.compliance.lines())]
    lines += ["", "Remediation:", f"  {spec.remediation}"]
    if spec.cfn_property:
        lines += ["", "CloudFormation:", f"  {spec.cfn_property}"]
    typer.echo("\n".join(lines))


@baseline_app.command("init")
def baseline_init(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the file.")] = Path(
        "baseline.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented baseline file holding every control's defaults."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    ensure_writable(path)
    write_file(path, default_baseline_yaml())
    typer.echo(f"wrote {path}")


@baseline_app.command("validate")
def baseline_validate(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="A baseline file.")],
) -> None:
    """Check a baseline file; one line per problem, exit 2 when invalid."""
    load_baseline(path)
    typer.echo(f"{path}: valid")


@baseline_app.command("schema")
def baseline_schema_cmd() -> None:
    """Print the JSON Schema that baseline files are validated against."""
    typer.echo(json.dumps(baseline_schema(), indent=2))


@app.command("iam-policy")
def iam_policy(
    baseline: BaselineOpt = None,
    checks: ChecksOpt = None,
    services: ServicesOpt = None,
    severity: SeverityOpt = None,
    compliance: ComplianceOpt = None,
    cfn_drift: CfnDriftOpt = False,
    send: Annotated[
        list[str] | None,
        typer.Option(
            "--send",
            metavar="DESTINATION",
            help="Add, as separate statements, what writing to this s3:// or "
            "security-lake:// destination needs (with --sse-kms-key: the key's use). "
            "Repeatable.",
        ),
    ] = None,
    sse_kms_key: SseKmsKeyOpt = None,
    no_attribution: Annotated[
        bool,
        typer.Option(
            "--no-attribution",
            help="For scans run with --no-attribution: leave out cloudtrail:LookupEvents.",
        ),
    ] = False,
) -> None:
    """Print the least-privilege IAM policy for exactly the controls that `driftscan scan`
    runs with the same options (by default: every control the default baseline turns on)."""
    destinations = [parse_destination(value) for value in send or ()]
    if sse_kms_key is not None and not destinations:
        raise ConfigError("--sse-kms-key applies to s3:// and security-lake:// destinations")
    delivery = delivery_statements(destinations, sse_kms_key)
    request = ScanRequest(
        baseline=load_baseline(baseline),
        check_ids=tuple(_split(checks)),
        service_names=tuple(_split(services)),
        min_severity=severity,
        framework=compliance,
        cfn_drift=cfn_drift,
    )
    policy = policy_document(
        _checked_plan(request).checks, delivery, attribution=not no_attribution
    )
    typer.echo(json.dumps(policy, indent=2))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors become one line on stderr."""
    use_log_format(LogFormat.TEXT)  # until a command asks for another
    try:
        result = app(
            args=list(argv) if argv is not None else None,
            prog_name="driftscan",
            standalone_mode=False,
        )
    except Interrupted as exc:
        say(f"interrupted by {exc.signal.name}")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted")
        return 130
    except UsageProblem as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_USAGE
    except DriftscanError as exc:
        for line in str(exc).splitlines():
            say(line)
        return exc.exit_code
    except Exception as exc:  # one line, never a traceback, unless asked for
        if os.environ.get("DRIFTSCAN_DEBUG"):
            raise
        typer.echo(
            f"driftscan: internal error: {type(exc).__name__}: {clip(str(exc), 200)} "
            "(set DRIFTSCAN_DEBUG=1 for the traceback)",
            err=True,
        )
        return EXIT_UNSCANNABLE
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    limit_malloc_arenas()
    sys.exit(run())
