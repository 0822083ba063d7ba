"""Benchmark: a full driftscan scan of a populated moto account, measured.

Starts a moto server on loopback (in this process; ``MOTO_EC2_LOAD_DEFAULT_AMIS=false``),
populates one account and region at a chosen scale with a deterministic mix of compliant and
failing resources (the demo builders, through the API), then runs ``python -m scanner scan``
in a subprocess against it and prints: wall seconds, requests (total, per resource,
duplicates, the busiest operations), the server-side time spent answering them, the scan
process's peak RSS, and findings per second.

The moto WSGI app is wrapped: the wrapper counts every request (operation, and a key of the
account and region it is for and a digest of method, path, query and body, so two identical
requests to one account and region are a duplicate) and times moto's answer.
``--latency-ms`` makes the wrapper wait that long before answering each request (the server
is threaded, so waits overlap as they would against AWS): the scan then reports its
effective concurrency, requests x latency / wall.

``bench/organization.py`` measures an organization scan on the same server and mix.

    python bench/run.py --scale 1000
    python bench/run.py --scale 1000 --latency-ms 50
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

from moto.server import ThreadedMotoServer  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from scanner.demo.apigateway import make_rest_api  # noqa: E402
from scanner.demo.base import DemoAccount, speed_up_moto_kms  # noqa: E402
from scanner.demo.ecs import make_cluster  # noqa: E402
from scanner.demo.efs import make_file_system  # noqa: E402
from scanner.demo.elasticache import make_replication_group  # noqa: E402
from scanner.demo.kinesis import make_stream  # noqa: E402
from scanner.demo.kms import make_key  # noqa: E402
from scanner.demo.logs import make_log_group  # noqa: E402
from scanner.demo.network import (  # noqa: E402
    make_default_vpc_public,
    make_security_group,
    make_vpc,
    tcp_from_cidrs,
)
from scanner.demo.rds import make_aurora_cluster  # noqa: E402
from scanner.demo.secretsmanager import make_secret  # noqa: E402

REGION = "us-east-1"
MIX_PER_1000 = {
    "kms keys": 1000,
    "file systems": 100,
    "aurora clusters": 50,
    "streams": 100,
    "replication groups": 50,
    "secrets": 200,
    "security groups": 100,
    "ecs clusters": 50,
    "log groups": 500,
    "rest apis": 50,
}
"""The issue's mix for scale 1000; other scales multiply every count by scale / 1000."""
FAILING_EVERY = 4
"""Resource i of each kind is built failing its controls when i % 4 == 3 (a quarter)."""


@dataclass
class Stats:
    """What the wrapped moto app saw; reset before the scan."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[str] = field(default_factory=Counter)
    operation_of: dict[str, str] = field(default_factory=dict)
    operations: Counter[str] = field(default_factory=Counter)
    busy_seconds: float = 0.0
    """moto's answering time summed over requests (overlapping ones count twice)."""
    active_seconds: float = 0.0
    """Time during which moto was answering at least one request."""
    in_flight: int = 0
    active_since: float = 0.0

    def enter(self) -> None:
        with self.lock:
            if self.in_flight == 0:
                self.active_since = time.perf_counter()
            self.in_flight += 1

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.active_seconds += time.perf_counter() - self.active_since

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.operation_of.clear()
            self.operations.clear()
            self.busy_seconds = 0.0
            self.active_seconds = 0.0


def account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    """The account moto serves the request from (its access key's: the caller's, or the
    member account whose role it assumed) and the region of its signature's scope."""
    from moto.iam.models import get_account_id_from

    # "AWS4-HMAC-SHA256 Credential=KEYID/DATE/REGION/SERVICE/aws4_request, ..."
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    credential = authorization.partition("Credential=")[2].split(",")[0].split("/")
    if len(credential) < 3:
        return "", ""
    return get_account_id_from(credential[0]), credential[2]


def _operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    fields = parse_qs(body.decode("utf-8", "replace")) if body else {}
    fields = fields or parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in fields:
        return fields["Action"][0]
    return f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"


