"""Benchmark: a full driftscan scan of a populated moto account, measured.

Starts a moto server on loopback (in this process; ``MOTO_EC2_LOAD_DEFAULT_AMIS=false``),
populates one account and region at a chosen scale with a deterministic mix of compliant and
failing resources (the demo builders, through the API), then runs ``python -m scanner scan``
in a subprocess against it and prints: wall seconds, requests (total, per resource,
duplicates, the busiest operations), the server-side time spent answering them, the scan
process's peak RSS, and findings per second.

The moto WSGI app is wrapped: the wrapper counts every request (operation and a digest of
method, path, query and body, so two identical requests are a duplicate) and times moto's
answer. ``--latency-ms`` makes the wrapper wait that long before answering each request
(the server is threaded, so waits overlap as they would against AWS): the scan then reports
its effective concurrency, requests x latency / wall.

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
from scanner.demo.network import make_security_group, make_vpc, tcp_from_cidrs  # noqa: E402
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
            stats.requests[digest] += 1
            stats.operation_of[digest] = operation
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
    vpc = make_vpc(account, azs=2, nat=False, name="bench-vpc")
    for index in range(counts["security groups"]):
        ingress = [tcp_from_cidrs(22, "0.0.0.0/0")] if failing(index) else []
        make_security_group(account, vpc.vpc_id, ingress=ingress)
    for index in range(counts["file systems"]):
        make_file_system(account, key_arn=data_key, backup=not failing(index))
    for index in range(counts["aurora clusters"]):
        make_aurora_cluster(
            account, key_arn=data_key, backup_days=1 if failing(index) else 14, instance_azs=()
        )
    for index in range(counts["streams"]):
        make_stream(account, encryption=None if failing(index) else "cmk", key_arn=data_key)
    for index in range(counts["replication groups"]):
        make_replication_group(account, at_rest=not failing(index), kms_key_arn=data_key)
    for index in range(counts["secrets"]):
        make_secret(account, key_arn=data_key, rotation=not failing(index))
    for index in range(counts["ecs clusters"]):
        make_cluster(account, insights="disabled" if failing(index) else "enabled")
    for index in range(counts["log groups"]):
        make_log_group(account, retention_days=None if failing(index) else 30)
    for index in range(counts["rest apis"]):
        make_rest_api(account, logging_level=None if failing(index) else "INFO")
    return counts


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


def run_scan(url: str, workers: int | None, out: Path) -> tuple[float, int, float, float]:
    """The CLI scan in a subprocess: (wall seconds, exit code, peak RSS in MB, CPU seconds)."""
    command = [sys.executable, "-m", "scanner", "scan", "--endpoint-url", url]
    command += ["--region", REGION, "--format", "json", "--output", str(out)]
    command += ["--no-history", "--fail-on", "never"]
    if workers is not None:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    sys.stderr.write(measured.stderr)
    result = json.loads(measured.stdout.splitlines()[-1])
    return wall, int(result["code"]), result["maxrss_kb"] / 1024, result["cpu"]  # RSS in KB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1000, help="resources per 1000 of the mix")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every answer (ms)"
    )
    parser.add_argument("--workers", type=int, default=None, help="the scan's --workers")
    args = parser.parse_args()

    speed_up_moto_kms()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    stats = Stats()
    server = BenchServer(stats)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    started = time.perf_counter()
    counts = populate(DemoAccount(region=REGION, endpoint_url=url), args.scale)
    built = time.perf_counter() - started
    print(f"built {sum(counts.values())} resources in {built:.1f} s: {counts}")

    stats.reset()
    server.latency = args.latency_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "findings.json"
        wall, code, rss_mb, cpu = run_scan(url, args.workers, out)
        report = json.loads(out.read_text())
    server.stop()

    findings = report["findings"]
    statuses = Counter(f["status"] for f in findings)
    total = sum(stats.requests.values())
    duplicates = sum(n - 1 for n in stats.requests.values() if n > 1)
    resources = sum(counts.values())
    print(
        f"scale {args.scale}, latency {args.latency_ms:g} ms, workers {args.workers or 'default'}"
    )
    print(f"exit code           {code}")
    print(f"wall seconds        {wall:.2f}")
    print(f"requests            {total} ({total / resources:.2f} per resource)")
    repeated = Counter(stats.operation_of[d] for d, n in stats.requests.items() if n > 1)
    print(f"duplicate requests  {duplicates} {dict(repeated)}")
    print(f"server active secs  {stats.active_seconds:.2f} (moto answering >= 1 request)")
    print(f"server busy seconds {stats.busy_seconds:.2f} (moto's time answering, summed)")
    print(f"peak RSS            {rss_mb:.0f} MB")
    print(f"scan CPU seconds    {cpu:.2f} (the scanner process, user + system)")
    print(f"findings            {len(findings)} {dict(sorted(statuses.items()))}")
    print(f"findings per second {len(findings) / wall:.0f}")
    if args.latency_ms:
        concurrency = total * args.latency_ms / 1000 / wall
        print(f"effective concurrency {concurrency:.1f} (requests x latency / wall)")
    print(
        "busiest operations  " + ", ".join(f"{op} {n}" for op, n in stats.operations.most_common(8))
    )
    by_control: dict[str, Counter[str]] = {}
    for finding in findings:
        by_control.setdefault(finding["check_id"], Counter())[finding["status"]] += 1
    for check_id, counted in sorted(by_control.items()):
        print(f"  {check_id:40} {dict(sorted(counted.items()))}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
