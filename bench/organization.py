"""Benchmark: an organization scan through assumed roles, measured (issue 14).

Starts the counting moto server of ``bench/run.py``, creates an organization of
``--accounts`` accounts (moto's management account, which Organizations lists too, and
CreateAccount members), populates every account in each of two regions with run.py's mix
at ``--scale`` (through STS AssumeRole into the account, so moto serves that account's
backends), then runs ``python -m scanner scan --role-name ROLE --organization`` (or
``--accounts``) over both regions in a subprocess, with the local executor and with Dask
(a ``dask scheduler`` and ``dask worker`` started for the run, on loopback).

It prints, per run: requests (total, per resource, duplicates: a request repeated to the
same account and region), wall time against moto's serving time, effective concurrency
with ``--latency-ms``, the scan's peak RSS (and the Dask workers'); then each target of the
issue as PASS or FAIL: against a single-account, single-region scan of the same scale (the
requests per resource) and a 2-account scan of the same size per account (flat memory).
Correctness is asserted, not just reported: every (account, region) must show the mix
run.py derives (``expected_mix``), and Dask's findings must equal the local scan's (finding
id, status, message); the exit status is 1 when either is wrong.

With ``--fleet`` every scan runs as the README's scheduled container does: recorded in a
history store (SQLite here) and sent on with ``--send s3://BUCKET/driftscan?format=ocsf`` to
a bucket on the same server. Each scan is made twice and the second is measured: it
compares with the first (drift, gone findings) as a nightly run does. The targets shown
are then the memory ones (the S3 writes are requests a read-only scan does not make).

    python bench/organization.py --accounts 2 --scale 20
    python bench/organization.py --accounts 20 --scale 250
    python bench/organization.py --accounts 20 --scale 250 --executor local --fleet
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from run import (
    REGION,
    BenchServer,
    ScanRun,
    by_control,
    expected_mix,
    populate,
    print_figures,
    run_scan,
    start_server,
)

from scanner.demo.base import DemoAccount

REGIONS = (REGION, "us-west-2")
ROLE_NAME = "OrganizationAccountAccessRole"
"""The role Organizations creates in every account it creates, trusting the management
account: what an organization scan assumes on AWS."""
FLAT_RATIO = 1.2
WALL_RATIO = 1.3
RSS_LIMIT_MB = 150
FLEET_BUCKET = "bench-siem"
FLEET_SEND = f"s3://{FLEET_BUCKET}/driftscan?format=ocsf"


class MemberAccount(DemoAccount):
    """A DemoAccount whose clients hold credentials assumed into ``account_id``: moto serves
    every request from that account's backends (DemoAccount's own use moto's default)."""

    def __init__(
        self, account_id: str, credentials: dict[str, Any], region: str, endpoint_url: str
    ) -> None:
        super().__init__(region=region, endpoint_url=endpoint_url)
        self.account_id = account_id
        self.credentials = credentials

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.credentials["AccessKeyId"],
                aws_secret_access_key=self.credentials["SecretAccessKey"],
                aws_session_token=self.credentials["SessionToken"],
            )
        return self._clients[service]


def build_organization(url: str, accounts: int) -> list[str]:
    """An organization of ``accounts`` accounts: the caller's (the management account) and
    ``accounts - 1`` members. Their ids, as ListAccounts gives them."""
    organizations = boto3.client("organizations", region_name=REGION, endpoint_url=url)
    organizations.create_organization(FeatureSet="ALL")
    for index in range(1, accounts):
        organizations.create_account(
            Email=f"member-{index}@example.com", AccountName=f"member-{index}"
        )
    pages = organizations.get_paginator("list_accounts").paginate()
    return sorted(account["Id"] for page in pages for account in page["Accounts"])


