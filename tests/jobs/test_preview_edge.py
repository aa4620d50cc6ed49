"""C7: a preview opens in a real browser at its project's own host, through the edge, for its
owner only; WebSockets too; the job sees the preview's Host and none of OffCoder's cookies."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, expect
from pydantic import ValidationError

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.main import create_app
from offcoder.previews import pages
from offcoder.previews.labels import candidates, ensure_label, is_label, label_hash
from offcoder.previews.models import ReservedPreviewLabel
from offcoder.previews.passes import mint_ticket, spend_ticket
from offcoder.projects.models import Project
from offcoder.web.headers import POLICY_HEADERS
from tests.support.browser import chromium
from tests.support.served import free_port, served, served_at_its_own_url
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.docker, pytest.mark.promise("C7")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

# A page that opens a WebSocket back to its own host, and a JSON echo of what the job received;
# standard library only (the image has nothing else), a WebSocket handshake and one frame.
SERVER = rb'''
import base64, hashlib, http.server, json, os, struct, time
PAGE = b"""<!doctype html><html><body><h1 id=title>Preview works</h1>
<p id=ws>waiting</p><p id=cookies></p>
<script>
document.getElementById("cookies").textContent = "cookies:" + document.cookie;
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.onopen = () => ws.send("ping");
ws.onmessage = (e) => { document.getElementById("ws").textContent = e.data; };
ws.onerror = () => { document.getElementById("ws").textContent = "ws-error"; };
</script></body></html>"""
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/ws":
            key = self.headers["Sec-WebSocket-Key"]
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            first, second = self.rfile.read(2)
            mask = self.rfile.read(4)
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(second & 127)))
            reply = ("pong:" + data.decode() + " host:" + self.headers["Host"]).encode()
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/slow":  # its headers at once, its body 3 s later
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3)
            self.wfile.write(b"ok")
            return
        if self.path == "/":
            body, kind = PAGE, "text/html"
        else:
            seen = {"host": self.headers["Host"], "cookie": self.headers.get("Cookie", ""),
                    "path": self.path, "url": os.environ.get("OFFCODER_PREVIEW_URL"),
                    "vite": os.environ.get("__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS")}
            body, kind = json.dumps(seen).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
print("serving", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
'''


@pytest.fixture(scope="module")
async def site(runtime: Runtime) -> AsyncIterator[str]:
    """The app (API, console and edge in one) on a loopback port: the console's origin."""
    async with served_at_its_own_url(runtime[1]) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    # Preview hosts resolve to loopback inside the browser alone: no lookup leaves it.
    async with chromium("--host-resolver-rules=MAP *.offcoder.localhost 127.0.0.1") as launched:
        yield launched


async def owner_with_preview(api: httpx.AsyncClient, ctx: AppContext) -> tuple[SignedIn, str]:
    """A user with a handle, a project serving SERVER as a running preview: (user, label)."""
    user = await signed_in_user(ctx)
    handle = f"edge{secrets.token_hex(4)}"
    assert (await api.patch("/v1/me", headers=user.headers, json={"handle": handle})).is_success
    created = await api.post("/v1/projects", headers=user.headers, json={"name": "Shop App"})
    project_id = created.json()["id"]
    put = await api.put(
        f"/v1/projects/{project_id}/files/server.py", headers=user.headers, content=SERVER
    )
    assert put.status_code == 200, put.text
    submitted = await api.post(
        f"/v1/projects/{project_id}/jobs",
        headers=user.headers,
        json={"command": ["python3", "server.py"], "network": "preview", "ports": [8000]},
    )
    assert submitted.status_code == 202, submitted.text
    job: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await api.get(f"/v1/jobs/{submitted.json()['id']}", headers=user.headers)).json()
        if job["status"] == "running" and job["published_ports"]:
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "running", job
    label = urlsplit(job["preview_url"]).hostname.split(".")[0]  # type: ignore[union-attr]
    assert label == f"{handle}--shop-app", job["preview_url"]
    return user, label


