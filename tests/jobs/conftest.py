from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from tests.support.runtime import docker_proxy, runtime_app

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def proxy_socket(state_dir: Path) -> Iterator[str]:
    with docker_proxy(state_dir) as socket_path:
        yield socket_path


# Module scope: a test module that needs to control which worker runs its jobs (the crash
# test) does not share the queue with this worker.
@pytest.fixture(scope="module")
async def runtime(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext, Worker]]:
    async with runtime_app(settings, prepared, proxy_socket, job_max_log_bytes=256 * 1024) as r:
        yield r


@pytest.fixture(scope="module")
async def priced_runtime(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext, Worker]]:
    """Jobs charged one minor unit a second (USD)."""
    async with runtime_app(
        settings, prepared, proxy_socket, job_price_per_minute={"USD": 60}
    ) as runtime:
        yield runtime
