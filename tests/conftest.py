"""Shared fixtures: a fresh moto account per test, built with the demo builders; history
stores of both kinds (SQLite, and PostgreSQL on a server the session starts)."""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Iterator
from pathlib import Path

import botocore.loaders
import botocore.retries.adaptive
import botocore.retries.standard
import botocore.session
import pytest
from moto import mock_aws

from scanner.demo.base import DemoAccount, speed_up_moto_kms
from scanner.engine import attribution
from scanner.store.location import HistoryLocation
from tests.cloudtrail_standin import faster_lookup_limiter
from tests.pg import PostgresServer, postgres_server

GC_THRESHOLD = (50_000, 20, 20)
"""Collections of the youngest generation every 50,000 allocations instead of 700."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """The objects that live for the whole run (botocore's and moto's models, the modules)
    are frozen out of the cyclic collector, and it runs less often: moto makes a great many
    objects, and the collector rescanning them took a quarter of the suite's time. Memory,
    not behaviour, is what this trades (garbage still goes, a little later)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@pytest.fixture(autouse=True, scope="session")
def _one_botocore_loader() -> Iterator[None]:
    """Every botocore session of the test process shares one data loader, which parses each
    of botocore's JSON files (endpoints, service models, rulesets) once. moto makes boto3 a
    new default session per ``mock_aws``, and a session's own loader parsed them again: a
    third of the time of the check tests. The scanner's sessions register a loader of their
    own (``scanner.engine.session``) and are not affected."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            botocore.session, "create_loader", functools.cache(botocore.loaders.create_loader)
        )
        yield


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's credentials, profile or endpoint."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Every new moto EC2 backend would otherwise load its default AMIs (~0.4 s a test).
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # Scans record into the history store: never the developer's, never one shared by tests.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(autouse=True)
def _lookup_limiters_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's scans share LookupEvents limiters of their own, as the scans of one
    process do (``attribution.SHARED_LIMITERS``): a test never waits for the lookups an
    earlier test made in the same process. They run on the faster clock of
    ``faster_lookup_limiter`` (tests/test_attribution.py proves the limiter on it);
    tests/test_attribution_e2e.py scans on AWS's own."""
    monkeypatch.setattr(attribution.SHARED_LIMITERS, "_limiters", {})
    monkeypatch.setattr(attribution.SHARED_LIMITERS, "_factory", faster_lookup_limiter)


@pytest.fixture(autouse=True)
def _no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries at once: no backoff between attempts, and no wait for its adaptive
    mode's send-rate bucket after a throttling error. Tests prove which requests are retried
    and what a scan then reports (an emulator's HTTP 500 for LookupEvents is retried seven
    times); the random waits between the attempts only made them slow. No test times them:
    ``scanner.engine.session.worst_case_seconds``, which counts them, is checked against the
    README."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0
    )
    monkeypatch.setattr(
        botocore.retries.adaptive.ClientRateLimiter, "on_sending_request", lambda *_, **__: None
    )


@pytest.fixture
def account() -> Iterator[DemoAccount]:
    """An empty moto account in us-east-1."""
    speed_up_moto_kms()
    with mock_aws():
        yield DemoAccount()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | str]:
    """The session's PostgreSQL server, or why it could not be started."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer | str) -> str:
    """The URL of an empty database of its own on the session's server. Without a server
    the test is skipped, saying why; in CI (``DRIFTSCAN_TEST_REQUIRE_POSTGRESQL``) it fails."""
    if isinstance(postgres, str):
        if os.environ.get("DRIFTSCAN_TEST_REQUIRE_POSTGRESQL"):
            pytest.fail(postgres)
        pytest.skip(postgres)
    return postgres.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> HistoryLocation:
    """A history store not created yet: a SQLite file, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return HistoryLocation(path=tmp_path / "history.db")
    return HistoryLocation(url=request.getfixturevalue("postgres_url"))
