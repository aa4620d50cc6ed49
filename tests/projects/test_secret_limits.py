"""How much a project's secrets may hold (R3, C4): every secret of a project is opened into its
job's environment and held by the log redactor for the job's life, so a client must not be
able to grow either without bound. At most 100 secrets (409), whose values add up to at most
1 MiB (413): the kernel refuses to start a program whose environment passes about 2 MiB."""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest
from sqlalchemy import select

from offcoder import logs
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.projects import repository
from offcoder.projects.models import ProjectSecret
from tests.support.projects import app_with, new_project
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id

pytestmark = pytest.mark.promise("R3")

KIB_64 = 64 * 1024


async def put(api: httpx.AsyncClient, user: SignedIn, base: str, name: str, value: str) -> int:
    response = await api.put(f"{base}/{name}", json={"value": value}, headers=user.headers)
    assert value not in response.text or len(value) < 8
    return response.status_code


def test_the_limits_are_settings_with_the_documented_defaults() -> None:
    defaults = Settings()
    assert defaults.max_secrets_per_project == 100
    assert defaults.max_project_secret_bytes == 1024 * 1024


async def test_a_projects_101st_secret_is_409_and_leaves_nothing_behind(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    # given a project with 100 secrets
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/secrets"
    for i in range(100):
        value = f"value-{i:03}-{secrets.token_hex(4)}"
        assert await put(api, alice, base, f"S_{i:03}", value) == 200

    # when a 101st is set
    before = logs.masked_size()
    one_more = f"one-more-{secrets.token_hex(8)}"
    response = await api.put(f"{base}/S_100", json={"value": one_more}, headers=alice.headers)

    # then it is 409, naming the limit, with nothing stored and nothing left in the redactor
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://offcoder.dev/problems/conflict"
    assert problem["detail"] == (
        "A project holds at most 100 secrets; delete one before adding another."
    )
    assert one_more not in response.text
    assert logs.masked_size() == before
    listing = await api.get(base, params={"limit": 200}, headers=alice.headers)
    assert len(listing.json()["items"]) == 100
    # and replacing one of the 100 still works, and so does adding one after a deletion
    assert await put(api, alice, base, "S_000", f"replaced-{secrets.token_hex(4)}") == 200
    assert (await api.delete(f"{base}/S_099", headers=alice.headers)).status_code == 204
    assert await put(api, alice, base, "S_100", one_more) == 200


async def test_the_limit_is_per_project(api: httpx.AsyncClient, alice: SignedIn) -> None:
    full = await new_project(api, alice, "full")
    other = await new_project(api, alice, "other")
    for i in range(100):
        name = f"S_{i:03}"
        assert await put(api, alice, f"/v1/projects/{full['id']}/secrets", name, "x" * 8) == 200
    assert await put(api, alice, f"/v1/projects/{other['id']}/secrets", "S_000", "x" * 8) == 200


async def test_the_configured_limits_are_the_ones_applied(
    settings: Settings, prepared: PreparedDatabase, context: AppContext
) -> None:
    async with (
        app_with(settings, prepared, max_secrets_per_project=2, max_project_secret_bytes=20) as api,
    ):
        alice = await signed_in_user(context)
        project = await new_project(api, alice)
        base = f"/v1/projects/{project['id']}/secrets"
        assert await put(api, alice, base, "ONE", "a" * 10) == 200
        assert await put(api, alice, base, "TWO", "b" * 11) == 413
        assert await put(api, alice, base, "TWO", "b" * 10) == 200
        response = await api.put(f"{base}/THREE", json={"value": ""}, headers=alice.headers)
        assert response.status_code == 409
        assert response.json()["detail"].startswith("A project holds at most 2 secrets;")


async def test_values_past_1_mib_in_all_are_413_and_replacing_counts_the_new_value_only(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    # given a project whose 16 values of 64 KiB add up to exactly 1 MiB
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/secrets"
    for i in range(16):
        assert await put(api, alice, base, f"BIG_{i:02}", chr(ord("A") + i) * KIB_64) == 200

    # when one more byte is added in a new secret
    before = logs.masked_size()
    response = await api.put(f"{base}/ONE_MORE", json={"value": "z"}, headers=alice.headers)

    # then it is 413, naming the limit, and nothing is stored or held
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["type"] == "https://offcoder.dev/problems/payload-too-large"
    assert problem["detail"] == (
        "The project's secret values would add up to more than 1048576 bytes."
    )
    assert logs.masked_size() == before
    # and a replacement is counted without the value it replaces: same size fits, one more not
    assert await put(api, alice, base, "BIG_00", "Q" * KIB_64) == 200
    assert await put(api, alice, base, "BIG_00", "Q" * (KIB_64 + 1)) == 413
    assert await put(api, alice, base, "BIG_00", "small-value") == 200
    assert await put(api, alice, base, "ONE_MORE", "z") == 200
    # multi-byte characters are counted in bytes of UTF-8, as the kernel counts them: 65 524
    # bytes are left (15 x 64 KiB, 11 and 1 are used), so 32 763 characters of 2 bytes are over
    assert await put(api, alice, base, "ACCENT", "é" * 32_763) == 413
    assert await put(api, alice, base, "ACCENT", "é" * 32_762) == 200


async def test_the_stored_size_of_a_value_is_its_utf8_bytes(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn
) -> None:
    """The sum is taken in SQL from the sealed values' lengths, without opening any."""
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/secrets"
    values = {"EMPTY": "", "ASCII": "a" * 1000, "UTF8": "é€😀" * 100, "MAX": "m" * KIB_64}
    for name, value in values.items():
        assert await put(api, alice, base, name, value) == 200
    owner, pid = await user_id(api, alice), uuid.UUID(project["id"])

    async with context.database.user_session(owner) as session:
        for name, value in values.items():
            size = await session.scalar(
                select(repository.plaintext_bytes()).where(
                    ProjectSecret.project_id == pid, ProjectSecret.name == name
                )
            )
            assert size == len(value.encode()), name
        count, total = await repository.secret_usage_except(session, owner, pid, "ASCII")
    assert count == 3
    assert total == sum(len(v.encode()) for n, v in values.items() if n != "ASCII")
