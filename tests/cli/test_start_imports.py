"""The user's commands start without the server (issue 17, item 10): `offcoder --help` and the
client's commands import none of SQLAlchemy, FastAPI, the AI or payment SDKs or our server
modules. A test of what is imported, read from `python -X importtime`, not of time (the machine's
load would make a timing flaky); docs/performance.md gives the times."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import offcoder

# Modules of the server: a user command importing any of them has lost its fast start.
SERVER_MODULES = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "openai",
    "anthropic",
    "stripe",
    "razorpay",
    "psycopg",
    "asyncpg",
    "alembic",
    "offcoder.config",
    "offcoder.db",
    "offcoder.ai",
    "offcoder.main",
    "offcoder.payments",
    "offcoder.auth.models",
    "offcoder.jobs.service",
)

USER_COMMANDS = [
    ["--help"],
    ["projects", "--help"],
    ["jobs", "--help"],
    ["run", "--help"],
    # Runs to its end: no credentials, so it says "Not signed in" and exits 2.
    ["projects", "list"],
    ["whoami"],
]


def imported(args: list[str], config_dir: Path) -> tuple[int, set[str]]:
    """The exit status of `offcoder ARGS` and every module it imported."""
    source = str(Path(offcoder.__file__).parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": source,
        "OFFCODER_CONFIG_DIR": str(config_dir),
        "COLUMNS": "120",
    }
    done = subprocess.run(  # our own command
        [sys.executable, "-X", "importtime", "-m", "offcoder.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "typer" in modules, done.stderr[-2000:]  # the log was read
    return done.returncode, modules


def server_modules_in(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == s or m.startswith(s + ".") for s in SERVER_MODULES)
    )


@pytest.mark.parametrize("args", USER_COMMANDS, ids=" ".join)
def test_a_user_command_imports_nothing_of_the_server(args: list[str], tmp_path: Path) -> None:
    code, modules = imported(args, tmp_path / "config")
    assert code in (0, 2), (args, code)
    assert "offcoder.client" in modules
    assert server_modules_in(modules) == []


def test_an_operator_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    # The other side of the bargain: the lazy sub-app is really there when named.
    code, modules = imported(["admin", "--help"], tmp_path / "config")
    assert code == 0
    assert "offcoder.admin.cli" in modules
    assert "offcoder.auth.models" in server_modules_in(modules)
    # A sub-app of one command stays a group: `offcoder auth purge`, not `offcoder auth`.
    code, modules = imported(["auth", "purge", "--help"], tmp_path / "config")
    assert code == 0
    assert "offcoder.auth.cli" in modules