def populate_organization(
    url: str, account_ids: list[str], role_name: str, scale: int
) -> dict[str, int]:
    """run.py's mix at ``scale`` in every account and region; the counts of one."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=url)
    counts: dict[str, int] = {}
    for account_id in account_ids:
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}",
            RoleSessionName="driftscan-bench",
        )["Credentials"]
        for region in REGIONS:
            counts = populate(MemberAccount(account_id, credentials, region, url), scale)
    return counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dask_cluster(workers: int, threads: int) -> Iterator[tuple[str, Any]]:
    """A fresh ``dask scheduler`` and ``dask worker`` (``workers`` processes) on loopback,
    as separate processes like a real cluster's; their address and a client (to read the
    workers' peak RSS after the scan). The workers inherit this process's environment:
    moto's testing credentials, from which each shard assumes its role."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen(
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1]]
        + ["--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [*dask, "worker", address, "--host", "127.0.0.1", "--no-dashboard"]
        + ["--nworkers", str(workers), "--nthreads", str(threads)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
            yield address, client
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=60)


@dataclass(frozen=True)
class OrgRun:
    """A measured organization scan, what it covered, and whether its mix is right."""

    name: str
    run: ScanRun
    shards: int
    resources: int
    wrong_shards: list[str]
    """(account, region) shards whose per-control counts differ from expected_mix."""
    worker_rss_mb: list[float]
    """Each Dask worker's peak RSS; empty for the local executor."""

    def comparable(self) -> list[tuple[str, str, str]]:
        return sorted((f["finding_id"], f["status"], f["message"]) for f in self.run.findings)


def check_mix(
    run: ScanRun, account_ids: list[str], counts: dict[str, int]
) -> tuple[int, list[str]]:
    """(shards expected, the ones whose findings differ from expected_mix or are missing)."""
    expected = expected_mix(counts)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in run.findings:
        grouped.setdefault((finding["account_id"], finding["region"]), []).append(finding)
    shards = [(account_id, region) for account_id in account_ids for region in REGIONS]
    wrong = [
        f"{account_id}/{region}"
        for account_id, region in sorted(grouped.keys() | set(shards))
        if by_control(grouped.get((account_id, region), [])) != expected
    ]
    return len(shards), wrong


def scan_organization(
    executor: str,
    url: str,
    server: BenchServer,
    account_ids: list[str],
    counts: dict[str, int],
    args: argparse.Namespace,
    *,
    whole: bool,
) -> OrgRun:
    """One measured scan of ``account_ids`` in both regions on ``executor`` (local, dask).
    ``whole``: they are the organization, named by --organization (or by --accounts with
    --list-accounts); else by --accounts."""
    options = [arg for region in REGIONS for arg in ("--region", region)]
    options += ["--role-name", args.role_name]
    if whole and not args.list_accounts:
        options += ["--organization"]
    else:
        options += ["--accounts", ",".join(account_ids)]
    if args.workers is not None:
        options += ["--workers", str(args.workers)]
    worker_rss: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        history = Path(folder) / "history.db" if args.fleet else None
        if args.fleet:
            options += ["--send", FLEET_SEND]
        if executor == "dask":
            with dask_cluster(args.dask_workers, args.dask_threads) as (address, client):
                options += ["--executor", "dask", "--scheduler", address]
                if args.fleet:  # the night before: what the measured scan compares with
                    run_scan(url, server, options, history)
                run = run_scan(url, server, options, history)
                usage = client.run(resource.getrusage, resource.RUSAGE_SELF)
                worker_rss = [u.ru_maxrss / 1024 for u in usage.values()]
        else:
            if args.fleet:
                run_scan(url, server, options, history)
            run = run_scan(url, server, options, history)
    shards, wrong = check_mix(run, account_ids, counts)
    name = f"{executor}, {'organization' if whole else f'{len(account_ids)} accounts'}"
    return OrgRun(name, run, shards, shards * sum(counts.values()), wrong, worker_rss)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_run(org: OrgRun, latency_ms: float) -> None:
    run = org.run
    accounts = org.shards // len(REGIONS)
    print(f"\n== {org.name}: {accounts} accounts x {len(REGIONS)} regions", end=", ")
    print(f"{org.resources} resources")
    print_figures(run, org.resources, latency_ms)
    print(f"wall / server active {run.wall / run.active_seconds:.2f}")
    if org.worker_rss_mb:
        print("dask workers' RSS   " + ", ".join(f"{mb:.0f} MB" for mb in org.worker_rss_mb))
    complete = run.report["summary"]["complete"]
    if org.wrong_shards:
        print(f"expected mix        MISMATCH in {len(org.wrong_shards)} of {org.shards} shards:")
        print("  " + ", ".join(org.wrong_shards[:10]))
    else:
        print(f"expected mix        OK in all {org.shards} (account, region) shards")
    print(f"report complete     {complete}")


def print_targets(
    full: OrgRun,
    two: OrgRun,
    single: ScanRun,
    single_resources: int,
    latency_ms: float,
    *,
    fleet: bool,
) -> None:
    """The issue's targets for one executor, PASS or FAIL. The wall time target is for
    loopback: with --latency-ms the effective concurrency is shown instead. With ``fleet``
    only the memory targets (its S3 writes and history make the others another scan's)."""
    run = full.run
    per_resource = run.requests / full.resources
    single_per_resource = single.requests / single_resources
    wall_ratio = run.wall / run.active_seconds
    flat = run.rss_mb / two.run.rss_mb
    rows: list[tuple[str, str, bool | None]] = [
        ("duplicate requests = 0", f"{run.duplicates}", run.duplicates == 0),
        (
            f"requests per resource <= single account's {single_per_resource:.4f}",
            f"{per_resource:.4f}",
            per_resource <= single_per_resource,
        ),
        (
            f"wall <= {WALL_RATIO}x moto's serving time {run.active_seconds:.1f} s",
            f"{run.wall:.1f} s = {wall_ratio:.2f}x",
            wall_ratio <= WALL_RATIO,
        )
        if not latency_ms
        else (
            f"effective concurrency at {latency_ms:g} ms (no target)",
            f"{run.concurrency(latency_ms):.1f}",
            None,
        ),
        (f"peak RSS < {RSS_LIMIT_MB} MB", f"{run.rss_mb:.0f} MB", run.rss_mb < RSS_LIMIT_MB),
        (
            f"peak RSS < {FLAT_RATIO}x the 2-account run's {two.run.rss_mb:.0f} MB",
            f"{flat:.2f}x",
            flat < FLAT_RATIO,
        ),
    ]
    if fleet:
        rows = rows[-2:]
    print(f"\ntargets, {full.name}{' (--fleet)' if fleet else ''}:")
    for target, measured, ok in rows:
        print(f"  {target:58} {measured:>16}  {'' if ok is None else verdict(ok)}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20, help="accounts in the organization")
    parser.add_argument(
        "--scale", type=int, default=250, help="run.py's mix per 1000, per account and region"
    )
    parser.add_argument(
        "--executor",
        action="append",
        choices=("local", "dask"),
        help="executors to measure (repeat; default: local and dask)",
    )
    parser.add_argument("--role-name", default=ROLE_NAME, help="the scan's --role-name")
    parser.add_argument(
        "--list-accounts",
        action="store_true",
        help="scan with --accounts ID,... (every account) instead of --organization",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every answer (ms)"
    )
    parser.add_argument("--workers", type=int, default=None, help="the scan's --workers")
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="scan as a scheduled container does: history and --send s3 (measured twice)",
    )
    parser.add_argument("--dask-workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--dask-threads", type=int, default=1, help="threads per Dask worker")
    args = parser.parse_args()
    if args.accounts < 2:
        parser.error("--accounts: at least 2 (the 2-account run is the memory reference)")
    executors = args.executor or ["local", "dask"]

    server, url = start_server()
    if args.fleet:
        boto3.client("s3", region_name=REGION, endpoint_url=url).create_bucket(Bucket=FLEET_BUCKET)
    started = time.perf_counter()
    account_ids = build_organization(url, args.accounts)
    counts = populate_organization(url, account_ids, args.role_name, args.scale)
    per_shard = sum(counts.values())
    print(
        f"built {len(account_ids)} accounts x {len(REGIONS)} regions x {per_shard} resources "
        f"({len(account_ids) * len(REGIONS) * per_shard}) in {time.perf_counter() - started:.1f} s"
    )
    print(f"per account and region: {counts}")
    server.latency = args.latency_ms / 1000

    # The reference of requests per resource: the management account's own scan of one
    # region, as bench/run.py makes it (no role, no organization).
    single = run_scan(url, server, ["--region", REGION])
    print(f"\n== single account, {REGION}: {per_shard} resources (the reference)")
    print_figures(single, per_shard, args.latency_ms)

    fulls: dict[str, OrgRun] = {}
    failed = False
    for executor in executors:
        two = scan_organization(executor, url, server, account_ids[:2], counts, args, whole=False)
        print_run(two, args.latency_ms)
        full = scan_organization(executor, url, server, account_ids, counts, args, whole=True)
        print_run(full, args.latency_ms)
        print_targets(full, two, single, per_shard, args.latency_ms, fleet=args.fleet)
        fulls[executor] = full
        failed |= bool(two.wrong_shards or full.wrong_shards)
    server.stop()

    if len(fulls) == 2:
        local, dask = fulls["local"].comparable(), fulls["dask"].comparable()
        differing = len(set(local) ^ set(dask)) + abs(len(local) - len(dask))
        same = local == dask
        print(
            f"\ndask findings identical to local (id, status, message): {len(dask)} vs "
            f"{len(local)}, {differing} differing  {verdict(same)}"
        )
        failed |= not same
        more = fulls["dask"].run.operations - fulls["local"].run.operations
        fewer = fulls["local"].run.operations - fulls["dask"].run.operations
        print(f"requests dask sends more than local: {dict(more)}, fewer: {dict(fewer)}")
    failed |= any(f.wrong_shards for f in fulls.values())
    print(f"\ncorrectness         {verdict(not failed)}")
    sys.stdout.flush()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
