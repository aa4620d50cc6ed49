"""What one person may store (issue 14, item 2): how many projects, and how many bytes their
projects' files take together. Past either, a clear problem and nothing changed; writes sent at
once are counted one after the other."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.dependencies.models import DependencyLayer
from tests.support.apps import app_with
from tests.support.projects import file_paths, new_project
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id


async def put_file(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, path: str, content: bytes
) -> httpx.Response:
    return await api.put(
        f"/v1/projects/{project_id}/files/{path}", headers=user.headers, content=content
    )


def test_the_quotas_are_settings_with_sensible_defaults() -> None:
    defaults = Settings()
    assert defaults.max_projects_per_user == 100
    assert defaults.max_file_bytes_per_user == 500 * 1024 * 1024


def refused_past_100_bytes(refused: httpx.Response, *, used: int) -> None:
    """A write that would take the person to 101 bytes of a 100-byte quota: 413, saying why."""
    assert refused.status_code == 413, refused.text
    problem = refused.json()
    assert problem["type"] == "https://offcoder.dev/problems/storage-quota-exceeded"
    assert problem["detail"] == (
        "Your projects' files and dependency layers would take 101 bytes, more than the 100 "
        "this server keeps for one person; delete files or projects to make room."
    )
    assert (problem["limit"], problem["used"]) == (100, used)


async def test_a_project_past_the_quota_is_409_and_none_is_made(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with app_with(settings, prepared, max_projects_per_user=2) as (api, ctx):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        first = await new_project(api, alice, "one")
        await new_project(api, alice, "two")

        refused = await api.post("/v1/projects", json={"name": "three"}, headers=alice.headers)

        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == "https://offcoder.dev/problems/project-quota-exceeded"
        assert problem["detail"] == (
            "You have 2 projects, the most this server keeps for one person; delete one before "
            "creating another."
        )
        assert (problem["limit"], problem["used"]) == (2, 2)
        listed = (await api.get("/v1/projects", headers=alice.headers)).json()["items"]
        assert sorted(p["name"] for p in listed) == ["one", "two"]
        # another person's count is their own
        await new_project(api, bob, "bobs")
        # and deleting one makes room
        deleted = await api.delete(f"/v1/projects/{first['id']}", headers=alice.headers)
        assert deleted.status_code == 204
        await new_project(api, alice, "three")


async def test_projects_created_at_once_stop_at_the_quota(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with app_with(settings, prepared, max_projects_per_user=2) as (api, ctx):
        alice = await signed_in_user(ctx)
        answers = await asyncio.gather(
            *(
                api.post("/v1/projects", json={"name": f"p{n}"}, headers=alice.headers)
                for n in range(5)
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409]
        listed = (await api.get("/v1/projects", headers=alice.headers)).json()["items"]
        assert len(listed) == 2


async def test_files_past_the_persons_storage_are_413_and_the_stored_file_is_kept(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    # given a person who may store 100 bytes of files in all, in projects of up to 1000 bytes
    async with app_with(
        settings, prepared, max_file_bytes_per_user=100, max_project_bytes=1000
    ) as (api, ctx):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        one, two = (
            (await new_project(api, alice, "one"))["id"],
            (await new_project(api, alice))["id"],
        )
        assert (await put_file(api, alice, one, "a.txt", b"a" * 60)).status_code == 200

        # when a file in another project would take her past 100 bytes
        refused = await put_file(api, alice, two, "b.txt", b"b" * 41)

        # then it is 413, saying why, and nothing is stored
        refused_past_100_bytes(refused, used=60)
        assert await file_paths(api, alice, two) == []
        # up to the quota is fine
        assert (await put_file(api, alice, two, "b.txt", b"b" * 40)).status_code == 200
        # replacing a file counts its new size, not both
        assert (await put_file(api, alice, one, "a.txt", b"A" * 60)).status_code == 200
        # a replacement past the quota is refused and the file stored before is kept whole
        too_big = await put_file(api, alice, one, "a.txt", b"x" * 61)
        assert too_big.status_code == 413, too_big.text
        kept = await api.get(f"/v1/projects/{one}/files/a.txt", headers=alice.headers)
        assert kept.content == b"A" * 60
        # another person's storage is their own
        bobs = (await new_project(api, bob))["id"]
        assert (await put_file(api, bob, bobs, "c.txt", b"c" * 100)).status_code == 200


async def test_files_written_at_once_to_several_projects_stop_at_the_quota(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with app_with(settings, prepared, max_file_bytes_per_user=100) as (api, ctx):
        alice = await signed_in_user(ctx)
        projects = [(await new_project(api, alice, f"p{n}"))["id"] for n in range(5)]
        answers = await asyncio.gather(
            *(put_file(api, alice, project, "f.txt", b"f" * 30) for project in projects)
        )
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 413, 413]
        stored = [await file_paths(api, alice, project) for project in projects]
        assert sum(len(paths) for paths in stored) == 3


async def test_a_ready_dependency_layer_counts_against_the_persons_storage(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    # given a person who may store 100 bytes, 50 of them taken by a ready dependency layer (its
    # size set here as the system role: what is under test is what counts, not the install)
    async with app_with(settings, prepared, max_file_bytes_per_user=100) as (api, ctx):
        alice = await signed_in_user(ctx)
        project = (await new_project(api, alice))["id"]
        async with ctx.database.system_session() as s:
            s.add(
                DependencyLayer(
                    project_id=uuid.UUID(project),
                    ecosystem="python",
                    user_id=await user_id(api, alice),
                    install_job_id=uuid.uuid4(),
                    size_bytes=50,
                )
            )

        # when a file that fits beside her files alone would take files and layer past 100
        refused = await put_file(api, alice, project, "a.txt", b"a" * 51)

        # then it is 413, counting the layer, and nothing is stored
        refused_past_100_bytes(refused, used=50)
        assert await file_paths(api, alice, project) == []
        # up to the quota, layer included, is fine; her usage shows both, and which is which
        assert (await put_file(api, alice, project, "a.txt", b"a" * 50)).status_code == 200
        usage = (await api.get("/v1/me/usage", headers=alice.headers)).json()
        assert usage["quotas"]["file_bytes"] == {"used": 100, "limit": 100, "dependency_bytes": 50}
