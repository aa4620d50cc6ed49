"""Sign-in rows that can no longer change an answer are purged by every worker (and by `offcoder
auth purge`): expired sign-in requests, one-time codes, link codes and device authorization
requests (approved or not), and refresh tokens that
can neither be redeemed nor reveal a theft. Live rows stay, and so does every used token of a
live session: replayed after the purge, it still ends its session (A4)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, inspect, update

from offcoder.auth import retention
from offcoder.auth.models import (
    AuthorizationCode,
    AuthorizationRequest,
    DeviceAuthorization,
    DeviceSession,
    IdentityLinkCode,
    RefreshToken,
)
from offcoder.auth.tokens import digest
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.worker.context import WorkerContext
from offcoder.worker.host import WorkerHost
from tests.support.signin import SignedIn, signed_in_user

pytestmark = pytest.mark.promise("A4")


def request_row(expires_in: timedelta) -> AuthorizationRequest:
    now = utcnow()
    return AuthorizationRequest(
        state_hash=secrets.token_bytes(32),
        provider="oidc",
        nonce="n",
        provider_code_verifier="v",
        client_state="s",
        client_redirect_uri="offcoder://auth/callback",
        client_code_challenge="c",
        device_name="purge test",
        created_at=now,
        expires_at=now + expires_in,
    )


def code_row(user_id: uuid.UUID, expires_in: timedelta) -> AuthorizationCode:
    now = utcnow()
    return AuthorizationCode(
        code_hash=secrets.token_bytes(32),
        user_id=user_id,
        provider="oidc",
        redirect_uri="offcoder://auth/callback",
        code_challenge="c",
        device_name="purge test",
        created_at=now,
        expires_at=now + expires_in,
    )


def link_row(user_id: uuid.UUID, expires_in: timedelta) -> IdentityLinkCode:
    now = utcnow()
    return IdentityLinkCode(
        code_hash=secrets.token_bytes(32),
        user_id=user_id,
        provider="oidc",
        subject="someone",
        code_challenge="c",
        created_at=now,
        expires_at=now + expires_in,
    )


def device_row(user_id: uuid.UUID | None, expires_in: timedelta) -> DeviceAuthorization:
    now = utcnow()
    return DeviceAuthorization(
        device_code_hash=secrets.token_bytes(32),
        user_code_hash=secrets.token_bytes(32),
        device_name="purge test",
        created_at=now,
        expires_at=now + expires_in,
        interval_s=5,
        status="approved" if user_id else "pending",
        user_id=user_id,
        provider="oidc" if user_id else None,
    )


def token_row(
    device: DeviceSession, expires_in: timedelta, *, used: bool, presented: str | None = None
) -> RefreshToken:
    now = utcnow()
    return RefreshToken(
        id=uuid.uuid4(),
        user_id=device.user_id,
        session_id=device.id,
        token_hash=digest(presented or secrets.token_urlsafe(32)),
        created_at=now - timedelta(days=8),
        expires_at=now + expires_in,
        used_at=now - timedelta(days=1) if used else None,
    )


async def device_of(ctx: AppContext, user: SignedIn) -> DeviceSession:
    async with ctx.database.system_session() as s:
        device = await s.get(DeviceSession, uuid.UUID(user.session_id))
    assert device is not None
    return device


async def present(ctx: AppContext, rows: list[object]) -> list[bool]:
    """Which of `rows` are still in the database."""
    async with ctx.database.system_session() as s:
        return [await s.get(type(row), inspect(row).identity) is not None for row in rows]


async def without_short_lived_rows(context: AppContext) -> None:
    """Empty the tables of rows that live minutes (sign-in requests, one-time, link and device
    codes), and purge the rest: rows earlier tests of this process left would otherwise expire
    during the test and be counted with its own (seen in CI under load)."""
    async with context.database.system_session() as s:
        for model in (
            AuthorizationRequest,
            AuthorizationCode,
            IdentityLinkCode,
            DeviceAuthorization,
        ):
            await s.execute(delete(model))
    await retention.purge_expired(context.database)


async def test_the_purge_deletes_what_can_change_no_answer_and_keeps_the_rest(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    await without_short_lived_rows(context)  # what other tests left behind
    hour = timedelta(hours=1)
    alice, ended = await signed_in_user(context), await signed_in_user(context)
    device, gone = await device_of(context, alice), await device_of(context, ended)
    stolen = secrets.token_urlsafe(32)  # a token rotated long ago, then stolen
    rows: dict[str, object] = {
        "expired request": request_row(-hour),
        "live request": request_row(hour),
        "expired code": code_row(device.user_id, -hour),
        "live code": code_row(device.user_id, hour),
        "expired link code": link_row(device.user_id, -hour),
        "live link code": link_row(device.user_id, hour),
        "expired device code": device_row(None, -hour),
        "expired approved device code": device_row(device.user_id, -hour),
        "live device code": device_row(None, hour),
        "expired, never used": token_row(device, -hour, used=False),
        "expired, used, live session": token_row(device, -hour, used=True, presented=stolen),
        "of an ended session": token_row(gone, hour, used=False),
    }
    async with context.database.system_session() as s:
        s.add_all(rows.values())
        await s.execute(
            update(DeviceSession).where(DeviceSession.id == gone.id).values(ended_at=utcnow())
        )
    # ended's own token (from its sign-in) goes with its session too
    doomed = retention.Purged(
        sign_in_requests=1, authorization_codes=1, link_codes=1, refresh_tokens=3, device_codes=2
    )
    assert await retention.would_purge(context.database) == doomed

    assert await retention.purge_expired(context.database) == doomed

    kept = dict(zip(rows, await present(context, list(rows.values())), strict=True))
    assert kept == {
        "expired request": False,
        "live request": True,
        "expired code": False,
        "live code": True,
        "expired link code": False,
        "live link code": True,
        "expired device code": False,
        "expired approved device code": False,
        "live device code": True,
        "expired, never used": False,
        "expired, used, live session": True,
        "of an ended session": False,
    }
    # alice's live refresh token still rotates; the stolen used one still ends her session
    rotated = await api.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": alice.refresh_token}
    )
    assert rotated.status_code == 200, rotated.text
    replayed = await api.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": stolen}
    )
    assert replayed.status_code == 400 and "already used" in replayed.json()["detail"]
    assert (await device_of(context, alice)).end_reason == "refresh_token_reuse"


async def test_every_worker_purges_sign_in_rows(context: AppContext) -> None:
    host = WorkerHost(WorkerContext(context.settings, context.database, context.keyring))
    [task] = [t for t in host.periodic if t.name == "purge sign-in rows"]
    assert task.every_s == 600
    expired = request_row(-timedelta(minutes=1))
    async with context.database.system_session() as s:
        s.add(expired)
    await task.run()
    assert await present(context, [expired]) == [False]


def offcoder_auth(prepared: PreparedDatabase, state_dir: Path, *args: str) -> tuple[int, str]:
    """`offcoder auth ARGS` on the test database: its exit code and what it wrote."""
    env = {
        **os.environ,
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
    }
    done = subprocess.run(  # our own command
        [sys.executable, "-m", "offcoder.cli", "auth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


async def test_the_purge_command_says_what_it_deleted(
    context: AppContext, prepared: PreparedDatabase, state_dir: Path
) -> None:
    await without_short_lived_rows(context)
    expired = [request_row(-timedelta(minutes=1)) for _ in range(2)]
    async with context.database.system_session() as s:
        s.add_all(expired)
    said = (
        "2 sign-in requests, 0 authorization codes, 0 link codes, 0 refresh tokens, 0 device codes"
    )

    code, dry = await asyncio.to_thread(offcoder_auth, prepared, state_dir, "purge", "--dry-run")
    assert (code, dry.splitlines()[-1]) == (0, f"would purge {said}"), dry
    assert await present(context, list(expired)) == [True, True]

    code, done = await asyncio.to_thread(offcoder_auth, prepared, state_dir, "purge")
    assert (code, done.splitlines()[-1]) == (0, f"purged {said}"), done
    assert await present(context, list(expired)) == [False, False]
