"""Every error is RFC 9457 problem+json; bad input never becomes a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.support.signin import SignedIn


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


async def test_unknown_path_is_a_404_problem(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/nothing-here"), 404)


async def test_wrong_method_is_a_405_problem(api: httpx.AsyncClient, alice: SignedIn) -> None:
    assert_problem(await api.put("/v1/auth/sessions", headers=alice.headers), 405)


async def test_oversized_json_body_is_413(api: httpx.AsyncClient, alice: SignedIn) -> None:
    body = b'{"display_name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await api.patch(
        "/v1/me", headers=alice.headers | {"content-type": "application/json"}, content=body
    )
    assert_problem(response, 413)


async def test_oversized_body_with_a_lying_content_length_is_413(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    response = await api.patch(
        "/v1/me", headers=alice.headers | {"content-type": "application/json"}, content=chunks()
    )
    assert_problem(response, 413)


@pytest.mark.parametrize(
    "content",
    [b"{", b"\xff\xfe\x00", b"[]", b'{"display_name": 5}', b"null"],
    ids=["truncated", "bad-utf8", "array", "wrong-type", "null"],
)
async def test_malformed_json_is_422(
    api: httpx.AsyncClient, alice: SignedIn, content: bytes
) -> None:
    response = await api.patch(
        "/v1/me", headers=alice.headers | {"content-type": "application/json"}, content=content
    )
    # Bytes that are not UTF-8 cannot be parsed at all (400); parsed JSON of the wrong shape
    # is unprocessable (422). Either way a problem document, never a 500.
    assert_problem(response, 400 if content.startswith(b"\xff") else 422)


async def test_validation_errors_never_echo_the_submitted_value(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await api.patch(
        "/v1/me", headers=alice.headers, json={"handle": "SECRET-looking-Value"}
    )
    assert_problem(response, 422)
    assert "SECRET-looking-Value" not in response.text


async def test_security_headers_and_request_id(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    forged = await api.get("/healthz", headers={"x-request-id": "bad id\nwith newline"})
    assert forged.headers["x-request-id"] != "bad id\nwith newline"


async def test_readyz_checks_the_database(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200 and response.json()["database"] == "ok"
