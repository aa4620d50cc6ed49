"""The edge's own pages: what a person sees at a preview address when there is nothing of the
job's to show (C7). Friendly sentences, never a raw error, readable on a phone; they are ours,
not the job's, so they carry a strict policy of their own (no script at all)."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass

STYLE = (
    "body{font:17px/1.5 system-ui,sans-serif;margin:0;padding:24px;max-width:36rem;"
    "color:#1d1d1f}h1{font-size:1.4rem}a{display:inline-block;min-height:44px;"
    "line-height:44px;padding:0 16px;border-radius:8px;background:#0b5cad;color:#fff;"
    "text-decoration:none}small{color:#555}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
POLICY = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    sentence: str
    refresh_s: int | None = None  # pages of a state that passes by itself reload on their own
    link: tuple[str, str] | None = None  # (label, url)

    def render(self) -> bytes:
        refresh = (
            f'<meta http-equiv="refresh" content="{self.refresh_s}">' if self.refresh_s else ""
        )
        link = ""
        if self.link is not None:
            label, url = self.link
            link = f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>'
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"{refresh}<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1><p>{html.escape(self.sentence)}</p>"
            f"{link}<p><small>OffCoder preview</small></p></body></html>"
        ).encode()

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"content-security-policy", POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if self.refresh_s:
            headers.append((b"retry-after", str(self.refresh_s).encode()))
        return headers


def unknown() -> Page:
    return Page(404, "No preview here", "Nothing is published at this address.")


def forbidden(console: str) -> Page:
    return Page(
        403,
        "This preview is private",
        "Only the project's owner can open it. If it is yours, sign in to OffCoder with the "
        "account that owns the project and open the preview again.",
        link=("Open OffCoder", console),
    )


def expired(again: str | None) -> Page:
    if again is None:  # a share link past its time, or revoked
        return Page(
            410,
            "This link has expired",
            "The link you followed is no longer valid. Ask the person who shared it for a new one.",
        )
    return Page(
        410,
        "This link has expired",
        "Links into a preview work once, for a minute. Open the preview again.",
        link=("Open the preview again", again),
    )


def user_content(continue_url: str) -> Page:
    return Page(
        200,
        "This page is user content",
        "What follows was made by an OffCoder user's program, not by OffCoder. Do not enter "
        "passwords or payment details that OffCoder asks you for here: OffCoder never asks "
        "for them on a preview.",
        link=("Continue to the preview", continue_url),
    )


def not_running(console: str) -> Page:
    return Page(
        503,
        "The preview is not running",
        "No preview job of this project is running. Start one from OffCoder; this page "
        "reloads by itself.",
        refresh_s=5,
        link=("Open OffCoder", console),
    )


def starting() -> Page:
    return Page(
        503,
        "The preview is starting",
        "Its job is starting; this page reloads by itself in a moment.",
        refresh_s=2,
    )


def port_not_open(port: int) -> Page:
    return Page(
        502,
        "Nothing answers yet",
        f"The job is running, but nothing listens on port {port} yet. If the program is "
        "starting a server, this page reloads by itself; a server must listen on 0.0.0.0, "
        "not only 127.0.0.1.",
        refresh_s=2,
    )


def busy() -> Page:
    return Page(
        503,
        "Too many connections",
        "This preview has as many open connections as it may have; try again in a moment.",
        refresh_s=5,
    )
