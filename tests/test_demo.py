"""The demo account is the same on every run: moto's ids seeded, the account id pinned."""

from __future__ import annotations

import os

import pytest
from moto.moto_api._internal import mock_random

from scanner.demo import stack
from scanner.demo.base import ACCOUNT_ID, same_ids_every_run


def test_seeded_ids_repeat_and_leave_motos_randomness_as_it_was() -> None:
    before = mock_random.getstate()
    with same_ids_every_run():
        first = mock_random.uuid4()
    assert mock_random.getstate() == before
    with same_ids_every_run():
        assert mock_random.uuid4() == first


def test_demo_account_keeps_its_account_id_whatever_moto_account_id_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    with stack.demo_account() as (session, _region, changes):
        assert session.client("sts").get_caller_identity()["Account"] == ACCOUNT_ID
        assert changes == []
    assert os.environ["MOTO_ACCOUNT_ID"] == "999999999999"
