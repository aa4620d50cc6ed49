"""The names of the browser's session cookies, shared by the web console (which sets them), the
Socket.IO server and the API (which read the access token from them)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from offcoder.config import Settings

ACCESS_COOKIE = "oc_access"
REFRESH_COOKIE = "oc_refresh"
# The browser's CSRF token (double submit): forms post it as a field, the console's scripts send
# it as the CSRF_HEADER when they call /v1 with the access cookie.
CSRF_COOKIE = "oc_csrf"
CSRF_HEADER = "x-offcoder-csrf"


def secure_cookies(settings: Settings) -> bool:
    return settings.is_production or settings.public_url.startswith("https://")


def browser_cookie_name(settings: Settings, base: str) -> str:
    """`__Host-` when Secure: such a cookie cannot be set by a sibling subdomain (a preview
    under the same registrable domain) nor scoped to another path."""
    return f"__Host-{base}" if secure_cookies(settings) else base


def cookie_value(cookies: Mapping[str, str], settings: Settings, base: str) -> str | None:
    return cookies.get(browser_cookie_name(settings, base))


def csrf_token_ok(
    cookies: Mapping[str, str],
    headers: Mapping[str, str],
    settings: Settings,
    submitted: str | None,
) -> bool:
    """Whether `submitted` (a form's field or a script's header) equals this browser's CSRF
    cookie, compared in constant time, and the Origin the browser names, if any, is ours."""
    origin = headers.get("origin")
    if origin is not None and origin.rstrip("/") not in settings.allowed_web_origins:
        return False
    expected = cookie_value(cookies, settings, CSRF_COOKIE)
    return bool(expected and submitted) and hmac.compare_digest(
        str(expected).encode(), str(submitted).encode()
    )


def page_request_ok(
    cookies: Mapping[str, str], headers: Mapping[str, str], settings: Settings
) -> bool:
    """Whether a request carrying the browser's cookies came from one of our own pages: its
    CSRF header passes `csrf_token_ok`. A foreign page can make the browser send the cookies,
    but it can neither read the token nor set the header on a cross-site request without
    CORS."""
    return csrf_token_ok(cookies, headers, settings, headers.get(CSRF_HEADER))
