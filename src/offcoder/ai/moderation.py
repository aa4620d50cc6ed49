"""Both layers of content safety (S1) as one screen: the offline rules on everything, then, when
an operator configures it, a provider's moderation endpoint as a second opinion.

The provider layer speaks OpenAI's moderation API (`POST /moderations`, through the official
SDK, with the operator's key and a configurable base URL, so any server that speaks it will
do). Its categories are not ours; they are mapped onto the Acceptable Use Policy:

- `sexual/minors` is CSAM;
- `illicit/violent` (violent wrongdoing, or getting a weapon) is the category whose objects the
  text names, else weapons;
- `illicit` (advice on committing illicit acts) is the category whose objects the text names
  (`safety.topic`); an illicit act outside the policy's categories ("how to shoplift") is not
  this gateway's to block;
- the rest (hate, harassment, self-harm, adult sexual content, violence) are not policy
  categories here and pass.

A request the provider layer cannot check is refused (503 `safety-check-unavailable`, nothing
sent, nothing charged) unless the operator chose `ai_moderation_fail_open`, in which case the
offline verdict stands and a warning is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import openai
import structlog
from openai.types import Moderation

from offcoder.ai.safety import (
    ALLOWED,
    Category,
    Classifier,
    OfflineClassifier,
    Verdict,
    classify_in_worker,
    default_classifier,
    topic,
)
from offcoder.config import Settings
from offcoder.logs import register_operator_secret
from offcoder.problems import Problem

log = structlog.get_logger(__name__)

# OpenAI takes a list of inputs per call; long texts go in overlapping pieces so that a passage
# cut at a border is seen whole in the next piece.
PIECE_CHARS = 8000
PIECE_OVERLAP = 400
INPUTS_PER_CALL = 32


class SafetyUnavailable(Problem):
    def __init__(self, stage: str) -> None:
        what = (
            "nothing was sent to the AI provider"
            if stage == "prompt"
            else "the provider's reply is withheld"
        )
        super().__init__(
            503,
            "safety-check-unavailable",
            f"The content safety check is unavailable right now; {what}. Try again shortly.",
            headers={"retry-after": "30"},
        )


def pieces(text: str) -> Iterator[str]:
    step = PIECE_CHARS - PIECE_OVERLAP
    for start in range(0, max(len(text), 1), step):
        yield text[start : start + PIECE_CHARS]
        if start + PIECE_CHARS >= len(text):
            return


def verdict_of(result: Moderation, text: str) -> Verdict:
    """The policy category of one moderation result (see the module's mapping); `text` is what
    the category is named from: the whole text, not only the piece the result is about."""
    flags = result.categories
    if flags.sexual_minors:
        return Verdict(Category.csam, "moderation.sexual/minors")
    if flags.illicit_violent:
        return Verdict(topic(text) or Category.weapons, "moderation.illicit/violent")
    if flags.illicit:
        named = topic(text)
        if named is not None:
            return Verdict(named, "moderation.illicit")
    return ALLOWED


class ProviderModeration:
    """OpenAI's moderation API (or a server that speaks it), with the operator's key."""

    def __init__(self, settings: Settings) -> None:
        assert settings.ai_moderation_api_key is not None
        key = settings.ai_moderation_api_key.get_secret_value()
        register_operator_secret(key)  # the operator's: masked for the process's life
        self.model = settings.ai_moderation_model
        self.fail_open = settings.ai_moderation_fail_open
        self.client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.ai_moderation_base_url,
            timeout=settings.ai_moderation_timeout_s,
            max_retries=1,
        )

    async def classify(self, text: str, *, stage: str, context: str | None = None) -> Verdict:
        """`context`: the whole text `text` is part of (a stream's reply so far), for naming
        the category of what is flagged."""
        parts = list(pieces(text))
        for first in range(0, len(parts), INPUTS_PER_CALL):
            batch = parts[first : first + INPUTS_PER_CALL]
            try:
                answer = await self.client.moderations.create(model=self.model, input=batch)
                results = list(answer.results)
                if len(results) != len(batch):
                    raise ValueError("one result per input expected")
            except Exception as exc:  # any failure: the SDK's, or an answer it could not read
                if not self.fail_open:
                    log.warning("moderation unavailable: refusing", error=type(exc).__name__)
                    raise SafetyUnavailable(stage) from None
                log.warning("moderation unavailable: offline verdict stands",
                            error=type(exc).__name__)  # fmt: skip
                return ALLOWED
            for result in results:
                verdict = verdict_of(result, text if context is None else context)
                if verdict.blocked:
                    return verdict
        return ALLOWED

    async def close(self) -> None:
        await self.client.close()


def configured(settings: Settings) -> ProviderModeration | None:
    return ProviderModeration(settings) if settings.ai_moderation_api_key else None


# Texts at least this long are read by the offline rules in a worker process: Python's regular
# expressions hold the interpreter lock, so on the event loop a long (or crafted) text would
# hold up every other request of the process for as long as it is read.
OFFLOAD_CHARS = 8_000
OFFLOAD_DEADLINE_S = 30.0  # beyond this a text is not read to the end: the request is refused


class Screen:
    """The offline classifier on every text; then the provider's moderation, when there is one,
    on what the offline rules let pass."""

    def __init__(
        self,
        offline: Classifier | None = None,
        provider: ProviderModeration | None = None,
        *,
        workers: int = 2,
    ) -> None:
        self.offline: Classifier = offline or default_classifier()
        self.provider = provider
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    async def offline_check(self, text: str, *, stage: str) -> Verdict:
        """The offline rules on `text`: here for a short text, in a worker process for a long
        one (see OFFLOAD_CHARS). A long text that cannot be read in time is refused (503)."""
        offline = self.offline
        # Only the stock rules can be rebuilt in a worker; any other classifier reads here.
        if (
            len(text) < OFFLOAD_CHARS
            or not isinstance(offline, OfflineClassifier)
            or not offline.stock
        ):
            return offline.classify(text)
        if self.pool is None:
            # spawn, not fork: the server has threads (the database driver's, the SDKs').
            self.pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        exemplars = tuple((category.value, phrase) for category, phrase in offline.exemplars)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OFFLOAD_DEADLINE_S):
                category, rule = await loop.run_in_executor(
                    self.pool, classify_in_worker, text, exemplars
                )
        except (TimeoutError, BrokenProcessPool) as exc:
            log.warning("offline screening failed", error=type(exc).__name__, chars=len(text))
            if isinstance(exc, BrokenProcessPool):
                self.pool = None
            raise SafetyUnavailable(stage) from None
        return ALLOWED if category is None else Verdict(Category(category), rule)

    async def classify(self, text: str, *, stage: str) -> Verdict:
        verdict = await self.offline_check(text, stage=stage)
        if verdict.blocked or self.provider is None:
            return verdict
        return await self.provider.classify(text, stage=stage)

    async def prompt(self, texts: Sequence[str]) -> tuple[Verdict, str]:
        """Each message, then the whole conversation (a request split over messages); the
        provider layer sees the whole conversation in one call."""
        for text in texts:
            verdict = await self.offline_check(text, stage="prompt")
            if verdict.blocked:
                return verdict, text
        whole = "\n".join(texts)
        if len(texts) > 1:  # one message was read whole already
            verdict = await self.offline_check(whole, stage="prompt")
            if verdict.blocked:
                return verdict, whole
        if self.provider is None:
            return ALLOWED, whole
        return await self.provider.classify(whole, stage="prompt"), whole

    async def moderate(self, text: str, *, context: str) -> Verdict:
        """The provider layer alone on part of a streamed reply (`context`: the reply so far);
        ALLOWED without one."""
        if self.provider is None:
            return ALLOWED
        return await self.provider.classify(text, stage="output", context=context)

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        if self.provider is not None:
            await self.provider.close()
