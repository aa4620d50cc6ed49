"""Content safety (S1): the Acceptable Use Policy categories, and the offline classifier that
checks every prompt before it leaves and every output before it is shown.

The offline classifier needs no network at run time. It first normalises the text against the
usual evasions, then matches curated rules:

- Unicode: NFKC, format characters (zero-width joiners and the like) dropped, look-alike
  letters from other scripts (a Cyrillic "a", a Greek "o", ...) mapped to Latin, typographic
  apostrophes made plain, case folded;
- leetspeak: digits and symbols standing for letters ("r4ns0mw4re"), undone in a second
  reading of the sentences that have them (a number standing alone, "a 12 y3ar 0ld", stays one);
- spacing: letters spread out with spaces or dots joined again ("r a n s o m w a r e";
  "n.e.r.v.e a.g.e.n.t" keeps its gap between words);
- base64: encoded runs are decoded and checked as text of their own;
- refusals: a clause that refuses something ("I won't write ransomware, but ...") is dropped,
  so a model's refusal that names the category is not itself blocked.

A rule reads a sentence the way a trust-and-safety reviewer would: intent and object together,
never a keyword alone. Intent is an ask ("write", "how do I make", "walk me through") or an
answer that starts to deliver ("Here's the ...", "Sure, ...", "the script below"); the object
is the harmful thing ("ransomware", "pipe bomb", "meth") or what it does ("encrypts every file
and demands a ransom", "copies itself to every machine"). A word between the two that says the
thing is studied, detected or defended against ("a YARA rule for ransomware", "a report about
...") lets the sentence pass. Where the harm lies in the context rather than the object, the
rule asks for the context: a specific person plus secrecy plus watching (surveillance), a
weapon plus "untraceable" or "no background check", a drug plus "to sell" or "past customs".
Rules are written for a kind of harm rather than for one wording of it: a person's home address
asked for, an app that looks like one thing and takes another's data, a disk wiped on whoever
runs it, a gun bought for someone barred from buying one. A role-play that names the thing in
one sentence and asks how to make "it" in the next is read as one request.


The package is laid out as the text travels: `verdict` (the categories and a verdict),
`normalise` (the readings of a text), `patterns` (the parts rules are built from), one module of
rules per category in `rules/`, and `classifier` (the rules applied, first match decides). The
names importers use are re-exported here.

The labelled corpus in tests/data/safety holds both sides, and a test measures precision and
recall per category against thresholds in docs/security.md.
"""

from __future__ import annotations

from offcoder.ai.safety.classifier import (
    MATCH_REACH,
    MAX_SCANNED,
    TOPICS,
    OfflineClassifier,
    classify_in_worker,
    default_classifier,
    topic,
)
from offcoder.ai.safety.normalise import fold, readings
from offcoder.ai.safety.patterns import Rule, rule
from offcoder.ai.safety.rules import DEFAULT_RULES
from offcoder.ai.safety.verdict import ALLOWED, Category, Classifier, Verdict

__all__ = [
    "ALLOWED",
    "DEFAULT_RULES",
    "MATCH_REACH",
    "MAX_SCANNED",
    "TOPICS",
    "Category",
    "Classifier",
    "OfflineClassifier",
    "Rule",
    "Verdict",
    "classify_in_worker",
    "default_classifier",
    "fold",
    "readings",
    "rule",
    "topic",
]
