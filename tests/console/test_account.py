"""The account page in Chromium at a phone's size and a laptop's: profile and handle (a taken
handle and a malformed one said next to the field), the sign-in accounts (the old
/console/identities address shows them too), devices (sign out one, sign out all others), the
second factor (the QR code's secret turned into a code here with pyotp, the recovery codes shown
once and downloadable), this month's usage, the data export as an archive made in the
background (its progress shown), and erasure once the handle is typed, landing on a page saying
it is done."""

from __future__ import annotations

import json
import re
import secrets
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from offcoder.auth.models import OAuthIdentity
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.users.models import User
from tests.support.apps import app_with
from tests.support.browser import chromium
from tests.support.console import SIZES, account_page_ready, checked, signed_in_page
from tests.support.exports import making_exports
from tests.support.served import served_at_its_own_url


@pytest.fixture(scope="module")
async def console(context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def priced_console(settings: Settings, prepared: PreparedDatabase) -> AsyncIterator[str]:
    """A server where jobs cost 5 cents a minute in USD (and nothing in other currencies)."""
    async with (
        app_with(settings, prepared, job_price_per_minute={"USD": 5, "EUR": 0}) as (_, ctx),
        served_at_its_own_url(ctx) as url,
    ):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def second_identity(ctx: AppContext, subject: str) -> None:
    """Another provider account of the user whose e-mail is `subject`, as a link would add."""
    async with ctx.database.system_session() as session:
        user = await session.scalar(select(User).where(User.email == subject))
        assert user is not None
        session.add(
            OAuthIdentity(
                user_id=user.id,
                provider="github",
                subject=f"gh-{subject}",
                email=f"{subject}@gh.example",
                email_verified=True,
            )
        )


async def open_account(page: Page, console: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    await expect(page).to_have_url(f"{console}/console/account")
    await expect(page.locator("h1")).to_have_text("Account")
    await account_page_ready(page)


async def save_handle(page: Page, handle: str) -> None:
    await page.get_by_label("Handle").fill(handle)
    await page.get_by_role("button", name="Save profile").click()


@pytest.mark.parametrize("size", SIZES)
async def test_profile_sign_in_accounts_devices_and_usage(
    browser: Browser, console: str, context: AppContext, size: str
) -> None:
    tag = secrets.token_hex(3)
    subject = f"acct-{size}-{tag}"
    mine, page = await signed_in_page(browser, console, subject, **SIZES[size])
    others = [await signed_in_page(browser, console, subject) for _ in range(2)]
    stranger_context, stranger = await signed_in_page(browser, console, f"taker-{tag}")
    try:
        await open_account(stranger, console)
        await save_handle(stranger, f"taken-{tag}")
        await expect(stranger.locator("#profile-form [data-form-ok]")).to_have_text(
            "Profile saved."
        )

        await open_account(page, console)
        await checked(page, f"account-{size}")

        # Profile: a malformed handle and a taken one are said next to the field.
        handle = page.get_by_label("Handle")
        await save_handle(page, "Not OK")
        await expect(page.locator("#handle-error")).to_have_text(
            "A handle is 2 to 39 lowercase letters, digits and single hyphens, not at either end."
        )
        await expect(handle).to_have_attribute("aria-invalid", "true")
        await save_handle(page, f"taken-{tag}")
        await expect(page.locator("#handle-error")).to_have_text("That handle is taken.")
        await checked(page, f"account-handle-taken-{size}")
        await save_handle(page, f"ada-{tag}")
        await page.get_by_label("Display name").fill("Ada L.")
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.locator("#profile-form [data-form-ok]")).to_have_text("Profile saved.")
        await expect(page.locator("#handle-error")).to_be_hidden()
        await page.reload()
        await expect(handle).to_have_value(f"ada-{tag}")
        await expect(page.get_by_label("Display name")).to_have_value("Ada L.")

        # Sign-in accounts: the only one cannot be unlinked; the old address shows the list.
        identities = page.locator("#identities > li")
        await expect(identities).to_have_count(1)
        await page.get_by_role("button", name=re.compile("^Unlink ")).click()
        await expect(page.locator("#identities-error")).to_contain_text(
            "is the only account you sign in with; link another before unlinking it."
        )
        await expect(identities).to_have_count(1)
        await page.goto(f"{console}/console/identities")
        await expect(page.locator("#identities > li")).to_have_count(1)
        await expect(page.get_by_role("button", name=re.compile("^Link "))).not_to_have_count(0)
        # With a second one (linked here straight in the database), one can go.
        await second_identity(context, subject)
        await page.reload()
        await expect(identities).to_have_count(2)
        await page.get_by_role("button", name=f"Unlink github ({subject}@gh.example)").click()
        await expect(identities).to_have_count(1)
        await page.reload()
        await expect(identities).to_have_text(re.compile("^OpenID Connect"))

        # Devices: three of this account's; sign out one, then all the others.
        await page.goto(f"{console}/console/account#devices")
        sessions = page.locator("#sessions > li")
        await expect(sessions).to_have_count(3)
        await expect(page.locator("#sessions > li[data-current]")).to_contain_text("this device")
        await page.locator("#sessions [data-end-session]").first.click()
        await expect(page.locator("#sessions-ok")).to_have_text("That device is signed out.")
        await expect(sessions).to_have_count(2)
        await page.get_by_role("button", name="Sign out all other devices").click()
        await expect(page.locator("#sessions-ok")).to_have_text("1 other device is signed out.")
        await expect(sessions).to_have_count(1)
        await expect(page.get_by_role("button", name="Sign out all other devices")).to_be_hidden()
        await checked(page, f"account-devices-{size}")
        for _, other in others:
            await other.goto(f"{console}/console/projects")
            await expect(other).to_have_url(f"{console}/console")  # signed out there
        await page.reload()
        await expect(sessions).to_have_count(1)  # and this one still signed in

        # Usage: no price is set on this server.
        await expect(page.locator("#usage-cost")).to_have_text("Jobs are free on this server.")
        await expect(page.locator("#usage-jobs")).to_contain_text("0 jobs since")
        await page.get_by_role("link", name="Balance, top-ups and transactions").click()
        await expect(page).to_have_url(f"{console}/console/wallet")
        await expect(page.locator("#balance")).to_contain_text("0.00 USD")
    finally:
        for other_context, _ in others:
            await other_context.close()
        await stranger_context.close()
        await mine.close()


@pytest.mark.parametrize("size", SIZES)
async def test_two_step_sign_in_with_a_qr_code_and_recovery_codes(
    browser: Browser, console: str, size: str, tmp_path: Path
) -> None:
    context, page = await signed_in_page(
        browser, console, f"mfa-{size}-{secrets.token_hex(3)}", **SIZES[size], accept_downloads=True
    )
    try:
        await open_account(page, console)
        await expect(page.locator("#mfa-status")).to_contain_text("Off.")
        await page.get_by_role("button", name="Set up two-step sign-in").click()
        qr = page.locator("#mfa-qr svg")
        await expect(qr).to_be_visible()
        assert (await qr.bounding_box() or {}).get("width", 0) >= 150  # big enough to scan
        key = (await page.locator("#mfa-secret").inner_text()).replace(" ", "")
        assert re.fullmatch(r"[A-Z2-7]{32}", key), key
        totp = pyotp.TOTP(key)
        await checked(page, f"account-mfa-setup-{size}")

        code = page.get_by_label("Code from the app")
        wrong = str((int(totp.now()) + 500_000) % 1_000_000).zfill(6)
        await code.fill(wrong)
        await page.get_by_role("button", name="Turn on").click()
        await expect(page.locator("#mfa-code-error")).to_have_text(
            "That code was not right. Enter the code the app shows now."
        )
        await code.fill(totp.now())
        await page.get_by_role("button", name="Turn on").click()
        shown = page.locator("#recovery-codes > li")
        await expect(shown).to_have_count(10)
        codes = await shown.all_inner_texts()
        await expect(page.locator("#mfa-status")).to_have_text("On.")
        await checked(page, f"account-mfa-codes-{size}")

        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console)
        await page.get_by_role("button", name="Copy codes").click()
        await expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert (await page.evaluate("navigator.clipboard.readText()")).split() == codes

        async with page.expect_download() as started:
            await page.get_by_role("button", name="Download codes").click()
        download = await started.value
        assert download.suggested_filename == "offcoder-recovery-codes.txt"
        saved = tmp_path / "codes.txt"
        await download.save_as(saved)
        assert saved.read_text().split() == codes

        # Shown once: after a reload the page says it is on and shows no codes.
        await page.reload()
        await expect(page.locator("#mfa-status")).to_contain_text("On.")
        await expect(page.locator("#recovery-codes")).to_have_count(0)
        content = await page.content()
        assert not any(c in content for c in codes)
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_export_then_delete_the_account(
    browser: Browser, console: str, context: AppContext, size: str, tmp_path: Path
) -> None:
    subject = f"leaver-{size}-{secrets.token_hex(3)}"
    browsing, page = await signed_in_page(
        browser, console, subject, **SIZES[size], accept_downloads=True
    )
    try:
        await page.get_by_label("New project").fill("Keepsake")
        await page.get_by_role("button", name="Create").click()
        await open_account(page, console)

        # No worker yet: the page shows the request waiting, with its progress bar.
        async with page.expect_download(timeout=30_000) as started:
            await page.get_by_role("button", name="Download my data").click()
            await expect(page.locator("#export-status")).to_have_text(
                "Waiting for the archive to start…"
            )
            await expect(page.locator("#export-progress")).to_be_visible()
            await checked(page, f"account-export-progress-{size}")
            async with making_exports(context):
                download = await started.value
        assert download.suggested_filename == "offcoder-export.zip"
        saved = tmp_path / "export.zip"
        await download.save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            exported = json.loads(archive.read("export.json"))
            assert {"export.json", "jobs.json", "ai.json"} <= set(archive.namelist())
        assert exported["account"]["email"] == subject
        assert [p["name"] for p in exported["projects"]] == ["Keepsake"]
        await expect(page.locator("#export-status")).to_contain_text("Downloaded.")

        # Without a handle the e-mail address is the word to type; the server checks it too.
        word = subject
        await expect(page.locator("#account")).to_have_attribute("data-confirm-word", word)
        token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
        forged = await page.request.post(
            f"{console}/console/account/delete", form={"confirm": word}
        )
        assert forged.status == 403  # without this page's CSRF token: nothing erased
        refused = await page.request.post(
            f"{console}/console/account/delete", form={"confirm": "yes", "csrf": token or ""}
        )
        assert refused.status == 422
        assert f"Type {word} exactly to delete the account." in await refused.text()

        delete = page.get_by_role("button", name="Delete my account")
        confirm = page.get_by_label(f"Type {word} to confirm")
        await expect(delete).to_be_disabled()
        await confirm.fill(word.upper())
        await expect(delete).to_be_disabled()
        await confirm.fill(word)
        await checked(page, f"account-delete-{size}")
        await delete.click()
        await expect(page).to_have_url(f"{console}/console/account/deleted")
        await expect(page.locator("h1")).to_have_text("Your account is deleted")
        await checked(page, f"account-deleted-{size}")
        await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
        await page.goto(f"{console}/console/projects")
        await expect(page).to_have_url(f"{console}/console")  # signed out

        # Signing in again as the same person starts a new, empty account.
        await page.get_by_role("link", name=re.compile("Sign in with")).click()
        await page.locator('input[name="sub"]').fill(subject)
        await page.get_by_role("button", name="Authorize").click()
        await expect(page).to_have_url(f"{console}/console/projects")
        await expect(page.locator("main")).to_contain_text("No projects yet.")
    finally:
        await browsing.close()


async def test_usage_names_the_price_where_jobs_cost_something(
    browser: Browser, priced_console: str
) -> None:
    context, page = await signed_in_page(
        browser, priced_console, f"priced-{secrets.token_hex(3)}", **SIZES["phone"]
    )
    try:
        await open_account(page, priced_console)
        await expect(page.locator("#usage-cost")).to_have_text(
            "Cost: nothing yet. Jobs cost 0.05 USD a minute."
        )
        await checked(page, "account-priced-phone")
    finally:
        await context.close()
