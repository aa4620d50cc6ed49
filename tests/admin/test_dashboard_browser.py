"""The admin dashboard in Chromium at a laptop's size (issue 18 items 1 and 3): sign in through
the broker and the local provider, a TOTP code, then each page's main action; every screen
checked with axe-core, for overflow and 44 px tap targets, with a screenshot."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from offcoder.admin.dashboard.app import create_admin_app
from offcoder.admin.dashboard.models import AdminSession
from offcoder.admin.roles import Role
from offcoder.context import AppContext
from offcoder.main import create_app
from offcoder.users.models import User
from tests.support.admin import granted
from tests.support.browser import chromium
from tests.support.console import DESKTOP, checked
from tests.support.mfa import enrolled, next_code
from tests.support.served import free_port, served
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("A5"), pytest.mark.promise("O4"), pytest.mark.promise("O3")]


@dataclasses.dataclass
class Desk:
    context: AppContext
    admin_url: str


@pytest.fixture(scope="module")
async def desk(context: AppContext) -> AsyncIterator[Desk]:
    """The public app and the dashboard, each on its own loopback port, knowing each other."""
    public_port, admin_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{public_port}"
    # `localhost`, not an address: WebAuthn needs a domain as its relying party id.
    admin_url = f"http://localhost:{admin_port}"
    local = dataclasses.replace(
        context,
        settings=context.settings.model_copy(
            update={"public_url": public_url, "admin_url": admin_url}
        ),
    )
    async with (
        served(create_app(local), port=public_port),
        served(create_admin_app(local), port=admin_port),
    ):
        yield Desk(local, admin_url)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def admin_with_totp(
    api: httpx.AsyncClient, context: AppContext, role: Role
) -> tuple[str, pyotp.TOTP]:
    subject = f"admin-{secrets.token_hex(4)}@example.test"
    user = await signed_in_user(context, subject)
    totp, _ = await enrolled(api, user)
    await granted(context, await user_id(api, user), role)
    return subject, totp


async def at_factor_page(page: Page, desk: Desk, subject: str) -> None:
    await page.goto(desk.admin_url + "/")
    await expect(page).to_have_url(desk.admin_url + "/signin")
    await checked(page, "admin-signin-desktop")
    await page.get_by_role("link", name=re.compile("Sign in with")).click()
    await page.get_by_label("Sign in as").fill(subject)
    await page.get_by_role("button", name="Authorize").click()
    await expect(page).to_have_url(re.compile(re.escape(desk.admin_url) + "/factor"))


async def sign_in(page: Page, desk: Desk, subject: str, totp: pyotp.TOTP) -> None:
    await at_factor_page(page, desk, subject)
    await checked(page, "admin-factor-desktop")
    await page.get_by_label(re.compile("Code from your authenticator")).fill("123")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await page.get_by_label(re.compile("Code from your authenticator")).fill(next_code(totp))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Admin dashboard")).to_be_visible()


async def test_sign_in_with_totp_then_find_and_suspend_a_user(
    browser: Browser, desk: Desk, api: httpx.AsyncClient
) -> None:
    subject, totp = await admin_with_totp(api, desk.context, Role.support)
    target = await signed_in_user(desk.context, f"target-{secrets.token_hex(4)}@example.test")
    target_id = await user_id(api, target)
    context = await browser.new_context(**DESKTOP)
    page = await context.new_page()
    try:
        await sign_in(page, desk, subject, totp)
        await checked(page, "admin-home-desktop")
        await page.get_by_role("link", name=re.compile("Find users")).click()
        await page.get_by_label("E-mail, handle or id").fill(target.subject)
        await page.get_by_role("button", name="Search").click()
        await checked(page, "admin-users-desktop")
        await page.get_by_role("link", name=str(target_id)).click()
        await expect(page.get_by_text("active", exact=True)).to_be_visible()
        await checked(page, "admin-user-desktop")
        await page.get_by_role("button", name="Suspend this user").click()
        await expect(page.get_by_role("status")).to_contain_text("suspended")
        await expect(page.get_by_text(re.compile("suspended since"))).to_be_visible()
        await checked(page, "admin-user-suspended-desktop")
        # The suspended user's token no longer works.
        assert (await api.get("/v1/me", headers=target.headers)).status_code == 401
        # Support holds no audit log: the page says so in a sentence.
        await page.goto(desk.admin_url + "/audit")
        await expect(page.get_by_role("alert")).to_contain_text("admin role you do not hold")
    finally:
        await context.close()


async def test_sign_in_with_totp_then_filter_the_audit_log_and_verify_it(
    browser: Browser, desk: Desk, api: httpx.AsyncClient
) -> None:
    subject, totp = await admin_with_totp(api, desk.context, Role.superadmin)
    context = await browser.new_context(**DESKTOP)
    page = await context.new_page()
    try:
        await sign_in(page, desk, subject, totp)
        await page.get_by_role("link", name=re.compile("The audit log")).click()
        await page.get_by_label("Action (starts with)").fill("admin.dashboard.")
        await page.get_by_role("button", name="Filter").click()
        await expect(
            page.get_by_role("cell", name="admin.dashboard.signed_in").first
        ).to_be_visible()
        await expect(page.get_by_role("cell", name="auth.mfa.verified")).to_have_count(0)
        await checked(page, "admin-audit-desktop")
        await page.get_by_role("button", name="Verify the chain").click()
        await expect(page.get_by_role("status")).to_contain_text("audit chain intact")
        await checked(page, "admin-audit-verified-desktop")
    finally:
        await context.close()


async def test_a_security_key_is_added_then_signs_in_as_the_second_factor(
    browser: Browser, desk: Desk, api: httpx.AsyncClient
) -> None:
    """WebAuthn with Chromium's virtual authenticator (CDP): registered in a session that
    proved TOTP, then the only factor of the next sign-in."""
    subject, totp = await admin_with_totp(api, desk.context, Role.safety)
    context = await browser.new_context(**DESKTOP)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    try:
        await sign_in(page, desk, subject, totp)
        await page.get_by_role("link", name="Security keys", exact=True).click()
        await expect(page.get_by_text("No security key yet.")).to_be_visible()
        await page.get_by_role("button", name="Add a security key").click()
        await expect(page.get_by_text(re.compile("Security key, added"))).to_be_visible()
        await checked(page, "admin-keys-desktop")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(desk.admin_url + "/signin")
        await at_factor_page(page, desk, subject)
        await page.get_by_role("button", name="Use a security key").click()
        await expect(page.get_by_role("heading", name="Admin dashboard")).to_be_visible()
        await expect(page.get_by_text("Your roles: safety.")).to_be_visible()
    finally:
        await context.close()
    async with desk.context.database.system_session() as s:
        factors = list(
            await s.scalars(
                select(AdminSession.factor)
                .join(User, User.id == AdminSession.user_id)
                .where(User.email == subject)
                .order_by(AdminSession.created_at)
            )
        )
    assert factors == ["totp", "webauthn"]
