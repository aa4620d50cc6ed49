"""The worker process holds least privilege: the database and the keyring, nothing else.

`offcoder worker` builds a `WorkerContext` only; in production it is not asked for the token
signing key, and its code never imports the token signer, the AI gateway or the payment
providers' clients (issue 13, item 1)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from offcoder.config import Environment, Settings
from offcoder.crypto.sources import key_source
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.imports import imports
from tests.support.runtime import all_logs, project_with, wait_for_end
from tests.support.signin import sign_in

SOURCE = Path(__file__).resolve().parents[2] / "src" / "offcoder"
# The worker host and the job code it runs; jobs' API side (endpoints, service, schemas) is
# the request path's and is not held to this.
WORKER_CODE = [
    *sorted((SOURCE / "worker").glob("*.py")),
    *(SOURCE / "jobs" / name for name in ("worker.py", "sandbox.py", "logwriter.py")),
    *(SOURCE / "jobs" / name for name in ("repository.py", "output.py", "outcome.py")),
    *(SOURCE / "jobs" / name for name in ("endings.py", "archive.py", "models.py")),
    SOURCE / "jobs" / "retention.py",
    # The other periodic tasks a worker hosts.
    SOURCE / "auth" / "retention.py",
    SOURCE / "ratelimits" / "storage.py",
    SOURCE / "incidents" / "mailer.py",
]
FORBIDDEN = ("offcoder.auth.tokens", "offcoder.ai", "offcoder.payments.providers", "offcoder.main")


def test_worker_code_never_imports_the_signer_the_ai_gateway_or_payment_clients() -> None:
    offenders = {
        f"{path.relative_to(SOURCE)}: {module}"
        for path in WORKER_CODE
        for _, module in imports(path)
        if module.startswith(FORBIDDEN)
    }
    assert offenders == set()


def test_a_worker_process_loads_neither_the_signer_nor_an_ai_or_payment_sdk() -> None:
    """What `offcoder worker` imports, transitively, in a fresh interpreter."""
    probe = (
        "import sys, offcoder.worker.host, offcoder.worker.context; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(("
        "'offcoder.auth.tokens', 'offcoder.ai', 'openai', 'anthropic', 'jwt', "
        "'stripe', 'razorpay')))))"
    )
    loaded = subprocess.run(  # our own interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    # The AI tables' models and reads, and nothing else of the AI domain (no gateway, no safety
    # rules, no SDK): a person's data export, which the worker builds, holds their AI outputs.
    assert [m for m in loaded if m not in AI_DATA] == []


AI_DATA = {"offcoder.ai", "offcoder.ai.models", "offcoder.ai.repository"}


def test_production_asks_a_worker_only_for_what_a_worker_uses(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    key_file.write_text("{}")
    production = Settings(
        env=Environment.production,
        state_dir=tmp_path / "state",
        database_url="postgresql://offcoder@db.internal/offcoder",
        key_file=key_file,
        host="0.0.0.0",  # noqa: S104 (a worker listens on nothing: its host is never used)
    )
    assert production.production_problems("worker") == []
    api = " ".join(production.production_problems("api"))
    assert "token signing key" in api and "public address" in api


@pytest.mark.docker
async def test_a_worker_with_only_the_database_url_and_a_key_file_runs_a_job(
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    """Given `offcoder worker` in production with a database URL and a key file, and no token
    signing key, AI or payment settings, then it runs a job end to end, secrets included."""
    key_file = tmp_path / "worker-keys.json"  # outside the state directory, as production asks
    key_source(settings).load()  # the test run's key set, made on first use
    shutil.copy(state_dir / "keys.json", key_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFCODER_", "DATABASE_"))}
    env.update(
        OFFCODER_ENV="production",
        DATABASE_URL=prepared.admin_url.render_as_string(hide_password=False),
        OFFCODER_KEY_FILE=str(key_file),
        OFFCODER_STATE_DIR=str(state_dir),  # the roles' generated password lives there
        OFFCODER_DOCKER_PROXY_SOCKET=proxy_socket,
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # our own command
            [sys.executable, "-m", "offcoder.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with app_with(settings, prepared, docker_proxy_socket=proxy_socket) as (api, _):
            user = await sign_in(api)
            project = await project_with(
                api, user, {"main.py": b"import os\nprint('hello', len(os.environ['TOKEN']))\n"}
            )
            put = await api.put(
                f"/v1/projects/{project}/secrets/TOKEN",
                headers=user.headers,
                json={"value": "worker-secret-value"},
            )
            assert put.status_code == 200, put.text
            submitted = await api.post(
                f"/v1/projects/{project}/jobs",
                headers=user.headers,
                json={"command": ["python3", "main.py"]},
            )
            job_id = submitted.json()["id"]
            job = await wait_for_end(api, user.headers, job_id, timeout=60)
            assert job["status"] == "succeeded", (job, log_path.read_text()[-3000:])
            chunks = await all_logs(api, user.headers, job_id)
            assert "".join(str(c["data"]) for c in chunks) == "hello 19\n"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0, log_path.read_text()[-3000:]
