"""One origin for the browser (issue 16 item 8): in development the console (its sign-in start
included) opened on another name of the server (localhost for 127.0.0.1) is sent to the public
URL first, so the sign-in cookie and the provider's return land on the same origin; `/` is the
console. API calls, the broker's sign-in start among them, are answered on any host."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from offcoder.auth.pkce import pkce_challenge
from offcoder.config import Environment
from offcoder.context import AppContext
from offcoder.main import create_app
from tests.support.signin import REDIRECT_URI

PUBLIC = "http://testserver"  # the suite's public URL (tests/conftest.py)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/console", "/console"),
        ("/console/projects?page=2", "/console/projects?page=2"),
        ("/console/signin/oidc", "/console/signin/oidc"),
        ("/", "/"),
    ],
)
async def test_another_host_is_sent_to_the_public_url_before_sign_in_starts(
    api: httpx.AsyncClient, path: str, target: str
) -> None:
    # when a browser opens the page on another name of this server
    response = await api.get(path, headers={"host": "localhost:8000"})

    # then it is sent to the same path on the public URL, and nothing was started here
    assert response.status_code == 307
    assert response.headers["location"] == PUBLIC + target
    assert "set-cookie" not in response.headers


async def test_sign_in_starts_on_the_public_origin(api: httpx.AsyncClient) -> None:
    # given the browser followed the redirect to the public URL
    response = await api.get("/console/signin/oidc")
    # then sign-in starts: the broker, and this browser's sign-in cookie on that origin
    assert response.status_code == 303
    assert response.headers["location"].startswith("/v1/auth/oidc/authorize?")
    assert "oc_signin=" in response.headers["set-cookie"]


async def test_the_root_is_the_console(api: httpx.AsyncClient) -> None:
    response = await api.get("/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url) == f"{PUBLIC}/console"
    assert "Sign in with" in response.text


async def test_the_api_answers_on_any_host(api: httpx.AsyncClient) -> None:
    # API clients hold no cookies: a token works wherever the server is reached.
    for host in ("localhost:8000", "[::1]:8000"):
        response = await api.get("/healthz", headers={"host": host})
        assert response.status_code == 200
    # The broker's own sign-in start keeps its state with the client, not in a cookie: it
    # starts on any host (the CLI's `dev token --server http://localhost:8000` relies on it).
    started = await api.get(
        "/v1/auth/oidc/authorize",
        params={
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "code_challenge": pkce_challenge("v" * 43),
            "code_challenge_method": "S256",
        },
        headers={"host": "localhost:8000"},
    )
    assert started.status_code == 302
    assert not started.headers["location"].startswith(PUBLIC)  # to the provider


async def test_the_public_host_is_matched_with_its_default_port(api: httpx.AsyncClient) -> None:
    response = await api.get("/console", headers={"host": "TestServer:80"})
    assert response.status_code == 200


@pytest.fixture(scope="module")
async def production(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    settings = context.settings.model_copy(update={"env": Environment.production})
    app = create_app(dataclasses.replace(context, settings=settings))
    transport = httpx.ASGITransport(app=app)
    # Over HTTPS, as production is served (plain HTTP is refused or sent to HTTPS there, T3).
    async with httpx.AsyncClient(
        transport=transport, base_url=PUBLIC.replace("http://", "https://")
    ) as client:
        yield client


async def test_production_never_redirects_by_host(production: httpx.AsyncClient) -> None:
    # A proxy that rewrites Host would otherwise loop the browser forever; production serves
    # one name behind its proxy (deploy/Caddyfile passes the Host through).
    response = await production.get("/console", headers={"host": "127.0.0.1:8000"})
    assert response.status_code == 200
