"""A user's own AI provider keys (BYOK, S3), sealed at rest (R2) and never shown again (R3).

Providers are a fixed allow-list. A provider outside it is answered like any absent resource:
404 for every method (PUT included), so `/v1/ai/keys/{provider}` exists exactly for the listed
providers.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai import repository
from offcoder.ai.schemas import AIKeyOut
from offcoder.crypto import bindings
from offcoder.crypto.keyring import Keyring
from offcoder.logs import hold_sensitive, release_sensitive
from offcoder.problems import InvalidInput, NotFound

PROVIDERS = frozenset(
    {"openai", "anthropic", "google", "mistral", "groq", "openrouter", "deepseek", "xai"}
)
# Printable ASCII without space: what every listed provider issues, and safe in a header.
API_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")


def check_provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise NotFound("AI provider")
    return provider


async def put_key(
    session: AsyncSession, keyring: Keyring, user_id: uuid.UUID, provider: str, api_key: str
) -> AIKeyOut:
    """Seal and store the key (bound to provider and owner); only its last four are kept clear."""
    check_provider(provider)
    if not API_KEY.match(api_key):
        # The rule only: the key itself must not come back in an error. Nothing is registered
        # with the redactor before this check: what a client sends is not a key until it passes.
        raise InvalidInput("An API key is 8 to 512 printable ASCII characters without spaces.")
    hold_sensitive(api_key)
    try:
        sealed = keyring.seal_text(api_key, bindings.ai_key(provider, user_id))
        last4 = api_key[-4:]
        created_at, updated_at = await repository.upsert_key(
            session, user_id, provider, sealed, last4
        )
    finally:
        release_sensitive(api_key)
    return AIKeyOut(provider=provider, last4=last4, created_at=created_at, updated_at=updated_at)


async def list_keys(session: AsyncSession, user_id: uuid.UUID) -> list[AIKeyOut]:
    """Provider, last four and times of each stored key."""
    return [
        AIKeyOut(
            provider=k.provider, last4=k.last4, created_at=k.created_at, updated_at=k.updated_at
        )
        for k in await repository.list_keys(session, user_id)
    ]


async def delete_key(session: AsyncSession, user_id: uuid.UUID, provider: str) -> None:
    check_provider(provider)
    if not await repository.delete_key(session, user_id, provider):
        raise NotFound("AI key")
