from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from tests.support.runtime import NETWORK_RUNTIMES, docker_proxy, runtime_app, runtime_of
from tests.support.served import served_at_its_own_url

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def proxy_socket(state_dir: Path) -> Iterator[str]:
    # gVisor allowed beside runc: the network tests run under both (`under_each_runtime`).
    with docker_proxy(state_dir, runtimes=",".join(NETWORK_RUNTIMES)) as socket_path:
        yield socket_path


# Module scope: a test module that needs to control which worker runs its jobs (the crash
# test) does not share the queue with this worker. Under runc, or the sandbox runtime a test
# asks for (`under_each_runtime("runtime")`): one worker at a time, as pytest ends a module
# fixture before it builds it again with another param.
@pytest.fixture(scope="module")
async def runtime(
    request: pytest.FixtureRequest,
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext, Worker]]:
    async with runtime_app(
        settings,
        prepared,
        proxy_socket,
        job_max_log_bytes=256 * 1024,
        sandbox_runtime=runtime_of(request),
    ) as r:
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


@pytest.fixture(scope="module")
async def server(runtime: tuple[httpx.AsyncClient, AppContext, Worker]) -> AsyncIterator[str]:
    """The app on a loopback port, its public URL its own: what the terminal client talks to."""
    async with served_at_its_own_url(runtime[1]) as url:
        yield url
