"""The README's terminal session, run as written: `login`, `projects create`, `push`, `run`, then
the job's output read from the API with `jq`. The block is read from README.md, so the two cannot
drift apart; only the server's address and the browser's part of `login` are the test's."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from offcoder.main import create_app
from tests.support.cli import login
from tests.support.served import free_port, served

pytestmark = pytest.mark.docker

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- worked-session: run by tests/jobs/test_readme_session.py -->"


def worked_session() -> list[str]:
    """The lines of the fenced block right after the README's marker."""
    text = README.read_text()
    assert MARKER in text, "the README's worked session lost its marker"
    block = re.search(r"```sh\n(.*?)\n```", text[text.index(MARKER) :], re.DOTALL)
    assert block is not None
    return block.group(1).splitlines()


@pytest.fixture(scope="module")
async def server(
    runtime: tuple[httpx.AsyncClient, AppContext, Worker],
) -> AsyncIterator[str]:
    _, ctx, _ = runtime
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    local = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"public_url": url}))
    async with served(create_app(local), port=port):
        yield url


async def test_the_readme_session_runs_as_written(server: str, tmp_path: Path) -> None:
    lines = worked_session()
    assert lines[0] == "SERVER=http://127.0.0.1:8000", "the session starts by naming the server"
    assert lines[1].startswith("offcoder login "), "then signs in"
    assert shlex.split(lines[1]) == ["offcoder", "login", "--server", "$SERVER", "--no-browser"]

    # The README's reader: a home of their own (~/.config/offcoder), `offcoder` on the PATH.
    home = tmp_path / "home"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "offcoder"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m offcoder.cli "$@"\n')
    shim.chmod(0o755)
    env = {
        k: v for k, v in os.environ.items() if k not in ("OFFCODER_CONFIG_DIR", "XDG_CONFIG_HOME")
    }
    env |= {"HOME": str(home), "PATH": f"{bin_dir}:{env['PATH']}", "SERVER": server}

    # `login --no-browser` prints an address a person opens; the test's browser does that part,
    # and the credentials land where the reader's would (~/.config/offcoder).
    await login(server, home / ".config" / "offcoder", "readme-reader@example.test")
    assert (home / ".config" / "offcoder" / "credentials.json").exists()

    work = tmp_path / "work"
    work.mkdir()
    script = "\n".join(["set -euo pipefail", *lines[2:]])
    # In a process of its own: this event loop serves the API the session talks to.
    shell = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=work, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(shell.communicate(), 180)
    stdout, stderr = out.decode(), err.decode()
    assert shell.returncode == 0, (stdout, stderr)
    # `run` printed the program's output live, then the API gave it back through jq.
    said = stdout.splitlines()
    assert "hello from the sandbox" in said, (stdout, stderr)
    assert said.index("stdout: hello from the sandbox") > said.index("hello from the sandbox")
