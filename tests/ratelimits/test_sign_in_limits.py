"""Anonymous sign-in steps are limited per client address (review F8): starting a sign-in, the
providers' callbacks and the console's, and exchanging a one-time code share one count. Past it
the answer is 429 with Retry-After, nothing is written, and another address is not affected."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from offcoder.auth.models import AuthorizationRequest
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.ratelimits.service import client_address
from tests.support.ratelimits import an_address, assert_rate_limited, limited_app
from tests.support.signin import REDIRECT_URI, pkce_pair


def start_params(device_name: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "redirect_uri": REDIRECT_URI,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "device_name": device_name,
    }


async def started(ctx: AppContext, device_name: str) -> int:
    """The sign-in requests written for `device_name`."""
    async with ctx.database.system_session() as s:
        count = await s.scalar(
            select(func.count())
            .select_from(AuthorizationRequest)
            .where(AuthorizationRequest.device_name == device_name)
        )
    return int(count or 0)


async def test_authorize_refuses_a_flood_from_one_address_and_writes_nothing(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_sign_in="3/minute") as limited:
        flooder, other = await limited.at(an_address()), await limited.at(an_address())
        device = f"flood-{secrets.token_hex(4)}"

        # given three sign-ins started from one address
        for _ in range(3):
            ok = await flooder.get("/v1/auth/oidc/authorize", params=start_params(device))
            assert ok.status_code == 302, ok.text

        # when it starts a fourth
        refused = await flooder.get("/v1/auth/oidc/authorize", params=start_params(device))

        # then it is refused with a problem saying how long to wait, and no row is written
        assert_rate_limited(refused)
        assert refused.json()["instance"] == "/v1/auth/oidc/authorize"
        assert await started(limited.ctx, device) == 3
        # and another address starts a sign-in as usual
        elsewhere = await other.get("/v1/auth/oidc/authorize", params=start_params(device))
        assert elsewhere.status_code == 302, elsewhere.text
        assert await started(limited.ctx, device) == 4


async def test_callbacks_and_code_exchange_count_with_the_starts(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_sign_in="4/minute") as limited:
        client = await limited.at(an_address())
        # Four steps of every anonymous kind, each refused for its own reason (counted anyway).
        callback = await client.get("/v1/auth/oidc/callback", params={"state": "made-up"})
        assert callback.status_code == 400, callback.text
        exchange = await client.post(
            "/v1/auth/token",
            json={"grant_type": "authorization_code", "code": "made-up", "code_verifier": "x"},
        )
        assert exchange.status_code == 400, exchange.text
        console = await client.get("/console/callback", params={"state": "s", "code": "c"})
        assert console.status_code == 400, console.text
        start = await client.get("/v1/auth/oidc/authorize", params=start_params("steps"))
        assert start.status_code == 302, start.text

        # The fifth step of each kind is refused.
        assert_rate_limited(await client.get("/v1/auth/oidc/authorize", params=start_params("x")))
        assert_rate_limited(await client.get("/v1/auth/oidc/callback", params={"state": "made-up"}))
        assert_rate_limited(
            await client.post(
                "/v1/auth/token",
                json={"grant_type": "authorization_code", "code": "c", "code_verifier": "x"},
            )
        )
        page = await client.get("/console/callback", params={"state": "s", "code": "c"})
        # The console answers with a page, and keeps the wait.
        assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
        assert 1 <= int(page.headers["retry-after"]) <= 60


async def test_two_servers_on_one_database_share_the_count(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """Two API processes of one deployment: the second sees what the first counted."""
    overrides = {"rate_limit_sign_in": "3/minute"}
    async with (
        limited_app(settings, prepared, **overrides) as first,
        limited_app(settings, prepared, **overrides) as second,
    ):
        address = an_address()
        one, two = await first.at(address), await second.at(address)
        for client in (one, two, one):
            ok = await client.get("/v1/auth/oidc/authorize", params=start_params("shared"))
            assert ok.status_code == 302, ok.text
        assert_rate_limited(await two.get("/v1/auth/oidc/authorize", params=start_params("s")))
        assert_rate_limited(await one.get("/v1/auth/oidc/authorize", params=start_params("s")))


async def test_an_ipv6_client_is_counted_by_its_network(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """Every address of one /64 is one client: changing the last 64 bits gains nothing."""
    network = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"
    async with limited_app(settings, prepared, rate_limit_sign_in="2/minute") as limited:
        for host in (f"{network}::1", f"{network}::2"):
            client = await limited.at(host)
            ok = await client.get("/v1/auth/oidc/authorize", params=start_params("v6"))
            assert ok.status_code == 302, ok.text
        third = await limited.at(f"{network}::3")
        assert_rate_limited(await third.get("/v1/auth/oidc/authorize", params=start_params("v")))
        neighbour = await limited.at(f"{network[:-1]}{int(network[-1], 16) ^ 1:x}::1")
        ok = await neighbour.get("/v1/auth/oidc/authorize", params=start_params("v6"))
        assert ok.status_code == 302, ok.text


def test_what_an_anonymous_call_is_counted_against() -> None:
    assert client_address("203.0.113.7") == "203.0.113.7"
    assert client_address("::ffff:203.0.113.7") == "203.0.113.7"  # IPv4 over an IPv6 socket
    assert client_address("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_address(None) == "unknown"


def test_the_defaults() -> None:
    defaults = Settings()
    assert (defaults.rate_limit_sign_in, defaults.rate_limit_token_refresh) == (
        "60/minute",
        "30/minute",
    )
    assert (defaults.rate_limit_api, defaults.rate_limit_mfa_verify) == ("512/minute", "10/minute")
    assert defaults.rate_limit_live_messages == "600/minute"


async def test_an_address_that_is_not_an_ip_is_counted_as_written(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_sign_in="1/minute") as limited:
        name = f"peer-{secrets.token_hex(4)}"
        client = await limited.at(name)
        ok = await client.get("/v1/auth/oidc/authorize", params=start_params("named"))
        assert ok.status_code == 302, ok.text
        assert_rate_limited(await client.get("/v1/auth/oidc/authorize", params=start_params("n")))
