"""R3 at the redactor: what a client sends as a secret costs the log redactor nothing once the
request is over, and no number of secret writes unmasks the operator's own key."""

from __future__ import annotations

import io
import logging
import secrets
import uuid

import httpx
import pytest
import structlog
from pydantic import SecretStr

from offcoder import logs
from offcoder.ai.moderation import ProviderModeration
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.projects import service
from tests.support.projects import new_project
from tests.support.signin import SignedIn
from tests.support.users import user_id

pytestmark = pytest.mark.promise("R3")

# Under the 1 MiB JSON body limit, so each request reaches the secrets code.
NEAR_BODY_LIMIT = 900_000
# The largest value a secret may hold: within every value check, so only ownership refuses it.
MAX_VALUE_BYTES = 64 * 1024


async def test_refused_secret_writes_leave_the_redactor_as_it_was(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    # given alice's project, and the redactor's size before any of the requests
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/secrets"
    before = logs.masked_size()

    # when 20 values are refused: ~900 KB too long, a bad name, a reserved name, and one within
    # 64 KiB for a project that is not bob's (so the ownership check itself refuses it)
    refusals = [
        (alice, f"{base}/TOKEN", NEAR_BODY_LIMIT),
        (alice, f"{base}/bad-name", NEAR_BODY_LIMIT),
        (alice, f"{base}/PATH", NEAR_BODY_LIMIT),
        (bob, f"{base}/TOKEN", MAX_VALUE_BYTES),
    ]
    statuses = []
    for attempt in range(20):
        user, path, size = refusals[attempt % len(refusals)]
        value = secrets.token_hex(size // 2)
        response = await api.put(path, json={"value": value}, headers=user.headers)
        statuses.append(response.status_code)
        assert value not in response.text

    # then the redactor holds nothing more than before: none of them was ever a secret of ours
    assert logs.masked_size() == before
    assert statuses == [413, 422, 422, 404] * 5
    assert (await api.get(base, headers=alice.headers)).json()["items"] == []


async def test_a_value_past_64_kib_is_413_like_a_body_past_the_limit(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    project = await new_project(api, alice)
    path = f"/v1/projects/{project['id']}/secrets/TOKEN"

    too_long = await api.put(path, json={"value": "A" * (64 * 1024 + 1)}, headers=alice.headers)
    too_big_a_body = await api.put(path, json={"value": "A" * (1 << 20)}, headers=alice.headers)

    assert too_long.status_code == too_big_a_body.status_code == 413
    assert too_long.headers["content-type"] == too_big_a_body.headers["content-type"]
    assert too_long.headers["content-type"] == "application/problem+json"
    problem, body_problem = too_long.json(), too_big_a_body.json()
    assert {k: problem[k] for k in ("type", "title", "status")} == {
        k: body_problem[k] for k in ("type", "title", "status")
    }
    assert problem["detail"] == "A secret value is larger than 65536 bytes."
    assert "AAAA" not in too_long.text


async def test_the_operator_key_stays_masked_however_many_values_are_written_or_held(
    api: httpx.AsyncClient,
    context: AppContext,
    settings: Settings,
    alice: SignedIn,
    captured_info_logs: io.StringIO,
) -> None:
    # given the operator's moderation key, registered the way the gateway registers it
    operator_key = f"sk-operator-{secrets.token_hex(16)}"
    moderation = ProviderModeration(
        settings.model_copy(
            update={
                "ai_moderation_api_key": SecretStr(operator_key),
                "ai_moderation_base_url": "http://127.0.0.1:9/v1",
            }
        )
    )
    await moderation.client.close()
    project = await new_project(api, alice)
    owner = await user_id(api, alice)
    before = logs.masked_size()

    # when a user writes 300 different secret values, one after the other
    async with context.database.user_session(owner) as session:
        for _ in range(300):
            await service.put_secret(
                session,
                context.keyring,
                owner,
                uuid.UUID(project["id"]),
                "TOKEN",
                f"user-value-{secrets.token_hex(8)}",
            )

    # then the secrets path kept none of them: whatever set it might fill (the operator's, or a
    # bounded one that evicts), the redactor would have grown, so written one at a time no number
    # of writes reaches a bound
    assert logs.masked_size() == before

    # and when 10,001 values are held at once (more than any bound on the redactor: as many jobs
    # in flight, each holding its secrets), the operator's key is still masked, and all of them
    # are let go at the end
    held = [logs.SensitiveHold(f"in-flight-{secrets.token_hex(8)}") for _ in range(10_001)]
    assert logs.is_masked(operator_key)
    for hold in held:
        hold.release()
    assert logs.masked_size() == before

    # then a log line holding the operator's key, through structlog and the standard library,
    # still shows it masked
    structlog.get_logger("test").info("calling moderation", note=f"key={operator_key}")
    logging.getLogger("openai").warning("request with key %s", operator_key)
    written = captured_info_logs.getvalue()
    assert "calling moderation" in written and "request with key" in written
    assert operator_key not in written
    assert written.count(logs.REDACTED) >= 2
