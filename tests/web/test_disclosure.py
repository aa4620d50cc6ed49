"""Vulnerability disclosure (V1): `/.well-known/security.txt` complete per RFC 9116, and the
published disclosure policy it points to, with the response times we commit to."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import ValidationError

from offcoder.config import Environment, Settings
from offcoder.context import AppContext
from offcoder.main import create_app

pytestmark = pytest.mark.promise("V1")

PUBLIC = "https://offcoder.test"


@pytest.fixture(scope="module")
async def published(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """The server as deployed: on an https public URL (security.txt is read over https only)."""
    settings = context.settings.model_copy(
        update={
            "public_url": PUBLIC,
            "security_contacts": ["mailto:security@offcoder.test", "https://offcoder.test/report"],
            "security_languages": ["en", "hi"],
        }
    )
    app = create_app(dataclasses.replace(context, settings=settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


def parse_security_txt(text: str) -> dict[str, list[str]]:
    """RFC 9116 section 4: `Name: value` lines, `#` comments, blank lines; names are
    case-insensitive. Any other line fails the test."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9-]+): (\S.*)", line)
        assert match, f"not a security.txt field line: {line!r}"
        fields.setdefault(match[1].lower(), []).append(match[2])
    return fields


async def test_security_txt_is_complete_and_points_at_itself(
    published: httpx.AsyncClient,
) -> None:
    # when a researcher reads the file
    response = await published.get("/.well-known/security.txt")

    # then it is UTF-8 plain text with every field we publish, each well-formed
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.endswith("\n")
    fields = parse_security_txt(response.text)
    assert fields["contact"] == ["mailto:security@offcoder.test", "https://offcoder.test/report"]
    assert fields["canonical"] == [f"{PUBLIC}/.well-known/security.txt"]
    assert fields["policy"] == [f"{PUBLIC}/security/disclosure"]
    assert fields["preferred-languages"] == ["en, hi"]
    # Expires: exactly once, an RFC 3339 UTC time, in the future and within a year.
    (expires,) = fields["expires"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expires)
    when = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    now = datetime.now(UTC)
    assert now + timedelta(days=1) < when <= now + timedelta(days=365)
    # Every web URI in it is https (RFC 9116 2.5.x).
    for name in ("canonical", "policy"):
        assert all(urlsplit(url).scheme == "https" for url in fields[name])


async def test_the_policy_url_serves_the_response_times(published: httpx.AsyncClient) -> None:
    # given the Policy the file names
    fields = parse_security_txt((await published.get("/.well-known/security.txt")).text)
    (policy,) = fields["policy"]

    # when a researcher opens it
    response = await published.get(urlsplit(policy).path)

    # then it is a page that says how to report and what we commit to, in those words
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
    assert "mailto:security@offcoder.test" in response.text
    for commitment in (
        "within 3 business days",
        "within 7 business days",
        "Critical: within 7 days",
        "High: within 30 days",
        "Medium: within 90 days",
        "Low: best effort",
    ):
        assert commitment in text, commitment


def test_contacts_and_languages_must_be_well_formed() -> None:
    for contact in ("security@offcoder.test", "http://offcoder.test/report", "mailto:"):
        with pytest.raises(ValidationError):
            Settings(security_contacts=[contact])
    with pytest.raises(ValidationError):
        Settings(security_contacts=[])
    with pytest.raises(ValidationError):
        Settings(security_languages=["en; drop"])
    with pytest.raises(ValidationError):  # RFC 9116 advises an Expires less than a year away
        Settings(security_txt_valid_days=400)


def test_production_refuses_a_policy_url_that_is_not_https() -> None:
    settings = Settings(env=Environment.production, security_policy_url="http://offcoder.test/p")
    assert any("SECURITY_POLICY_URL" in problem for problem in settings.production_problems())
    https = settings.model_copy(update={"security_policy_url": "https://offcoder.test/p"})
    assert not any("SECURITY_POLICY_URL" in problem for problem in https.production_problems())