async def test_an_owner_opens_their_preview_in_a_browser_and_no_one_else_can(
    runtime: Runtime, site: str, browser: Browser
) -> None:
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    port = urlsplit(site).port
    preview = f"http://{label}.{ctx.settings.preview_domain}:{port}"

    # Not signed in anywhere: the edge sends the browser to the console for a ticket.
    async with httpx.AsyncClient() as plain:
        bare = await plain.get(
            f"http://127.0.0.1:{port}/anything", headers={"Host": urlsplit(preview).netloc}
        )
    assert bare.status_code == 303, bare.text
    assert bare.headers["location"].startswith(f"{site}/console/previews/enter?")

    # The owner, signed in to the console: the page, and its WebSocket back to itself.
    context = await browser.new_context()
    await context.add_cookies([{"name": "oc_access", "value": owner.access_token, "url": site}])
    page = await context.new_page()
    await page.goto(f"{preview}/")
    await expect(page.locator("#title")).to_have_text("Preview works")
    assert page.url == f"{preview}/", page.url  # the ticket is gone from the address
    await expect(page.locator("#ws")).to_have_text(
        f"pong:ping host:{urlsplit(preview).netloc}", timeout=15_000
    )
    # The preview's page sees no cookie (the session cookie is HttpOnly), and the job received
    # none of OffCoder's: the console's stay on the console's site, the edge strips its own.
    await expect(page.locator("#cookies")).to_have_text("cookies:")
    # Nor can its script read the console or the API with the console's cookies: another site,
    # no CORS grant, and Lax cookies stay home on cross-site requests.
    reads = await page.evaluate(
        """async (site) => {
            const out = [];
            for (const path of ["/console/projects", "/v1/me"]) {
                try {
                    const r = await fetch(site + path, {credentials: "include"});
                    out.push(path + " " + r.status + " " + (await r.text()).slice(0, 40));
                } catch (e) { out.push(path + " refused"); }
            }
            return out;
        }""",
        site,
    )
    assert reads == ["/console/projects refused", "/v1/me refused"], reads
    seen = await page.goto(f"{preview}/echo?x=1")
    assert seen is not None
    echoed = await seen.json()
    assert echoed["host"] == urlsplit(preview).netloc and echoed["path"] == "/echo?x=1"
    assert "oc_" not in echoed["cookie"], echoed
    # The job's response is its own: none of the console's or the API's headers on it.
    ours = {name.lower() for name in seen.headers} & POLICY_HEADERS
    assert ours == set(), ours
    # The job is told where it is served, and Vite's dev server would accept that host.
    assert echoed["vite"] == urlsplit(preview).hostname, echoed
    assert echoed["url"].startswith(f"http://{urlsplit(preview).hostname}"), echoed
    cookie = next(c for c in await context.cookies(preview) if c["name"] == "oc_preview")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["domain"]) == (
        True,
        "Lax",
        urlsplit(preview).hostname,  # host-only: no other preview host gets it
    )

    # Someone else, signed in as themselves: the console says it is not theirs.
    stranger = await signed_in_user(ctx)
    other = await browser.new_context()
    await other.add_cookies([{"name": "oc_access", "value": stranger.access_token, "url": site}])
    their_page = await other.new_page()
    refused = await their_page.goto(f"{preview}/")
    assert refused is not None and refused.status == 403
    await expect(their_page.locator("body")).to_contain_text("another account")
    # ...and the owner's preview cookie is worth nothing on another preview host.
    await context.close()
    await other.close()


