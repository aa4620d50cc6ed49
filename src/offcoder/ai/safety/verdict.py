"""The Acceptable Use Policy categories, a verdict on a text, and what a classifier is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Category(StrEnum):
    csam = "csam"
    malware = "malware"
    surveillance = "surveillance"
    weapons = "weapons"
    drugs = "drugs"


@dataclass(frozen=True)
class Verdict:
    """`category` is None when the text may pass; otherwise it names what was found and `rule`
    which pattern found it (for the record, never shown to the user)."""

    category: Category | None = None
    rule: str | None = None

    @property
    def blocked(self) -> bool:
        return self.category is not None


ALLOWED = Verdict()


class Classifier(Protocol):
    def classify(self, text: str) -> Verdict: ...

    def learn(self, category: Category, phrase: str) -> None:
        """Block texts containing `phrase` from now on (an upheld flag's exemplar, S2)."""
