"""BYOK AI keys: stored sealed, shown as provider and last four only (R2, R3, D1, S3)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text

from offcoder.ai import gateway
from offcoder.ai.models import AIKey
from offcoder.context import AppContext
from offcoder.crypto import bindings
from offcoder.crypto.keyring import KeyringError
from offcoder.problems import InvalidInput, Problem
from tests.support.signin import SignedIn
from tests.support.users import user_id

KEY = "sk-proj-AbCdEf0123456789-zyxw"


async def put_key(
    api: httpx.AsyncClient, user: SignedIn, provider: str = "openai", key: str = KEY
) -> httpx.Response:
    return await api.put(f"/v1/ai/keys/{provider}", json={"api_key": key}, headers=user.headers)


@pytest.mark.promise("R3")
async def test_put_list_delete_show_last_four_only(api: httpx.AsyncClient, alice: SignedIn) -> None:
    put = await put_key(api, alice)
    assert put.status_code == 200, put.text
    assert set(put.json()) == {"provider", "last4", "created_at", "updated_at"}
    assert put.json()["provider"] == "openai"
    assert put.json()["last4"] == "zyxw"

    replaced = await put_key(api, alice, key=KEY[:-4] + "9876")
    assert replaced.status_code == 200
    assert replaced.json()["last4"] == "9876"
    assert replaced.json()["created_at"] == put.json()["created_at"]
    assert (
        await put_key(api, alice, "anthropic", "sk-ant-" + "k" * 30 + "ABCD")
    ).status_code == 200

    listing = await api.get("/v1/ai/keys", headers=alice.headers)
    assert listing.status_code == 200
    body = listing.json()
    assert body["next_cursor"] is None
    assert [(k["provider"], k["last4"]) for k in body["items"]] == [
        ("anthropic", "ABCD"),
        ("openai", "9876"),
    ]
    for response in (put, replaced, listing):
        assert KEY[:-4] not in response.text

    assert (await api.delete("/v1/ai/keys/openai", headers=alice.headers)).status_code == 204
    assert (await api.delete("/v1/ai/keys/openai", headers=alice.headers)).status_code == 404
    left = (await api.get("/v1/ai/keys", headers=alice.headers)).json()["items"]
    assert [k["provider"] for k in left] == ["anthropic"]


@pytest.mark.parametrize(
    "provider",
    ["openai", "anthropic", "google", "mistral", "groq", "openrouter", "deepseek", "xai"],
)
async def test_every_listed_provider_is_accepted(
    api: httpx.AsyncClient, alice: SignedIn, provider: str
) -> None:
    assert (await put_key(api, alice, provider)).status_code == 200


@pytest.mark.parametrize("provider", ["OpenAI", "azure", "openai2", "..", "%00"])
async def test_unknown_provider_is_404_for_every_method(
    api: httpx.AsyncClient, alice: SignedIn, provider: str
) -> None:
    assert (await put_key(api, alice, provider)).status_code == 404
    assert (await api.delete(f"/v1/ai/keys/{provider}", headers=alice.headers)).status_code == 404
    assert (await api.get("/v1/ai/keys", headers=alice.headers)).json()["items"] == []


@pytest.mark.promise("R3")
@pytest.mark.parametrize(
    "body",
    [
        {"api_key": "short7!"},
        {"api_key": "x" * 513},
        {"api_key": "has space-0123456789"},
        {"api_key": "tab\tinside-0123456789"},
        {"api_key": "newline\n0123456789"},
        {"api_key": "non-ascii-é-0123456789"},
        {"api_key": 1234567890123},
        {"api_key": KEY, "extra": True},
        {"key": KEY},
    ],
)
async def test_bad_keys_are_422_without_echo(
    api: httpx.AsyncClient, alice: SignedIn, body: dict[str, object]
) -> None:
    response = await api.put("/v1/ai/keys/openai", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    submitted = str(next(iter(body.values())))
    assert submitted not in response.text
    assert (await api.get("/v1/ai/keys", headers=alice.headers)).json()["items"] == []


async def test_key_length_bounds(api: httpx.AsyncClient, alice: SignedIn) -> None:
    assert (await put_key(api, alice, "groq", "12345678")).status_code == 200
    assert (await put_key(api, alice, "xai", "~" * 512)).status_code == 200


@pytest.mark.promise("D1")
async def test_keys_are_per_user(api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn) -> None:
    assert (await put_key(api, alice)).status_code == 200

    assert (await api.get("/v1/ai/keys", headers=bob.headers)).json()["items"] == []
    assert (await api.delete("/v1/ai/keys/openai", headers=bob.headers)).status_code == 404
    # bob storing his own openai key does not touch alice's
    assert (await put_key(api, bob, key="bob-key-00000000-BOBB")).status_code == 200
    alice_keys = (await api.get("/v1/ai/keys", headers=alice.headers)).json()["items"]
    assert [(k["provider"], k["last4"]) for k in alice_keys] == [("openai", "zyxw")]


@pytest.mark.promise("R2")
async def test_key_is_sealed_and_bound_to_its_owner(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn, bob: SignedIn
) -> None:
    # given alice's and bob's openai keys
    alice_id, bob_id = await user_id(api, alice), await user_id(api, bob)
    assert (await put_key(api, alice)).status_code == 200
    assert (await put_key(api, bob, key="bob-key-00000000-BOBB")).status_code == 200

    async def sealed(owner: object, provider: str = "openai") -> bytes:
        async with context.database.system_session() as s:
            value = await s.scalar(
                select(AIKey.key_enc).where(AIKey.user_id == owner, AIKey.provider == provider)
            )
        assert value is not None
        return value

    alice_sealed = await sealed(alice_id)
    assert KEY.encode() not in alice_sealed
    assert context.keyring.open_text(alice_sealed, bindings.ai_key("openai", alice_id)) == KEY

    # when alice's ciphertext is copied over bob's openai key (same provider, other owner)
    async with context.database.system_session() as s:
        await s.execute(
            text("UPDATE ai_keys SET key_enc = :v WHERE user_id = :u AND provider = 'openai'"),
            {"v": alice_sealed, "u": bob_id},
        )

    # then it does not open as bob's, and bob's requests cannot use it; alice's still opens
    with pytest.raises(KeyringError):
        context.keyring.open_text(await sealed(bob_id), bindings.ai_key("openai", bob_id))
    async with context.database.user_session(bob_id) as session:
        with pytest.raises(Problem) as refused:
            await gateway.open_key(session, context.keyring, bob_id, "openai")
        assert refused.value.type_ == "ai-key-unreadable" and KEY not in str(refused.value)
    async with context.database.user_session(alice_id) as session:
        assert await gateway.open_key(session, context.keyring, alice_id, "openai") == KEY
        with pytest.raises(InvalidInput):
            await gateway.open_key(session, context.keyring, alice_id, "groq")
