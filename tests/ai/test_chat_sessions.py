"""A chat is the device session's while it lasts (S3, A4): a session that has ended sends
nothing to the provider, and one that ends while the provider answers gets no reply and leaves
no output stored."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from offcoder.ai.models import AIOutput
from offcoder.auth.models import DeviceSession
from offcoder.db.base import utcnow
from tests.ai.conftest import Gateway
from tests.support import ai_standins as ais
from tests.support.signin import SignedIn
from tests.support.sse import events


async def end_session(gateway: Gateway, user: SignedIn) -> None:
    async with gateway.context.database.system_session() as session:
        await session.execute(
            update(DeviceSession)
            .where(DeviceSession.id == uuid.UUID(user.session_id))
            .values(ended_at=utcnow())
        )


async def outputs_of(gateway: Gateway, user: SignedIn) -> int:
    user_id = gateway.context.signer.verify(user.access_token).user_id
    async with gateway.context.database.system_session() as session:
        counted = await session.scalar(
            select(func.count()).select_from(AIOutput).where(AIOutput.user_id == user_id)
        )
    return int(counted or 0)


async def test_a_chat_on_an_ended_session_sends_nothing(gateway: Gateway) -> None:
    user = await gateway.user()
    # a chat first, so that nothing else of the request (the exemplars' refresh, every 30 s)
    # meets the ended session before the key is read
    assert (await gateway.chat(user, "How do I reverse a list?")).status_code == 200
    await end_session(gateway, user)
    sent = len(gateway.openai.requests)
    answered = await gateway.chat(user, "How do I square a list in Python?")
    assert answered.status_code == 401, answered.text
    assert len(gateway.openai.requests) == sent


async def test_a_session_that_ends_during_the_call_gets_no_reply(gateway: Gateway) -> None:
    user = await gateway.user()
    gateway.openai.hang_next(0.6)
    chat = asyncio.create_task(gateway.chat(user, "How do I square a list in Python?"))
    await asyncio.sleep(0.3)
    await end_session(gateway, user)
    answered = await chat
    assert answered.status_code == 401, answered.text
    assert "content" not in answered.text
    assert await outputs_of(gateway, user) == 0


async def test_a_session_that_ends_during_a_stream_stores_nothing(gateway: Gateway) -> None:
    user = await gateway.user()
    gateway.openai.reply = "The loop adds each item. " * 10  # 63 pieces, over a second
    gateway.openai.chunk_delay_s = 0.02
    try:
        chat = asyncio.create_task(gateway.chat(user, "Explain the loop.", stream=True))
        await asyncio.sleep(0.3)
        await end_session(gateway, user)
        answered = await chat
    finally:
        gateway.openai.reply = ais.DEFAULT_REPLY
        gateway.openai.chunk_delay_s = 0.01
    got = events(answered.text)
    assert got[-1][0] == "error" and got[-1][1]["status"] == 401, got[-2:]
    assert await outputs_of(gateway, user) == 0


async def test_a_chat_marks_its_device_session_used(gateway: Gateway) -> None:
    """As every authenticated request does, at most once a minute (the sessions list shows it)."""
    user = await gateway.user()
    session_id = uuid.UUID(user.session_id)
    long_ago = utcnow() - timedelta(minutes=5)
    async with gateway.context.database.system_session() as session:
        await session.execute(
            update(DeviceSession)
            .where(DeviceSession.id == session_id)
            .values(last_used_at=long_ago)
        )
    assert (await gateway.chat(user, "How do I reverse a list?")).status_code == 200
    async with gateway.context.database.system_session() as session:
        device = await session.get(DeviceSession, session_id)
    assert device is not None and device.last_used_at > long_ago + timedelta(minutes=4)
