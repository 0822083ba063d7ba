"""The driftscan command line. Commands are thin: the work lives in scanner/ and reports/."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import click
import typer
from tabulate import tabulate

from reports import OutputFormat, renderer_for
from scanner import __version__
from scanner.config import baseline_schema, build_plan, default_baseline_yaml, load_baseline
from scanner.errors import (
    EXIT_FAILURES,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_UNSCANNABLE,
    EXIT_USAGE,
    ConfigError,
    DriftscanError,
)
from scanner.iam_policy import policy_document
from scanner.model import ScanResult, Severity
from scanner.output import ensure_writable, write_atomic
from scanner.registry import all_checks, get_check
from scanner.runner import DEFAULT_WORKERS, FailOn, exit_code, run_scan
from scanner.session import AwsSession, SessionOptions

EXIT_CODES_HELP = f"""
Exit codes: {EXIT_OK} complete, nothing failed at or above --fail-on;
{EXIT_FAILURES} at least one failing finding at or above --fail-on;
{EXIT_USAGE} bad usage or input (unknown check id, service or region, malformed baseline);
{EXIT_UNSCANNABLE} nothing could be scanned (no credentials, endpoint unreachable);
{EXIT_INCOMPLETE} the scan finished but some evidence could not be read (ERROR findings)
and nothing reached --fail-on.
"""

app = typer.Typer(
    name="driftscan",
    help="Judge a live AWS account against the driftscan baseline (read-only).\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
checks_app = typer.Typer(help="List and explain the baseline's controls.", no_args_is_help=True)
baseline_app = typer.Typer(help="Write and validate baseline files.", no_args_is_help=True)
app.add_typer(checks_app, name="checks")
app.add_typer(baseline_app, name="baseline")

log = logging.getLogger("driftscan")


def _split(values: Sequence[str] | None) -> list[str]:
    """Accept both ``--checks a,b`` and ``--checks a --checks b``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


Regions = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        "-r",
        help="Region to scan; repeat for several. "
        "Default: the baseline's scope.regions, else the session's region.",
    ),
]
ChecksOpt = Annotated[
    list[str] | None,
    typer.Option("--checks", "-c", help="Only these control ids (comma-separated or repeated)."),
]
ServicesOpt = Annotated[
    list[str] | None,
    typer.Option("--services", "-s", help="Only controls of these services, e.g. kms,rds."),
]
SeverityOpt = Annotated[
    Severity | None,
    typer.Option("--severity", help="Only controls of this severity or higher."),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        "-b",
        help="Baseline file (YAML or JSON): parameters, "
        "controls turned off, scope. See `driftscan baseline init`.",
    ),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report here (atomically) instead of stdout."),
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option("--fail-on", help="Exit 1 when a FAIL finding has this severity or higher."),
]
WorkersOpt = Annotated[
    int,
    typer.Option("--workers", min=1, max=128, help="Concurrent API readers."),
]


@app.callback()
def _global(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log progress; -vv logs API calls.")
    ] = 0,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"driftscan {__version__}")
        raise typer.Exit()
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("botocore").setLevel(logging.WARNING)


@app.command(epilog=EXIT_CODES_HELP)
def scan(
    region: Regions = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="AWS profile from ~/.aws/config.")
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL",
            help="Send every request here (LocalStack, a moto server).",
        ),
    ] = None,
    baseline: BaselineOpt = None,
    checks: ChecksOpt = None,
    services: ServicesOpt = None,
    severity: SeverityOpt = None,
    output_format: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.HIGH,
    workers: WorkersOpt = DEFAULT_WORKERS,
    demo: Annotated[
        bool, typer.Option("--demo", help="Scan the built-in demo account (needs the demo extra).")
    ] = False,
) -> int:
    """Scan the account and report every control's findings."""
    if demo:
        return _scan_demo(
            baseline, checks, services, severity, output_format, output, fail_on, workers
        )
    session = AwsSession(
        SessionOptions(profile=profile, endpoint_url=endpoint_url, max_pool_connections=workers)
    )
    return _scan(
        session,
        session.default_region,
        region,
        baseline,
        checks,
        services,
        severity,
        output_format,
        output,
        fail_on,
        workers,
    )


