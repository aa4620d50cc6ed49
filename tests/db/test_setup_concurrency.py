"""Several processes starting at once (replicas, a separate worker) set the database up one at a
time: none of them fails on the others' DDL."""

from __future__ import annotations

import threading

import pytest

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase, role_password, setup

pytestmark = pytest.mark.db


def test_concurrent_setups_all_succeed(settings: Settings, prepared: PreparedDatabase) -> None:
    password = role_password(settings)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def one() -> None:
        try:
            start.wait()
            setup(prepared.admin_url, prepared.roles, password)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
