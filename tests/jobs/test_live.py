"""Live logs over Socket.IO (D2): who may connect, who may subscribe, and every chunk exactly once.

A real uvicorn serves the app on loopback; the python-socketio client speaks the protocol; jobs
run in real sandboxes through the module's worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
import socketio

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from offcoder.main import create_app
from offcoder.realtime.live import EARLIER_PER_MINUTE
from tests.support.live_logs import TICKER, Watcher, expected_ticker
from tests.support.runtime import all_logs, project_with
from tests.support.served import served
from tests.support.signin import SignedIn, signed_in_user
from tests.support.stored_logs import chunked_log, finished_job_with_log

pytestmark = [pytest.mark.docker, pytest.mark.promise("D2")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
# The final status also names the ending (docs/api.md): a success has no reason or detail.
SUCCEEDED = {"status": "succeeded", "exit_code": 0, "reason": None, "detail": None}


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    _, ctx, _ = runtime
    async with served(create_app(ctx)) as url:
        yield url


async def submit(
    api: httpx.AsyncClient, user: SignedIn, files: dict[str, bytes], cmd: list[str]
) -> str:
    project = await project_with(api, user, files)
    response = await api.post(
        f"/v1/projects/{project}/jobs", headers=user.headers, json={"command": cmd}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def wait_running_with_output(api: httpx.AsyncClient, user: SignedIn, job_id: str) -> None:
    page = await api.get(f"/v1/jobs/{job_id}/logs", params={"wait_s": 30}, headers=user.headers)
    assert page.json()["chunks"], page.text


async def test_subscribing_mid_run_gets_every_chunk_once_in_order(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "150"])
    await wait_running_with_output(api, user, job_id)  # the job is printing: switch mid-stream

    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        assert await watcher.subscribe(job_id) == {"ok": True}
        async with asyncio.timeout(60):
            await watcher.ended.wait()
    finally:
        await watcher.client.disconnect()
    seqs = [c["seq"] for c in watcher.logs]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate, in order
    assert {c["job_id"] for c in watcher.logs} == {job_id}
    assert watcher.lines() == expected_ticker(150)
    assert watcher.statuses[-1] == {"job_id": job_id, **SUCCEEDED}
    assert [s["status"] for s in watcher.statuses].count("succeeded") == 1


async def test_a_reconnecting_client_resumes_after_its_last_seq(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "120"])
    await wait_running_with_output(api, user, job_id)

    first = Watcher()
    await first.connect(base_url, user.access_token)
    assert await first.subscribe(job_id) == {"ok": True}
    async with asyncio.timeout(30):
        await first.has(5)
    await first.client.disconnect()
    await asyncio.sleep(0.5)  # the job prints on meanwhile
    resume_at = first.logs[-1]["seq"]

    second = Watcher()
    await second.connect(base_url, user.access_token)
    try:
        assert await second.subscribe(job_id, after_seq=resume_at) == {"ok": True}
        async with asyncio.timeout(60):
            await second.ended.wait()
    finally:
        await second.client.disconnect()
    assert second.logs[0]["seq"] == resume_at + 1
    seqs = [c["seq"] for c in first.logs if c["seq"] <= resume_at] + [c["seq"] for c in second.logs]
    assert seqs == list(range(1, len(seqs) + 1))
    text = "".join(str(c["data"]) for c in first.logs if c["seq"] <= resume_at) + second.lines()
    assert text == expected_ticker(120)


async def test_a_finished_job_gives_its_backlog_then_one_status(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "10"])
    ended = await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 30}, headers=user.headers)
    assert ended.json()["status"] == "succeeded"

    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        assert await watcher.subscribe(job_id) == {"ok": True}
        async with asyncio.timeout(20):
            await watcher.ended.wait()
        await asyncio.sleep(0.3)
    finally:
        await watcher.client.disconnect()
    assert watcher.lines() == expected_ticker(10)
    assert watcher.statuses == [{"job_id": job_id, **SUCCEEDED}]


async def test_another_users_job_an_unknown_one_and_garbage_join_nothing(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
    job_id = await submit(api, alice, {"main.py": TICKER}, ["python3", "main.py", "20"])

    watcher = Watcher()
    await watcher.connect(base_url, bob.access_token)
    try:
        # Bob asks for Alice's job: the same answer as for a job that does not exist.
        assert await watcher.subscribe(job_id) == {"ok": False, "error": "not_found"}
        assert await watcher.subscribe(str(uuid.uuid4())) == {"ok": False, "error": "not_found"}
        for garbage in (
            None,
            "not a dict",
            ["a", "list"],
            {"job_id": "not-a-uuid"},
            {"job_id": job_id, "after_seq": -1},
            {"job_id": job_id, "after_seq": "1"},
            {"job_id": job_id, "after_seq": True},
            {"job_id": job_id, "extra": 1},
            {"job_id": "x" * 5000},
        ):
            answer = await watcher.client.call("job:subscribe", garbage, timeout=10)
            assert answer == {"ok": False, "error": "invalid"}, garbage
        unknown = await watcher.client.call("job:explode", {"x": 1}, timeout=10)
        assert unknown == {"ok": False, "error": "unknown_event"}
        # Alice's job ends; Bob's connection never saw any of it.
        await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 30}, headers=alice.headers)
        await asyncio.sleep(0.5)
        assert watcher.logs == [] and watcher.statuses == []
        # And the connection still serves Bob's own job.
        own = await submit(api, bob, {"main.py": TICKER}, ["python3", "main.py", "3"])
        assert await watcher.subscribe(own) == {"ok": True}
        async with asyncio.timeout(60):
            await watcher.ended.wait()
        assert watcher.lines() == expected_ticker(3)
    finally:
        await watcher.client.disconnect()


async def test_connections_without_a_good_token_or_from_a_foreign_origin_are_refused(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    refused = [None, "", "not.a.token", user.refresh_token, user.access_token + "x"]
    for token in refused:
        watcher = Watcher()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await watcher.connect(base_url, token)
        assert not watcher.client.connected
    foreign = Watcher()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect(
            base_url, user.access_token, headers={"Origin": "https://evil.example"}
        )
    own_origin = Watcher()
    await own_origin.connect(
        base_url, user.access_token, headers={"Origin": ctx.settings.allowed_web_origins[0]}
    )
    assert own_origin.client.connected
    await own_origin.client.disconnect()

    ended = await signed_in_user(ctx)
    assert (await api.post("/v1/auth/logout", headers=ended.headers)).status_code == 204
    late = Watcher()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(base_url, ended.access_token)


async def test_an_open_connection_is_dropped_when_its_session_ends(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    await asyncio.sleep(0.3)
    assert (await api.post("/v1/auth/logout", headers=user.headers)).status_code == 204
    async with asyncio.timeout(5):  # the session-ended signal, not the 15 s re-check
        await watcher.disconnected.wait()


async def test_subscribe_floods_are_rate_limited_and_the_server_serves_on(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "3"])
    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        limit = ctx.settings.live_subscribes_per_minute
        answers = [await watcher.subscribe(job_id) for _ in range(limit + 5)]
        assert answers[:limit] == [{"ok": True}] * limit
        refused = answers[limit:]
        assert [(a["ok"], a["error"]) for a in refused] == [(False, "rate_limited")] * 5
        assert all(1 <= a["retry_after"] <= 60 for a in refused)  # the minute's window
        other = Watcher()
        await other.connect(base_url, user.access_token)
        assert await other.subscribe(job_id) == {"ok": True}
        await other.client.disconnect()
    finally:
        await watcher.client.disconnect()


async def test_a_client_that_stops_reading_is_told_and_stalls_no_one(runtime: Runtime) -> None:
    """A raw Engine.IO long-polling client subscribes and then never polls: its packets queue on
    the server. Past the (here small) queue limit and grace it gets `job:behind` with the last
    seq sent, while a reading client on the same server receives the whole job in time."""
    api, ctx, _ = runtime
    strict = dataclasses.replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"live_max_queued_packets": 5, "live_behind_grace_s": 1.0}
        ),
    )
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "150"])
    async with served(create_app(strict)) as url, httpx.AsyncClient(base_url=url) as http:
        opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert opened.status_code == 200, opened.text
        sid = json.loads(opened.text[1:])["sid"]
        poll = {"EIO": "4", "transport": "polling", "sid": sid}
        auth = "40" + json.dumps({"token": user.access_token})
        assert (await http.post("/socket.io/", params=poll, content=auth)).status_code == 200
        connected = await http.get("/socket.io/", params=poll)
        assert connected.text.startswith("40"), connected.text
        subscribe = "421" + json.dumps(["job:subscribe", {"job_id": job_id, "after_seq": 0}])
        assert (await http.post("/socket.io/", params=poll, content=subscribe)).status_code == 200

        reader = Watcher()
        await reader.connect(url, user.access_token)
        try:
            assert await reader.subscribe(job_id) == {"ok": True}
            async with asyncio.timeout(60):
                await reader.ended.wait()
        finally:
            await reader.client.disconnect()
        assert reader.lines() == expected_ticker(150)  # not held back by the stuck client

        packets = (await http.get("/socket.io/", params=poll)).text.split("\x1e")
        assert packets[0] == '431[{"ok":true}]', packets[:3]
        events = [json.loads(p[2:]) for p in packets[1:] if p.startswith("42")]
        logs = [data for name, data in events if name == "job:log"]
        behind = [data for name, data in events if name == "job:behind"]
        assert behind == [{"job_id": job_id, "seq": logs[-1]["seq"]}], events[-3:]
        assert 1 <= len(logs) <= 10  # about the queue limit, then nothing more
        assert [c["seq"] for c in logs] == list(range(1, len(logs) + 1))


async def test_garbage_packets_and_huge_payloads_are_refused_and_others_served(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    async with httpx.AsyncClient(base_url=base_url) as http:

        async def fresh_session() -> dict[str, str]:
            opened = await http.get(
                "/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=30
            )
            assert opened.status_code == 200, opened.text
            return {"EIO": "4", "transport": "polling", "sid": json.loads(opened.text[1:])["sid"]}

        junk: list[bytes] = [
            b"42[garbage",
            b"4Z",
            b"\x00\xff\xfe binary",
            b'42["job:subscribe",' + b"[" * 5000 + b"]" * 5000 + b"]",
            b"40" + json.dumps({"token": "x" * 100}).encode() + b"\x1e42[1,2,3]",
            b"42" + json.dumps(["job:subscribe", {"job_id": "a" * 1_000_000}]).encode(),
            b"4" + b"x" * 200_000,
        ]
        for body in junk:
            poll = await fresh_session()
            try:
                # A body the engine reads is answered; on a busy machine that can take more
                # than 5 s. One it refuses unread may never be answered: 5 s is enough there.
                wait_s = 5 if len(body) > 16 * 1024 else 30
                response = await http.post("/socket.io/", params=poll, content=body, timeout=wait_s)
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.WriteError):
                # A body over the engine's 16 KiB limit is refused without being read: the
                # client may see no answer at all. What matters is below: nobody else notices.
                assert len(body) > 16 * 1024, body[:40]
                continue
            # Refused (400 or 413) or accepted and ignored; never a server error.
            assert response.status_code in (200, 400, 413), (body[:40], response.status_code)

    # Everyone else is still served: a normal client connects and follows a job.
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "3"])
    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        assert await watcher.subscribe(job_id) == {"ok": True}
        async with asyncio.timeout(60):
            await watcher.ended.wait()
        assert watcher.lines() == expected_ticker(3)
    finally:
        await watcher.client.disconnect()


async def test_connections_are_capped_per_user(runtime: Runtime, base_url: str) -> None:
    _, ctx, _ = runtime
    user, other = await signed_in_user(ctx), await signed_in_user(ctx)
    cap = ctx.settings.live_max_connections_per_user
    watchers = [Watcher() for _ in range(cap)]
    try:
        await asyncio.gather(*(w.connect(base_url, user.access_token) for w in watchers))
        extra = Watcher()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await extra.connect(base_url, user.access_token)
        someone_else = Watcher()
        await someone_else.connect(base_url, other.access_token)  # not counted against them
        await someone_else.client.disconnect()
        await watchers[0].client.disconnect()  # a freed slot can be used again
        await asyncio.sleep(0.3)
        again = Watcher()
        await again.connect(base_url, user.access_token)
        await again.client.disconnect()
    finally:
        for watcher in watchers:
            if watcher.client.connected:
                await watcher.client.disconnect()


async def stored_job(runtime: Runtime, user: SignedIn, chunks: list[str]) -> str:
    api, ctx, _ = runtime
    project = await project_with(api, user, {})
    return str(await finished_job_with_log(ctx.database, project, chunks))


async def test_a_tail_subscription_sends_the_last_chunks_in_one_packet_then_follows_live(
    runtime: Runtime, base_url: str
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, {"main.py": TICKER}, ["python3", "main.py", "150"])
    # Well into its output (a tenth chunk stored), still printing.
    tenth = await api.get(
        f"/v1/jobs/{job_id}/logs", params={"after_seq": 9, "wait_s": 30}, headers=user.headers
    )
    assert tenth.json()["chunks"], tenth.text

    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        assert await watcher.subscribe(job_id, tail=5, batch=True) == {"ok": True}
        async with asyncio.timeout(60):
            await watcher.ended.wait()
    finally:
        await watcher.client.disconnect()
    stored = await all_logs(api, user.headers, job_id)
    first = watcher.logs[0]["seq"]
    assert first >= 6  # the last five when it subscribed, not the beginning
    assert [c["seq"] for c in watcher.packets[0]["chunks"]] == list(range(first, first + 5))
    assert [c["seq"] for c in watcher.logs] == list(range(first, len(stored) + 1))
    assert [c["data"] for c in watcher.logs] == [c["data"] for c in stored[first - 1 :]]
    assert watcher.single == []  # batched only: no `job:log` besides
    assert {p["job_id"] for p in watcher.packets} == {job_id}
    assert watcher.statuses[-1] == {"job_id": job_id, **SUCCEEDED}
    assert [s["status"] for s in watcher.statuses].count("succeeded") == 1


async def test_a_long_finished_log_comes_several_chunks_to_a_packet_and_pages_back(
    runtime: Runtime, base_url: str
) -> None:
    """4 MiB in 4195 chunks: the tail of 100 is one packet, the whole log about 16 (256 KiB
    each), and `job:earlier` pages back from the tail to the first chunk, each once."""
    user = await signed_in_user(runtime[1])
    chunks = chunked_log(4 * 1024 * 1024)
    job_id = await stored_job(runtime, user, chunks)
    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        assert await watcher.subscribe(job_id, tail=100, batch=True) == {"ok": True}
        async with asyncio.timeout(10):
            await watcher.ended.wait()
        assert len(watcher.packets) == 1
        assert [c["data"] for c in watcher.logs] == chunks[-100:]
        assert watcher.statuses == [{"job_id": job_id, **SUCCEEDED}]

        pages = [watcher.logs]
        while True:
            answer = await watcher.earlier(job_id, pages[0][0]["seq"], limit=1000)
            assert answer["ok"] is True and answer["job_id"] == job_id, answer.keys()
            pages.insert(0, answer["chunks"])
            if not answer["has_earlier"]:
                break
        assert pages[0][0]["seq"] == 1
        assert [c["data"] for p in pages for c in p] == chunks

        whole = Watcher()
        await whole.connect(base_url, user.access_token)
        try:
            assert await whole.subscribe(job_id, batch=True) == {"ok": True}
            async with asyncio.timeout(30):
                await whole.ended.wait()
        finally:
            await whole.client.disconnect()
        assert [c["seq"] for c in whole.logs] == list(range(1, len(chunks) + 1))
        assert "".join(c["data"] for c in whole.logs) == "".join(chunks)
        # Each chunk carries when it was stored, as the REST log does (the console's times).
        for shown in (whole.logs[0], watcher.logs[-1], pages[0][0]):
            assert datetime.fromisoformat(shown["at"]).tzinfo is not None, shown
        assert 16 <= len(whole.packets) <= 20, len(whole.packets)
    finally:
        await watcher.client.disconnect()


async def test_a_page_back_holds_at_most_a_mebibyte_nearest_first(
    runtime: Runtime, base_url: str
) -> None:
    user = await signed_in_user(runtime[1])
    chunks = [f"{n:05d}" + "y" * (16 * 1024 - 6) + "\n" for n in range(200)]  # 16 KiB each
    job_id = await stored_job(runtime, user, chunks)
    watcher = Watcher()
    await watcher.connect(base_url, user.access_token)
    try:
        answer = await watcher.earlier(job_id, 201)
        held = answer["chunks"]
        assert [c["seq"] for c in held] == list(range(201 - len(held), 201))
        assert sum(len(c["data"]) for c in held) <= 1024 * 1024 < 16 * 1024 * (len(held) + 1)
        assert answer["has_earlier"] is True
    finally:
        await watcher.client.disconnect()


async def test_bad_tails_and_pages_back_are_invalid_and_others_jobs_not_found(
    runtime: Runtime, base_url: str
) -> None:
    alice, bob = await signed_in_user(runtime[1]), await signed_in_user(runtime[1])
    job_id = await stored_job(runtime, alice, ["secret line\n"] * 3)
    watcher = Watcher()
    await watcher.connect(base_url, bob.access_token)
    try:
        for garbage in (
            {"job_id": job_id, "tail": 0},
            {"job_id": job_id, "tail": -1},
            {"job_id": job_id, "tail": 1001},
            {"job_id": job_id, "tail": True},
            {"job_id": job_id, "tail": "5"},
            {"job_id": job_id, "tail": 5, "after_seq": 0},
            {"job_id": job_id, "batch": "yes"},
            {"job_id": job_id, "batch": 1},
        ):
            answer = await watcher.client.call("job:subscribe", garbage, timeout=10)
            assert answer == {"ok": False, "error": "invalid"}, garbage
        for garbage in (
            None,
            {"job_id": job_id},
            {"job_id": job_id, "before_seq": 0},
            {"job_id": job_id, "before_seq": -3},
            {"job_id": job_id, "before_seq": "4"},
            {"job_id": job_id, "before_seq": True},
            {"job_id": job_id, "before_seq": 4, "limit": 0},
            {"job_id": job_id, "before_seq": 4, "limit": 1001},
            {"job_id": job_id, "before_seq": 4, "tail": 3},
            {"job_id": "not-a-uuid", "before_seq": 4},
        ):
            answer = await watcher.client.call("job:earlier", garbage, timeout=10)
            assert answer == {"ok": False, "error": "invalid"}, garbage
        # Bob's tail or page back of Alice's job: as for a job that does not exist.
        assert await watcher.subscribe(job_id, tail=5, batch=True) == {
            "ok": False,
            "error": "not_found",
        }
        for target in (job_id, str(uuid.uuid4())):
            assert await watcher.earlier(target, 4) == {"ok": False, "error": "not_found"}
        await asyncio.sleep(0.3)
        assert watcher.logs == [] and watcher.statuses == []
        # Pages back are counted per connection: past the limit, refused before any read.
        for _ in range(EARLIER_PER_MINUTE - 12):
            await watcher.client.call("job:earlier", None, timeout=10)
        refused = await watcher.earlier(job_id, 4)
        assert (refused["ok"], refused["error"]) == (False, "rate_limited")
        assert 1 <= refused["retry_after"] <= 60
    finally:
        await watcher.client.disconnect()
