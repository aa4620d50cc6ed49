"""Screening a streamed reply as it arrives (S1): what may be shown, and when the reply is blocked.

`StreamScreen` holds no connection and knows no HTTP: the chat endpoint feeds it the provider's
pieces and sends what it releases; tests feed it pieces directly.

A reply is screened in runs rather than per provider piece (often 3-4 characters): a run is let
out at a sentence's end or once it is RUN_CHARS long, so that the screening cost per reply stays
near that of screening it whole while the reader still sees it arrive. Each run is read by the
offline rules from the start of the sentence before it (`window_start`), before it is shown; the
provider layer sees the reply every `moderate_every` characters (`tail`: with some of what it
saw before); at the end the whole reply is read once more (a pattern longer than a window, such
as a long base64 run) and by the provider layer up to its last character. A block ends the
screening: what was already shown stays shown, nothing after it is released.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from offcoder.ai.moderation import Screen
from offcoder.ai.safety import ALLOWED, Verdict

RUN_CHARS = 48
RUN_END = re.compile(r"[.?!:;\n]")
# How much of a streamed reply before a new run is screened with it: more than a rule reaches
# (rules stay inside one sentence, in windows of at most a few hundred characters), so a
# phrase split across runs is seen whole; longer patterns are caught by the whole-reply check
# at the stream's end.
STREAM_WINDOW = 1024
SENTENCE_END = re.compile(r"[.?!]\s")


def window_start(sent: str) -> int:
    """Where the text screened with a new run starts: at the sentence before the one the run
    continues, since a rule reads a sentence (and, for a thing named in one and asked for in
    the next, the one before it); never more than STREAM_WINDOW back, so a run inside a long
    sentence (code, a list) is read with the 1 KiB before it."""
    low = max(0, len(sent) - STREAM_WINDOW)
    ends = [end.end() for end in SENTENCE_END.finditer(sent, low)]
    return ends[-2] if len(ends) >= 2 else low


def tail(text: str, seen: int) -> str:
    """What the provider layer has not seen, with some of what it has: a phrase cut at the
    last checkpoint is seen whole."""
    return text[max(0, seen - STREAM_WINDOW) :]


@dataclass(frozen=True)
class Screened:
    """The outcome of one piece (or of the end): `run` is text now cleared to be shown ("" when
    nothing is yet); a blocked `verdict` ends the reply, and `text` is the reply so far that it
    judged (what the block is recorded with)."""

    run: str = ""
    verdict: Verdict = ALLOWED
    text: str = ""


class StreamScreen:
    """One streamed reply's screening: `feed` each piece as it arrives, then `end` once; after a
    block, nothing more may be fed."""

    def __init__(self, screen: Screen, *, moderate_every: int) -> None:
        self.screen = screen
        self.moderate_every = moderate_every
        self.shown = ""  # released to be shown
        self.held = ""  # arrived, not yet screened
        self.moderated = 0  # how much of the reply the provider layer has seen
        self.over = False

    async def feed(self, piece: str) -> Screened:
        """Take the next piece; release the run it completes, if it completes one."""
        assert not self.over, "the reply was blocked or has ended"
        self.held += piece
        if self.held and (len(self.held) >= RUN_CHARS or RUN_END.search(piece)):
            return await self._screen(ending=False)
        return Screened()

    async def end(self) -> Screened:
        """The reply is complete: release what is held once the whole reply passes."""
        assert not self.over, "the reply was blocked or has ended"
        screened = await self._screen(ending=True)
        self.over = True
        return screened

    async def _screen(self, *, ending: bool) -> Screened:
        # At the end, the run still held is checked with the whole reply before it is shown; a
        # run that ended a sentence was shown already, as any run is before the provider
        # layer's next checkpoint.
        text = self.shown + self.held
        verdict = ALLOWED
        if self.held:
            verdict = self.screen.offline.classify(text[window_start(self.shown) :])
        if not verdict.blocked and ending and len(text) > STREAM_WINDOW:
            # what no window held whole
            verdict = await self.screen.offline_check(text, stage="output")
        unseen = len(text) - self.moderated
        if not verdict.blocked and (unseen >= self.moderate_every or (ending and unseen > 0)):
            verdict = await self.screen.moderate(tail(text, self.moderated), context=text)
            self.moderated = len(text)
        if verdict.blocked:
            self.over = True
            return Screened(verdict=verdict, text=text)
        run, self.shown, self.held = self.held, text, ""
        return Screened(run=run, text=text)
