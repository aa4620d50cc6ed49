"""The terminal client's commands of issue 17 (item 11) against a running server and worker:
`whoami`, `logout`, `login` remembering its server, `pull`, `jobs list | logs [--follow] |
cancel`, `run --network preview --port` telling the preview's address, a name two projects
share refused, and a 422's field details printed."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import CLI, cli, login

pytestmark = pytest.mark.docker


def token_of(config: Path) -> dict[str, str]:
    token = json.loads((config / "credentials.json").read_text())["access_token"]
    return {"authorization": f"Bearer {token}"}


async def test_whoami_logout_and_login_without_server(server: str, tmp_path: Path) -> None:
    config = tmp_path / "offcoder"
    await login(server, config, "cli-whoami@example.test")
    headers = token_of(config)
    async with httpx.AsyncClient(base_url=server, headers=headers) as api:
        named = await api.patch("/v1/me", json={"display_name": "Phone Coder"})
        assert named.status_code == 200, named.text

    code, out, err = await cli(config, "whoami")
    assert code == 0, err
    assert "name:    Phone Coder" in out
    assert "e-mail:  cli-whoami@example.test" in out
    assert f"server:  {server}" in out

    code, _, err = await cli(config, "logout")
    assert code == 0, err
    assert not (config / "credentials.json").exists()
    async with httpx.AsyncClient(base_url=server, headers=headers) as api:
        assert (await api.get("/v1/me")).status_code == 401  # ended on the server, not only here
    code, _, err = await cli(config, "whoami")
    assert code == 2 and "offcoder login" in err

    # The server is remembered from the last login: no --server this time.
    env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config)}
    process = await asyncio.create_subprocess_exec(
        *CLI, "login", "--no-browser", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(30):
        first = (await process.stdout.readline()).decode()
        address = (await process.stdout.readline()).decode().strip()
    process.kill()
    await process.wait()
    assert first.startswith("Open this address"), first
    assert address.startswith(f"{server}/v1/auth/"), address


async def test_projects_jobs_pull_and_field_details(server: str, tmp_path: Path) -> None:
    config = tmp_path / "offcoder"
    await login(server, config, "cli-jobs@example.test")
    async with httpx.AsyncClient(base_url=server, headers=token_of(config)) as api:
        twins = [(await api.post("/v1/projects", json={"name": "Twin"})).json() for _ in range(2)]
        project = (await api.post("/v1/projects", json={"name": "Jobs here"})).json()
        files = {
            "main.py": "import sys\nprint('out line')\nprint('err line', file=sys.stderr)\n"
            "sys.exit(3)\n",
            "lib/deep/data.txt": "kept\n",
            "slow.py": "import time\nprint('started', flush=True)\ntime.sleep(60)\n",
        }
        for path, text in files.items():
            put = await api.put(f"/v1/projects/{project['id']}/files/{path}", content=text)
            assert put.status_code == 200, put.text

        # A name two projects share: said, both listed, nothing run.
        code, _, err = await cli(config, "run", "Twin", "--", "true")
        assert code == 1
        assert "2 projects match 'Twin'" in err
        assert all(t["slug"] in err and t["id"] in err for t in twins), err
        code, _, err = await cli(config, "jobs", "list", twins[1]["slug"])
        assert code == 0, err

        # A 422's field details, as sentences.
        code, _, err = await cli(
            config, "run", "Jobs here", "--network", "preview", "--port", "22", "--", "true"
        )
        assert code == 1
        assert "422:" in err
        assert "ports: port 22 is not one of [3000," in err, err

        code, out, err = await cli(config, "run", "Jobs here", "--", "python3", "main.py")
        assert (code, out) == (3, "out line\n"), err
        jobs = (await api.get(f"/v1/projects/{project['id']}/jobs")).json()["items"]
        ran = jobs[0]
        code, out, err = await cli(config, "jobs", "list", "Jobs here")
        assert code == 0 and ran["id"] in out and "exit_code" in out, out
        code, out, _ = await cli(config, "jobs", "list")  # every project
        assert ran["id"] in out

        code, out, err = await cli(config, "jobs", "logs", ran["id"])
        assert (code, out, err) == (0, "out line\n", "err line\n")
        code, out, err = await cli(config, "jobs", "logs", "--follow", ran["id"])
        assert (code, out) == (3, "out line\n")
        assert "offcoder: job failed (exit_code): the program exited with code 3" in err, err

        slow = await api.post(
            f"/v1/projects/{project['id']}/jobs", json={"command": ["python3", "slow.py"]}
        )
        slow_id = slow.json()["id"]
        following = asyncio.create_task(cli(config, "jobs", "logs", "-f", slow_id))
        ended: dict[str, Any] = {}
        for _ in range(600):
            logs = (await api.get(f"/v1/jobs/{slow_id}/logs")).json()
            if logs["chunks"]:
                break
            await asyncio.sleep(0.1)
        code, _, err = await cli(config, "jobs", "cancel", slow_id)
        assert code == 0, err
        code, out, err = await following
        assert code == 130 and out == "started\n", (out, err)
        assert "offcoder: job cancelled" in err
        ended = (await api.get(f"/v1/jobs/{slow_id}")).json()
        assert ended["status"] == "cancelled"
        code, _, err = await cli(config, "jobs", "cancel", slow_id)
        assert code == 1 and "409" in err, err

    code, _, err = await cli(config, "pull", "Jobs here", str(tmp_path / "copy"))
    assert code == 0, err
    for path, text in files.items():
        assert (tmp_path / "copy" / path).read_text() == text


SERVER = """\
import http.server
http.server.ThreadingHTTPServer(
    ("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler
).serve_forever()
"""


async def test_run_with_a_preview_tells_its_address(server: str, tmp_path: Path) -> None:
    config = tmp_path / "offcoder"
    await login(server, config, "cli-preview@example.test")
    async with httpx.AsyncClient(base_url=server, headers=token_of(config)) as api:
        assert (await api.patch("/v1/me", json={"handle": "cli-preview"})).is_success
        project = (await api.post("/v1/projects", json={"name": "Site"})).json()
        put = await api.put(f"/v1/projects/{project['id']}/files/server.py", content=SERVER)
        assert put.status_code == 200, put.text
        env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config)}
        process = await asyncio.create_subprocess_exec(
            *CLI, "run", "Site", "--network", "preview", "--port", "8000", "--",
            "python3", "server.py",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        try:
            async with asyncio.timeout(60):
                told = (await process.stderr.readline()).decode()
            jobs = (await api.get(f"/v1/projects/{project['id']}/jobs")).json()["items"]
            assert told == f"offcoder: preview at {jobs[0]['preview_url']}\n", told
            assert jobs[0]["preview_url"].startswith("http://cli-preview--site.")
        finally:
            process.send_signal(2)  # Ctrl-C: the job is cancelled
            await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130
