"""Listing and unlinking the provider accounts a user signs in with (A2), at the service
(`auth/identities`); tests/auth/test_linking.py drives the same over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import pytest
from sqlalchemy.exc import InvalidRequestError

from offcoder.auth import identities
from offcoder.auth.models import OAuthIdentity
from offcoder.context import AppContext
from offcoder.problems import Conflict, NotFound
from tests.support.signin import signed_in_user


async def user_with_two_identities(context: AppContext) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A user signed in with the local provider who has linked a GitHub account too."""
    user_id = context.signer.verify((await signed_in_user(context)).access_token).user_id
    async with context.database.system_session() as session:
        session.add(
            OAuthIdentity(
                id=uuid.uuid4(),
                user_id=user_id,
                provider="github",
                subject=secrets.token_hex(6),
                email=None,
            )
        )
    async with context.database.user_session(user_id) as session:
        rows = await identities.list_identities(session, user_id)
    return user_id, [row.id for row in rows]


async def test_identities_are_listed_oldest_first_without_their_tokens(
    context: AppContext,
) -> None:
    user_id, _ = await user_with_two_identities(context)
    async with context.database.user_session(user_id) as session:
        rows = await identities.list_identities(session, user_id)
        assert [row.provider for row in rows] == ["oidc", "github"]
        with pytest.raises(InvalidRequestError):
            _ = rows[0].access_token_enc  # never loaded, and never loaded by accident


async def test_another_users_identity_is_not_found_and_the_last_is_kept(
    context: AppContext,
) -> None:
    user_id, ids = await user_with_two_identities(context)
    stranger, _ = await user_with_two_identities(context)
    async with context.database.user_session(stranger) as session:
        with pytest.raises(NotFound):
            await identities.unlink(session, stranger, ids[0])
    async with context.database.user_session(user_id) as session:
        await identities.unlink(session, user_id, ids[0])
    async with context.database.user_session(user_id) as session:
        with pytest.raises(Conflict):
            await identities.unlink(session, user_id, ids[1])
        assert [r.id for r in await identities.list_identities(session, user_id)] == [ids[1]]


async def test_two_unlinks_at_once_cannot_leave_a_user_without_a_way_to_sign_in(
    context: AppContext,
) -> None:
    """Each unlink alone sees two identities; the user row's lock makes the second wait for the
    first and then see the one left."""
    user_id, ids = await user_with_two_identities(context)

    async def unlink_second() -> None:
        async with context.database.user_session(user_id) as session:
            await identities.unlink(session, user_id, ids[1])

    async with context.database.user_session(user_id) as first:
        await identities.unlink(first, user_id, ids[0])
        second = asyncio.create_task(unlink_second())
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting on the user row
    with pytest.raises(Conflict):
        await second
    async with context.database.user_session(user_id) as session:
        assert [r.id for r in await identities.list_identities(session, user_id)] == [ids[1]]
