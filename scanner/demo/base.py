"""What every builder shares: clients into the moto account and moto backend patches.

Backend patches stand in for AWS behaviour moto 5.2 lacks (docs/moto-gaps.md);
they work with in-process ``mock_aws`` and with a ``ThreadedMotoServer`` in this process.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

ACCOUNT_ID = "123456789012"
"""moto's default account."""

ID_SEED = 12
"""Seeds moto's ids (``moto_api._internal.mock_random``) while an account is built."""


class DemoAccount:
    """Clients for building resources in one moto account and region."""

    def __init__(self, region: str = "us-east-1", endpoint_url: str | None = None) -> None:
        self.region = region
        self.account_id = ACCOUNT_ID
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._names = itertools.count(1)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def name(self, prefix: str) -> str:
        """A unique, readable resource name."""
        return f"{prefix}-{next(self._names)}"

    def backend(self, service: str) -> Any:
        """moto's in-memory model of a service in this account and region."""
        import importlib

        module = importlib.import_module(f"moto.{service}.models")
        backends = getattr(module, f"{service}_backends")
        return backends[self.account_id][self.region]


def speed_up_moto_kms() -> None:
    """moto makes an RSA key for every KMS key, 50-180 ms each; symmetric keys share one."""
    from moto.kms import models, utils

    original = utils.generate_private_key
    if getattr(models.generate_private_key, "driftscan_fast", False):
        return

    @functools.cache
    def shared(key_spec: str) -> Any:
        return original(key_spec)

    def fast(key_spec: str) -> Any:
        return shared(key_spec) if key_spec == "SYMMETRIC_DEFAULT" else original(key_spec)

    fast.driftscan_fast = True  # type: ignore[attr-defined]
    models.generate_private_key = fast


@contextmanager
def same_ids_every_run() -> Iterator[None]:
    """Make what is built inside get the same ids, names and ARNs on every run.

    moto draws every generated id (key ids, ``sg-``, ``fs-``, API ids, ...) from one seedable
    ``Random``. Its state is put back afterwards, so ids made later in this process (tests on
    a long-lived moto server) do not repeat the built ones.
    """
    from moto.moto_api._internal import mock_random

    state = mock_random.getstate()
    mock_random.seed(ID_SEED)
    try:
        yield
    finally:
        mock_random.setstate(state)
