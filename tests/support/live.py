"""A real `offcoder serve` process on loopback, on the test database, for black-box tools."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.served import free_port


@contextmanager
def live_server(settings: Settings, prepared: PreparedDatabase) -> Iterator[str]:
    """Serve the test database and sign-in provider; yield the base URL.

    The server's output goes to a file: an unread pipe would fill and stall the server.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_")}
    env.update(
        DATABASE_URL=prepared.admin_url.render_as_string(hide_password=False),
        OFFCODER_STATE_DIR=str(settings.state_dir),
        OFFCODER_PUBLIC_URL=base,
        OFFCODER_OIDC_ISSUER=settings.oidc_issuer or "",
        OFFCODER_OIDC_CLIENT_ID=settings.oidc_client_id or "",
        OFFCODER_OIDC_CLIENT_SECRET="live-secret",
        OFFCODER_REDIRECT_URIS='["offcoder://auth/callback"]',
        # Black-box tools send thousands of calls from one address and one user in minutes:
        # under the default limits most would be 429s and the tool would test the limiter, not
        # the routes behind it. The limits have tests of their own (tests/ratelimits).
        OFFCODER_RATE_LIMIT_SIGN_IN="100000/minute",
        OFFCODER_RATE_LIMIT_TOKEN_REFRESH="100000/minute",
        OFFCODER_RATE_LIMIT_API="100000/minute",
        OFFCODER_RATE_LIMIT_MFA_VERIFY="100000/minute",
        OFFCODER_RATE_LIMIT_DEVICE_CODE="100000/minute",
        OFFCODER_RATE_LIMIT_DEVICE_VERIFY="100000/minute",
        # The admin dashboard on a free port (its default, the public port + 1, may be held).
        OFFCODER_ADMIN_PORT=str(free_port()),
    )
    log_path = settings.state_dir / f"live-server-{port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "offcoder.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text()[-4000:])
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()
