"""The local OpenID Connect provider for development (`offcoder serve --dev`).

It signs in whoever types a name: never in production (the settings check refuses it).
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from typing import Any

from pydantic import SecretStr

from offcoder.config import Settings


def start_dev_provider() -> tuple[AbstractContextManager[Any], str]:
    """Start the provider on loopback; return its context manager (keep it open) and issuer."""
    import warnings

    with warnings.catch_warnings():
        # Its own import of a deprecated authlib module: a warning for its maintainers, noise
        # in every development start-up.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import run_server_in_thread

    manager = run_server_in_thread(require_nonce=True)
    server = manager.__enter__()
    return manager, f"http://localhost:{server.server_port}"


def with_dev_provider(settings: Settings, issuer: str) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": issuer,
            "oidc_client_id": "offcoder-dev",
            "oidc_client_secret": SecretStr(secrets.token_urlsafe(16)),
            "oidc_display_name": "Local development sign-in",
            "dev_identity_provider": True,
        }
    )
