"""Project files: raw bytes in and out, path rules, per-file and per-project limits (413)."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from fastapi import FastAPI

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import create_app
from tests.support.projects import app_with, file_paths, new_project, raw_request
from tests.support.signin import SignedIn, signed_in_user


async def test_put_get_list_delete(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/files"
    content = b"print('hello')\n\x00\xff binary is fine"

    put = await api.put(f"{base}/src/main.py", content=content, headers=alice.headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["path"] == "src/main.py"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert set(body) == {"path", "size", "sha256", "updated_at"}

    got = await api.get(f"{base}/src/main.py", headers=alice.headers)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["content-type"] == "application/octet-stream"

    replaced = await api.put(f"{base}/src/main.py", content=b"v2", headers=alice.headers)
    assert replaced.status_code == 200
    assert replaced.json()["size"] == 2
    assert (await api.get(f"{base}/src/main.py", headers=alice.headers)).content == b"v2"

    listing = await api.get(base, headers=alice.headers)
    assert listing.status_code == 200
    assert listing.json()["next_cursor"] is None
    [item] = listing.json()["items"]
    assert item["path"] == "src/main.py"
    assert item["size"] == 2
    assert "updated_at" in item
    assert "content" not in item

    assert (await api.delete(f"{base}/src/main.py", headers=alice.headers)).status_code == 204
    assert (await api.get(f"{base}/src/main.py", headers=alice.headers)).status_code == 404
    assert (await api.delete(f"{base}/src/main.py", headers=alice.headers)).status_code == 404
    assert await file_paths(api, alice, project["id"]) == []


async def test_empty_file_and_unicode_path(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/files"

    put = await api.put(f"{base}/docs/caf%C3%A9 notes.md", content=b"", headers=alice.headers)
    assert put.status_code == 200, put.text
    assert put.json()["path"] == "docs/café notes.md"
    assert put.json()["size"] == 0
    assert await file_paths(api, alice, project["id"]) == ["docs/café notes.md"]


async def test_file_listing_pages_by_path(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/files"
    names = ["b.txt", "a/z.txt", "a/b.txt", "Z.txt", "é.txt"]
    for name in names:
        assert (
            await api.put(f"{base}/{name}", content=b"x", headers=alice.headers)
        ).status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.get(base, params=params, headers=alice.headers)).json()
        seen += [i["path"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(names, key=lambda n: n.encode())

    bad = await api.get(base, params={"cursor": "not-a-cursor"}, headers=alice.headers)
    assert bad.status_code == 422


async def test_file_in_missing_project_is_404(api: httpx.AsyncClient, alice: SignedIn) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    put = await api.put(f"/v1/projects/{missing}/files/a.txt", content=b"x", headers=alice.headers)
    assert put.status_code == 404
    assert (
        await api.get(f"/v1/projects/{missing}/files", headers=alice.headers)
    ).status_code == 404
    assert (
        await api.put("/v1/projects/not-a-uuid/files/a", content=b"x", headers=alice.headers)
    ).status_code == 422


# --- the path rules ---------------------------------------------------------------------------

# Each is a request target suffix after `/files/`, as sent on the wire.
BAD_PATHS = [
    pytest.param("", id="empty"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("/etc/passwd", id="leading-slash"),
    pytest.param("%2Fetc%2Fpasswd", id="leading-slash-encoded"),
    pytest.param("%2e%2e/secret", id="dotdot-encoded"),
    pytest.param("a/%2E%2E/b", id="dotdot-encoded-upper"),
    pytest.param("a/%2e", id="dot-encoded"),
    pytest.param("a%5cb", id="backslash-encoded"),
    pytest.param("a%5C..%5Cb", id="backslash-dotdot"),
    pytest.param("a%00b", id="nul"),
    pytest.param("a%0ab", id="newline"),
    pytest.param("a%0a", id="trailing-newline"),
    pytest.param("%0d%0a", id="crlf"),
    pytest.param("a%09b", id="tab"),
    pytest.param("a%7fb", id="del"),
    pytest.param("a%C2%85b", id="c1-control"),
    pytest.param("a%ffb", id="invalid-utf8"),
    pytest.param("a%C3", id="truncated-utf8"),
    pytest.param("%ED%A0%80", id="utf8-surrogate"),
    pytest.param("%C0%AE%C0%AE/x", id="overlong-utf8-dot"),
    pytest.param("e%CC%81.txt", id="non-nfc"),
    pytest.param("x" * 256, id="segment-256-bytes"),
    pytest.param("%C3%A9" * 128, id="segment-256-bytes-multibyte"),
    pytest.param("/".join(["y" * 200] * 5) + "/" + "z" * 20, id="path-1025-bytes"),
]


@pytest.mark.parametrize("suffix", BAD_PATHS)
async def test_bad_paths_are_422_and_store_nothing(
    api: httpx.AsyncClient, alice: SignedIn, suffix: str
) -> None:
    project = await new_project(api, alice)
    url = f"/v1/projects/{project['id']}/files/{suffix}"

    put = await api.put(url, content=b"payload", headers=alice.headers)
    assert put.status_code == 422, (suffix, put.status_code, put.text)
    assert put.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(url, headers=alice.headers)).status_code == 422
    assert (await api.delete(url, headers=alice.headers)).status_code == 422
    assert await file_paths(api, alice, project["id"]) == []


@pytest.fixture(scope="module")
def app(context: AppContext) -> FastAPI:
    return create_app(context)


@pytest.mark.parametrize(
    "suffix", [b"..", b"../x", b"a/../../x", b".", b"./a", b"a/./b", b"a/..", b"a/b/.."]
)
async def test_literal_dot_segments_are_422(
    api: httpx.AsyncClient, app: FastAPI, alice: SignedIn, suffix: bytes
) -> None:
    project = await new_project(api, alice)
    raw = f"/v1/projects/{project['id']}/files/".encode() + suffix

    status, body = await raw_request(app, "PUT", raw, headers=alice.headers, body=b"x")

    assert status == 422, body
    assert await file_paths(api, alice, project["id"]) == []


@pytest.mark.parametrize(
    ("suffix", "stored"),
    [
        ("a.b/c..d/...", "a.b/c..d/..."),
        (".hidden/.env", ".hidden/.env"),
        ("x" * 255, "x" * 255),
        ("/".join(["y" * 200] * 5) + "/" + "z" * 19, "/".join(["y" * 200] * 5) + "/" + "z" * 19),
        ("%C3%A9.txt", "é.txt"),
        ("a%2Fb", "a/b"),
        ("sp ace/%F0%9F%98%80", "sp ace/😀"),
    ],
)
async def test_edge_paths_inside_the_rules_are_stored(
    api: httpx.AsyncClient, alice: SignedIn, suffix: str, stored: str
) -> None:
    project = await new_project(api, alice)
    url = f"/v1/projects/{project['id']}/files/{suffix}"
    response = await api.put(url, content=b"ok", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == stored
    assert (await api.get(url, headers=alice.headers)).content == b"ok"


# --- limits -----------------------------------------------------------------------------------


async def test_default_per_file_limit_is_enforced_by_the_body_limit(
    api: httpx.AsyncClient, alice: SignedIn, settings: Settings
) -> None:
    project = await new_project(api, alice)
    url = f"/v1/projects/{project['id']}/files/big.bin"
    limit = settings.max_file_bytes

    exact = await api.put(url, content=b"a" * limit, headers=alice.headers)
    assert exact.status_code == 200, exact.text
    over = await api.put(url, content=b"b" * (limit + 1), headers=alice.headers)
    assert over.status_code == 413
    assert over.headers["content-type"].startswith("application/problem+json")
    # the earlier file is unchanged
    assert (await api.get(url, headers=alice.headers)).content == b"a" * limit


async def test_per_file_limit_413_stores_nothing(
    settings: Settings, prepared: PreparedDatabase, context: AppContext
) -> None:
    async with app_with(settings, prepared, max_file_bytes=100, max_project_bytes=1000) as small:
        user = await signed_in_user(context)
        project = await new_project(small, user)
        url = f"/v1/projects/{project['id']}/files/f.bin"

        assert (await small.put(url, content=b"x" * 100, headers=user.headers)).status_code == 200
        declared = await small.put(url, content=b"y" * 101, headers=user.headers)
        assert declared.status_code == 413

        async def chunks() -> object:  # no Content-Length: the limit counts what arrives
            for _ in range(3):
                yield b"z" * 60

        streamed = await small.put(url, content=chunks(), headers=user.headers)  # type: ignore[arg-type]
        assert streamed.status_code == 413
        other = await small.put(
            f"/v1/projects/{project['id']}/files/g.bin", content=b"y" * 101, headers=user.headers
        )
        assert other.status_code == 413

        assert (await small.get(url, headers=user.headers)).content == b"x" * 100
        assert await file_paths(small, user, project["id"]) == ["f.bin"]


async def test_per_project_limit_413_stores_nothing(
    settings: Settings, prepared: PreparedDatabase, context: AppContext
) -> None:
    async with app_with(settings, prepared, max_file_bytes=100, max_project_bytes=250) as small:
        user = await signed_in_user(context)
        project = await new_project(small, user)
        base = f"/v1/projects/{project['id']}/files"

        assert (
            await small.put(f"{base}/a", content=b"a" * 100, headers=user.headers)
        ).status_code == 200
        assert (
            await small.put(f"{base}/b", content=b"b" * 100, headers=user.headers)
        ).status_code == 200
        over = await small.put(f"{base}/c", content=b"c" * 51, headers=user.headers)
        assert over.status_code == 413, over.text
        assert over.json()["type"].endswith("/payload-too-large")
        assert await file_paths(small, user, project["id"]) == ["a", "b"]

        # replacing a file counts its new size, not old + new
        assert (
            await small.put(f"{base}/b", content=b"B" * 100, headers=user.headers)
        ).status_code == 200
        assert (
            await small.put(f"{base}/c", content=b"c" * 50, headers=user.headers)
        ).status_code == 200
        assert (
            await small.put(f"{base}/c", content=b"C" * 51, headers=user.headers)
        ).status_code == 413
        assert (await small.get(f"{base}/c", headers=user.headers)).content == b"c" * 50

        # other projects have their own budget
        second = await new_project(small, user, "Second")
        put = await small.put(
            f"/v1/projects/{second['id']}/files/a", content=b"a" * 100, headers=user.headers
        )
        assert put.status_code == 200


async def test_concurrent_uploads_cannot_pass_the_project_limit(
    settings: Settings, prepared: PreparedDatabase, context: AppContext
) -> None:
    async with app_with(settings, prepared, max_file_bytes=100, max_project_bytes=300) as small:
        user = await signed_in_user(context)
        project = await new_project(small, user)
        base = f"/v1/projects/{project['id']}/files"

        # when eight 100-byte uploads race for a 300-byte budget
        responses = await asyncio.gather(
            *(small.put(f"{base}/f{i}", content=b"x" * 100, headers=user.headers) for i in range(8))
        )

        # then exactly three win and the project holds exactly 300 bytes
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 3 + [413] * 5
        listing = (await small.get(base, headers=user.headers)).json()["items"]
        assert sum(i["size"] for i in listing) == 300


# --- isolation --------------------------------------------------------------------------------


@pytest.mark.promise("D1")
async def test_another_users_files_are_404_for_every_method(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/files"
    assert (
        await api.put(f"{base}/secret.txt", content=b"alice", headers=alice.headers)
    ).status_code == 200

    assert (await api.get(base, headers=bob.headers)).status_code == 404
    assert (await api.get(f"{base}/secret.txt", headers=bob.headers)).status_code == 404
    assert (
        await api.put(f"{base}/secret.txt", content=b"bob", headers=bob.headers)
    ).status_code == 404
    assert (
        await api.put(f"{base}/new.txt", content=b"bob", headers=bob.headers)
    ).status_code == 404
    assert (await api.delete(f"{base}/secret.txt", headers=bob.headers)).status_code == 404

    # alice's file is untouched and nothing was added
    assert (await api.get(f"{base}/secret.txt", headers=alice.headers)).content == b"alice"
    assert await file_paths(api, alice, project["id"]) == ["secret.txt"]
