"""`offcoder serve`: the newcomer's path (embedded database, dev sign-in) and production guard."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.served import free_port

OFFCODER = [sys.executable, "-m", "offcoder.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_") and k != "DATABASE_URL"
    }
    # The admin dashboard on a free port of its own (its default, the public port + 1, may be
    # held by another process on a shared machine).
    env["OFFCODER_ADMIN_PORT"] = str(free_port())
    env.update(extra)
    return env


def test_production_refuses_development_conveniences(tmp_path: Path) -> None:
    result = subprocess.run(
        [*OFFCODER, "serve", "--dev", "--host", "0.0.0.0"],  # noqa: S104 - the point of the test
        env=clean_env(
            OFFCODER_ENV="production",
            OFFCODER_STATE_DIR=str(tmp_path),
            OPENAI_CUSTOM_HEADERS="X-Operator: secret",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    reasons = result.stderr
    assert "OPENAI_CUSTOM_HEADERS" in reasons  # the SDKs would add it to users' AI calls
    assert "development identity provider" in reasons
    assert "encryption key file" in reasons
    assert "token signing key" in reasons
    assert "0.0.0.0" in reasons  # noqa: S104
    assert "DATABASE_URL" in reasons
    assert not (tmp_path / "pgdata").exists(), "nothing may start before the refusal"


def test_production_with_keys_outside_the_state_dir_names_only_what_is_left(tmp_path: Path) -> None:
    keys = tmp_path / "secrets"
    state = tmp_path / "state"
    keys.mkdir()
    (keys / "keys.json").write_text("{}")
    (keys / "jwt.pem").write_text("")
    result = subprocess.run(
        [*OFFCODER, "serve"],
        env=clean_env(
            OFFCODER_ENV="production",
            OFFCODER_STATE_DIR=str(state),
            OFFCODER_KEY_FILE=str(keys / "keys.json"),
            OFFCODER_JWT_PRIVATE_KEY_FILE=str(keys / "jwt.pem"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "key file" not in result.stderr and "signing key" not in result.stderr


def test_settings_out_of_range_are_refused_at_start_naming_each(tmp_path: Path) -> None:
    refused = {
        "OFFCODER_JOB_MAX_QUEUED_PER_USER": "0",
        "OFFCODER_JOB_MAX_RUNNING_PER_USER": "0",
        "OFFCODER_MAX_PROJECTS_PER_USER": "-5",
        "OFFCODER_MAX_FILE_BYTES_PER_USER": "lots",
        "OFFCODER_LOG_RETENTION_DAYS": "0",
    }
    result = subprocess.run(
        [*OFFCODER, "migrate"],
        env=clean_env(OFFCODER_STATE_DIR=str(tmp_path), **refused),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    said = result.stderr.splitlines()
    assert said[0] == "Refusing to start: these settings are not valid:"
    assert sorted(said[1:]) == sorted(
        [
            "  - OFFCODER_JOB_MAX_QUEUED_PER_USER: Input should be greater than or equal to 1",
            "  - OFFCODER_JOB_MAX_RUNNING_PER_USER: Input should be greater than or equal to 1",
            "  - OFFCODER_MAX_PROJECTS_PER_USER: Input should be greater than or equal to 1",
            "  - OFFCODER_MAX_FILE_BYTES_PER_USER: Input should be a valid integer, unable to "
            "parse string as an integer",
            "  - OFFCODER_LOG_RETENTION_DAYS: Input should be greater than or equal to 1",
        ]
    )
    assert not (tmp_path / "pgdata").exists(), "nothing may start before the refusal"


def wait_until_ready(server: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.3)


def assert_stops_with_its_database(
    server: subprocess.Popen[bytes], stop: signal.Signals, state: Path
) -> None:
    """`stop` ends the server within seconds, and its embedded PostgreSQL with it."""
    server.send_signal(stop)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"{stop.name} did not stop the server") from None
    left = subprocess.run(
        ["pgrep", "-af", str(state / "pgdata")], capture_output=True, text=True, check=False
    ).stdout
    assert left == "", f"a PostgreSQL outlived the server: {left}"
    assert not (state / "pgdata" / "postmaster.pid").exists()


def test_a_busy_port_is_one_sentence_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*OFFCODER, "serve"],
            env=clean_env(OFFCODER_STATE_DIR=str(tmp_path), OFFCODER_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 3
    said = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith(
        f"Cannot start: 127.0.0.1:{port} is already in use"
    )
    assert not (tmp_path / "pgdata").exists(), (
        "no database may be prepared for a server that cannot listen"
    )


def test_sigterm_stops_the_embedded_database_and_the_public_url_is_the_port_served(
    tmp_path: Path,
) -> None:
    port, admin_port = free_port(), free_port()
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [*OFFCODER, "serve", "--no-worker"],
        env=clean_env(
            OFFCODER_STATE_DIR=str(tmp_path),
            OFFCODER_PORT=str(port),
            OFFCODER_ADMIN_PORT=str(admin_port),
        ),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(server, base, log)
        # OFFCODER_PORT without OFFCODER_PUBLIC_URL: the public URL (issuer, sign-in's way
        # back, the console's home) is where the server listens, not 8000.
        policy = httpx.get(f"{base}/.well-known/security.txt").text
        assert f"Policy: {base}/security/disclosure" in policy
        home = httpx.get(f"http://localhost:{port}/console")
        assert home.headers["location"] == f"{base}/console"
        said = log.read_text()
        assert f"Open the console: {base}/console" in said
        assert "initdb" not in said and "pg_ctl" not in said, "start-up stays quiet"
        assert "Running upgrade" not in said
        # The admin dashboard: its own app on its own (loopback) port, not on the public one.
        admin = f"http://127.0.0.1:{admin_port}"
        assert f"Admin dashboard on {admin}" in said
        assert httpx.get(f"{admin}/signin").status_code == 200
        assert httpx.get(f"{admin}/openapi.json").status_code == 404
        assert httpx.get(f"{base}/signin").status_code == 404
    finally:
        assert_stops_with_its_database(server, signal.SIGTERM, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", admin_port))  # the dashboard's port was let go
    assert server.returncode != 0


def test_serve_dev_runs_on_the_embedded_database_and_signs_in(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(OFFCODER_STATE_DIR=str(tmp_path))
    server = subprocess.Popen(
        [*OFFCODER, "serve", "--dev", "--port", str(port)],
        env=env,
        stdout=(tmp_path / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-4000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.3)
        signed = subprocess.run(
            [*OFFCODER, "dev", "token", "--subject", "newcomer@example.test", "--server", base],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        tokens = json.loads(signed.stdout)
        me = httpx.get(
            f"{base}/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["email"] == "newcomer@example.test"
        assert (tmp_path / "pgdata").is_dir(), "the embedded PostgreSQL lives in the state dir"
        assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0, "the dev key file is private"
        # Its Docker proxy is a deployment of its own, whose id lives in the server's state.
        assert (tmp_path / "docker-proxy" / "deployment-id").read_text().strip()
        said = (tmp_path / "server.log").read_text()
        assert "Warning" not in said and "initdb" not in said, "start-up stays quiet"
    finally:
        # Ctrl-C: the development sign-in provider's thread must not hold the exit.
        assert_stops_with_its_database(server, signal.SIGINT, tmp_path)
