"""R3: the plaintext of secrets and AI keys appears in no log line, at any level, on any path."""

from __future__ import annotations

import io
import logging
import secrets

import httpx
import pytest
import structlog

from offcoder import logs
from tests.support.signin import SignedIn

pytestmark = pytest.mark.promise("R3")


async def test_secret_and_ai_key_plaintext_never_logged(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn, captured_logs: io.StringIO
) -> None:
    secret_value = f"s3cr3t-{secrets.token_hex(16)}"
    new_value = f"rotated-{secrets.token_hex(16)}"
    api_key = f"sk-test-{secrets.token_hex(20)}"
    h = alice.headers

    project = (await api.post("/v1/projects", headers=h, json={"name": "logged"})).json()
    base = f"/v1/projects/{project['id']}/secrets"

    async def put(path: str, body: dict[str, str], headers: dict[str, str] = h) -> int:
        return (await api.put(path, headers=headers, json=body)).status_code

    # Every path that touches the values: create, replace, list, export, refusals, deletion.
    assert await put(f"{base}/DATABASE_URL", {"value": secret_value}) == 200
    assert await put(f"{base}/DATABASE_URL", {"value": new_value}) == 200
    assert await put(f"{base}/bad-name", {"value": secret_value}) == 422
    assert await put(f"{base}/PATH", {"value": secret_value}) == 422
    assert await put(f"{base}/OK_NAME", {"value": secret_value, "extra": secret_value}) == 422
    assert await put(f"{base}/OTHER", {"value": secret_value}, bob.headers) == 404
    assert (await api.get(base, headers=h)).status_code == 200
    assert await put("/v1/ai/keys/openai", {"api_key": api_key}) == 200
    assert await put("/v1/ai/keys/nope", {"api_key": api_key}) in (404, 422)
    assert await put("/v1/ai/keys/openai", {"api_key": api_key + " x"}) == 422
    assert (await api.get("/v1/ai/keys", headers=h)).status_code == 200
    export = await api.get("/v1/me/export", headers=h)
    assert export.status_code == 200
    assert (await api.delete(f"{base}/DATABASE_URL", headers=h)).status_code == 204
    assert (await api.delete("/v1/ai/keys/openai", headers=h)).status_code == 204
    structlog.get_logger("test").info("capture check", secret_name="DATABASE_URL")

    text = captured_logs.getvalue()
    # The capture really saw the application, the database traffic and the HTTP layer.
    assert "capture check" in text
    assert "project_secrets" in text and "ai_keys" in text
    assert "DATABASE_URL" in text
    for plaintext in (secret_value, new_value, api_key):
        assert plaintext not in text
        for response_text in (export.text,):
            assert plaintext not in response_text


def test_redaction_masks_sensitive_keys_and_registered_values() -> None:
    buffer = io.StringIO()
    logs.configure(stream=buffer)
    try:
        value = f"registered-{secrets.token_hex(8)}"
        logs.register_sensitive(value)
        log = structlog.get_logger("test")
        log.info("event", api_key="sk-raw-key", nested={"token": "tok-raw"}, note=f"x {value} y")
        logging.getLogger("some.library").warning("library says %s", value)
    finally:
        logs.configure()
    text = buffer.getvalue()
    assert "sk-raw-key" not in text and "tok-raw" not in text and value not in text
    assert text.count("[redacted]") >= 4
