"""The device authorization grant (RFC 8628, decision 0032): a terminal asks for codes, a person
signed in to the console approves or denies its user code, the terminal polls the token endpoint
(pending, slow_down, denied, expired) and gets tokens for the approving account, once."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, text

from offcoder.auth.models import DeviceAuthorization
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.device import (
    GRANT,
    NOT_WAITING,
    USER_CODE,
    ask_for_codes,
    client_at,
    console_sign_in,
    decide,
    oauth_error,
    poll,
)
from tests.support.ratelimits import LimitedApp, an_address, assert_rate_limited, limited_app

pytestmark = pytest.mark.promise("A4")


@pytest.fixture(scope="module")
async def server(settings: Settings, prepared: PreparedDatabase) -> AsyncIterator[LimitedApp]:
    """The app with its device limits out of the way (each test has addresses of its own; the
    limits have tests of their own below)."""
    async with limited_app(
        settings,
        prepared,
        rate_limit_device_code="10000/minute",
        rate_limit_device_verify="10000/minute",
    ) as app:
        yield app


@pytest.fixture
async def terminal(server: LimitedApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(server.app, an_address()) as client:
        yield client


@pytest.fixture
async def phone(server: LimitedApp) -> AsyncIterator[httpx.AsyncClient]:
    """A browser, signed in to the console as a new person."""
    async with client_at(server.app, an_address()) as client:
        await console_sign_in(client, f"phone-{an_address()}@example.test")
        yield client


async def row_of(ctx: AppContext, device_code: str) -> DeviceAuthorization:
    async with ctx.database.system_session() as s:
        row = await s.get(DeviceAuthorization, hashlib.sha256(device_code.encode()).digest())
    assert row is not None
    return row


async def age(ctx: AppContext, device_code: str, column: str, seconds: int) -> None:
    """Move a request's `column` `seconds` into the past (the clock, without waiting)."""
    async with ctx.database.system_session() as s:
        moved = await s.execute(
            text(
                f"UPDATE device_authorizations SET {column} = {column} - make_interval(secs => :s)"
                " WHERE device_code_hash = :h"
            ),
            {"s": seconds, "h": hashlib.sha256(device_code.encode()).digest()},
        )
        assert moved.rowcount == 1  # type: ignore[attr-defined]


