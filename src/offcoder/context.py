"""What a running server holds: settings, the database, the keyring, the token signer, the
signals listener (job events, ended sessions), the sign-in and payment providers."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from offcoder.ai.gateway import Clients
from offcoder.ai.moderation import Screen
from offcoder.ai.review import ExemplarCache
from offcoder.auth.oidc import IdentityProvider
from offcoder.auth.tokens import TokenSigner
from offcoder.config import Settings
from offcoder.crypto.keyring import Keyring
from offcoder.db.engine import Database
from offcoder.limits import PerUserSlots
from offcoder.payments.providers import PaymentProvider
from offcoder.ratelimits.service import RateLimits
from offcoder.realtime.signals import Signals


@dataclass
class AppContext:
    settings: Settings
    database: Database
    keyring: Keyring
    signer: TokenSigner
    events: Signals
    # Calls per address, user and class, counted where every API process of the deployment
    # counts (PostgreSQL or Redis, decision 0025).
    rate_limits: RateLimits
    providers: dict[str, IdentityProvider] = field(default_factory=dict)
    payments: dict[str, PaymentProvider] = field(default_factory=dict)
    safety: Screen = field(default_factory=Screen)
    exemplars: ExemplarCache = field(default_factory=ExemplarCache)
    ai_clients: Clients = field(init=False)  # the AI providers' pooled SDK clients
    # Each user's open AI chats: a chat holds a place from its screening to its last byte.
    ai_chats: PerUserSlots = field(default_factory=lambda: PerUserSlots("AI chat"))
    # Each user's long polls (`wait_s`): a waiting request holds a place until it answers.
    long_polls: PerUserSlots = field(default_factory=lambda: PerUserSlots("long poll"))

    def __post_init__(self) -> None:
        self.ai_clients = Clients(self.settings)

    async def close(self) -> None:
        await self.events.close()
        await self.rate_limits.close()
        await self.safety.close()
        await self.ai_clients.close()
        await self.database.dispose()


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context
