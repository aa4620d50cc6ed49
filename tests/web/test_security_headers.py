"""Security headers by route (issue 16 item 5): console pages get a CSP without 'unsafe-inline'
and may not be framed; API responses get the strict defaults; the docs pages allow exactly their
own inline init script by hash; responses on a preview host (the user's content) get none."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from offcoder.previews import pages as edge_pages
from offcoder.web.headers import POLICY_HEADERS
from tests.support.headers import csp_directives

PREVIEW_HOST = "ada--shop.preview.offcoder.localhost"


async def test_console_pages_get_a_csp_without_unsafe_inline(api: httpx.AsyncClient) -> None:
    # given the sign-in page and an error page of the console
    for path in ("/console", "/console/projects/not-a-uuid"):
        # when a browser loads it
        response = await api.get(path, follow_redirects=True)
        assert response.headers["content-type"].startswith("text/html")

        # then scripts and styles come only from our origin, nothing inline
        csp = csp_directives(response.headers["content-security-policy"])
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        assert "'unsafe-eval'" not in response.headers["content-security-policy"]
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["form-action"] == ["'self'"]
        # Socket.IO's WebSocket to this same origin, named for browsers whose 'self' omits ws:
        assert csp["connect-src"] == ["'self'", "ws://testserver"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        # Not no-referrer: browsers then send `Origin: null` on our own form posts, which the
        # CSRF check refuses.
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_api_responses_get_the_strict_defaults(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/v1/nothing-here", "/openapi.json", "/.well-known/security.txt"):
        response = await api.get(path)
        csp = csp_directives(response.headers["content-security-policy"])
        assert csp["default-src"] == ["'none'"], path
        assert csp["frame-ancestors"] == ["'none'"], path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


async def test_a_route_may_choose_its_own_caching(api: httpx.AsyncClient) -> None:
    response = await api.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_preview_responses_get_none_of_our_headers(api: httpx.AsyncClient) -> None:
    # given a request for a preview host, whose pages belong to the user who runs the job
    for path in ("/", "/console", "/healthz"):
        response = await api.get(path, headers={"host": PREVIEW_HOST})
        # then it is the preview edge's answer (here its page for an unknown preview, whose
        # own script-free policy is the edge's), and none of the console's or API's header
        # policy is added to it (a job's own responses: tests/jobs/test_preview_edge.py)
        assert response.status_code == 404 and "No preview here" in response.text, path
        assert response.headers["content-security-policy"] == edge_pages.POLICY, path
        present = {name.lower() for name in response.headers}
        ours = POLICY_HEADERS - {"content-security-policy", "x-content-type-options"}
        ours -= {"referrer-policy", "cache-control"}
        assert present.isdisjoint(ours), (path, present & ours)
        # nor sent to the console's origin (a preview host is not another name of ours)
        assert not response.headers.get("location", "").startswith("http://testserver")


async def test_the_docs_pages_allow_only_their_own_inline_code(api: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await api.get(path)
        assert response.status_code == 200
        header = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
        csp = csp_directives(header)
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        # Every inline script and style block of the page is allowed by its own hash.
        for tag, directive in (("script", "script-src"), ("style", "style-src")):
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", response.text, re.S):
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in csp[directive], (path, tag)
        # Its libraries come from our own origin, not a CDN.
        for url in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert url.startswith("/") and not url.startswith("//"), url
