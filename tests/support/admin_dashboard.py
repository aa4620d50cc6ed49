"""The admin dashboard (admin/dashboard) for tests: its app over httpx, and dashboard sessions
minted straight into the database (as `signin.signed_in_user` mints device sessions) for the
tests whose point is not the sign-in."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from offcoder.admin.dashboard import access
from offcoder.admin.dashboard.app import create_admin_app
from offcoder.admin.dashboard.models import AdminSession
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from tests.support.signin import SignedIn, provider_consent


@asynccontextmanager
async def admin_client(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(context)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=context.settings.admin_base_url
    ) as client:
        yield client


async def desk_session(
    context: AppContext,
    user: SignedIn,
    *,
    factor_age_s: int | None = 0,
    idle_s: int = 0,
    age_s: int = 0,
    ended: bool = False,
) -> str:
    """A dashboard session over `user`'s device session; its cookie token. `factor_age_s`
    None: no second factor proved yet."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with context.database.system_session() as s:
        s.add(
            AdminSession(
                token_hash=access.digest(token),
                user_id=context.signer.verify(user.access_token).user_id,
                device_session_id=uuid.UUID(user.session_id),
                created_at=now - timedelta(seconds=age_s),
                last_seen_at=now - timedelta(seconds=idle_s),
                factor=None if factor_age_s is None else "totp",
                factor_at=None if factor_age_s is None else now - timedelta(seconds=factor_age_s),
                ended_at=now if ended else None,
                end_reason="logout" if ended else None,
            )
        )
    return token


def with_desk(client: httpx.AsyncClient, token: str | None) -> str:
    """Put the session (or none) and a CSRF token in the client's cookies; the CSRF value."""
    client.cookies.clear()
    if token is not None:
        client.cookies.set(access.SESSION_COOKIE, token)
    csrf = secrets.token_urlsafe(32)
    client.cookies.set(access.CSRF_COOKIE, csrf)
    return csrf


async def broker_sign_in(
    admin: httpx.AsyncClient, api: httpx.AsyncClient, subject: str
) -> httpx.Response:
    """Sign in at the dashboard through the public app's broker and the local provider, as a
    browser would hop between them; the dashboard's answer to its callback."""
    start = await admin.get("/signin/oidc")
    assert start.status_code == 303, start.text
    authorize = urlsplit(start.headers["location"])
    at_broker = await api.get(authorize.path + "?" + authorize.query)
    assert at_broker.status_code == 302, at_broker.text
    back = urlsplit(await provider_consent(at_broker.headers["location"], subject))
    to_admin = await api.get(back.path + "?" + back.query)
    assert to_admin.status_code == 302, to_admin.text
    landing = urlsplit(to_admin.headers["location"])
    assert f"{landing.scheme}://{landing.netloc}{landing.path}" == (
        admin.base_url.join("/callback").__str__()
    )
    query = parse_qs(landing.query)
    return await admin.get(
        "/callback", params={"code": query["code"][0], "state": query["state"][0]}
    )
