"""The terminal client against a running server: `offcoder login` (loopback redirect, PKCE),
`projects`, `push` and `run` (live output, the job's exit code, Ctrl-C cancels the job)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from tests.support.cli import CLI, cli, login

pytestmark = pytest.mark.docker

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-config") / "offcoder"


async def test_login_push_and_run_with_the_jobs_exit_code(
    server: str, config_dir: Path, tmp_path: Path
) -> None:
    await login(server, config_dir, "cli-user@example.test")
    credentials = config_dir / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700

    code, out, err = await cli(config_dir, "projects", "create", "From terminal")
    assert code == 0, err
    code, out, err = await cli(config_dir, "projects", "list")
    assert code == 0 and "From terminal" in out, (out, err)

    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "greet.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    (source / "main.py").write_text(
        "import sys, time\nfrom lib.greet import greet\n"
        "print(greet('phone'), flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)\n"
    )
    (source / "notes 100% #1?.txt").write_text("odd but valid name")
    (source / ".git").mkdir()
    (source / ".git" / "config").write_text("not uploaded")
    code, out, err = await cli(config_dir, "push", str(source), "From terminal")
    assert code == 0, err
    assert "3 of 3 files uploaded" in err
    import json

    token = json.loads(credentials.read_text())["access_token"]
    async with httpx.AsyncClient(base_url=server) as api:
        headers = {"authorization": f"Bearer {token}"}
        projects = (await api.get("/v1/projects", headers=headers)).json()["items"]
        project = next(p for p in projects if p["name"] == "From terminal")
        files = (await api.get(f"/v1/projects/{project['id']}/files", headers=headers)).json()
    assert sorted(f["path"] for f in files["items"]) == [
        "lib/greet.py",
        "main.py",
        "notes 100% #1?.txt",
    ]

    code, out, err = await cli(config_dir, "run", "From terminal", "--", "python3", "main.py")
    assert (code, out) == (0, "hi phone\n"), err
    assert "to stderr" in err
    code, out, err = await cli(config_dir, "run", "From terminal", "--", "python3", "main.py", "7")
    assert code == 7 and out == "hi phone\n", err


async def test_ctrl_c_cancels_the_running_job(
    server: str, config_dir: Path, tmp_path: Path
) -> None:
    config_dir.chmod(0o755)  # a config directory someone loosened
    await login(server, config_dir, "cli-cancel@example.test")
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert (await cli(config_dir, "projects", "create", "Long one"))[0] == 0
    source = tmp_path / "long"
    source.mkdir()
    (source / "main.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('never')\n"
    )
    assert (await cli(config_dir, "push", str(source), "Long one"))[0] == 0
    env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config_dir)}
    process = await asyncio.create_subprocess_exec(
        *CLI, "run", "Long one", "--", "python3", "main.py",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(60):
        assert (await process.stdout.readline()).decode() == "started\n"
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130, stderr.decode()

    # The job itself was cancelled, not merely left behind.
    import json

    token = json.loads((config_dir / "credentials.json").read_text())["access_token"]
    async with httpx.AsyncClient(base_url=server) as api:
        headers = {"authorization": f"Bearer {token}"}
        projects = (await api.get("/v1/projects", headers=headers)).json()["items"]
        long_one = next(p for p in projects if p["name"] == "Long one")
        jobs = (await api.get(f"/v1/projects/{long_one['id']}/jobs", headers=headers)).json()
        job_id = jobs["items"][0]["id"]
        ended = await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 30}, headers=headers)
        assert ended.json()["status"] == "cancelled", ended.json()


async def test_without_login_the_client_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = await cli(tmp_path / "nothing", "projects", "list")
    assert code == 2
    assert "offcoder login" in err


async def test_a_job_that_did_not_succeed_never_exits_0(
    server: str, config_dir: Path, runtime: Runtime
) -> None:
    """A timeout, the output cap and a cancel from elsewhere, each through the real CLI against
    the real server (run side by side to keep the test short); the server's own faults are
    checked on the mapping alone in tests/cli/test_run_exit_status.py."""
    import json

    await login(server, config_dir, "cli-endings@example.test")
    token = json.loads((config_dir / "credentials.json").read_text())["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    cap = runtime[1].settings.job_max_log_bytes
    async with httpx.AsyncClient(base_url=server, headers=headers) as api:
        project = (await api.post("/v1/projects", json={"name": "Endings"})).json()
        scripts = {
            "slow.py": "import time\nprint('started', flush=True)\ntime.sleep(60)\n",
            # Writes past the cap and exits 0 at once: the job fails with exit code 0.
            "loud.py": f"import sys\nsys.stdout.write('x' * {cap + 64 * 1024})\n",
        }
        for name, text in scripts.items():
            put = await api.put(f"/v1/projects/{project['id']}/files/{name}", content=text)
            assert put.status_code < 300, put.text

        async def cancelled_from_elsewhere() -> tuple[int, str]:
            env = {**os.environ, "OFFCODER_CONFIG_DIR": str(config_dir), "COLUMNS": "200"}
            process = await asyncio.create_subprocess_exec(
                *CLI, "run", "Endings", "--", "python3", "slow.py",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert process.stdout is not None
            async with asyncio.timeout(60):
                assert (await process.stdout.readline()).decode() == "started\n"
            jobs = (await api.get(f"/v1/projects/{project['id']}/jobs")).json()["items"]
            running = [j for j in jobs if j["command"] == ["python3", "slow.py"]]
            assert len(running) == 1, running
            cancel = await api.post(f"/v1/jobs/{running[0]['id']}/cancel")
            assert cancel.status_code == 202, cancel.text
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode is not None
            return process.returncode, stderr.decode()

        timed_out, output_limit, cancelled, typo = await asyncio.gather(
            cli(config_dir, "run", "Endings", "--timeout", "1", "--", "python3", "-c",
                "import time; time.sleep(60)"),
            cli(config_dir, "run", "Endings", "--", "python3", "loud.py"),
            cancelled_from_elsewhere(),
            cli(config_dir, "run", "Endings", "--", "notacommand", "--flag"),
        )  # fmt: skip
        jobs = (await api.get(f"/v1/projects/{project['id']}/jobs")).json()["items"]

    code, _, err = typo
    sentence = 'exec: "notacommand": executable file not found in $PATH'
    assert code == 127, err
    assert f"offcoder: job failed (command_not_found): {sentence}" in err
    assert err.startswith(sentence + "\n"), err  # the log's first line, on stderr

    code, _, err = timed_out
    assert code == 124, err
    assert "offcoder: job timed_out: stopped at its time limit of 1 s" in err

    code, out, err = output_limit
    loud = next(j for j in jobs if j["command"] == ["python3", "loud.py"])
    assert (loud["status"], loud["reason"]) == ("failed", "output_limit"), loud
    # The program normally ends (exit 0) before the worker stores past the cap; should the cap
    # be reached first, the sandbox is killed and its code (137) is passed on instead.
    assert code == (1 if loud["exit_code"] == 0 else loud["exit_code"]) != 0, (loud, err)
    assert f"offcoder: job failed (output_limit): {loud['detail']}" in err
    assert loud["detail"].startswith("its output passed the limit of "), loud
    assert len(out) >= cap

    code, err = cancelled
    assert code == 130, err
    assert "offcoder: job cancelled" in err
