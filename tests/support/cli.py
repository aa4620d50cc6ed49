"""The terminal client as a person runs it: `offcoder` in a subprocess with its own config
directory, and `login`'s loopback flow with the browser's half done over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.support.signin import provider_consent

CLI = [sys.executable, "-m", "offcoder.cli"]


async def cli(config: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config), "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def login(server: str, config: Path, subject: str) -> None:
    env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config)}
    process = await asyncio.create_subprocess_exec(
        *CLI, "login", "--server", server, "--no-browser",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    address = ""
    async with asyncio.timeout(30):
        while not address.startswith(f"{server}/v1/auth/"):
            address = (await process.stdout.readline()).decode().strip()
    async with httpx.AsyncClient() as browser:
        to_provider = await browser.get(address)  # our broker: 302 to the provider
        assert to_provider.status_code == 302, to_provider.text
        back = await provider_consent(to_provider.headers["location"], subject)
        to_cli = await browser.get(back)  # our callback: 302 to the CLI's loopback listener
        assert to_cli.status_code == 302, to_cli.text
        assert to_cli.headers["location"].startswith("http://127.0.0.1:")
        landed = await browser.get(to_cli.headers["location"])
        assert "Signed in" in landed.text
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
