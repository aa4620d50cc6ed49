"""`offcoder serve` with TLS (T1, T2) and what production asks of TLS and proxies (T3)."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from offcoder.config import Environment, Settings
from offcoder.web import tls
from tests.support.served import free_port
from tests.support.tls import (
    SERVER_REFUSALS,
    client_context,
    handshake,
    refusal_reason,
    self_signed,
)

OFFCODER = [sys.executable, "-m", "offcoder.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    import os

    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_") and k != "DATABASE_URL"
    }
    # The admin dashboard on a free port of its own (its default, the public port + 1, may be
    # held by another process on a shared machine).
    env["OFFCODER_ADMIN_PORT"] = str(free_port())
    env.update(extra)
    return env


@pytest.mark.promise("T1")
@pytest.mark.promise("T2")
def test_serve_speaks_tls_13_only_with_hsts_when_told(tmp_path: Path) -> None:
    """Given `serve --tls-cert --tls-key --tls13-only`, then it answers over HTTPS with HSTS
    and refuses a TLS 1.2 client: the flags reach the server `serve` runs."""
    certificate = self_signed("offcoder")
    certificate.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                *OFFCODER,
                "serve",
                "--no-worker",
                "--port",
                str(port),
                "--tls-cert",
                str(tmp_path / "cert.pem"),
                "--tls-key",
                str(tmp_path / "key.pem"),
                "--tls13-only",
            ],
            env=clean_env(OFFCODER_STATE_DIR=str(tmp_path / "state")),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    trust = ssl.create_default_context(cadata=certificate.cert_pem.decode())
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()[-4000:]
            try:
                health = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=2)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)

        assert health.status_code == 200
        assert health.headers["strict-transport-security"].startswith("max-age=63072000;")
        assert handshake(port, client_context()).version == "TLSv1.3"
        tls_1_2 = client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE+AESGCM")
        assert refusal_reason(port, tls_1_2) in SERVER_REFUSALS
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.promise("T1")
def test_serve_refuses_tls_settings_that_cannot_work_before_anything_starts(
    tmp_path: Path,
) -> None:
    self_signed("offcoder").write(tmp_path / "cert.pem", tmp_path / "key.pem")
    result = subprocess.run(
        [*OFFCODER, "serve", "--tls-cert", str(tmp_path / "cert.pem")],
        env=clean_env(OFFCODER_STATE_DIR=str(tmp_path / "state")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())  # the terminal's line breaks aside
    assert "--tls-key" in said and "go together" in said and "Traceback" not in said
    assert not (tmp_path / "state" / "pgdata").exists(), "nothing may start before the refusal"


@pytest.mark.promise("T1")
@pytest.mark.parametrize("broken", ["missing", "not-a-key", "another-key"])
def test_a_certificate_and_key_that_cannot_serve_are_named_in_a_sentence(
    tmp_path: Path, broken: str
) -> None:
    self_signed("offcoder").write(tmp_path / "cert.pem", tmp_path / "key.pem")
    if broken == "not-a-key":
        (tmp_path / "key.pem").write_text("not a key")
    elif broken == "another-key":
        (tmp_path / "key.pem").write_bytes(self_signed("another").key_pem)
    key = tmp_path / ("missing.pem" if broken == "missing" else "key.pem")
    settings = Settings(tls_cert_file=tmp_path / "cert.pem", tls_key_file=key)

    with pytest.raises(tls.TlsSettingsError, match="cannot be used"):
        tls.LiveCertificate.from_settings(settings)


def production(tmp_path: Path, **changes: object) -> Settings:
    """Production settings with everything but transport in order."""
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    in_order: dict[str, object] = {
        "env": Environment.production,
        "state_dir": tmp_path / "state",
        "database_url": "postgresql://offcoder@db.internal/offcoder",
        "key_file": keys,
        "jwt_private_key_file": keys,
        "public_url": "https://offcoder.example.test",
    }
    return Settings(**(in_order | changes))  # type: ignore[arg-type]


@pytest.mark.promise("T3")
def test_production_refuses_to_start_with_nothing_bringing_https(tmp_path: Path) -> None:
    problems = " ".join(production(tmp_path).production_problems())

    assert "OFFCODER_TRUSTED_PROXIES" in problems and "OFFCODER_TLS_CERT_FILE" in problems


@pytest.mark.promise("T3")
def test_production_starts_behind_a_trusted_proxy_or_with_its_own_tls(tmp_path: Path) -> None:
    behind_proxy = production(tmp_path, trusted_proxies=[ip_network("127.0.0.1")])
    own_tls = production(
        tmp_path,
        tls_cert_file=tmp_path / "cert.pem",
        tls_key_file=tmp_path / "key.pem",
        host="0.0.0.0",  # noqa: S104 - TLS on a public address is what it is for
    )

    assert behind_proxy.production_problems() == []
    assert own_tls.production_problems() == []


@pytest.mark.promise("T3")
def test_production_wants_an_https_public_url(tmp_path: Path) -> None:
    plain = production(
        tmp_path, trusted_proxies=[ip_network("127.0.0.1")], public_url="http://offcoder.test"
    )

    assert any("OFFCODER_PUBLIC_URL" in problem for problem in plain.production_problems())


@pytest.mark.promise("T3")
@pytest.mark.parametrize(
    "written", ["127.0.0.1,::1, 10.0.0.0/8", '["127.0.0.1", "::1", "10.0.0.0/8"]']
)
def test_trusted_proxies_are_read_comma_separated_or_as_json(
    written: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFCODER_TRUSTED_PROXIES", written)

    assert Settings().trusted_proxies == [
        ip_network("127.0.0.1"),
        ip_network("::1"),
        ip_network("10.0.0.0/8"),
    ]


@pytest.mark.promise("T3")
def test_a_proxy_network_with_host_bits_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`10.0.0.1/8` is a slip for a host or for `10.0.0.0/8`: refused rather than guessed."""
    monkeypatch.setenv("OFFCODER_TRUSTED_PROXIES", "10.0.0.1/8")

    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings()
