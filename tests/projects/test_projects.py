"""Projects: create, list with cursors, read, rename, delete; another user's project is 404."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.projects import new_project
from tests.support.signin import SignedIn


async def test_create_returns_the_project_with_a_slug(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await api.post("/v1/projects", json={"name": "My Fancy App!"}, headers=alice.headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "My Fancy App!"
    assert body["slug"] == "my-fancy-app"
    uuid.UUID(body["id"])
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert set(body) == {
        "id",
        "slug",
        "name",
        "preview_label",
        "run_command",
        "created_at",
        "updated_at",
    }
    assert body["preview_label"] is None  # given at its first preview (C7)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Café Déjà Vu", "cafe-deja-vu"),
        ("  --Hello__World--  ", "hello-world"),
        ("日本語", "project"),
        ("x" * 100, "x" * 40),
        ("API v2.0", "api-v2-0"),
    ],
)
async def test_slug_is_a_lowercase_dns_label(
    api: httpx.AsyncClient, alice: SignedIn, name: str, slug: str
) -> None:
    assert (await new_project(api, alice, name))["slug"] == slug


async def test_slug_collision_gets_a_suffix_per_user(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    slugs = [(await new_project(api, alice, "Site"))["slug"] for _ in range(3)]
    assert slugs == ["site", "site-2", "site-3"]
    # Slugs are unique per user: bob's first "Site" is plain.
    assert (await new_project(api, bob, "Site"))["slug"] == "site"
    long = [(await new_project(api, alice, "y" * 60))["slug"] for _ in range(2)]
    assert long == ["y" * 40, "y" * 38 + "-2"]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "a\nb"}, {"name": "x" * 101}, {"name": 5},
     {"name": "ok", "extra": 1}],
)  # fmt: skip
async def test_bad_project_bodies_are_422(
    api: httpx.AsyncClient, alice: SignedIn, body: dict[str, object]
) -> None:
    response = await api.post("/v1/projects", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_get_patch_delete(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice, "Before")
    url = f"/v1/projects/{project['id']}"

    got = await api.get(url, headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == project

    patched = await api.patch(url, json={"name": "After"}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "After"
    assert patched.json()["slug"] == project["slug"]  # previews keep their address
    assert patched.json()["updated_at"] >= project["updated_at"]

    assert (await api.patch(url, json={"slug": "x"}, headers=alice.headers)).status_code == 422

    deleted = await api.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.get(url, headers=alice.headers)).status_code == 404
    assert (await api.delete(url, headers=alice.headers)).status_code == 404


async def test_wrong_method_is_405(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice)
    response = await api.post(f"/v1/projects/{project['id']}", headers=alice.headers)
    assert response.status_code == 405


async def test_listing_pages_with_an_opaque_cursor(api: httpx.AsyncClient, alice: SignedIn) -> None:
    created = [(await new_project(api, alice, f"P{i}"))["id"] for i in range(5)]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await api.get("/v1/projects", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= 2
        seen += [p["id"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(created))  # newest first, no gap, no duplicate
    assert pages == 3

    everything = (await api.get("/v1/projects", headers=alice.headers)).json()
    assert everything["next_cursor"] is None
    assert len(everything["items"]) == 5


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJrIjoiZmlsZXMiLCJ2IjpbImEiXX0", "e30", "%%%"])
async def test_bad_cursor_is_422(api: httpx.AsyncClient, alice: SignedIn, cursor: str) -> None:
    response = await api.get("/v1/projects", params={"cursor": cursor}, headers=alice.headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("limit", [0, -1, 201, "x"])
async def test_limit_out_of_range_is_422(
    api: httpx.AsyncClient, alice: SignedIn, limit: int | str
) -> None:
    response = await api.get("/v1/projects", params={"limit": limit}, headers=alice.headers)
    assert response.status_code == 422


async def test_limit_200_is_accepted(api: httpx.AsyncClient, alice: SignedIn) -> None:
    response = await api.get("/v1/projects", params={"limit": 200}, headers=alice.headers)
    assert response.status_code == 200


async def test_unauthenticated_is_401(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/projects")).status_code == 401
    assert (await api.post("/v1/projects", json={"name": "x"})).status_code == 401


@pytest.mark.promise("D1")
async def test_another_users_project_is_404_for_every_method(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    project = await new_project(api, alice, "Private")
    url = f"/v1/projects/{project['id']}"

    assert (await api.get(url, headers=bob.headers)).status_code == 404
    assert (await api.patch(url, json={"name": "Mine"}, headers=bob.headers)).status_code == 404
    assert (await api.delete(url, headers=bob.headers)).status_code == 404
    listing = (await api.get("/v1/projects", headers=bob.headers)).json()
    assert project["id"] not in [p["id"] for p in listing["items"]]

    # given alice's project is untouched
    still = await api.get(url, headers=alice.headers)
    assert still.status_code == 200
    assert still.json()["name"] == "Private"


@pytest.mark.promise("D1")
async def test_a_cursor_cannot_reach_another_users_projects(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    await new_project(api, alice, "A1")
    await new_project(api, alice, "A2")
    page = (await api.get("/v1/projects", params={"limit": 1}, headers=alice.headers)).json()
    assert page["next_cursor"]

    response = await api.get(
        "/v1/projects", params={"cursor": page["next_cursor"]}, headers=bob.headers
    )
    assert response.status_code == 200
    assert response.json()["items"] == []
