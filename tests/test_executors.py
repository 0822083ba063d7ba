"""`driftscan scan --executor dask`: (account, region) shards on a Dask cluster give the
findings, report and history record of a local scan; a bad cluster is one line."""

from __future__ import annotations

import json
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from scanner.app import executors
from scanner.app.config import build_plan, parse_baseline
from scanner.app.executors import SHARDS
from scanner.cli import run
from scanner.demo.base import ACCOUNT_ID, DemoAccount, speed_up_moto_kms
from scanner.demo.stack import BROKEN_ENV, COMPLIANT_ENV, baseline_for, build_reference_stack
from scanner.engine.accounts import AccountsRequest
from scanner.engine.runner import Progress
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import SessionError
from scanner.store.history import HistoryStore

distributed = pytest.importorskip("distributed")

REGIONS = ("us-east-1", "us-west-2")
OTHER_ACCOUNT = "111111111111"
"""An empty account: moto lets any role be assumed into any account."""
COMPARED = ("check_id", "account_id", "region", "resource_id", "status", "message", "evidence")
WORKER_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server: the compliant stack in us-east-1, the broken one in us-west-2."""
    speed_up_moto_kms()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # The server shares this process's moto backends: start from an empty account.
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto's CloudFormation warns about unmodelled types
            for region, env_name, compliant in (
                (REGIONS[0], COMPLIANT_ENV, True),
                (REGIONS[1], BROKEN_ENV, False),
            ):
                account = DemoAccount(region=region, endpoint_url=url)
                build_reference_stack(account, compliant=compliant, env=env_name)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker cluster of separate processes, as on real machines: shards and results
    are pickled over TCP, and each worker imports driftscan and builds its own sessions from
    its own environment (in-process workers would be handed the Python objects as they are)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        for name, value in WORKER_ENV.items():
            env.setenv(name, value)
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
    with cluster:
        yield cluster.scheduler_address


def scan(endpoint: str, tmp_path: Path, name: str, *extra: str) -> dict[str, Any]:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(baseline_for([COMPLIANT_ENV, BROKEN_ENV]))
    out = tmp_path / f"{name}.json"
    code = run(
        ["scan", "--endpoint-url", endpoint, "--baseline", str(baseline)]
        + [arg for region in REGIONS for arg in ("--region", region)]
        + ["--format", "json", "--output", str(out), "--history", str(tmp_path / "history.db")]
        + list(extra)
    )
    assert code == 1  # the broken stack fails controls at --fail-on high
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def compared(document: dict[str, Any]) -> list[tuple[str, ...]]:
    return [tuple(json.dumps(f[key]) for key in COMPARED) for f in document["findings"]]


@pytest.mark.parametrize(
    "accounts",
    [(), ("--role-name", "driftscan-audit", "--accounts", f"{ACCOUNT_ID},{OTHER_ACCOUNT}")],
    ids=["own-account", "assumed-roles"],
)
def test_dask_shards_find_what_a_local_scan_finds(
    endpoint: str, scheduler: str, tmp_path: Path, accounts: tuple[str, ...]
) -> None:
    local = scan(endpoint, tmp_path, "local", *accounts)
    dask = scan(
        endpoint, tmp_path, "dask", *accounts, "--executor", "dask", "--scheduler", scheduler
    )

    assert compared(dask) == compared(local)
    statuses = {(f["region"], f["status"]) for f in dask["findings"]}
    assert {("us-east-1", "PASS"), ("us-west-2", "FAIL")} <= statuses
    for key in ("account_ids", "regions", "checks", "baseline_digest"):
        assert dask["scan"][key] == local["scan"][key], key
    assert dask["scan"]["account_ids"] == (
        [ACCOUNT_ID, OTHER_ACCOUNT] if accounts else [ACCOUNT_ID]
    )
    assert dask["scan"]["regions"] == list(REGIONS)
    with HistoryStore(tmp_path / "history.db") as store:
        recorded = {scan.scan_id: scan for scan in store.scans()}
        dask_record = recorded[dask["scan"]["id"]]
        local_record = recorded[local["scan"]["id"]]
        assert dask_record.complete and dask_record.scope == local_record.scope
        assert store.load(dask_record).resources == store.load(local_record).resources


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://no-such-host.invalid:8786"])
def test_an_unreachable_scheduler_is_one_line_and_exit_3(
    address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(executors, "SCHEDULER_TIMEOUT_SECONDS", 0.2)
    code = run(
        ["scan", "--region", "us-east-1", "--no-history", "--checks", "kms.cmk_rotation_enabled"]
        + ["--executor", "dask", "--scheduler", address]
    )

    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("driftscan: Dask scheduler unreachable: ") and err.count("\n") == 1


def test_a_failing_shard_is_one_line_and_exit_3(
    scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        ["scan", "--region", "us-east-1", "--no-history", "--checks", "kms.cmk_rotation_enabled"]
        + ["--endpoint-url", "http://127.0.0.1:9", "--executor", "dask", "--scheduler", scheduler]
    )

    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith(
        "driftscan: a Dask worker could not scan the workers' account in us-east-1: "
        "AWS endpoint unreachable: "
    )
    assert err.count("\n") == 1


def test_progress_counts_the_shards_as_they_finish(endpoint: str, scheduler: str) -> None:
    plan = build_plan(
        parse_baseline(baseline_for([COMPLIANT_ENV, BROKEN_ENV])), regions=list(REGIONS)
    )
    seen: list[Progress] = []
    session = AwsSession(SessionOptions(endpoint_url=endpoint))

    shards = executors.shards_of(plan, session, None)
    found = list(executors.scan_on_dask(scheduler, shards, on_progress=seen.append))

    assert [(p.done, p.total, p.unit) for p in seen] == [(1, 2, SHARDS), (2, 2, SHARDS)]
    assert seen[-1].findings == sum(len(shard.findings) for shard in found) > 0
    assert sorted(shard.region for shard in found) == sorted(REGIONS)


def test_a_worker_with_another_driftscan_is_one_line_and_exit_3(
    scheduler: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(executors, "__version__", "0.0.1")  # this side; the workers keep theirs
    code = run(
        ["scan", "--region", "us-east-1", "--no-history", "--checks", "kms.cmk_rotation_enabled"]
        + ["--executor", "dask", "--scheduler", scheduler]
    )

    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("driftscan: Dask worker tcp://127.0.0.1:") and err.count("\n") == 1
    assert ", this is 0.0.1: install the same version on every worker" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--executor", "dask"],
        ["--scheduler", "tcp://127.0.0.1:8786"],
        ["--executor", "dask", "--scheduler", "no-port"],
    ],
)
def test_bad_executor_options_are_usage_errors(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["scan", "--region", "us-east-1", "--no-history", *args])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("driftscan: ") and err.count("\n") == 1


def test_dask_not_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails

    code = run(["scan", "--no-history", "--executor", "dask", "--scheduler", "tcp://x:8786"])

    assert code == 2
    assert capsys.readouterr().err == (
        "driftscan: --executor dask needs the dask extra: pip install 'driftscan[dask]'\n"
    )


def test_a_worker_without_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a worker raises is the client's one line: it names the missing credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    plan = build_plan(parse_baseline(baseline_for([COMPLIANT_ENV])), regions=["us-east-1"])
    role = AccountsRequest(role_name="driftscan-audit", account_ids=(ACCOUNT_ID,))
    [shard] = executors.shards_of(plan, AwsSession(SessionOptions()), role)  # assumes a role

    with pytest.raises(SessionError, match="^no AWS credentials found"):
        executors.scan_shard(shard)
