"""What a running server holds: settings, the database, the keyring, the token signer."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from offcoder.auth.oidc import OIDCProvider
from offcoder.auth.tokens import TokenSigner
from offcoder.config import Settings
from offcoder.crypto.keyring import Keyring
from offcoder.db.engine import Database


@dataclass
class AppContext:
    settings: Settings
    database: Database
    keyring: Keyring
    signer: TokenSigner
    providers: dict[str, OIDCProvider] = field(default_factory=dict)


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context