async def test_a_terminal_is_given_codes_as_rfc_8628_says(
    server: LimitedApp, terminal: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    assert set(codes) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert USER_CODE.fullmatch(codes["user_code"]), codes
    assert codes["device_code"].startswith("ocd_") and len(codes["device_code"]) >= 43
    public = server.ctx.settings.public_url.rstrip("/")
    assert codes["verification_uri"] == f"{public}/console/device"
    complete = urlsplit(codes["verification_uri_complete"])
    assert f"{complete.scheme}://{complete.netloc}{complete.path}" == codes["verification_uri"]
    assert parse_qs(complete.query) == {"user_code": [codes["user_code"]]}
    assert (codes["expires_in"], codes["interval"]) == (600, 5)
    assert (await terminal.post("/v1/auth/device/code")).status_code == 200  # no body at all
    as_json = await terminal.post("/v1/auth/device/code", json={"device_name": "ci runner"})
    assert as_json.status_code == 200, as_json.text
    assert (await row_of(server.ctx, as_json.json()["device_code"])).device_name == "ci runner"
    too_long = await terminal.post("/v1/auth/device/code", data={"device_name": "x" * 101})
    assert oauth_error(too_long) == "invalid_request", too_long.text
    for name in ("tab\there", "nul\x00", ""):
        refused = await terminal.post("/v1/auth/device/code", json={"device_name": name})
        assert oauth_error(refused) == "invalid_request", (name, refused.text)
    unknown = await terminal.post("/v1/auth/device/code", json={"device_name": "a", "b": 1})
    assert oauth_error(unknown) == "invalid_request", unknown.text


async def test_only_hashes_of_the_codes_are_stored(
    server: LimitedApp, terminal: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    row = await row_of(server.ctx, codes["device_code"])
    plain = codes["user_code"].replace("-", "")
    assert row.user_code_hash == hashlib.sha256(plain.encode()).digest()
    async with server.ctx.database.system_session() as s:
        everything = await s.scalar(
            text(
                "SELECT string_agg(t::text, ' ') FROM device_authorizations t"
                " WHERE device_code_hash = :h"
            ),
            {"h": row.device_code_hash},
        )
    assert everything
    for secret in (codes["device_code"], codes["user_code"], plain):
        assert secret not in everything
    assert row.ip_prefix is not None and row.ip_prefix.endswith(".0/24")


async def test_polling_is_pending_until_decided_and_too_fast_is_slow_down(
    server: LimitedApp, terminal: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    first = await poll(terminal, codes["device_code"])
    assert oauth_error(first) == "authorization_pending", first.text
    assert first.headers["content-type"] == "application/problem+json"
    # at once again: faster than the interval
    hasty = await poll(terminal, codes["device_code"])
    assert oauth_error(hasty) == "slow_down", hasty.text
    assert hasty.json()["interval"] == 10
    assert (await row_of(server.ctx, codes["device_code"])).interval_s == 10
    # 6 s later is still too soon for the new interval of 10, and slows it down again
    await age(server.ctx, codes["device_code"], "last_polled_at", 6)
    again = await poll(terminal, codes["device_code"])
    assert (oauth_error(again), again.json().get("interval")) == ("slow_down", 15)
    # a poll that keeps the interval is told to keep waiting
    await age(server.ctx, codes["device_code"], "last_polled_at", 15)
    patient = await poll(terminal, codes["device_code"])
    assert oauth_error(patient) == "authorization_pending", patient.text
    as_json = await terminal.post(
        "/v1/auth/token", json={"grant_type": GRANT, "device_code": "ocd_not-a-code"}
    )
    assert oauth_error(as_json) == "invalid_grant", as_json.text


async def test_approval_gives_the_approving_account_a_session_once(
    server: LimitedApp, terminal: httpx.AsyncClient, phone: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal, "build box")
    # the phone types it in lower case, without the hyphen
    page = await phone.get(
        "/console/device", params={"user_code": codes["user_code"].replace("-", "").lower()}
    )
    assert page.status_code == 200, page.text
    assert codes["user_code"] in page.text and "build box" in page.text
    prefix = (await row_of(server.ctx, codes["device_code"])).ip_prefix
    assert prefix and prefix in page.text

    approved = await decide(phone, codes["user_code"], "approve")
    assert approved.status_code == 200, approved.text
    assert "Approved" in approved.text

    issued = await poll(terminal, codes["device_code"])
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert {"access_token", "refresh_token", "session_id", "expires_in"} <= set(tokens)
    assert tokens["token_type"] == "Bearer"
    headers = {"authorization": f"Bearer {tokens['access_token']}"}
    sessions = (await terminal.get("/v1/auth/sessions", headers=headers)).json()["items"]
    # the approving account's: its console session and the new one, named by the device
    names = sorted((s["device_name"], s["current"]) for s in sessions)
    assert names == [("Web console", False), ("build box", True)], sessions
    assert {s["provider"] for s in sessions} == {"oidc"}
    row = await row_of(server.ctx, codes["device_code"])
    assert row.used_at is not None and row.status == "approved"

    # single use: the device code never works again, and the user code finds nothing
    again = await poll(terminal, codes["device_code"])
    assert oauth_error(again) == "invalid_grant", again.text
    late = await decide(phone, codes["user_code"], "deny")
    assert late.status_code == 400 and NOT_WAITING in late.text
    # the tokens are real ones: they rotate
    rotated = await terminal.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert rotated.status_code == 200, rotated.text


async def test_two_polls_racing_after_the_approval_get_one_session(
    server: LimitedApp, terminal: httpx.AsyncClient, phone: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    assert (await decide(phone, codes["user_code"], "approve")).status_code == 200
    answers = await asyncio.gather(*(poll(terminal, codes["device_code"]) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 9
    assert {oauth_error(a) for a in answers if a.status_code == 400} == {"invalid_grant"}
    async with server.ctx.database.system_session() as s:
        named = await s.scalar(
            text("SELECT count(*) FROM device_sessions WHERE user_id = :u AND device_name = :n"),
            {"u": (await row_of(server.ctx, codes["device_code"])).user_id, "n": "build box"},
        )
    assert named == 1


async def test_a_code_is_approved_for_the_person_who_approves_it_not_another(
    server: LimitedApp, terminal: httpx.AsyncClient, phone: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    async with client_at(server.app, an_address()) as other:
        await console_sign_in(other, f"other-{an_address()}@example.test")
        assert (await decide(other, codes["user_code"], "approve")).status_code == 200
        # once decided, nobody else can decide it
        taken = await decide(phone, codes["user_code"], "approve")
        assert taken.status_code == 400 and NOT_WAITING in taken.text
    tokens = (await poll(terminal, codes["device_code"])).json()
    headers = {"authorization": f"Bearer {tokens['access_token']}"}
    sessions = (await terminal.get("/v1/auth/sessions", headers=headers)).json()["items"]
    row = await row_of(server.ctx, codes["device_code"])
    async with server.ctx.database.system_session() as s:
        approver_sessions = await s.scalar(
            text("SELECT count(*) FROM device_sessions WHERE user_id = :u AND ended_at IS NULL"),
            {"u": row.user_id},
        )
    assert len(sessions) == approver_sessions == 2


async def test_a_denied_code_is_access_denied(
    server: LimitedApp, terminal: httpx.AsyncClient, phone: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    denied = await decide(phone, codes["user_code"], "deny")
    assert denied.status_code == 200 and "Denied" in denied.text
    for _ in range(2):
        answer = await poll(terminal, codes["device_code"])
        assert oauth_error(answer) == "access_denied", answer.text
    late = await decide(phone, codes["user_code"], "approve")
    assert late.status_code == 400 and NOT_WAITING in late.text
    assert oauth_error(await poll(terminal, codes["device_code"])) == "access_denied"


async def test_an_expired_code_is_expired_token_and_cannot_be_approved(
    server: LimitedApp, terminal: httpx.AsyncClient, phone: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    await age(server.ctx, codes["device_code"], "expires_at", 601)
    page = await phone.get("/console/device", params={"user_code": codes["user_code"]})
    assert page.status_code == 400 and NOT_WAITING in page.text
    refused = await decide(phone, codes["user_code"], "approve")
    assert refused.status_code == 400 and NOT_WAITING in refused.text
    answer = await poll(terminal, codes["device_code"])
    assert oauth_error(answer) == "expired_token", answer.text

    # approved, then expired before the terminal came back: still expired
    late = await ask_for_codes(terminal)
    assert (await decide(phone, late["user_code"], "approve")).status_code == 200
    await age(server.ctx, late["device_code"], "expires_at", 601)
    assert oauth_error(await poll(terminal, late["device_code"])) == "expired_token"


async def test_a_wrong_code_is_a_plain_sentence_and_a_decision_needs_the_form(
    server: LimitedApp, phone: httpx.AsyncClient
) -> None:
    form = await phone.get("/console/device")
    assert form.status_code == 200 and 'name="user_code"' in form.text
    for wrong in ("BBBB-BBBB", "not a code", "AEIO-UAEI"):
        page = await phone.get("/console/device", params={"user_code": wrong})
        assert page.status_code == 400 and NOT_WAITING in page.text, wrong
    forged = await phone.post(
        "/console/device", data={"user_code": "BBBB-BBBB", "decision": "approve"}
    )
    assert forged.status_code == 403


async def test_a_signed_out_visitor_signs_in_and_comes_back_to_the_code(
    server: LimitedApp, terminal: httpx.AsyncClient
) -> None:
    codes = await ask_for_codes(terminal)
    async with client_at(server.app, an_address()) as browser:
        sent = await browser.get(codes["verification_uri_complete"].split("testserver", 1)[1])
        assert sent.status_code == 303 and sent.headers["location"] == "/console"
        signin = await browser.get("/console")
        assert "approve a device" in signin.text
        back = await console_sign_in(browser, f"later-{an_address()}@example.test")
        assert back == f"/console/device?user_code={codes['user_code']}"
        page = await browser.get(back)
        assert page.status_code == 200 and codes["user_code"] in page.text
        # followed once: the next sign-in goes home
        assert "oc_next" not in browser.cookies


async def test_guessing_user_codes_is_limited_per_person_and_per_address(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_device_verify="3/minute") as app:
        shared = an_address()
        async with (
            client_at(app.app, shared) as guesser,
            client_at(app.app, shared) as neighbour,
            client_at(app.app, an_address()) as honest,
            client_at(app.app, an_address()) as terminal,
        ):
            await console_sign_in(guesser, f"guesser-{an_address()}@example.test")
            await console_sign_in(neighbour, f"neighbour-{an_address()}@example.test")
            await console_sign_in(honest, f"honest-{an_address()}@example.test")
            codes = await ask_for_codes(terminal)
            for wrong in ("BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"):
                page = await guesser.get("/console/device", params={"user_code": wrong})
                assert page.status_code == 400
            # the fourth try is refused, even with the right code, and decides nothing
            refused = await guesser.get("/console/device", params={"user_code": codes["user_code"]})
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert "Too many device codes tried" in refused.text
            # the same address, another person: refused (per address)
            same_network = await neighbour.get(
                "/console/device", params={"user_code": codes["user_code"]}
            )
            assert same_network.status_code == 429
            # the same person from another address: refused (per person)
            async with client_at(app.app, an_address()) as elsewhere:
                elsewhere.cookies = guesser.cookies
                moved = await elsewhere.get(
                    "/console/device", params={"user_code": codes["user_code"]}
                )
                assert moved.status_code == 429
            assert (
                oauth_error(await poll(terminal, codes["device_code"])) == "authorization_pending"
            )
            # someone else, elsewhere, is served
            assert (await decide(honest, codes["user_code"], "approve")).status_code == 200


async def test_code_requests_are_limited_per_address(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_device_code="2/minute") as app:
        terminal = await app.at(an_address())
        for _ in range(2):
            assert (await terminal.post("/v1/auth/device/code")).status_code == 200
        async with app.ctx.database.system_session() as s:
            before = await s.scalar(select(func.count()).select_from(DeviceAuthorization))
        assert_rate_limited(await terminal.post("/v1/auth/device/code"))
        async with app.ctx.database.system_session() as s:
            after = await s.scalar(select(func.count()).select_from(DeviceAuthorization))
        assert after == before  # a refused request writes no row
        other = await app.at(an_address())
        assert (await other.post("/v1/auth/device/code")).status_code == 200


def test_the_user_code_alphabet_has_no_vowels_nor_look_alikes() -> None:
    from offcoder.auth import device

    assert len(set(device.ALPHABET)) == 20
    assert not set(device.ALPHABET) & set("AEIOUY01")
    assert re.fullmatch(r"[A-Z]{8}", device.new_user_code())
    assert device.normalized("bcdf-ghjk") == "BCDFGHJK"
    assert device.normalized("BCDF GHJ") is None
