"""The AI gateway's added latency: POST /v1/ai/chat against a direct SDK call to the same local
provider, in one run.

Run with ``make bench-ai`` (``.venv/bin/python bench/ai.py``); needs only the venv. About a
minute. Loopback only: an embedded PostgreSQL in a temporary directory, the local OpenID
Connect provider the tests use (to sign in), and the tests' OpenAI stand-in
(tests/support/ai_standins.py) as the provider.

For each of N requests (one at a time, after a warm-up):
- direct: ``openai.AsyncOpenAI(...).chat.completions.create`` against the stand-in, whole
  reply; streamed: time to the first content chunk.
- ours: the same conversation through ``offcoder`` served by uvicorn on loopback (sign-in,
  sealed key opened, classifier on the prompt and the reply, the output stored), whole reply;
  streamed: time to the first ``delta`` event.
Prints p50/p99 of each and the gateway's added latency (ours - direct, per percentile).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' stand-ins and sign-in helper

from oidc_provider_mock import run_server_in_thread  # noqa: E402
from tests.support.ai_standins import running_openai  # noqa: E402
from tests.support.served import served  # noqa: E402
from tests.support.signin import REDIRECT_URI, sign_in  # noqa: E402

from offcoder import logs  # noqa: E402
from offcoder.config import Environment, Settings  # noqa: E402
from offcoder.db.bootstrap import prepare  # noqa: E402
from offcoder.main import build_context, create_app  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a Python function that reverses a linked list."}]
REPLY = (
    "Here is an iterative version: walk the list once, pointing each node's next at the "
    "previous node, and return the last node you visited as the new head. "
) * 8


LONG_REPLY = (REPLY + "\n\n") * 13  # about 16 000 characters


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def direct_whole(client: openai.AsyncOpenAI) -> float:
    start = time.perf_counter()
    await client.chat.completions.create(model="bench", messages=PROMPT, max_tokens=512)  # type: ignore[arg-type]
    return time.perf_counter() - start


async def direct_first_token(client: openai.AsyncOpenAI) -> float:
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model="bench",
        messages=PROMPT,
        max_tokens=512,
        stream=True,  # type: ignore[arg-type]
    )
    first = 0.0
    async for chunk in stream:
        if not first and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    return first


async def direct_stream_all(client: openai.AsyncOpenAI) -> float:
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model="bench",
        messages=PROMPT,
        max_tokens=8192,
        stream=True,  # type: ignore[arg-type]
    )
    async for _ in stream:
        pass
    return time.perf_counter() - start


async def ours_stream_all(api: httpx.AsyncClient, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    body = {"provider": "openai", "model": "bench", "messages": PROMPT, "stream": True,
            "max_tokens": 8192}  # fmt: skip
    async with api.stream("POST", "/v1/ai/chat", headers=headers, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: blocked") or line.startswith("event: error"):
                raise RuntimeError(line)
    return time.perf_counter() - start


async def ours_whole(api: httpx.AsyncClient, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    answered = await api.post(
        "/v1/ai/chat",
        headers=headers,
        json={"provider": "openai", "model": "bench", "messages": PROMPT, "max_tokens": 512},
    )
    elapsed = time.perf_counter() - start
    answered.raise_for_status()
    return elapsed


async def ours_first_token(api: httpx.AsyncClient, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    body = {"provider": "openai", "model": "bench", "messages": PROMPT, "stream": True}
    first = 0.0
    async with api.stream("POST", "/v1/ai/chat", headers=headers, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not first and line.startswith("event: delta"):
                first = time.perf_counter() - start
    return first


async def main(count: int) -> None:
    logs.configure()
    with (
        tempfile.TemporaryDirectory(prefix="offcoder-bench-ai-") as state,
        run_server_in_thread(require_nonce=True) as oidc,
        running_openai() as provider,
    ):
        provider.chunk_delay_s = 0.0
        settings = Settings(
            env=Environment.test,
            state_dir=Path(state),
            public_url="http://testserver",
            oidc_issuer=f"http://localhost:{oidc.server_port}",
            oidc_client_id="offcoder-bench",
            oidc_client_secret="bench-secret",  # type: ignore[arg-type]  # noqa: S106 - a local mock
            redirect_uris=[REDIRECT_URI],
            ai_base_urls={"openai": f"{provider.url}/v1"},
        )
        context = build_context(settings, prepare(settings))
        try:
            async with (
                served(create_app(context)) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as api,
            ):
                user = await sign_in(api)
                stored = await api.put(
                    "/v1/ai/keys/openai", headers=user.headers, json={"api_key": provider.api_key}
                )
                stored.raise_for_status()
                direct = openai.AsyncOpenAI(
                    api_key=provider.api_key, base_url=f"{provider.url}/v1", max_retries=0
                )
                cells = {
                    "whole reply": (
                        lambda: direct_whole(direct),
                        lambda: ours_whole(api, user.headers),
                        REPLY,
                        count,
                    ),
                    "stream, first token": (
                        lambda: direct_first_token(direct),
                        lambda: ours_first_token(api, user.headers),
                        REPLY,
                        count,
                    ),
                    # the screening of a long stream, run by run (4-character provider pieces)
                    f"stream, all of a {len(LONG_REPLY)}-char reply": (
                        lambda: direct_stream_all(direct),
                        lambda: ours_stream_all(api, user.headers),
                        LONG_REPLY,
                        max(10, count // 10),
                    ),
                }
                rows = []
                for name, (raw, ours, reply, times) in cells.items():
                    provider.reply = reply
                    for _ in range(3):  # warm-up: connections, caches
                        await raw()
                        await ours()
                    raw_times, our_times = [], []
                    for _ in range(times):  # interleaved, so drift hits both alike
                        raw_times.append(await raw())
                        our_times.append(await ours())
                    rows.append((name, raw_times, our_times))
                await direct.close()
        finally:
            await context.close()
    print(f"== AI gateway vs direct SDK call, {count} requests per cell (the long stream: "
          f"{max(10, count // 10)}), reply {len(REPLY)} chars")  # fmt: skip
    print("| call | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms |")
    print("|---|---|---|---|")
    report = {}
    for name, raw_times, our_times in rows:
        r50, r99 = 1000 * pct(raw_times, 0.5), 1000 * pct(raw_times, 0.99)
        o50, o99 = 1000 * pct(our_times, 0.5), 1000 * pct(our_times, 0.99)
        print(
            f"| {name} | {r50:.1f} / {r99:.1f} | {o50:.1f} / {o99:.1f} | "
            f"{o50 - r50:.1f} / {o99 - r99:.1f} |"
        )
        report[name] = {"direct_mean_ms": 1000 * statistics.mean(raw_times)}
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50 requests per cell")
    args = parser.parse_args()
    asyncio.run(main(50 if args.quick else args.count))
