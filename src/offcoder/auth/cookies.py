"""The names of the browser's session cookies, shared by the web console (which sets them)
and the Socket.IO server (which reads the access token from them)."""

from __future__ import annotations

from offcoder.config import Settings

ACCESS_COOKIE = "oc_access"
REFRESH_COOKIE = "oc_refresh"


def secure_cookies(settings: Settings) -> bool:
    return settings.is_production or settings.public_url.startswith("https://")


def browser_cookie_name(settings: Settings, base: str) -> str:
    """`__Host-` when Secure: such a cookie cannot be set by a sibling subdomain (a preview
    under the same registrable domain) nor scoped to another path."""
    return f"__Host-{base}" if secure_cookies(settings) else base
