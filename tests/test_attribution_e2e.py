"""Issue 13's "done when" for attribution: a moto account scanned twice with a history store;
between the scans a key's rotation is turned off and 5432 is opened to 0.0.0.0/0. The second
scan names who did each (from the CloudTrail stand-in) in every format, the cron line and
``diff``, never sends more than 2 LookupEvents in a second, and ``report``/``export`` show it
later from the store without a request."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import botocore.exceptions
import jsonschema
import pytest

from scanner.app.attribute import StoreLookupCache, attribute, cloudtrail_clients
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.console_changes import _database_port_opened, _key_rotation_off
from scanner.demo.kms import make_key
from scanner.demo.stack import COMPLIANT_ENV, DEMO_BASELINE, build_reference_stack
from scanner.engine import attribution
from scanner.engine.accounts import Target
from scanner.engine.attribution import (
    Attributor,
    LookupAnswer,
    LookupKey,
    SlidingWindowLimiter,
    Subject,
    Window,
    parse_event,
)
from scanner.model import Status
from scanner.store import drift as drift_diff
from scanner.store.history import HistoryStore
from tests.cloudtrail_standin import (
    ASSUMED_ROLE,
    IAM_USER,
    CloudTrailStandIn,
    _lookup_event,
    record,
)
from tests.faultproxy import moto_server
from tests.test_formats import schema
from tests.test_history import finding, result

CHECKS = "kms.cmk_rotation_enabled,ec2.datastore_sg_least_privilege"
ROLE = "arn:aws:iam::123456789012:role/RoleToBeAssumed"
ALICE = "arn:aws:iam::123456789012:user/Alice"


@pytest.fixture(autouse=True)
def _lookups_on_aws_clock(
    _lookup_limiters_of_its_own: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """These scans look events up on AWS's own clock, against a stand-in that throttles a
    third request within a second as CloudTrail does: the limiter's real period, end to end
    (conftest gives every other test a faster one)."""
    monkeypatch.setattr(attribution.SHARED_LIMITERS, "_factory", SlidingWindowLimiter)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def endpoint(server_url: str) -> Iterator[str]:
    """The module's moto server, with no account built in it."""
    reset = urllib.request.Request(f"{server_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    yield server_url
    # The server's accounts live in this process's moto backends: none for the next test.
    urllib.request.urlopen(reset).close()


def drift(account: DemoAccount) -> list[dict[str, object]]:
    """The two console changes, and the CloudTrail records of them."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _key_rotation_off(account, alias=f"alias/{COMPLIANT_ENV}-rds")
    _database_port_opened(account, group_name=f"{COMPLIANT_ENV}-vpc-database")
    kms, ec2 = account.client("kms"), account.client("ec2")
    key_arn = kms.describe_key(KeyId=f"alias/{COMPLIANT_ENV}-rds")["KeyMetadata"]["Arn"]
    key_id = key_arn.rpartition("/")[2]
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{COMPLIANT_ENV}-vpc-database"]}]
    )["SecurityGroups"]
    group_id = group["GroupId"]
    opened = {"items": [{"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432}]}
    return [
        record(
            name="DisableKeyRotation",
            source="kms.amazonaws.com",
            when=when,
            identity=ASSUMED_ROLE,
            resources=[("AWS::KMS::Key", key_arn)],
            parameters={"keyId": key_id},
        ),
        record(
            name="AuthorizeSecurityGroupIngress",
            source="ec2.amazonaws.com",
            when=when,
            identity=IAM_USER,
            resources=[("AWS::EC2::SecurityGroup", group_id)],
            parameters={"groupId": group_id, "ipPermissions": opened},
        ),
    ]


def test_the_second_scan_names_who_changed_each_new_failure_everywhere(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = DemoAccount(endpoint_url=endpoint)
    build_reference_stack(account, compliant=True, env=COMPLIANT_ENV)
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(DEMO_BASELINE)
    history = str(tmp_path / "history.db")
    scan = ["scan", "-r", "us-east-1", "--endpoint-url", endpoint, "--baseline", str(baseline)]
    scan += ["--checks", CHECKS, "--history", history, "--fail-on", "never"]
    standin = CloudTrailStandIn([])
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", standin.url)
    with standin.running():
        assert run([*scan, "--quiet"]) == 0  # all pass; no previous scan: nothing to ask
        assert capsys.readouterr().out == "" and standin.requests == []
        standin.records += drift(account)
        output = tmp_path / "scan.json"
        assert run([*scan, "--quiet", "-f", "json", "-o", str(output)]) == 0
        cron = capsys.readouterr().out.splitlines()
        asked = len(standin.requests)
        assert asked > 0 and standin.throttled == 0
        # Never more than 2 LookupEvents requests in any second.
        times = standin.arrivals
        assert all(sum(1 for t in times if s <= t < s + 1.0) <= 2 for s in times)

        rotation = f"changed by {ROLE} (session MySessionName) with DisableKeyRotation"
        ingress = f"changed by {ALICE} with AuthorizeSecurityGroupIngress"
        assert len(cron) == 2
        assert any(line.startswith("new FAIL: high kms.") and rotation in line for line in cron)
        assert any("ec2.datastore_sg_least_privilege" in line and ingress in line for line in cron)
        attributed = {
            f["check_id"]: f["attribution"]
            for f in json.loads(output.read_text())["findings"]
            if "attribution" in f
        }
        jsonschema.validate(json.loads(output.read_text()), schema("findings"))
        assert attributed.keys() == {"kms.cmk_rotation_enabled", "ec2.datastore_sg_least_privilege"}
        assert attributed["kms.cmk_rotation_enabled"]["summary"].startswith(rotation)
        assert attributed["ec2.datastore_sg_least_privilege"]["events"][0]["principal"] == ALICE

        def export(fmt: str, *extra: str) -> str:
            target = tmp_path / f"export.{fmt}"
            argv = ["export", "--last", "-f", fmt, "--history", history, "-o", str(target)]
            assert run([*argv, *extra]) == 0
            return target.read_text()

        for fmt in ("table", "json", "jsonl", "csv", "html", "ocsf", "asff"):
            text = export(fmt)
            assert "DisableKeyRotation" in text and "AuthorizeSecurityGroupIngress" in text, fmt
            assert ROLE in text and ALICE in text, fmt
        rows = list(csv.DictReader(io.StringIO(export("csv"))))
        assert any(row["changed_by"].startswith(rotation) for row in rows)
        report = tmp_path / "report.html"
        assert run(["report", "--last", "--history", history, "-o", str(report)]) == 0
        assert ROLE in report.read_text()
        for fmt in ("table", "json"):
            target = tmp_path / f"diff.{fmt}"
            assert run(["diff", "--history", history, "-f", fmt, "-o", str(target)]) in (0, 1)
            assert "DisableKeyRotation" in target.read_text() and ALICE in target.read_text()
        jsonschema.validate(json.loads(target.read_text()), schema("diff"))
        assert len(standin.requests) == asked  # all from the store


@pytest.mark.parametrize("case", ["no-attribution", "denied"])
def test_attribution_off_or_denied_never_changes_a_finding(
    case: str,
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = DemoAccount(endpoint_url=endpoint)
    key_id = make_key(account, rotation=True).rpartition("/")[2]
    history = str(tmp_path / "history.db")
    scan = ["scan", "-r", "us-east-1", "--endpoint-url", endpoint, "--history", history]
    scan += ["--checks", "kms.cmk_rotation_enabled", "--fail-on", "never", "--quiet"]
    standin = CloudTrailStandIn([])
    standin.deny = case == "denied"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", standin.url)
    with standin.running():
        assert run(scan) == 0
        assert capsys.readouterr().out == ""
        account.client("kms").disable_key_rotation(KeyId=key_id)
        with HistoryStore(Path(history)) as store:
            first = store.latest()
        assert first is not None
        # --drift-from the first scan: the key's configuration change is attributed too.
        extra = ["--drift-from", first.scan_id, "-f", "json", "-o", str(tmp_path / "out.json")]
        if case == "no-attribution":
            extra.append("--no-attribution")
        assert run([*scan, *extra]) == 0
        lines = capsys.readouterr().out.splitlines()
    findings = json.loads((tmp_path / "out.json").read_text())["findings"]
    (failing,) = [f for f in findings if f["status"] == "FAIL"]
    assert failing["resource_id"] == key_id
    assert lines[0].startswith("new FAIL: ") and len(lines) > 1  # and the changed fields
    if case == "no-attribution":
        assert standin.requests == [] and "attribution" not in failing
        assert not any("changed by" in line for line in lines)
    else:
        assert len(standin.requests) == 1  # denied once: not asked again in that region
        assert failing["attribution"]["status"] == "unavailable"
        assert failing["attribution"]["reason"] == "access_denied"
        denied = "(changed by: not known (access denied: AccessDenied"
        assert all(denied in line and line.endswith(")") for line in lines), lines


class _Session:
    """An AwsSession's client(): which session a CloudTrail client came from."""

    def __init__(self, name: str) -> None:
        self.name = name

    def client(self, service: str, region: str) -> tuple[str, str, str]:
        return (self.name, service, region)


def test_cloudtrail_is_asked_with_the_session_that_scanned_the_account() -> None:
    own, other = _Session("own"), _Session("assumed")
    targets = [Target(account_id="111111111111", session=other)]  # type: ignore[arg-type]
    client_for = cloudtrail_clients(own, targets, None)  # type: ignore[arg-type]
    assert client_for("111111111111", "eu-west-1") == ("assumed", "cloudtrail", "eu-west-1")
    assert client_for("222222222222", "us-east-1") == ("own", "cloudtrail", "us-east-1")


def test_the_history_store_is_the_engines_lookup_cache(tmp_path: Path) -> None:
    key = LookupKey(
        account_id="123456789012",
        region="us-east-1",
        attribute="ResourceName",
        value="sg-1",
        start="2026-12-01T00:00:00Z",
        end="2026-12-02T00:00:00Z",
    )
    answer = LookupAnswer(events=(parse_event(_lookup_event(drift_record())),))
    with HistoryStore(tmp_path / "history.db") as store:
        cache = StoreLookupCache(store)
        assert cache.get(key) is None
        cache.put(key, answer)
    with HistoryStore(tmp_path / "history.db") as store:
        assert StoreLookupCache(store).get(key) == answer


def drift_record() -> dict[str, object]:
    return record(
        name="AuthorizeSecurityGroupIngress",
        source="ec2.amazonaws.com",
        when="2026-12-01T12:00:00Z",
        identity=IAM_USER,
        resources=[("AWS::EC2::SecurityGroup", "sg-1")],
        parameters={"groupId": "sg-1"},
    )


class _FailingCloudTrail:
    """A CloudTrail client whose LookupEvents fails past botocore's retries."""

    def __init__(self) -> None:
        self.calls = 0
        self.meta = SimpleNamespace(events=SimpleNamespace(register=lambda *_, **__: None))

    def lookup_events(self, **_: object) -> dict[str, object]:
        self.calls += 1
        error = {"Error": {"Code": "InternalFailure", "Message": "try later"}}
        raise botocore.exceptions.ClientError(error, "LookupEvents")  # type: ignore[arg-type]


def test_a_failure_that_outlasted_the_retries_is_not_asked_again_in_that_region() -> None:
    """Each lookup would wait for botocore's retries again: the scan moves on instead."""
    client = _FailingCloudTrail()
    now = datetime.now(UTC)
    attributor = Attributor(
        lambda account, region: client, Window(start=now - timedelta(days=1), end=now)
    )
    subjects = [
        Subject(check_id=None, account_id="123456789012", region="us-east-1", resource_id=name)
        for name in ("sg-1", "sg-2")
    ]
    answers = [attributor.attribute(subject) for subject in subjects]
    assert client.calls == 1
    assert {(a.status.value, a.reason) for a in answers} == {("unavailable", "lookup_failed")}


def test_what_the_lookup_budget_leaves_over_is_named() -> None:
    before = result("scan-1", [], started_at="2026-12-07T00:00:00Z")
    failing = [finding(f"key-{n}", Status.FAIL) for n in (1, 2)]
    after = result("scan-2", failing, started_at="2026-12-07T01:00:00Z")
    new = drift_diff.compare_findings(before.findings, after.findings).new_failures
    standin = CloudTrailStandIn([])
    with standin.running():
        attributed = attribute(
            after,
            before.metadata.started_at,
            new,
            drift_diff.ResourcesDiff(),
            lambda account, region: standin.client(region),
            None,
            max_lookups=1,
        )
    first, second = (attributed.attributions[f.finding_id] for f in failing)
    assert (first["status"], first["reason"]) == ("none", "no_events")
    assert (second["status"], second["reason"]) == ("unavailable", "budget_exhausted")
    assert attributed.attribution_left_over == (failing[1].finding_id,)
    assert attributed.findings == after.findings  # attribution never changes a finding