def counting_app(app: Callable[..., Any], stats: Stats, latency: float) -> Callable[..., Any]:
    """The moto WSGI app, counting and timing every request, optionally delayed."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        # AWS SDKs send the same request bytes for the same operation and parameters.
        digest = hashlib.sha256(
            "|".join(
                (
                    environ["REQUEST_METHOD"],
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_X_AMZ_TARGET", ""),
                )
            ).encode()
            + body
        ).hexdigest()
        key = "|".join((*account_and_region(environ), digest))
        if latency:
            time.sleep(latency)
        stats.enter()
        started = time.perf_counter()
        try:
            answer = list(app(environ, start_response))
        finally:
            stats.leave()
        elapsed = time.perf_counter() - started
        with stats.lock:
            operation = _operation(environ, body)
            stats.requests[key] += 1
            stats.operation_of[key] = operation
            stats.operations[operation] += 1
            stats.busy_seconds += elapsed
        return answer

    return wrapped


class BenchServer(ThreadedMotoServer):
    """moto's threaded server with its app wrapped by ``counting_app``."""

    def __init__(self, stats: Stats) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.stats = stats
        self.latency = 0.0

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        app = DomainDispatcherApplication(create_backend_app)
        self._app = app
        self._server = make_server(self._ip_address, self._port, self._dispatch, threaded=True)
        self._server_ready_event.set()
        self._server.serve_forever()

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return counting_app(self._app, self.stats, self.latency)(environ, start_response)


