"""Project secrets: names and times out, values sealed and never returned (R2, R3, D1)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select, text

from offcoder.context import AppContext
from offcoder.crypto import bindings
from offcoder.crypto.keyring import KeyringError
from offcoder.logs import SensitiveHold, is_masked
from offcoder.problems import InvalidInput
from offcoder.projects import rules
from offcoder.projects.models import ProjectSecret
from tests.support.projects import new_project
from tests.support.signin import SignedIn
from tests.support.users import user_id

VALUE = "sk-live-9f8e7d6c5b4a-DO-NOT-LEAK"


async def put_secret(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, name: str, value: str = VALUE
) -> httpx.Response:
    return await api.put(
        f"/v1/projects/{project_id}/secrets/{name}", json={"value": value}, headers=user.headers
    )


async def sealed_value(context: AppContext, project_id: str, name: str) -> bytes:
    async with context.database.system_session() as s:
        row = await s.scalar(
            select(ProjectSecret.value_enc).where(
                ProjectSecret.project_id == uuid.UUID(project_id), ProjectSecret.name == name
            )
        )
    assert row is not None
    return row


@pytest.mark.promise("R3")
async def test_put_list_delete_never_show_the_value(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    project = await new_project(api, alice)
    base = f"/v1/projects/{project['id']}/secrets"

    put = await put_secret(api, alice, project["id"], "DATABASE_URL")
    assert put.status_code == 200, put.text
    assert set(put.json()) == {"name", "created_at", "updated_at"}
    assert put.json()["name"] == "DATABASE_URL"

    again = await put_secret(api, alice, project["id"], "DATABASE_URL", VALUE + "-v2")
    assert again.status_code == 200
    assert again.json()["created_at"] == put.json()["created_at"]
    assert again.json()["updated_at"] >= put.json()["updated_at"]
    assert (await put_secret(api, alice, project["id"], "API_TOKEN")).status_code == 200

    listing = await api.get(base, headers=alice.headers)
    assert listing.status_code == 200
    body = listing.json()
    assert [s["name"] for s in body["items"]] == ["API_TOKEN", "DATABASE_URL"]
    assert body["next_cursor"] is None
    assert all(set(s) == {"name", "created_at", "updated_at"} for s in body["items"])

    for response in (put, again, listing):
        assert VALUE not in response.text

    assert (await api.delete(f"{base}/API_TOKEN", headers=alice.headers)).status_code == 204
    assert (await api.delete(f"{base}/API_TOKEN", headers=alice.headers)).status_code == 404
    assert (await api.delete(f"{base}/PATH", headers=alice.headers)).status_code == 404
    remaining = (await api.get(base, headers=alice.headers)).json()["items"]
    assert [s["name"] for s in remaining] == ["DATABASE_URL"]
    # there is no way to read one back
    assert (await api.get(f"{base}/DATABASE_URL", headers=alice.headers)).status_code == 405


async def test_secret_listing_pages(api: httpx.AsyncClient, alice: SignedIn) -> None:
    project = await new_project(api, alice)
    names = [f"S_{i}" for i in range(5)]
    for name in names:
        assert (await put_secret(api, alice, project["id"], name)).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (
            await api.get(
                f"/v1/projects/{project['id']}/secrets", params=params, headers=alice.headers
            )
        ).json()
        seen += [s["name"] for s in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == names


@pytest.mark.parametrize(
    "name",
    [
        "lower", "1STARTS_WITH_DIGIT", "HAS-DASH", "HAS.DOT", "A" * 129, "%C3%89T%C3%89",
        "PATH", "HOME", "USER", "SHELL", "PWD", "HOSTNAME", "TERM", "LANG", "LC_ALL", "LC_CTYPE",
        "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PYTHON", "NODE_OPTIONS",
        "NODE_PATH", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY", "IFS",
        "BASH_ENV", "ENV", "OFFCODER_JOB", "DYLD_INSERT_LIBRARIES", "GCONV_PATH", "_",
    ],
)  # fmt: skip
async def test_bad_or_reserved_names_are_422_and_store_nothing(
    api: httpx.AsyncClient, alice: SignedIn, name: str
) -> None:
    project = await new_project(api, alice)

    response = await put_secret(api, alice, project["id"], name)

    assert response.status_code == 422, response.text
    assert VALUE not in response.text
    listing = await api.get(f"/v1/projects/{project['id']}/secrets", headers=alice.headers)
    assert listing.json()["items"] == []


@pytest.mark.parametrize(
    "name", ["A", "_PRIVATE", "MY_PATH", "PATH_EXTRA", "X" * 128, "LCX", "A1_2"]
)
async def test_ordinary_names_are_accepted(
    api: httpx.AsyncClient, alice: SignedIn, name: str
) -> None:
    project = await new_project(api, alice)
    assert (await put_secret(api, alice, project["id"], name)).status_code == 200


@pytest.mark.promise("R3")
@pytest.mark.parametrize(
    ("body", "leak", "status"),
    [
        ({"value": "A" * (64 * 1024 + 1)}, "A" * 1000, 413),
        ({"value": "é" * (32 * 1024 + 1)}, "é" * 1000, 413),  # 64 KiB is counted in bytes
        ({"value": "has\x00nul-secret-text"}, "nul-secret-text", 422),
        ({"value": 123456789}, "123456789", 422),
        ({"value": VALUE, "extra": 1}, VALUE, 422),
        ({"valu": VALUE}, VALUE, 422),
    ],
)
async def test_bad_values_are_refused_without_echo(
    api: httpx.AsyncClient, alice: SignedIn, body: dict[str, object], leak: str, status: int
) -> None:
    project = await new_project(api, alice)
    response = await api.put(
        f"/v1/projects/{project['id']}/secrets/TOKEN", json=body, headers=alice.headers
    )
    assert response.status_code == status
    assert leak not in response.text
    listing = await api.get(f"/v1/projects/{project['id']}/secrets", headers=alice.headers)
    assert listing.json()["items"] == []


async def test_largest_value_and_empty_value_are_accepted(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    project = await new_project(api, alice)
    assert (
        await put_secret(api, alice, project["id"], "BIG", "A" * (64 * 1024))
    ).status_code == 200
    assert (await put_secret(api, alice, project["id"], "EMPTY", "")).status_code == 200


@pytest.mark.promise("D1")
async def test_another_users_secrets_are_404_for_every_method(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    project = await new_project(api, alice)
    assert (await put_secret(api, alice, project["id"], "TOKEN")).status_code == 200
    base = f"/v1/projects/{project['id']}/secrets"

    assert (await api.get(base, headers=bob.headers)).status_code == 404
    assert (await put_secret(api, bob, project["id"], "TOKEN", "bob-value")).status_code == 404
    assert (await put_secret(api, bob, project["id"], "NEW", "bob-value")).status_code == 404
    assert (await api.delete(f"{base}/TOKEN", headers=bob.headers)).status_code == 404

    names = [s["name"] for s in (await api.get(base, headers=alice.headers)).json()["items"]]
    assert names == ["TOKEN"]


@pytest.mark.promise("R2")
async def test_secret_is_sealed_at_rest_and_bound_to_its_row_and_owner(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn, bob: SignedIn
) -> None:
    # given alice's secret and a secret of bob's, and another name in alice's project
    alice_id, bob_id = await user_id(api, alice), await user_id(api, bob)
    alice_project = await new_project(api, alice)
    bob_project = await new_project(api, bob)
    assert (await put_secret(api, alice, alice_project["id"], "TOKEN")).status_code == 200
    assert (await put_secret(api, alice, alice_project["id"], "OTHER", "x" * 20)).status_code == 200
    assert (await put_secret(api, bob, bob_project["id"], "TOKEN", "bob-value")).status_code == 200
    alice_pid, bob_pid = uuid.UUID(alice_project["id"]), uuid.UUID(bob_project["id"])

    sealed = await sealed_value(context, alice_project["id"], "TOKEN")
    assert VALUE.encode() not in sealed
    own = bindings.project_secret(alice_pid, "TOKEN", alice_id)
    assert context.keyring.open_text(sealed, own) == VALUE

    # when the ciphertext is copied into bob's row and into another row of alice's
    async with context.database.system_session() as s:
        for project_id, name in ((bob_pid, "TOKEN"), (alice_pid, "OTHER")):
            await s.execute(
                text(
                    "UPDATE project_secrets SET value_enc = :v WHERE project_id = :p AND name = :n"
                ),
                {"v": sealed, "p": project_id, "n": name},
            )

    # then neither copy opens where it now lives; the original still opens
    for project_id, name, owner in ((bob_pid, "TOKEN", bob_id), (alice_pid, "OTHER", alice_id)):
        copied = await sealed_value(context, str(project_id), name)
        assert copied == sealed
        with pytest.raises(KeyringError):
            context.keyring.open_text(copied, bindings.project_secret(project_id, name, owner))
    assert (
        context.keyring.open_text(await sealed_value(context, alice_project["id"], "TOKEN"), own)
        == VALUE
    )


@pytest.mark.promise("R2")
async def test_secret_environment_opens_values_in_memory(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn
) -> None:
    from offcoder.projects import service

    project = await new_project(api, alice)
    assert (await put_secret(api, alice, project["id"], "TOKEN")).status_code == 200
    alice_id = await user_id(api, alice)
    with SensitiveHold() as held:
        async with context.database.user_session(alice_id) as session:
            env = await service.secret_environment(
                session, context.keyring, alice_id, uuid.UUID(project["id"]), held
            )
        assert env == {"TOKEN": VALUE}
        assert is_masked(VALUE)  # masked from the moment it is opened...
    assert not is_masked(VALUE)  # ...until its holder lets it go


def test_reserved_name_list_covers_the_contract() -> None:
    for name in ("PATH", "HOME", "LD_PRELOAD", "PYTHONPATH", "NODE_OPTIONS", "HTTP_PROXY"):
        with pytest.raises(InvalidInput):
            rules.check_secret_name(name)
