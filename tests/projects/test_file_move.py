"""Renaming files and folders: POST /v1/projects/{id}/files:move (api.md, "Projects and files")."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.projects import repository
from tests.support.projects import file_paths, new_project
from tests.support.signin import SignedIn


async def put(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, path: str, body: bytes
) -> None:
    answer = await api.put(
        f"/v1/projects/{project_id}/files/{path}", content=body, headers=user.headers
    )
    assert answer.status_code == 200, answer.text


async def move(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, source: str, target: str
) -> httpx.Response:
    return await api.post(
        f"/v1/projects/{project_id}/files:move",
        json={"from": source, "to": target},
        headers=user.headers,
    )


async def content(api: httpx.AsyncClient, user: SignedIn, project_id: str, path: str) -> bytes:
    answer = await api.get(f"/v1/projects/{project_id}/files/{path}", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return answer.content


async def test_a_file_moves_with_its_content(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "main.py", b"print(1)\n")
    await put(api, alice, project, "other.py", b"x")

    answer = await move(api, alice, project, "main.py", "src/app.py")

    assert answer.status_code == 200, answer.text
    [moved] = answer.json()["items"]
    assert moved["path"] == "src/app.py"
    assert moved["size"] == 9
    assert moved["sha256"] == hashlib.sha256(b"print(1)\n").hexdigest()
    assert await file_paths(api, alice, project) == ["other.py", "src/app.py"]
    assert await content(api, alice, project, "src/app.py") == b"print(1)\n"


async def test_a_folder_moves_with_everything_under_it(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    project = (await new_project(api, alice))["id"]
    for path in ("lib/a.py", "lib/deep/b.py", "library.py", "lib2/c.py"):
        await put(api, alice, project, path, path.encode())

    answer = await move(api, alice, project, "lib", "pkg/core")

    assert answer.status_code == 200, answer.text
    assert [i["path"] for i in answer.json()["items"]] == ["pkg/core/a.py", "pkg/core/deep/b.py"]
    # Only the folder's own files: names that merely start with "lib" stay.
    assert await file_paths(api, alice, project) == [
        "lib2/c.py",
        "library.py",
        "pkg/core/a.py",
        "pkg/core/deep/b.py",
    ]
    assert await content(api, alice, project, "pkg/core/deep/b.py") == b"lib/deep/b.py"


async def test_a_folder_can_move_up_onto_its_own_paths(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    # a/b/b/x becomes a/b/x, the path a/b/x held before it moved to a/x: one statement swaps.
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "a/b/x", b"1")
    await put(api, alice, project, "a/b/b/x", b"2")

    answer = await move(api, alice, project, "a/b", "a")

    assert answer.status_code == 200, answer.text
    assert await file_paths(api, alice, project) == ["a/b/x", "a/x"]
    assert await content(api, alice, project, "a/x") == b"1"
    assert await content(api, alice, project, "a/b/x") == b"2"


async def test_a_taken_name_refuses_the_whole_move(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "src/a.py", b"a")
    await put(api, alice, project, "src/b.py", b"b")
    await put(api, alice, project, "app/b.py", b"kept")

    answer = await move(api, alice, project, "src", "app")

    assert answer.status_code == 409
    assert (
        answer.json()["detail"]
        == "A file named app/b.py already exists; rename or delete it first."
    )
    # Nothing moved, not even the file whose new name was free.
    assert await file_paths(api, alice, project) == ["app/b.py", "src/a.py", "src/b.py"]
    assert await content(api, alice, project, "app/b.py") == b"kept"


@pytest.mark.parametrize(
    ("source", "target", "status", "detail"),
    [
        ("main.py", "main.py", 422, "The new path is the same as the old one."),
        ("missing.py", "new.py", 404, "No such file or folder."),
        (
            "main.py",
            "../up.py",
            422,
            "The file path must not contain an empty, '.' or '..' segment.",
        ),
        ("main.py", "/abs.py", 422, "The file path must not start with '/'."),
        ("src", "src/inner", 422, "A folder cannot be moved into itself."),
        # a valid new folder path, but too long once "/one.py" follows it
        ("src", "/".join(["x" * 255] * 4), 422, "The file path is longer than 1024 bytes."),
    ],
)
async def test_refused_moves_say_why_and_change_nothing(
    api: httpx.AsyncClient, alice: SignedIn, source: str, target: str, status: int, detail: str
) -> None:
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "main.py", b"m")
    await put(api, alice, project, "src/one.py", b"1")
    await put(api, alice, project, "src/two.py", b"2")

    answer = await move(api, alice, project, source, target)

    assert (answer.status_code, answer.json()["detail"]) == (status, detail)
    assert await file_paths(api, alice, project) == ["main.py", "src/one.py", "src/two.py"]


async def test_the_body_names_from_and_to(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "main.py", b"m")
    answer = await api.post(
        f"/v1/projects/{project}/files:move",
        json={"from": "main.py", "to": "b.py", "overwrite": True},
        headers=alice.headers,
    )
    assert answer.status_code == 422
    assert await file_paths(api, alice, project) == ["main.py"]


# --- isolation --------------------------------------------------------------------------------


@pytest.mark.promise("D1")
async def test_another_user_cannot_move_your_files(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "secret.py", b"alice")

    for source, target in (("secret.py", "taken.py"), ("secret.py", "secret.py.bak")):
        answer = await move(api, bob, project, source, target)
        assert answer.status_code == 404
        assert answer.json()["detail"] == "No such project."

    assert await file_paths(api, alice, project) == ["secret.py"]
    assert await content(api, alice, project, "secret.py") == b"alice"


@pytest.mark.promise("D1")
async def test_row_level_security_stops_a_move_that_names_another_owner(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn, bob: SignedIn
) -> None:
    # The second wall: even a query that claims Alice as the owner moves nothing of hers when
    # it runs in Bob's transaction.
    project = (await new_project(api, alice))["id"]
    await put(api, alice, project, "secret.py", b"alice")

    alice_id = uuid.UUID((await api.get("/v1/me", headers=alice.headers)).json()["id"])
    bob_id = uuid.UUID((await api.get("/v1/me", headers=bob.headers)).json()["id"])
    async with context.database.user_session(bob_id) as session:
        moved = await repository.move_files(
            session,
            alice_id,
            uuid.UUID(project),
            ["secret.py"],
            source="secret.py",
            target="stolen.py",
        )

    assert moved == []
    assert await file_paths(api, alice, project) == ["secret.py"]
    assert await content(api, alice, project, "secret.py") == b"alice"