def populate(account: DemoAccount, scale: int) -> dict[str, int]:
    """Build the mix; returns how many resources of each kind were made."""
    counts = {kind: max(1, per_1000 * scale // 1000) for kind, per_1000 in MIX_PER_1000.items()}

    def failing(index: int) -> bool:
        return index % FAILING_EVERY == FAILING_EVERY - 1

    data_key = make_key(account, alias="bench-data")
    for index in range(counts["kms keys"] - 1):
        make_key(account, rotation=not failing(index))
    make_default_vpc_public(account)  # as in AWS: the default VPC routes to an IGW
    vpc = make_vpc(account, azs=2, nat=False, name="bench-vpc")
    groups = [
        make_security_group(
            account,
            vpc.vpc_id,
            ingress=[tcp_from_cidrs(22, "0.0.0.0/0")] if failing(index) else [],
        )
        for index in range(counts["security groups"])
    ]
    # Each security group guards one data store: the clusters', then the caches' (the control
    # judges only groups attached to a data store).
    cluster_groups = groups[: counts["aurora clusters"]]
    cache_groups = groups[len(cluster_groups) :][: counts["replication groups"]]
    for index in range(counts["file systems"]):
        make_file_system(account, key_arn=data_key, backup=not failing(index))
    for index in range(counts["aurora clusters"]):
        make_aurora_cluster(
            account,
            key_arn=data_key,
            backup_days=1 if failing(index) else 14,
            instance_azs=(),
            security_group_ids=cluster_groups[index : index + 1],
        )
    for index in range(counts["streams"]):
        make_stream(account, encryption=None if failing(index) else "cmk", key_arn=data_key)
    for index in range(counts["replication groups"]):
        make_replication_group(
            account,
            at_rest=not failing(index),
            kms_key_arn=data_key,
            security_group_ids=cache_groups[index : index + 1],
        )
    for index in range(counts["secrets"]):
        make_secret(account, key_arn=data_key, rotation=not failing(index))
    for index in range(counts["ecs clusters"]):
        make_cluster(account, insights="disabled" if failing(index) else "enabled")
    for index in range(counts["log groups"]):
        make_log_group(account, retention_days=None if failing(index) else 30)
    for index in range(counts["rest apis"]):
        make_rest_api(account, logging_level=None if failing(index) else "INFO")
    return counts


def expected_mix(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """The exact {check_id: {status: n}} a correct default-baseline scan of ``populate``'s
    account reports, derived from how ``populate`` builds each kind (``counts`` is what it
    returned). Resource i of a kind fails when i % FAILING_EVERY == FAILING_EVERY - 1, so n
    resources hold n // FAILING_EVERY failing ones.

    Controls that report nothing: efs.mount_targets_in_private_subnets (no mount
    targets), rds.not_publicly_accessible (no DB instances), ecs.task_roles_defined,
    iam.task_role_least_privilege and iam.task_role_grants_scoped (no services, task
    definitions or roles), and the controls off until a baseline configures them
    (apigateway.required_routes, apigateway.cors_restricted, rds.maintenance_window_approved,
    elasticache.maintenance_window_approved, tagging.environment_suffix,
    cloudformation.required_outputs, cloudformation.stack_drift).
    """

    def split(total: int, failing: int) -> dict[str, int]:
        return {status: n for status, n in (("FAIL", failing), ("PASS", total - failing)) if n}

    def mix(kind: str) -> dict[str, int]:
        """A quarter fail: the kind is built failing this control's property."""
        return split(counts[kind], counts[kind] // FAILING_EVERY)

    def passing(kind: str) -> dict[str, int]:
        """All pass: failing ones differ only in another control's property."""
        return {"PASS": counts[kind]}

    keys = counts["kms keys"]
    # Groups 0..attached-1 guard a data store each (populate); the rest are not judged.
    attached = min(
        counts["security groups"], counts["aurora clusters"] + counts["replication groups"]
    )
    return {
        "ec2.datastore_sg_least_privilege": split(
            attached, sum(i % FAILING_EVERY == FAILING_EVERY - 1 for i in range(attached))
        ),
        # One deployed stage per REST API; failing ones leave execution logging unset.
        "apigateway.stage_access_logging": passing("rest apis"),
        "apigateway.stage_execution_logging": mix("rest apis"),
        "apigateway.stage_throttling": passing("rest apis"),
        "apigateway.usage_plan_quota": passing("rest apis"),
        "ecs.container_insights_enabled": mix("ecs clusters"),
        "efs.backup_policy_enabled": mix("file systems"),
        "efs.encrypted_with_cmk": passing("file systems"),
        "efs.throughput_and_performance_mode": passing("file systems"),
        "elasticache.encryption_at_rest": mix("replication groups"),
        "elasticache.encryption_in_transit": passing("replication groups"),
        "elasticache.multi_az": passing("replication groups"),
        "elasticache.snapshot_retention": passing("replication groups"),
        # 24 hours (the builder's default) meets the default min_hours of 24.
        "kinesis.retention_period": passing("streams"),
        "kinesis.stream_encrypted_with_cmk": mix("streams"),
        # The rotating data key plus keys - 1 numbered ones, a quarter of those not rotating.
        "kms.cmk_rotation_enabled": split(keys, (keys - 1) // FAILING_EVERY),
        # Judged per key in use: everything encrypted uses the one data key (log groups none).
        "kms.key_in_use_enabled": {"PASS": 1},
        "logs.retention_set": mix("log groups"),
        "rds.backup_retention": mix("aurora clusters"),
        # instance_azs=(): a provisioned cluster without instances spans no AZ.
        "rds.cluster_multi_az": {"FAIL": counts["aurora clusters"]},
        "rds.deletion_protection": passing("aurora clusters"),
        "rds.log_exports": passing("aurora clusters"),
        "rds.storage_encrypted_with_cmk": passing("aurora clusters"),
        "secretsmanager.rotation_enabled": mix("secrets"),
        "secretsmanager.secret_encrypted_with_cmk": passing("secrets"),
        # bench-vpc's private subnets have no NAT gateway (nat=False); the default VPC's
        # subnets are public.
        "vpc.nat_gateway_per_az": {"FAIL": 1},
    }


MEASURE = """
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
cpu = usage.ru_utime + usage.ru_stime
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"code": code, "maxrss_kb": usage.ru_maxrss, "cpu": cpu}))
"""
"""Runs the scan as a grandchild: Linux carries a process's peak RSS across exec, so a child
forked from this (large) process would report the benchmark's own peak, not the scan's."""


@dataclass(frozen=True)
class ScanRun:
    """One CLI scan, measured: its process and what the server saw of it."""

    wall: float
    code: int
    rss_mb: float
    cpu: float
    report: dict[str, Any]
    requests: int
    duplicates: int
    repeated: dict[str, int]
    """Per operation, how many of its distinct requests (to one account and region) were
    sent more than once."""
    active_seconds: float
    busy_seconds: float
    operations: Counter[str]
    """Requests per operation."""

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.report["findings"])

    def concurrency(self, latency_ms: float) -> float:
        """Requests in flight on average when every answer waits ``latency_ms``."""
        return self.requests * latency_ms / 1000 / self.wall


def run_scan(
    url: str, server: BenchServer, options: list[str], history: Path | None = None
) -> ScanRun:
    """``driftscan scan`` with ``options`` against ``url`` in a subprocess, JSON to a file,
    recorded in ``history`` (default: not recorded); the server's counters are reset first."""
    command = [sys.executable, "-m", "scanner", "scan", "--endpoint-url", url]
    recorded = ["--history", str(history)] if history else ["--no-history"]
    command += ["--format", "json", *recorded, "--fail-on", "never", *options]
    stats = server.stats
    stats.reset()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "findings.json"
        started = time.perf_counter()
        measured = subprocess.run(
            [sys.executable, "-c", MEASURE, *command, "--output", str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        sys.stderr.write(measured.stderr)
        result = json.loads(measured.stdout.splitlines()[-1])
        report = json.loads(out.read_text())
    with stats.lock:
        return ScanRun(
            wall=wall,
            code=int(result["code"]),
            rss_mb=result["maxrss_kb"] / 1024,  # ru_maxrss is in KB
            cpu=result["cpu"],
            report=report,
            requests=sum(stats.requests.values()),
            duplicates=sum(n - 1 for n in stats.requests.values() if n > 1),
            repeated=dict(
                Counter(stats.operation_of[key] for key, n in stats.requests.items() if n > 1)
            ),
            active_seconds=stats.active_seconds,
            busy_seconds=stats.busy_seconds,
            operations=Counter(stats.operations),
        )


def start_server() -> tuple[BenchServer, str]:
    """The counting moto server on a loopback port, and its URL. Set ``server.latency``
    once the accounts are built: population is not delayed."""
    speed_up_moto_kms()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    server = BenchServer(Stats())
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def print_figures(run: ScanRun, resources: int, latency_ms: float) -> None:
    """What every bench prints about one scan."""
    findings = run.findings
    statuses = Counter(f["status"] for f in findings)
    print(f"exit code           {run.code}")
    print(f"wall seconds        {run.wall:.2f}")
    print(f"requests            {run.requests} ({run.requests / resources:.2f} per resource)")
    print(f"duplicate requests  {run.duplicates} {run.repeated}")
    print(f"server active secs  {run.active_seconds:.2f} (moto answering >= 1 request)")
    print(f"server busy seconds {run.busy_seconds:.2f} (moto's time answering, summed)")
    print(f"peak RSS            {run.rss_mb:.0f} MB")
    print(f"scan CPU seconds    {run.cpu:.2f} (the scanner process, user + system)")
    print(f"findings            {len(findings)} {dict(sorted(statuses.items()))}")
    print(f"findings per second {len(findings) / run.wall:.0f}")
    if latency_ms:
        concurrency = run.concurrency(latency_ms)
        print(f"effective concurrency {concurrency:.1f} (requests x latency / wall)")
    busiest = run.operations.most_common(8)
    print("busiest operations  " + ", ".join(f"{op} {n}" for op, n in busiest))


def by_control(findings: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{check_id: {status: n}} of the findings."""
    counted: dict[str, Counter[str]] = {}
    for finding in findings:
        counted.setdefault(finding["check_id"], Counter())[finding["status"]] += 1
    return {check_id: dict(sorted(c.items())) for check_id, c in counted.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1000, help="resources per 1000 of the mix")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every answer (ms)"
    )
    parser.add_argument("--workers", type=int, default=None, help="the scan's --workers")
    args = parser.parse_args()

    server, url = start_server()
    started = time.perf_counter()
    counts = populate(DemoAccount(region=REGION, endpoint_url=url), args.scale)
    built = time.perf_counter() - started
    print(f"built {sum(counts.values())} resources in {built:.1f} s: {counts}")

    server.latency = args.latency_ms / 1000
    options = ["--region", REGION]
    if args.workers is not None:
        options += ["--workers", str(args.workers)]
    run = run_scan(url, server, options)
    server.stop()

    print(
        f"scale {args.scale}, latency {args.latency_ms:g} ms, workers {args.workers or 'default'}"
    )
    print_figures(run, sum(counts.values()), args.latency_ms)
    observed = by_control(run.findings)
    expected = expected_mix(counts)
    controls = sorted(observed.keys() | expected.keys())
    wrong = [c for c in controls if observed.get(c) != expected.get(c)]
    for check_id in controls:
        mark = "  <- MISMATCH" if check_id in wrong else ""
        print(f"  {check_id:40} {observed.get(check_id, {})}{mark}")
    if wrong:
        print(f"expected mix        MISMATCH in {len(wrong)} of {len(controls)} controls")
        for check_id in wrong:
            seen, wanted = observed.get(check_id, {}), expected.get(check_id, {})
            print(f"  {check_id:40} expected {wanted}, observed {seen}")
    else:
        print(f"expected mix        OK ({len(expected)} controls)")
    sys.stdout.flush()
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
