"""PKCE (RFC 7636): the S256 challenge of a verifier, for every side that needs one (the
broker checking a client, and our own clients: the web console, the terminal, dev tokens)."""

from __future__ import annotations

import base64
import hashlib


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
