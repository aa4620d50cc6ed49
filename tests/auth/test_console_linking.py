"""Linking in the web console (A2): besides the user and the PKCE verifier, the link is bound to
the browser that started it by a `__Host-` cookie whose value's hash is kept with the flow."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.linking import account_number, complete, providers_of, refused_as_invalid_grant
from tests.support.oauth_standins import StandIn, bitbucket_account, github_account
from tests.support.providers import at_provider, sign_in_with

pytestmark = pytest.mark.promise("A2")

LINK_COOKIE = "__Host-oc_link"


async def console_sign_in(browser: httpx.AsyncClient, provider: str, who: str) -> None:
    """Sign in to the console in this browser, through the console's own sign-in."""
    started = await browser.get(f"/console/signin/{provider}")
    assert started.status_code == 303, started.text
    authorize = await browser.get(started.headers["location"])
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(await at_provider(authorize.headers["location"], provider, who))
    landing = await browser.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302, landing.text
    home = urlsplit(landing.headers["location"])
    signed_in = await browser.get(f"{home.path}?{home.query}")
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/console/projects"


async def console_start_link(browser: httpx.AsyncClient, provider: str) -> str:
    """Press "Link" for `provider` on the console's identities page; the provider's URL."""
    page = await browser.get("/console/identities")
    assert page.status_code == 200, page.text
    csrf = browser.cookies.get("__Host-oc_csrf")
    assert csrf
    started = await browser.post(f"/console/identities/{provider}/link", data={"csrf": csrf})
    assert started.status_code == 200, started.text
    [set_cookie] = [
        h for h in started.headers.get_list("set-cookie") if h.startswith(f"{LINK_COOKIE}=")
    ]
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    found = re.search(r'id="continue" href="([^"]+)"', started.text)
    assert found, started.text
    return html.unescape(found.group(1))


async def console_identities(browser: httpx.AsyncClient) -> list[str]:
    """The providers the console's identities page lists as this account's."""
    page = await browser.get("/console/identities")
    assert page.status_code == 200, page.text
    found = re.search(r'<ul [^>]*id="identities"[^>]*>(.*?)</ul>', page.text, re.DOTALL)
    assert found, page.text
    names = re.findall(r'<li data-provider="[a-z]+">([^<]+)', found.group(1))
    return sorted(name.strip() for name in names)


async def console_provider_step(
    api: httpx.AsyncClient, authorize_url: str, provider: str, who: str
) -> str:
    """The provider step; returns the console page (path and query) our callback sends to."""
    back = urlsplit(await at_provider(authorize_url, provider, who))
    landing = await api.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302, landing.text
    target = urlsplit(landing.headers["location"])
    assert target.path == "/console/identities/callback", target
    return f"{target.path}?{target.query}"


async def test_the_console_finishes_a_link_only_in_the_browser_that_started_it(
    browsers: Callable[[], httpx.AsyncClient], github: StandIn, bitbucket: StandIn
) -> None:
    github.accounts["web"] = github_account(account_number(), "web", "w1@example.test", False)
    bitbucket.accounts["web"] = bitbucket_account(
        str(uuid.uuid4()), "web", "w2@example.test", False
    )
    started_here, elsewhere = browsers(), browsers()
    await console_sign_in(started_here, "github", "web")
    await console_sign_in(elsewhere, "github", "web")  # the same user, another browser

    url = await console_start_link(started_here, "bitbucket")
    landing = await console_provider_step(started_here, url, "bitbucket", "web")

    # Without the cookie set at the start, the console refuses to finish the link, and the
    # refused landing spends the code: the browser that started the link cannot use it after.
    refused = await elsewhere.get(landing)
    assert refused.status_code == 400, refused.text
    assert "did not start in this browser" in refused.text
    assert await console_identities(elsewhere) == ["GitHub"]
    dead = await started_here.get(landing)
    assert dead.status_code == 400, dead.text
    assert "unknown, used or expired" in dead.text
    assert await console_identities(started_here) == ["GitHub"]

    # A link that lands in the browser that started it is finished there, once.
    url = await console_start_link(started_here, "bitbucket")
    landing = await console_provider_step(started_here, url, "bitbucket", "web")
    finished = await started_here.get(landing)
    assert finished.status_code == 200, finished.text
    assert "Bitbucket is linked" in finished.text
    assert await console_identities(started_here) == ["Bitbucket", "GitHub"]
    assert any(h.startswith(f"{LINK_COOKIE}=") for h in finished.headers.get_list("set-cookie"))
    assert started_here.cookies.get(LINK_COOKIE) is None  # spent: the cookie is gone
    again = await started_here.get(landing)
    assert again.status_code == 400


