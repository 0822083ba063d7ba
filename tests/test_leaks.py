"""Nothing sensitive leaks: values planted in the account (a secret's value, a container
environment variable, a free-text tag value) and the credentials and tokens the scan runs
with appear in no report format, no log line at -vv, no history row and no spool. And the
permissions the scanner asks for only read."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest

from reports import LINE_FORMATS, OutputFormat, renderer_for
from scanner.cli import run
from scanner.delivery import DeliveryOptions, Outgoing, deliver, open_transports
from scanner.delivery.http import RetryPolicy
from scanner.delivery.spool import spool_dir
from scanner.demo.base import DemoAccount
from scanner.demo.ecs import FAKE_SECRET_ENVIRONMENT, reference_ecs
from scanner.demo.network import make_vpc
from scanner.demo.secretsmanager import make_secret
from scanner.store.history import HistoryStore
from tests.faultproxy import moto_server

TAG_KEY = "DeployToken"
TAG_SECRET = "tag-value-8c1f-do-not-copy"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIALEAKTEST0KEYID42",
    "AWS_SECRET_ACCESS_KEY": "leak-test-secret-access-key-7b9e",
    "AWS_SESSION_TOKEN": "leak-test-session-token-51aa",
    "DRIFTSCAN_WEBHOOK_TOKEN": "leak-test-webhook-token-c3d0",
}
PLANTED = {
    "secret value": "not-a-real-password",  # in FAKE_SECRET_VALUE
    "container environment": FAKE_SECRET_ENVIRONMENT["DB_PASSWORD"],
    "tag value": TAG_SECRET,
    **CREDENTIALS,
}
SERVICES = "vpc,secretsmanager,ecs,iam"


def closed_port() -> int:
    """A loopback port nothing listens on: a webhook there is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Scan an account holding the planted values at -vv in a subprocess (recorded in a
    history store), render the recorded scan in every format, and spool it for a webhook
    that is down. Yields every artefact's text by name."""
    tmp = tmp_path_factory.mktemp("leaks")
    with moto_server() as url, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        account = DemoAccount(endpoint_url=url)
        network = make_vpc(account, name="prod-vpc", tags={TAG_KEY: TAG_SECRET})
        make_secret(account, name="prod-db", tags={TAG_KEY: TAG_SECRET})
        reference_ecs(
            account, compliant=False, prefix="prod", subnet_ids=network.private_subnet_ids
        )
        history = tmp / "data" / "history.db"
        report = tmp / "report.json"
        process = subprocess.run(
            [sys.executable, "-m", "scanner", "-vv", "scan", "--endpoint-url", url,
             "--region", "us-east-1", "--services", SERVICES, "--history", str(history),
             "--format", "json", "--output", str(report), "--fail-on", "never"],
            env={**os.environ, **CREDENTIALS}, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
    assert process.returncode == 0, process.stderr[-2000:]
    texts = {
        "stderr at -vv": process.stderr,
        "stdout": process.stdout,
        "report": report.read_text(),
    }
    with HistoryStore(history) as store:
        record = store.latest()
        assert record is not None
        result = store.load(record)
    texts["history"] = "\n".join(sqlite3.connect(history).iterdump())
    for output_format in OutputFormat:
        texts[output_format.value] = "".join(renderer_for(output_format)(result))
        if output_format in LINE_FORMATS:
            texts[f"{output_format.value} --jsonl"] = "".join(
                renderer_for(output_format, jsonl=True)(result)
            )
    options = DeliveryOptions(env=CREDENTIALS, retry=RetryPolicy(attempts=1))
    transports = open_transports([f"https://127.0.0.1:{closed_port()}/hook"], options)
    [delivery] = deliver(Outgoing(result=result), transports, spool_dir(history))
    assert delivery.pending == len(result.findings) > 0
    for path in sorted(spool_dir(history).iterdir()):
        texts[f"spool {path.name}"] = path.read_text()
    yield texts


def test_the_scan_saw_what_was_planted(artefacts: dict[str, str]) -> None:
    """Guards the test below: the planted resources were read and recorded."""
    assert TAG_KEY in artefacts["history"]  # the tag's key is kept, its value is not
    assert "prod-db" in artefacts["history"] and "prod-app" in artefacts["history"]
    assert "API call ecs:DescribeTaskDefinition" in artefacts["stderr at -vv"]
    assert any(name.startswith("spool ") for name in artefacts)
    assert {"table", "json", "ocsf", "asff", "jsonl", "csv"} <= set(artefacts)


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_a_planted_value_appears_nowhere(artefacts: dict[str, str], planted: str) -> None:
    value = PLANTED[planted]
    assert [name for name, text in artefacts.items() if value in text] == []


READ_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Z]\w*$")


@pytest.mark.parametrize(
    ("argv", "not_reads"),
    [
        # API Gateway authorises its reads by HTTP verb; LookupEvents reads CloudTrail's
        # event history (attribution, off with --no-attribution).
        ([], {"apigateway:GET", "cloudtrail:LookupEvents"}),
        (["--no-attribution"], {"apigateway:GET"}),
        (
            ["--cfn-drift"],
            {"apigateway:GET", "cloudformation:DetectStackDrift", "cloudtrail:LookupEvents"},
        ),
    ],
)
def test_the_generated_policy_allows_only_reads(
    argv: list[str], not_reads: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """DetectStackDrift starts a drift detection job; only --cfn-drift asks for it.
    LookupEvents reads; --no-attribution leaves it out."""
    capsys.readouterr()
    assert run(["iam-policy", *argv]) == 0
    [statement] = json.loads(capsys.readouterr().out)["Statement"]
    assert {a for a in statement["Action"] if not READ_ACTION.match(a)} == not_reads