@app.command(epilog=EXIT_CODES_HELP)
def demo(
    checks: ChecksOpt = None,
    services: ServicesOpt = None,
    severity: SeverityOpt = None,
    baseline: BaselineOpt = None,
    output_format: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.NEVER,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> int:
    """Build the reference stack in an in-process moto account (half right, half broken)
    and scan it: real output without AWS credentials."""
    return _scan_demo(baseline, checks, services, severity, output_format, output, fail_on, workers)


def _scan_demo(
    baseline: Path | None,
    checks: list[str] | None,
    services: list[str] | None,
    severity: Severity | None,
    output_format: OutputFormat,
    output: Path | None,
    fail_on: FailOn,
    workers: int,
) -> int:
    from scanner.demo.stack import demo_account

    with demo_account() as (boto_session, region):
        session = AwsSession(SessionOptions(max_pool_connections=workers), boto_session)
        return _scan(
            session,
            region,
            [region],
            baseline,
            checks,
            services,
            severity,
            output_format,
            output,
            fail_on,
            workers,
        )


def _scan(
    session: AwsSession,
    default_region: str | None,
    regions: list[str] | None,
    baseline_path: Path | None,
    checks: list[str] | None,
    services: list[str] | None,
    severity: Severity | None,
    output_format: OutputFormat,
    output: Path | None,
    fail_on: FailOn,
    workers: int,
) -> int:
    plan = build_plan(
        load_baseline(baseline_path),
        check_ids=_split(checks),
        service_names=_split(services),
        min_severity=severity,
        regions=_split(regions),
        default_region=default_region,
        known_regions=session.known_regions(),
        workers=workers,
    )
    if output is not None:
        ensure_writable(output)
    result = run_scan(plan, session)
    _emit(renderer_for(output_format)(result), output)
    _report_problems(result)
    return exit_code(result, fail_on)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text)


def _report_problems(result: ScanResult) -> None:
    errors = sum(1 for f in result.findings if f.status.value == "ERROR")
    if errors:
        typer.echo(
            f"driftscan: {errors} findings could not be judged (ERROR): the scan is incomplete",
            err=True,
        )
    if result.missing_actions:
        typer.echo(
            "driftscan: missing IAM permissions: " + ", ".join(result.missing_actions), err=True
        )


@checks_app.command("list")
def checks_list(
    services: ServicesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every control: id, service, severity, title."""
    wanted = set(_split(services))
    specs = [s for s in all_checks() if not wanted or s.service in wanted]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "service": s.service,
                        "severity": s.severity.value,
                        "title": s.title,
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
        return
    rows = [(s.id, s.service, s.severity.value, s.title) for s in specs]
    typer.echo(tabulate(rows, headers=["id", "service", "severity", "title"]))


@checks_app.command("show")
def checks_show(check_id: Annotated[str, typer.Argument(help="A control id.")]) -> None:
    """A control's description, parameters, evidence and remediation."""
    spec = get_check(check_id)
    lines = [
        f"{spec.id}  ({spec.severity.value}, {spec.service})",
        spec.title,
        "",
        spec.description,
        "",
        "Parameters:" if spec.params else "Parameters: none",
    ]
    lines += [f"  {p.name} = {json.dumps(p.default)}: {p.description}" for p in spec.params]
    lines += ["", "Reads (IAM actions):", *(f"  {action}" for action in spec.actions)]
    lines += ["", "Remediation:", f"  {spec.remediation}"]
    typer.echo("\n".join(lines))


@baseline_app.command("init")
def baseline_init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path("baseline.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented baseline file holding every control's defaults."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    ensure_writable(path)
    write_atomic(path, default_baseline_yaml())
    typer.echo(f"wrote {path}")


@baseline_app.command("validate")
def baseline_validate(path: Annotated[Path, typer.Argument(help="A baseline file.")]) -> None:
    """Check a baseline file; one line per problem, exit 2 when invalid."""
    load_baseline(path)
    typer.echo(f"{path}: valid")


@baseline_app.command("schema")
def baseline_schema_cmd() -> None:
    """Print the JSON Schema that baseline files are validated against."""
    typer.echo(json.dumps(baseline_schema(), indent=2))


@app.command("iam-policy")
def iam_policy(checks: ChecksOpt = None, services: ServicesOpt = None) -> None:
    """Print the least-privilege IAM policy for the selected controls (all by default)."""
    plan_specs = build_plan(
        load_baseline(None),
        check_ids=_split(checks),
        service_names=_split(services),
        default_region="us-east-1",
    ).checks
    typer.echo(json.dumps(policy_document(plan_specs), indent=2))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors become one line on stderr."""
    try:
        result = app(
            args=list(argv) if argv is not None else None,
            prog_name="driftscan",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        typer.echo("driftscan: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except DriftscanError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"driftscan: {line}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("driftscan: interrupted", err=True)
        return 130
    except Exception as exc:  # one line, never a traceback, unless asked for
        if os.environ.get("DRIFTSCAN_DEBUG"):
            raise
        typer.echo(
            f"driftscan: internal error: {type(exc).__name__}: {exc} "
            "(set DRIFTSCAN_DEBUG=1 for the traceback)",
            err=True,
        )
        return EXIT_UNSCANNABLE
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    sys.exit(run())