async def test_a_ticket_works_once_and_only_for_its_project(runtime: Runtime, site: str) -> None:
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    port = urlsplit(site).port
    host = f"{label}.{ctx.settings.preview_domain}:{port}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as web:
        minted = await web.get(
            "/console/previews/enter",
            params={"host": host, "next": "/echo"},
            headers={"Cookie": f"oc_access={owner.access_token}"},
        )
        assert minted.status_code == 303, minted.text
        enter = urlsplit(minted.headers["location"])
        assert enter.netloc == host and enter.path == "/.offcoder/enter"
        first = await web.get(f"{enter.path}?{enter.query}", headers={"Host": host})
        assert first.status_code == 303 and first.headers["location"] == "/echo", first.text
        assert re.match(r"oc_preview=[0-9a-f-]{36}\.", first.headers["set-cookie"])
        again = await web.get(f"{enter.path}?{enter.query}", headers={"Host": host})
        assert again.status_code == 410 and "expired" in again.text, again.text
        # An API client sends an access token of its owner's instead of a cookie; the job
        # never sees it. A stranger's token, or none that is ours, opens nothing.
        by_token = await web.get(
            "/echo",
            headers={"Host": host, "X-OffCoder-Preview-Token": f"Bearer {owner.access_token}"},
        )
        assert by_token.status_code == 200, by_token.text
        assert "Bearer" not in by_token.text and by_token.json()["cookie"] == ""
        stranger = await signed_in_user(ctx)
        for token in (stranger.access_token, "not-a-token"):
            refused = await web.get(
                "/echo", headers={"Host": host, "X-OffCoder-Preview-Token": f"Bearer {token}"}
            )
            assert refused.status_code == 403, refused.text
        # A forged pass opens nothing.
        forged = await web.get("/echo", headers={"Host": host, "Cookie": "oc_preview=not-a-pass"})
        assert forged.status_code == 403, forged.text
        # A host outside the preview domain, or with anything but a port after it, is refused.
        for bad in (f"{label}.evil.test", f"{host}@evil.test"):
            refused = await web.get(
                "/console/previews/enter",
                params={"host": bad},
                headers={"Cookie": f"oc_access={owner.access_token}"},
            )
            assert refused.status_code == 422, refused.text


def test_labels_are_unambiguous_dns_labels() -> None:
    """Review F6: `alice` + `shop-app` and `alice-shop` + `app` no longer meet; a long handle
    and slug still make one DNS label (63 at most), the handle whole."""
    assert candidates("alice", "shop-app")[0] == "alice--shop-app"
    assert candidates("alice-shop", "app")[0] == "alice-shop--app"
    long = candidates("h" * 39, "s" * 40)
    assert all(len(x) <= 63 and is_label(x) and x.startswith("h" * 39 + "--") for x in long)
    assert len(set(long)) == len(long)


@pytest.mark.parametrize(
    ("preview_domain", "public_url", "refused"),
    [
        ("preview.offcoder.localhost", "http://127.0.0.1:8000", False),
        ("example-usercontent.com", "https://api.example.com", False),
        ("preview.example.com", "https://api.example.com", True),  # the same site
        ("example.com", "https://example.com", True),
        ("not_a_domain", "https://api.example.com", True),
    ],
)
def test_the_preview_domain_is_a_site_of_its_own(
    preview_domain: str, public_url: str, refused: bool
) -> None:
    """C7: a configuration serving previews on the API's own site is refused at start."""
    if refused:
        with pytest.raises(ValidationError, match="OFFCODER_PREVIEW_DOMAIN"):
            Settings(preview_domain=preview_domain, public_url=public_url)
    else:
        Settings(preview_domain=preview_domain, public_url=public_url)


