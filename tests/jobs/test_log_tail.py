"""Reading a job's log from its end: `?tail=N`, then back a page at a time with `?before_seq=K`
(and `limit`), each page saying `has_earlier`; bad or conflicting parameters are 422 problems.

The jobs are real finished job rows whose output went in through the worker's log writer
(tests/support/stored_logs.py), so a long log is made in a second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from offcoder.context import AppContext
from tests.support.runtime import all_logs, project_with
from tests.support.signin import SignedIn, signed_in_user
from tests.support.stored_logs import chunked_log, finished_job_with_log


async def stored_job(
    api: httpx.AsyncClient, ctx: AppContext, user: SignedIn, chunks: list[str]
) -> str:
    project = await project_with(api, user, {})
    return str(await finished_job_with_log(ctx.database, project, chunks))


async def page(
    api: httpx.AsyncClient, user: SignedIn, job_id: str, **params: Any
) -> dict[str, Any]:
    response = await api.get(f"/v1/jobs/{job_id}/logs", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_tail_is_the_last_chunks_and_pages_back_to_the_first(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    chunks = chunked_log(2500 * 1000, chunk_lines=10)  # 2500 chunks of ten 100-byte lines
    job_id = await stored_job(api, context, user, chunks)

    tail = await page(api, user, job_id, tail=100)
    assert [c["seq"] for c in tail["chunks"]] == list(range(2401, 2501))
    assert [c["data"] for c in tail["chunks"]] == chunks[2400:]
    assert {c["stream"] for c in tail["chunks"]} == {"stdout"}
    assert tail["done"] is True and tail["has_earlier"] is True

    # Back a page at a time, down to the first chunk: every one once, in order.
    pages = [tail["chunks"]]
    while pages[0][0]["seq"] > 1:
        before = await page(api, user, job_id, before_seq=pages[0][0]["seq"], limit=1000)
        assert before["done"] is False  # what follows the page is stored, not read
        assert before["has_earlier"] is (before["chunks"][0]["seq"] > 1)
        assert before["chunks"][-1]["seq"] == pages[0][0]["seq"] - 1
        pages.insert(0, before["chunks"])
    assert [len(p) for p in pages] == [400, 1000, 1000, 100]
    assert [c["data"] for p in pages for c in p] == chunks

    # Without `limit` a page back is a full page; `before_seq` past the end is the tail.
    assert len((await page(api, user, job_id, before_seq=1500))["chunks"]) == 1000
    past = await page(api, user, job_id, before_seq=10**9, limit=3)
    assert [c["seq"] for c in past["chunks"]] == [2498, 2499, 2500]
    assert past["done"] is True
    first = await page(api, user, job_id, before_seq=1)
    assert first == {"chunks": [], "done": False, "has_earlier": False}

    # Reading forward is as it was: no `has_earlier`, pages of 1000 from after_seq.
    forward = await page(api, user, job_id, after_seq=2495)
    times = [c.pop("at") for c in forward["chunks"]]  # when each was stored (checked below)
    assert forward == {
        "chunks": [
            {"seq": s, "stream": "stdout", "data": chunks[s - 1]} for s in range(2496, 2501)
        ],
        "done": True,
    }
    assert all(datetime.fromisoformat(t).tzinfo is not None for t in times)


async def test_a_tail_longer_than_the_log_is_the_whole_log_and_an_empty_log_is_empty(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    short = await stored_job(api, context, user, ["one\n", "two\n", "three\n"])
    whole = await page(api, user, short, tail=1000)
    assert [c["data"] for c in whole["chunks"]] == ["one\n", "two\n", "three\n"]
    assert whole["done"] is True and whole["has_earlier"] is False
    one = await page(api, user, short, tail=1)
    assert [c["seq"] for c in one["chunks"]] == [3] and one["has_earlier"] is True

    silent = await stored_job(api, context, user, [])
    assert await page(api, user, silent, tail=10) == {
        "chunks": [],
        "done": True,
        "has_earlier": False,
    }


@pytest.mark.parametrize(
    ("params", "blamed"),
    [
        ({"tail": 0}, ["tail"]),
        ({"tail": -5}, ["tail"]),
        ({"tail": 1001}, ["tail"]),
        ({"tail": "last"}, ["tail"]),
        ({"before_seq": 0}, ["before_seq"]),
        ({"before_seq": -1}, ["before_seq"]),
        ({"before_seq": 2**62 + 1}, ["before_seq"]),
        ({"before_seq": 10, "limit": 0}, ["limit"]),
        ({"before_seq": 10, "limit": 1001}, ["limit"]),
        ({"after_seq": -1}, ["after_seq"]),
        ({"tail": 10, "after_seq": 0}, ["after_seq", "tail"]),
        ({"tail": 10, "before_seq": 5}, ["tail", "before_seq"]),
        ({"after_seq": 3, "before_seq": 5}, ["after_seq", "before_seq"]),
        ({"limit": 10}, ["limit"]),
        ({"tail": 10, "limit": 10}, ["limit"]),
        ({"before_seq": 5, "wait_s": 5}, ["wait_s"]),
    ],
)
async def test_bad_and_conflicting_parameters_are_422_problems_that_change_nothing(
    api: httpx.AsyncClient, context: AppContext, params: dict[str, Any], blamed: list[str]
) -> None:
    user = await signed_in_user(context)
    chunks = [f"line {n}\n" for n in range(30)]
    job_id = await stored_job(api, context, user, chunks)
    response = await api.get(f"/v1/jobs/{job_id}/logs", params=params, headers=user.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://offcoder.dev/problems/invalid-input"
    assert problem["status"] == 422 and problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == [["query", name] for name in blamed]
    # Nothing lost: the whole log still reads back.
    assert [c["data"] for c in await all_logs(api, user.headers, job_id)] == chunks


async def test_another_users_tail_is_404_and_no_token_is_401(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    alice, bob = await signed_in_user(context), await signed_in_user(context)
    job_id = await stored_job(api, context, alice, ["private\n"])
    for params in ({"tail": 5}, {"before_seq": 2}):
        refused = await api.get(f"/v1/jobs/{job_id}/logs", params=params, headers=bob.headers)
        assert refused.status_code == 404, refused.text
        assert "private" not in refused.text
        anonymous = await api.get(f"/v1/jobs/{job_id}/logs", params=params)
        assert anonymous.status_code == 401, anonymous.text
