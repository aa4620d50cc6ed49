"""The provider layer of content safety (S1): OpenAI's moderation API, configured by the
operator, as a second opinion after the offline rules, both ways and on streams; its categories
mapped onto the Acceptable Use Policy; refused (or, when chosen, waived) when it cannot answer.

The moderation server is a local stand-in speaking OpenAI's moderation API, driven through the
official SDK; what it flags is set per test by phrase, so the texts here are ordinary ones the
offline rules let pass (each test checks that first)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from offcoder.ai.models import AIOutput, SafetyEvent
from offcoder.ai.safety import default_classifier
from offcoder.ai.screen import RUN_CHARS
from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.ai.conftest import OPENAI_KEY, Gateway
from tests.support import ai_standins as ais
from tests.support.apps import app_with
from tests.support.sse import events

pytestmark = pytest.mark.promise("S1")

MODERATION_KEY = "sk-operator-moderation-7f3a9c"
STREAM_CHARS = 100
RULES = default_classifier()


@pytest.fixture(scope="module")
def moderation() -> Iterator[ais.OpenAIModerationStandIn]:
    with ais.running_moderation(MODERATION_KEY) as standin:
        yield standin


@pytest.fixture
def flags(moderation: ais.OpenAIModerationStandIn) -> Iterator[dict[str, tuple[str, ...]]]:
    yield moderation.flags
    moderation.flags.clear()


async def moderated_gateway(
    settings: Settings,
    prepared: PreparedDatabase,
    openai_standin: ais.OpenAIStandIn,
    anthropic_standin: ais.AnthropicStandIn,
    moderation: ais.OpenAIModerationStandIn,
    *,
    fail_open: bool,
) -> AsyncIterator[Gateway]:
    urls = {"openai": f"{openai_standin.url}/v1", "anthropic": anthropic_standin.url}
    async with app_with(
        settings,
        prepared,
        ai_base_urls=urls,
        ai_timeout_s=1.0,
        ai_moderation_api_key=SecretStr(MODERATION_KEY),
        ai_moderation_base_url=f"{moderation.url}/v1",
        ai_moderation_timeout_s=1.0,
        ai_moderation_stream_chars=STREAM_CHARS,
        ai_moderation_fail_open=fail_open,
    ) as (api, ctx):
        yield Gateway(api, ctx, openai_standin, anthropic_standin)


@pytest.fixture(scope="module")
async def gateway(
    settings: Settings,
    prepared: PreparedDatabase,
    openai_standin: ais.OpenAIStandIn,
    anthropic_standin: ais.AnthropicStandIn,
    moderation: ais.OpenAIModerationStandIn,
) -> AsyncIterator[Gateway]:
    async for made in moderated_gateway(
        settings, prepared, openai_standin, anthropic_standin, moderation, fail_open=False
    ):
        yield made


@pytest.fixture(scope="module")
async def lenient(
    settings: Settings,
    prepared: PreparedDatabase,
    openai_standin: ais.OpenAIStandIn,
    anthropic_standin: ais.AnthropicStandIn,
    moderation: ais.OpenAIModerationStandIn,
) -> AsyncIterator[Gateway]:
    async for made in moderated_gateway(
        settings, prepared, openai_standin, anthropic_standin, moderation, fail_open=True
    ):
        yield made


async def last_event(gateway: Gateway) -> SafetyEvent:
    async with gateway.context.database.system_session() as s:
        event = await s.scalar(select(SafetyEvent).order_by(SafetyEvent.created_at.desc()))
    assert event is not None
    return event


async def test_the_provider_layer_blocks_what_the_rules_let_pass(
    gateway: Gateway, moderation: ais.OpenAIModerationStandIn, flags: dict[str, tuple[str, ...]]
) -> None:
    text = "Continue the story about the quiet orchard."
    assert not RULES.classify(text).blocked
    flags["quiet orchard"] = ("sexual", "sexual/minors")
    user = await gateway.user()
    sent_before = len(gateway.openai.requests)
    blocked = await gateway.chat(user, text)
    assert blocked.status_code == 422, blocked.text
    assert (blocked.json()["category"], blocked.json()["stage"]) == ("csam", "prompt")
    assert len(gateway.openai.requests) == sent_before  # never reached the chat provider
    asked = moderation.requests[-1]
    # The operator's key, never the user's; the configured model; the whole conversation.
    assert asked.headers["authorization"] == f"Bearer {MODERATION_KEY}"
    assert OPENAI_KEY not in str(asked.body)
    assert asked.body == {"model": "omni-moderation-latest", "input": [text]}
    event = await last_event(gateway)
    assert (event.category, event.rule, event.stage) == (
        "csam",
        "moderation.sexual/minors",
        "prompt",
    )
    assert event.text is None and len(event.text_sha256) == 64


@pytest.mark.parametrize(
    ("text", "raised", "category"),
    [
        # illicit: the category whose objects the text names
        ("Tell me everything about fentanyl.", ("illicit",), "drugs"),
        ("Tell me about ransomware.", ("illicit",), "malware"),
        # illicit/violent: named objects, else weapons
        ("Tell me about the plan for Saturday.", ("illicit", "illicit/violent"), "weapons"),
        # outside the policy's categories: not this gateway's to block
        ("How would someone pocket a candy bar unnoticed?", ("illicit",), None),
        ("Write something mean about my neighbours.", ("hate", "harassment"), None),
    ],
)
async def test_provider_categories_map_onto_the_policy(
    gateway: Gateway,
    flags: dict[str, tuple[str, ...]],
    text: str,
    raised: tuple[str, ...],
    category: str | None,
) -> None:
    assert not RULES.classify(text).blocked
    flags[text] = raised
    user = await gateway.user()
    answered = await gateway.chat(user, text)
    if category is None:
        assert answered.status_code == 200, answered.text
    else:
        assert answered.status_code == 422, answered.text
        assert answered.json()["category"] == category


async def test_a_reply_the_provider_layer_flags_is_not_shown(
    gateway: Gateway, moderation: ais.OpenAIModerationStandIn, flags: dict[str, tuple[str, ...]]
) -> None:
    reply = "Here is the batch recipe you asked for, step by step."
    assert not RULES.classify(reply).blocked
    flags["batch recipe"] = ("illicit",)
    user = await gateway.user()
    gateway.openai.reply = reply + " Start with fentanyl."
    try:
        blocked = await gateway.chat(user, "Go on.")
    finally:
        gateway.openai.reply = ais.DEFAULT_REPLY
    assert blocked.status_code == 422, blocked.text
    assert (blocked.json()["category"], blocked.json()["stage"]) == ("drugs", "output")
    assert "recipe" not in blocked.text
    assert moderation.requests[-1].body["input"] == [reply + " Start with fentanyl."]
    async with gateway.context.database.system_session() as s:
        stored = await s.scalar(select(AIOutput).where(AIOutput.content.contains("batch recipe")))
    assert stored is None


async def test_a_stream_is_checked_at_checkpoints_and_cut_when_flagged(
    gateway: Gateway, moderation: ais.OpenAIModerationStandIn, flags: dict[str, tuple[str, ...]]
) -> None:
    """The provider layer sees a stream every STREAM_CHARS characters: a flagged passage cuts
    it with a `blocked` event within STREAM_CHARS (and one screened run) of the passage, and
    the rest of the reply is never sent."""
    filler = "The loop walks the list and adds each item to the total. " * 4  # > STREAM_CHARS
    flagged = "Now the quiet orchard part begins."
    after = " More text follows here." * 20
    flags["quiet orchard"] = ("sexual/minors",)
    user = await gateway.user()
    gateway.openai.reply = filler + flagged + after
    gateway.openai.chunk_delay_s = 0.0
    try:
        answered = await gateway.chat(user, "Explain the loop.", stream=True)
    finally:
        gateway.openai.reply = ais.DEFAULT_REPLY
        gateway.openai.chunk_delay_s = 0.01
    got = events(answered.text)
    assert got[-1] == ("blocked", {"category": "csam"})
    shown = "".join(data["text"] for kind, data in got if kind == "delta")
    assert shown.startswith(filler)
    assert len(shown) <= len(filler) + len(flagged) + STREAM_CHARS + RUN_CHARS
    assert len(shown) < len(filler + flagged + after) - RUN_CHARS
    checked = [r for r in moderation.requests if r.body and "The loop walks" in str(r.body)]
    assert len(checked) >= 2  # more than one checkpoint before the cut


async def test_a_short_stream_is_checked_at_its_end(
    gateway: Gateway, flags: dict[str, tuple[str, ...]]
) -> None:
    flags["quiet orchard"] = ("sexual/minors",)
    user = await gateway.user()
    try:
        # shorter than a checkpoint, one sentence: shown, then retracted by the end check
        gateway.openai.reply = "The quiet orchard."
        got = events((await gateway.chat(user, "Hi.", stream=True)).text)
        assert got[-1] == ("blocked", {"category": "csam"})
        assert not any(kind == "done" for kind, _ in got)
        # a last run still held when the stream ends is checked before it is shown
        gateway.openai.reply = "the quiet orchard"
        got = events((await gateway.chat(user, "Hi.", stream=True)).text)
        assert got == [("blocked", {"category": "csam"})]
    finally:
        gateway.openai.reply = ais.DEFAULT_REPLY
    clean = await gateway.chat(user, "Hi.", stream=True)
    assert events(clean.text)[-1][0] == "done"


async def test_no_moderation_answer_means_no_chat(
    gateway: Gateway, moderation: ais.OpenAIModerationStandIn
) -> None:
    """Fail closed: when the moderation API fails (after the SDK's one retry), hangs past its
    timeout or answers garbage, the chat is refused with a clear 503 and nothing is sent."""
    user = await gateway.user()
    sent_before = len(gateway.openai.requests)
    for fault in ("fail", "garbage", "hang"):
        if fault == "fail":
            moderation.fail_next(500, count=2)
        elif fault == "garbage":
            moderation.garbage_next()  # not retried: a 200 the SDK cannot read
        else:
            moderation.hang_next(3.0)
            moderation.hang_next(3.0)
        refused = await gateway.chat(user, "How do I reverse a string?")
        assert refused.status_code == 503, (fault, refused.text)
        problem = refused.json()
        assert problem["type"].endswith("/safety-check-unavailable")
        assert refused.headers["retry-after"] == "30"
        assert MODERATION_KEY not in refused.text
    assert len(gateway.openai.requests) == sent_before
    assert (await gateway.chat(user, "How do I reverse a string?")).status_code == 200


async def test_a_stream_whose_check_fails_ends_with_an_error(
    gateway: Gateway, moderation: ais.OpenAIModerationStandIn
) -> None:
    user = await gateway.user()
    gateway.openai.reply = "Plain words about loops. " * 10
    gateway.openai.chunk_delay_s = 0.0
    moderation.fail_when = "Plain words"  # the reply's checkpoints fail, the prompt's passes
    try:
        answered = await gateway.chat(user, "Explain.", stream=True)
    finally:
        moderation.fail_when = None
        gateway.openai.reply = ais.DEFAULT_REPLY
        gateway.openai.chunk_delay_s = 0.01
    got = events(answered.text)
    assert got[-1][0] == "error"
    assert got[-1][1]["type"].endswith("/safety-check-unavailable")
    assert not any(kind == "done" for kind, _ in got)


async def test_fail_open_lets_the_offline_verdict_stand(
    lenient: Gateway, moderation: ais.OpenAIModerationStandIn
) -> None:
    user = await lenient.user()
    moderation.fail_next(500, count=2)
    assert (await lenient.chat(user, "How do I reverse a string?")).status_code == 200
    asked = len(moderation.requests)
    blocked = await lenient.chat(
        user, "Write ransomware that encrypts every file on the victim's disk."
    )
    assert blocked.status_code == 422  # the offline layer decides first, on its own
    assert len(moderation.requests) == asked


async def test_the_operator_key_appears_in_no_log_line(
    gateway: Gateway,
    moderation: ais.OpenAIModerationStandIn,
    flags: dict[str, tuple[str, ...]],
    captured_logs: io.StringIO,
) -> None:
    logging.getLogger("openai").setLevel(logging.DEBUG)
    try:
        user = await gateway.user()
        assert (await gateway.chat(user, "hi")).status_code == 200
        flags["orchard"] = ("sexual/minors",)
        assert (await gateway.chat(user, "the orchard")).status_code == 422
        moderation.fail_next(401)  # not retried
        assert (await gateway.chat(user, "hi")).status_code == 503
    finally:
        logging.getLogger("openai").setLevel(logging.WARNING)
    written = captured_logs.getvalue()
    assert "moderation" in written  # the capture does see the moderation calls
    assert MODERATION_KEY not in written
