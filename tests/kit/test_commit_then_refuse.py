"""`CommitThenRefuse`: the request transaction keeps what was done before the refusal, and the
client gets the refusal's problem+json unchanged."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import func, select

from offcoder.audit.models import AuditEvent
from offcoder.audit.service import ActorKind, record
from offcoder.context import AppContext
from offcoder.kit.transactions import system_transaction
from offcoder.problems import CommitThenRefuse, Conflict, Problem
from tests.support.signin import one_time_code, pkce_pair, sign_in


async def _events(context: AppContext, target: str) -> int:
    async with context.database.system_session() as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.target == target)
        )
    return int(count or 0)


async def _write_then_raise(context: AppContext, target: str, refusal: Problem) -> None:
    async def transaction() -> None:
        async with system_transaction(context) as session:
            await record(
                session, "kit.test", actor_id=None, actor_kind=ActorKind.system, target=target
            )
            raise refusal

    with pytest.raises(Problem) as raised:
        await transaction()
    assert raised.value is refusal


async def test_a_commit_then_refuse_keeps_the_work_before_it(context: AppContext) -> None:
    # given a transaction that wrote a row, when it refuses with CommitThenRefuse
    target = f"kit:{secrets.token_hex(6)}"
    await _write_then_raise(context, target, CommitThenRefuse(Conflict("kept")))
    # then the row is there
    assert await _events(context, target) == 1


async def test_any_other_problem_still_rolls_back(context: AppContext) -> None:
    target = f"kit:{secrets.token_hex(6)}"
    await _write_then_raise(context, target, Conflict("dropped"))
    assert await _events(context, target) == 0


def test_the_refusal_is_the_wrapped_problem_on_the_wire() -> None:
    inner = Problem(429, "mfa-locked", "Wait.", headers={"retry-after": "30"}, error="x")
    wrapped = CommitThenRefuse(inner)
    assert wrapped.body("/v1/x") == inner.body("/v1/x")
    assert (wrapped.status, wrapped.headers, wrapped.problem) == (429, inner.headers, inner)


async def test_a_spent_code_stays_spent_and_the_refusal_reads_as_before(
    api: httpx.AsyncClient,
) -> None:
    verifier, challenge = pkce_pair()
    code = await one_time_code(api, f"ctr-{secrets.token_hex(4)}", challenge=challenge)
    wrong, _ = pkce_pair()

    refused = await api.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": wrong},
    )

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "https://offcoder.dev/problems/invalid-grant",
        "title": "Bad Request",
        "status": 400,
        "detail": "code_verifier does not match the code_challenge.",
        "instance": "/v1/auth/token",
        "error": "invalid_grant",
    }
    # The refusal committed the spend: the right verifier is now too late.
    late = await api.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )
    assert late.json()["detail"] == "The code is unknown, used or expired."


async def test_an_ended_session_stays_ended_after_a_refused_refresh(
    api: httpx.AsyncClient,
) -> None:
    victim = await sign_in(api, device_name="phone")
    rotated = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": victim.refresh_token},
    )
    assert rotated.status_code == 200

    replay = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": victim.refresh_token},
    )

    assert replay.json() == {
        "type": "https://offcoder.dev/problems/invalid-grant",
        "title": "Bad Request",
        "status": 400,
        "detail": "This refresh token was already used; the session is ended.",
        "instance": "/v1/auth/token",
        "error": "invalid_grant",
    }
    # The session ended with the refusal: its newest refresh token is dead too.
    newest = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
    )
    assert newest.json()["detail"] == "The device session has ended."
