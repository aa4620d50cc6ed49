"""The local OpenID Connect provider for development (`offcoder serve --dev`).

It signs in whoever types a name: never in production (the settings check refuses it).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pydantic import SecretStr

from offcoder.config import Settings

TEMPLATES = Path(__file__).parent / "templates"


@contextmanager
def dev_provider() -> Iterator[str]:
    """The provider on a loopback port until the context ends; yields its issuer URL.

    Its pages are ours (dev/templates, chosen before the package's own): the package's load
    their stylesheet from a CDN, which a development machine should not need and a test's
    browser must never ask for.
    """
    import threading
    import warnings

    import werkzeug.serving
    from jinja2 import ChoiceLoader, FileSystemLoader

    with warnings.catch_warnings():
        # Its own import of a deprecated authlib module: a warning for its maintainers, noise
        # in every development start-up.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import app as provider_app

    app = provider_app(require_nonce=True)
    app.jinja_loader = ChoiceLoader([FileSystemLoader(TEMPLATES), app.jinja_loader])
    server = werkzeug.serving.make_server("localhost", 0, app, threaded=True)
    # A daemon thread: a server left running never holds the interpreter at exit (Ctrl-C).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


def start_dev_provider() -> tuple[AbstractContextManager[str], str]:
    """Start the provider; return its context manager (keep it open) and issuer."""
    manager = dev_provider()
    return manager, manager.__enter__()


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
