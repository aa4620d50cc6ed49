"""T2 and T3: HSTS on every HTTPS response and on nothing else; in production the API refuses
plain HTTP and the website redirects to HTTPS; a forwarded scheme is believed only from a
configured proxy. Against the real app, behind the server `offcoder serve` runs."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from offcoder.config import Environment, Settings
from offcoder.context import AppContext
from offcoder.main import create_app
from tests.support.tls import self_signed, served_as_serve_does

HSTS = "max-age=63072000; includeSubDomains; preload"
PUBLIC_URL = "https://offcoder.example.test"


def app_for(context: AppContext, **settings: object) -> FastAPI:
    """The real app on the session's database, with some settings changed."""
    changed = context.settings.model_copy(update=settings)
    return create_app(dataclasses.replace(context, settings=changed))


def production(context: AppContext, *, trusted_proxies: list[str]) -> FastAPI:
    return app_for(
        context,
        env=Environment.production,
        public_url=PUBLIC_URL,
        trusted_proxies=[ip_network(proxy) for proxy in trusted_proxies],
    )


@pytest.fixture
async def over_tls(
    context: AppContext, settings: Settings, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The development app served over TLS, and a client that trusts its certificate."""
    certificate = self_signed("offcoder")
    certificate.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    with_tls = settings.model_copy(
        update={"tls_cert_file": tmp_path / "cert.pem", "tls_key_file": tmp_path / "key.pem"}
    )
    trust = ssl.create_default_context(cadata=certificate.cert_pem.decode())
    async with (
        served_as_serve_does(app_for(context), with_tls) as port,
        httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=trust) as client,
    ):
        yield client


@asynccontextmanager
async def plain(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        served_as_serve_does(app, settings) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        yield client


@pytest.mark.promise("T2")
@pytest.mark.parametrize(
    "path", ["/healthz", "/.well-known/jwks.json", "/console", "/v1/me", "/v1/nothing-here"]
)
async def test_every_https_response_carries_hsts(over_tls: httpx.AsyncClient, path: str) -> None:
    response = await over_tls.get(path)

    assert response.url.scheme == "https"
    assert response.headers["strict-transport-security"] == HSTS, response.status_code


@pytest.mark.promise("T2")
async def test_plain_http_in_development_carries_no_hsts_and_is_served(
    context: AppContext, settings: Settings
) -> None:
    """A browser told HSTS over plain HTTP would ignore it, and a development server on
    127.0.0.1 must stay reachable: never on plain HTTP."""
    async with plain(app_for(context), settings) as client:
        for path in ("/healthz", "/.well-known/jwks.json", "/console"):
            # On the public URL's name, as a browser that came the right way (another name is
            # sent there first in development, web/origins.py).
            response = await client.get(
                path,
                headers={
                    "x-forwarded-proto": "https",
                    "host": urlsplit(context.settings.public_url).netloc,
                },
            )
            assert response.status_code == 200, path
            assert "strict-transport-security" not in response.headers, path


@pytest.mark.promise("T3")
@pytest.mark.parametrize(
    "claim",
    [{"x-forwarded-proto": "https"}, {"forwarded": "for=198.51.100.7;proto=https"}, {}],
    ids=["x-forwarded-proto", "forwarded", "no-claim"],
)
async def test_production_refuses_the_api_over_plain_http_whatever_an_untrusted_peer_claims(
    context: AppContext, settings: Settings, claim: dict[str, str]
) -> None:
    """Given production with no trusted proxy, when a loopback peer (what uvicorn's own default
    would trust) says the request came over HTTPS, then the API still refuses it."""
    async with plain(production(context, trusted_proxies=[]), settings) as client:
        response = await client.get("/.well-known/jwks.json", headers=claim)

        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "https://offcoder.dev/problems/https-required"
        assert "https://" in problem["detail"]
        assert "strict-transport-security" not in response.headers
        assert "location" not in response.headers  # refused, never redirected

        engine_io = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert engine_io.status_code == 403  # live logs are the API too


@pytest.mark.promise("T3")
@pytest.mark.promise("T2")
@pytest.mark.parametrize(
    "claim",
    [{"x-forwarded-proto": "https"}, {"forwarded": 'for="[2001:db8::7]";proto=https'}],
    ids=["x-forwarded-proto", "forwarded"],
)
async def test_a_trusted_proxys_https_claim_is_believed(
    context: AppContext, settings: Settings, claim: dict[str, str]
) -> None:
    async with plain(production(context, trusted_proxies=["127.0.0.0/8"]), settings) as client:
        response = await client.get("/.well-known/jwks.json", headers=claim)

        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == HSTS


@pytest.mark.promise("T3")
@pytest.mark.parametrize(
    "claim",
    [
        {},
        {"x-forwarded-proto": "http"},
        # The proxy appended its own word after a client's forged one: the nearest one counts.
        {"x-forwarded-proto": "https, http"},
        # A proxy that sets X-Forwarded-Proto but passes a client's Forwarded header along.
        {"x-forwarded-proto": "http", "forwarded": "proto=https"},
    ],
    ids=["no-claim", "http", "forged-then-appended", "forwarded-forged-beside"],
)
async def test_a_trusted_proxy_saying_plain_http_is_refused(
    context: AppContext, settings: Settings, claim: dict[str, str]
) -> None:
    async with plain(production(context, trusted_proxies=["127.0.0.1"]), settings) as client:
        response = await client.get("/.well-known/jwks.json", headers=claim)

        assert response.status_code == 403
        assert response.json()["type"].endswith("/https-required")


@pytest.mark.promise("T3")
async def test_production_redirects_website_pages_to_https(
    context: AppContext, settings: Settings
) -> None:
    async with plain(production(context, trusted_proxies=[]), settings) as client:
        for path, expected in (
            ("/console", f"{PUBLIC_URL}/console"),
            ("/console/projects?sort=name", f"{PUBLIC_URL}/console/projects?sort=name"),
            ("/", f"{PUBLIC_URL}/"),
        ):
            # A Host of the requester's choosing does not choose where the redirect goes.
            response = await client.get(path, headers={"host": "evil.example.test"})
            assert response.status_code == 308, path
            assert response.headers["location"] == expected
            assert "strict-transport-security" not in response.headers


@pytest.mark.promise("T3")
async def test_production_still_answers_health_probes_over_plain_http(
    context: AppContext, settings: Settings
) -> None:
    """Orchestrators and the proxy's health checks reach the process directly; the probes
    carry no credential and return no user data (decision 0023)."""
    async with plain(production(context, trusted_proxies=[]), settings) as client:
        response = await client.get("/healthz")

        assert response.status_code == 200
        assert "strict-transport-security" not in response.headers
