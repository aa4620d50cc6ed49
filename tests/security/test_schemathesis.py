"""Property-based fuzzing of the whole OpenAPI document: no input makes the server answer 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.live import live_server
from tests.support.signin import sign_in

# Calls that would end the fuzzer's own session or account halfway through the run; they are
# covered by their own tests.
SELF_DESTRUCTIVE = r"^(DELETE /v1/me|POST /v1/auth/logout|DELETE /v1/auth/sessions/\{session_id\})$"


def run_schemathesis(
    base: str, token: str | None, report: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "25",
        "--request-timeout",
        "20",
        "--generation-deterministic",
        "--exclude-name-regex",
        SELF_DESTRUCTIVE,
        "--suppress-health-check",
        "all",
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=report
    )


async def test_no_input_makes_the_server_fail(
    settings: Settings, prepared: PreparedDatabase, tmp_path: Path
) -> None:
    with live_server(settings, prepared) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            user = await sign_in(client)
        for token in (user.access_token, None):
            result = run_schemathesis(base, token, tmp_path)
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-6000:]
            tested = re.search(r"Tested:\s+(\d+)", output)
            assert tested is not None and int(tested.group(1)) >= 20, output[-3000:]
            assert "❌" not in output, output[-6000:]