async def test_a_label_is_never_given_twice(runtime: Runtime) -> None:
    """An old link never opens someone else's preview: after its project is deleted, its label
    stays reserved (by hash), and a new project of the same handle and name gets another."""
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    projects = (await api.get("/v1/projects", headers=owner.headers)).json()["items"]
    project_id = next(p["id"] for p in projects if p["preview_label"] == label)
    for job in (await api.get(f"/v1/projects/{project_id}/jobs", headers=owner.headers)).json()[
        "items"
    ]:
        await api.post(f"/v1/jobs/{job['id']}/cancel", headers=owner.headers)
    deleted = await api.delete(f"/v1/projects/{project_id}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    async with ctx.database.system_session() as system:
        kept = await system.get(ReservedPreviewLabel, label_hash(label))
    assert kept is not None and kept.project_id is None
    again = await api.post("/v1/projects", headers=owner.headers, json={"name": "Shop App"})
    assert again.status_code == 201, again.text
    async with ctx.database.user_session(await user_id(api, owner)) as session:
        row = await session.get(Project, uuid.UUID(again.json()["id"]))
        assert row is not None
        handle = label.split("--")[0]
        given = await ensure_label(session, ctx.database, row, handle)
    assert given != label and given.startswith(f"{handle}--shop-app-"), given


async def test_the_edge_alone_serves_previews_and_nothing_else(
    runtime: Runtime, settings: Settings, prepared: PreparedDatabase
) -> None:
    """`offcoder edge`, the edge as its own process: a running preview through a pass of its
    owner's; the API is not there, and an unknown label is a page saying so."""
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_")}
    env |= {
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
        "OFFCODER_STATE_DIR": str(settings.state_dir),
        "OFFCODER_PUBLIC_URL": ctx.settings.public_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "offcoder.cli", "edge", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"{label}.{ctx.settings.preview_domain}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as edge:
            deadline = time.monotonic() + 60
            while True:
                try:
                    unknown = await edge.get(
                        "/", headers={"Host": f"x--y.{ctx.settings.preview_domain}"}
                    )
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None
                    await asyncio.sleep(0.2)
            assert unknown.status_code == 404 and "No preview here" in unknown.text
            assert (await edge.get("/readyz", headers={"Host": "127.0.0.1"})).status_code == 404
            project = next(
                p
                for p in (await api.get("/v1/projects", headers=owner.headers)).json()["items"]
                if p["preview_label"] == label
            )
            project_id = uuid.UUID(project["id"])
            ticket = await mint_ticket(ctx.database, await user_id(api, owner), project_id)
            session = await spend_ticket(ctx.database, ticket, project_id)
            assert isinstance(session, str), session
            served_page = await edge.get(
                "/echo", headers={"Host": host, "Cookie": f"oc_preview={session}"}
            )
            assert served_page.status_code == 200, served_page.text
            assert served_page.json()["host"] == host
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_share_levels_and_links_in_a_browser(
    runtime: Runtime, site: str, browser: Browser
) -> None:
    """C7: `authenticated` lets anyone signed in through the ticket exchange, `public` anyone
    after a page saying the content is the program's; a share link opens it for whoever holds
    it, and stops working, its sessions with it, once revoked; back to `owner`, a stranger is
    refused again."""
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    project = next(
        p
        for p in (await api.get("/v1/projects", headers=owner.headers)).json()["items"]
        if p["preview_label"] == label
    )
    shares = f"/v1/projects/{project['id']}/previews"
    port = urlsplit(site).port
    preview = f"http://{label}.{ctx.settings.preview_domain}:{port}"
    stranger = await signed_in_user(ctx)
    signed_in = await browser.new_context()
    await signed_in.add_cookies(
        [{"name": "oc_access", "value": stranger.access_token, "url": site}]
    )
    page = await signed_in.new_page()

    shared = await api.put(f"{shares}/8000", headers=owner.headers, json={"share": "authenticated"})
    assert shared.json() == {"port": 8000, "share": "authenticated"}, shared.text
    await page.goto(f"{preview}/")
    await expect(page.locator("#title")).to_have_text("Preview works")
    await expect(page.locator("#ws")).to_contain_text("pong:ping")

    anonymous = await browser.new_context()
    visitor = await anonymous.new_page()
    await api.put(f"{shares}/8000", headers=owner.headers, json={"share": "public"})
    await visitor.goto(f"{preview}/echo")
    await expect(visitor.locator("h1")).to_have_text("This page is user content")
    await visitor.get_by_role("link", name="Continue to the preview").click()
    await expect(visitor.locator("body")).to_contain_text('"path": "/echo"')

    await api.put(f"{shares}/8000", headers=owner.headers, json={"share": "owner"})
    listed = await api.get(shares, headers=owner.headers)
    assert listed.json() == {"items": [{"port": 8000, "share": "owner"}]}
    refused = await page.goto(f"{preview}/")
    assert refused is not None and refused.status == 403  # the stranger's session: not enough
    assert (
        await api.put(f"{shares}/8000", headers=stranger.headers, json={"share": "public"})
    ).status_code == 404

    made = await api.post(
        f"{shares}/8000/links", headers=owner.headers, json={"expires_in_s": 3600}
    )
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"].startswith(f"http://{label}.{ctx.settings.preview_domain}")
    holder = await browser.new_context()
    held = await holder.new_page()
    # The link names the server's public URL's port; this test's server has its own.
    await held.goto(link["url"].replace(urlsplit(link["url"]).netloc, urlsplit(preview).netloc))
    await expect(held.locator("#title")).to_have_text("Preview works")
    listed_links = (await api.get(f"{shares}/8000/links", headers=owner.headers)).json()
    assert [x["id"] for x in listed_links["items"]] == [link["id"]]
    assert listed_links["items"][0]["url"] is None  # the secret is shown once, at creation
    revoked = await api.delete(f"{shares}/8000/links/{link['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    again = await held.goto(f"{preview}/")
    assert again is not None and again.status == 403  # its session went with it
    for context in (signed_in, anonymous, holder):
        await context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"


@pytest.mark.parametrize(
    ("viewport", "name"),
    [({"width": 390, "height": 844}, "phone"), ({"width": 1280, "height": 800}, "desktop")],
)
async def test_the_edges_own_pages_read_well_on_a_phone_and_a_desktop(
    runtime: Runtime, site: str, browser: Browser, viewport: dict[str, int], name: str
) -> None:
    """The pages a visitor meets instead of a preview fit the screen, with a tap target of at
    least 44 px; their screenshots are written for a person to look at."""
    _, ctx, _ = runtime
    port = urlsplit(site).port
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    SCREENSHOTS.mkdir(exist_ok=True)
    unknown = await page.goto(f"http://nobody--nothing.{ctx.settings.preview_domain}:{port}/")
    assert unknown is not None and unknown.status == 404
    await expect(page.locator("h1")).to_have_text("No preview here")
    await page.screenshot(path=str(SCREENSHOTS / f"preview-unknown-{name}.png"))
    interstitial = pages.user_content("/.offcoder/continue?next=%2F")
    await page.set_content(interstitial.render().decode())
    box = await page.get_by_role("link", name="Continue to the preview").bounding_box()
    assert box is not None and box["height"] >= 44, box
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], width  # nothing wider than the screen
    await page.screenshot(path=str(SCREENSHOTS / f"preview-user-content-{name}.png"))
    await context.close()


async def test_a_preview_holds_at_most_its_connection_cap(runtime: Runtime) -> None:
    """OFFCODER_PREVIEW_MAX_CONNECTIONS: past it, a page says so instead of opening another
    connection to the job; once one ends, the next gets through."""
    api, ctx, _ = runtime
    owner, label = await owner_with_preview(api, ctx)
    port = free_port()
    capped = dataclasses.replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"public_url": f"http://127.0.0.1:{port}", "preview_max_connections": 1}
        ),
    )
    host = f"{label}.{ctx.settings.preview_domain}:{port}"
    headers = {"Host": host, "X-OffCoder-Preview-Token": f"Bearer {owner.access_token}"}
    async with (
        served(create_app(capped), port=port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as web,
    ):
        # While the slow response is being sent (its headers are here, its body is not), the
        # edge holds the one connection, and the next request is refused.
        async with web.stream("GET", "/slow", headers=headers) as slow:
            assert slow.status_code == 200
            busy = await web.get("/echo", headers=headers)
            assert busy.status_code == 503 and "Too many connections" in busy.text, busy.text
            assert await slow.aread() == b"ok"
        assert (await web.get("/echo", headers=headers)).status_code == 200
