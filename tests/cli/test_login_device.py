"""`offcoder login --device` end to end (RFC 8628, decision 0032): the real CLI process against a
served app prints a code, a Chromium page signed in as a person approves it, the CLI saves that
person's tokens and `offcoder whoami` shows them. Also: a denial and Ctrl-C end it without
credentials, and plain `login` on a machine with no browser suggests `--device`."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from offcoder.auth.models import DeviceAuthorization
from offcoder.auth.tokens import digest
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context
from tests.support.browser import chromium
from tests.support.cli import CLI, cli
from tests.support.console import PHONE, signed_in_page
from tests.support.device import console_sign_in
from tests.support.served import served_at_its_own_url

NO_BROWSER_HERE = ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "SSH_CONNECTION", "SSH_TTY")


@pytest.fixture(scope="module")
async def served(
    settings: Settings, prepared: PreparedDatabase
) -> AsyncIterator[tuple[str, AppContext]]:
    # A 1 s polling interval, so the CLI notices the approval within a second or two; every
    # terminal and browser here is 127.0.0.1, so the device limits are out of the way (they
    # have their own tests in tests/auth/test_device_grant.py).
    faster = {
        "device_code_interval_s": 1,
        "rate_limit_device_code": "10000/minute",
        "rate_limit_device_verify": "10000/minute",
    }
    ctx = build_context(settings.model_copy(update=faster), prepared)
    try:
        async with served_at_its_own_url(ctx) as url:
            yield url, ctx
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
def server(served: tuple[str, AppContext]) -> str:
    return served[0]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def start(config: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in NO_BROWSER_HERE},
        "OFFCODER_CONFIG_DIR": str(config),
        **env,
    }
    return await asyncio.create_subprocess_exec(
        *CLI, *args, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def line_starting(process: asyncio.subprocess.Process, prefix: str) -> str:
    """Read the process's stdout up to the first line that starts with `prefix`."""
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, "the CLI ended before printing " + prefix
            if line.strip().startswith(prefix):
                return line.strip()


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_login_device_signs_in_as_the_person_who_approves_in_the_browser(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    config = tmp_path / "offcoder"
    process = await start(
        config, "login", "--device", "--server", server, "--device-name", "ssh box"
    )
    complete = await line_starting(process, f"{server}/console/device?user_code=")
    user_code = complete.rsplit("=", 1)[1]

    handle = f"device-{secrets.token_hex(4)}"
    context, page = await signed_in_page(
        browser, console=server, subject=f"{handle}@example.test", **PHONE
    )
    try:
        changed = await page.evaluate(
            """async (handle) => {
              const csrf = document.querySelector('meta[name="csrf-token"]').content;
              const r = await fetch('/v1/me', {method: 'PATCH', body: JSON.stringify({handle}),
                headers: {'content-type': 'application/json', 'X-OffCoder-CSRF': csrf}});
              return r.status;
            }""",
            handle,
        )
        assert changed == 200
        await page.goto(complete)
        await expect(page.locator("#device-code")).to_have_text(user_code)
        await expect(page.locator("#device-name")).to_have_text("ssh box")
        await page.get_by_role("button", name="Approve").click()
        await expect(page.get_by_role("status")).to_contain_text("Approved")
    finally:
        await context.close()

    code, stderr = await finished(process)
    assert code == 0, stderr
    assert f"Signed in to {server}" in stderr
    credentials = config / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    saved = json.loads(credentials.read_text())
    assert set(saved) == {"server", "access_token", "refresh_token", "session_id"}
    assert json.loads((config / "server.json").read_text()) == {"server": server}

    code, out, err = await cli(config, "whoami")
    assert code == 0, err
    assert f"handle:  {handle}" in out and f"server:  {server}" in out


async def test_a_denied_device_login_saves_nothing(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    config = tmp_path / "offcoder"
    process = await start(config, "login", "--device", "--server", server)
    complete = await line_starting(process, f"{server}/console/device?user_code=")
    context, page = await signed_in_page(
        browser, server, f"denier-{secrets.token_hex(3)}@example.test", **PHONE
    )
    try:
        await page.goto(complete)
        await page.get_by_role("button", name="Deny").click()
        await expect(page.get_by_role("status")).to_contain_text("Denied")
    finally:
        await context.close()
    code, stderr = await finished(process)
    assert code == 1 and "The sign-in was denied in the browser; nothing was saved" in stderr, (
        stderr
    )
    assert not (config / "credentials.json").exists()


async def test_ctrl_c_stops_waiting_cleanly(server: str, tmp_path: Path) -> None:
    config = tmp_path / "offcoder"
    process = await start(config, "login", "--device", "--server", server)
    await line_starting(process, f"{server}/console/device?user_code=")
    process.send_signal(signal.SIGINT)
    code, stderr = await finished(process)
    assert code == 130, stderr
    assert "Stopped waiting; not signed in" in stderr and "Traceback" not in stderr
    assert not (config / "credentials.json").exists()


async def test_plain_login_without_a_browser_here_suggests_device(
    server: str, tmp_path: Path
) -> None:
    for env, hinted in (
        ({}, True),  # no display, no BROWSER
        ({"SSH_CONNECTION": "203.0.113.9 50000 10.0.0.2 22", "DISPLAY": ":0"}, True),
        ({"BROWSER": "true"}, False),
    ):
        config = tmp_path / f"offcoder-{len(env)}-{hinted}"
        process = await start(config, "login", "--server", server, "--no-browser", **env)
        await line_starting(process, f"{server}/v1/auth/")
        process.terminate()
        _, stderr = await finished(process)
        assert ("offcoder login --device" in stderr) == hinted, (env, stderr)


async def request_of(ctx: AppContext, user_code: str) -> DeviceAuthorization:
    async with ctx.database.system_session() as s:
        row = await s.scalar(
            select(DeviceAuthorization).where(
                DeviceAuthorization.user_code_hash == digest(user_code.replace("-", ""))
            )
        )
    assert row is not None
    return row


async def until(
    ctx: AppContext, user_code: str, holds: Callable[[DeviceAuthorization], bool]
) -> None:
    """Wait (up to 10 s) until the CLI's polls make `holds` true of its request's row."""
    for _ in range(100):
        if holds(await request_of(ctx, user_code)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the CLI did not poll as expected")


async def test_login_device_honours_slow_down(
    served: tuple[str, AppContext], tmp_path: Path
) -> None:
    server, ctx = served
    config = tmp_path / "offcoder"
    process = await start(config, "login", "--device", "--server", server)
    user_code = (await line_starting(process, f"{server}/console/device?user_code=")).rsplit(
        "=", 1
    )[1]
    await until(ctx, user_code, lambda row: row.last_polled_at is not None)
    # the server now wants 2 s between polls: the CLI's next poll, 1 s on, is told slow_down
    # (and 7 s); polling on at 1 s would be told again and again (12, 17, ...)
    async with ctx.database.system_session() as s:
        await s.execute(
            update(DeviceAuthorization)
            .where(DeviceAuthorization.user_code_hash == digest(user_code.replace("-", "")))
            .values(interval_s=2)
        )
    await until(ctx, user_code, lambda row: row.interval_s != 2)
    async with httpx.AsyncClient(base_url=server) as phone:
        await console_sign_in(phone, f"patient-{secrets.token_hex(3)}@example.test")
        shown = await phone.get("/console/device", params={"user_code": user_code})
        approved = await phone.post(
            "/console/device",
            data={"csrf": phone.cookies["oc_csrf"], "user_code": user_code, "decision": "approve"},
        )
        assert shown.status_code == approved.status_code == 200, approved.text
    code, stderr = await finished(process)
    assert code == 0, stderr
    assert (await request_of(ctx, user_code)).interval_s == 7  # one slow_down, then obeyed
