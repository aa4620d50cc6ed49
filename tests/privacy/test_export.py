"""GET /v1/me/export (V3): the user's data, with secrets by name and AI keys by last four (R3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute

from offcoder.context import AppContext
from offcoder.main import create_app
from offcoder.privacy.endpoints import router as privacy_router
from tests.support.projects import new_project
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id

SECRET_VALUE = "secret-value-that-must-never-leave-7731"
AI_KEY = "sk-export-test-key-0000000000-LST4"
FILE_CONTENT = b"file contents are not inlined in the export"


@pytest.fixture(scope="module")
async def export_api(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """The app as main.py builds it, with the export router added until main.py mounts it."""
    app = create_app(context)
    if not any(isinstance(r, APIRoute) and r.path == "/v1/me/export" for r in app.routes):
        app.include_router(privacy_router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.promise("R3")
@pytest.mark.promise("V3")
async def test_export_holds_the_account_and_nothing_secret(
    export_api: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    # given alice with a project, a file, a secret, an AI key and two devices
    alice = await signed_in_user(context)
    await signed_in_user(context, alice.subject, device_name="tablet")
    project = await new_project(api, alice, "Exported")
    base = f"/v1/projects/{project['id']}"
    assert (
        await api.put(f"{base}/files/src/app.py", content=FILE_CONTENT, headers=alice.headers)
    ).status_code == 200
    secret = await api.put(
        f"{base}/secrets/API_TOKEN", json={"value": SECRET_VALUE}, headers=alice.headers
    )
    assert secret.status_code == 200
    key = await api.put("/v1/ai/keys/openai", json={"api_key": AI_KEY}, headers=alice.headers)
    assert key.status_code == 200

    # when she exports
    response = await export_api.get("/v1/me/export", headers=alice.headers)

    # then the document names everything she has
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    doc = response.json()
    assert doc["account"]["id"] == str(await user_id(api, alice))
    assert doc["account"]["email"] == alice.subject
    assert {"handle", "display_name", "email"} <= set(doc["account"])
    assert [i["provider"] for i in doc["identities"]] == ["oidc"]
    assert sorted(d["device_name"] for d in doc["device_sessions"]) == ["tablet", "test phone"]
    [exported] = doc["projects"]
    assert (exported["id"], exported["slug"], exported["name"]) == (
        project["id"], project["slug"], "Exported",
    )  # fmt: skip
    [f] = exported["files"]
    assert (f["path"], f["size"]) == ("src/app.py", len(FILE_CONTENT))
    assert len(f["sha256"]) == 64
    assert [s["name"] for s in exported["secrets"]] == ["API_TOKEN"]
    assert [(k["provider"], k["last4"]) for k in doc["ai_keys"]] == [("openai", "LST4")]

    # and nothing secret: no secret value, no AI key, no file content, no tokens
    text = response.text
    for forbidden in (
        SECRET_VALUE,
        AI_KEY,
        AI_KEY[:-4],
        FILE_CONTENT.decode(),
        alice.refresh_token,
        alice.access_token,
    ):
        assert forbidden not in text
    for field in (
        "value",
        "value_enc",
        "api_key",
        "key_enc",
        "content",
        "access_token_enc",
        "refresh_token_enc",
    ):
        assert f'"{field}"' not in text


@pytest.mark.promise("D1")
async def test_export_holds_only_the_callers_data(
    export_api: httpx.AsyncClient, api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    await new_project(api, alice, "Alice only")
    assert (
        await api.put("/v1/ai/keys/groq", json={"api_key": AI_KEY}, headers=alice.headers)
    ).status_code == 200

    doc = (await export_api.get("/v1/me/export", headers=bob.headers)).json()

    assert doc["account"]["email"] == bob.subject
    assert doc["projects"] == []
    assert doc["ai_keys"] == []
    assert all(d["device_name"] for d in doc["device_sessions"])
    assert alice.subject not in str(doc)


async def test_export_needs_a_token(export_api: httpx.AsyncClient) -> None:
    assert (await export_api.get("/v1/me/export")).status_code == 401
