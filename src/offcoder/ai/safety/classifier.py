"""The offline classifier: every reading of a text against the rules, first match decides;
the worker-process entry point; and what a text is about, by the objects the rules know."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from offcoder.ai.safety.normalise import fold, readings
from offcoder.ai.safety.patterns import Rule
from offcoder.ai.safety.rules import DEFAULT_RULES, drugs, malware, surveillance, weapons
from offcoder.ai.safety.verdict import ALLOWED, Category, Verdict

MAX_SCANNED = 64 * 1024  # characters per reading; longer texts are scanned in windows
# Longer than anything a pattern reads from where it matches (two sentences of the widest window,
# 1,000 characters), so windows that overlap by this much cut nothing in two unseen.
MATCH_REACH = 4 * 1024


class OfflineClassifier:
    """Curated rules, plus exemplars added by upheld flags (S2): a folded phrase that, when a
    text contains it, blocks that text in the exemplar's category."""

    def __init__(
        self, rules: Sequence[Rule], exemplars: Iterable[tuple[Category, str]] = ()
    ) -> None:
        self.rules = list(rules)
        self.stock = rules is DEFAULT_RULES  # what a worker process can rebuild on its own
        self.exemplars: list[tuple[Category, str]] = []
        for category, phrase in exemplars:
            self.add_exemplar(category, phrase)

    def learn(self, category: Category, phrase: str) -> None:
        self.add_exemplar(category, phrase)

    def add_exemplar(self, category: Category, phrase: str) -> None:
        folded = fold(phrase)
        if len(folded) >= 8 and (category, folded) not in self.exemplars:
            self.exemplars.append((category, folded))

    def classify(self, text: str) -> Verdict:
        for reading in self._windows(readings(text)):
            for candidate in self.rules:
                if candidate.pattern.search(reading):
                    return Verdict(candidate.category, candidate.name)
            for category, phrase in self.exemplars:
                if phrase in reading:
                    return Verdict(category, f"{category.value}.exemplar")
        return ALLOWED

    @staticmethod
    def _windows(texts: list[str]) -> Iterable[str]:
        for text in texts:
            if len(text) <= MAX_SCANNED:
                yield ". " + text  # a sentence starts where the text does (see _START)
                continue
            step = MAX_SCANNED - MATCH_REACH  # overlapping, so nothing is cut in two unseen
            for start in range(0, len(text) - MATCH_REACH, step):
                yield ". " + text[start : start + MAX_SCANNED]


def default_classifier() -> OfflineClassifier:
    """The stock rules, no exemplars yet."""
    return OfflineClassifier(DEFAULT_RULES)


# A worker process's classifier, rebuilt when the exemplars it is given change.
_worker: tuple[tuple[tuple[str, str], ...], OfflineClassifier] | None = None


def classify_in_worker(
    text: str, exemplars: tuple[tuple[str, str], ...]
) -> tuple[str | None, str | None]:
    """The stock rules plus `exemplars` on `text`, in a worker process (`moderation.Screen`
    sends long texts here, so that reading them does not hold up the server's event loop).
    Plain values in and out: they cross a process boundary."""
    global _worker
    if _worker is None or _worker[0] != exemplars:
        learned = [(Category(category), phrase) for category, phrase in exemplars]
        _worker = (exemplars, OfflineClassifier(DEFAULT_RULES, learned))
    verdict = _worker[1].classify(text)
    return (verdict.category.value if verdict.category else None), verdict.rule


# What a text is about, by the objects the rules know; used to name the category of a text a
# provider's moderation flags only as "illicit" (it has no finer categories).
TOPICS: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (Category.weapons, re.compile(weapons.TOPIC)),
    (Category.drugs, re.compile(drugs.TOPIC)),
    (Category.malware, re.compile(malware.TOPIC)),
    (Category.surveillance, re.compile(surveillance.TOPIC)),
)


def topic(text: str) -> Category | None:
    """The first Acceptable Use Policy category whose objects the text names, if any."""
    for reading in readings(text):
        for category, pattern in TOPICS:
            if pattern.search(reading[:MAX_SCANNED]):
                return category
    return None