@pytest.mark.parametrize("victims_browser", ["signed_in", "own_link_started", "signed_out"])
async def test_a_console_link_landing_refused_in_the_victims_browser_kills_the_code(
    browsers: Callable[[], httpx.AsyncClient],
    github: StandIn,
    bitbucket: StandIn,
    victims_browser: str,
) -> None:
    """The attack on the console: signed in as A, start a link and send the provider URL to V.
    V's provider step sends V's browser to our console callback, which refuses it (V's browser
    has no cookie of A's start, another link's cookie, or no session at all) and spends the code
    right there; so even a landing URL that V forwards to A is dead in A's browser, which holds
    the cookie and the verifier of the start."""
    github.accounts["mallory"] = github_account(
        account_number(), "mallory", "mallory@example.test", False
    )
    bitbucket.accounts["mallory"] = bitbucket_account(
        str(uuid.uuid4()), "mallory", "m2@example.test", False
    )
    bitbucket.accounts["victim"] = bitbucket_account(
        str(uuid.uuid4()), "victim", "v@example.test", False
    )
    attackers, victims = browsers(), browsers()
    await console_sign_in(attackers, "github", "mallory")
    if victims_browser != "signed_out":
        await console_sign_in(victims, "bitbucket", "victim")
    if victims_browser == "own_link_started":
        await console_start_link(victims, "github")  # a link cookie of V's own, another state

    url = await console_start_link(attackers, "bitbucket")
    landing = await console_provider_step(victims, url, "bitbucket", "victim")
    refused = await victims.get(landing)
    if victims_browser == "signed_out":
        assert refused.status_code == 303 and refused.headers["location"] == "/console"
    else:
        assert refused.status_code == 400, refused.text
        assert "did not start in this browser" in refused.text

    forwarded = await attackers.get(landing)
    assert forwarded.status_code == 400, forwarded.text
    assert "unknown, used or expired" in forwarded.text
    assert await console_identities(attackers) == ["GitHub"]
    assert (await sign_in_with(victims, "bitbucket", "victim"))["email"] == "v@example.test"
    assert await console_identities(attackers) == ["GitHub"]


async def test_a_console_link_code_needs_its_browser_cookie_even_with_the_verifier(
    browsers: Callable[[], httpx.AsyncClient], github: StandIn, bitbucket: StandIn
) -> None:
    """The binding is kept by the server, not only by the console page: the API's completion
    refuses a console-started code without the browser's cookie value, verifier or not."""
    github.accounts["bound"] = github_account(account_number(), "bound", "b1@example.test", False)
    bitbucket.accounts["bound"] = bitbucket_account(
        str(uuid.uuid4()), "bound", "b2@example.test", False
    )
    browser, api = browsers(), browsers()
    me = await sign_in_with(api, "github", "bound")
    await console_sign_in(browser, "github", "bound")
    url = await console_start_link(browser, "bitbucket")
    landing = await console_provider_step(api, url, "bitbucket", "bound")
    code = parse_qs(urlsplit(landing).query)["code"][0]
    # The console keeps provider, state, verifier and the browser binding in its cookie.
    _, _, verifier, _ = str(browser.cookies.get(LINK_COOKIE)).split(".")

    refused = await complete(api, me["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(refused), refused.text
    assert await providers_of(api, me) == ["github"]
