"""Content safety (S1): the Acceptable Use Policy categories, and the offline classifier that
checks every prompt before it leaves and every output before it is shown.

The offline classifier needs no network at run time. It first normalises the text against the
usual evasions, then matches curated rules:

- Unicode: NFKC, format characters (zero-width joiners and the like) dropped, look-alike
  letters from other scripts (Cyrillic "а", Greek "ο", ...) mapped to Latin, typographic
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

The labelled corpus in tests/data/safety holds both sides, and a test measures precision and
recall per category against thresholds in docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
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


# ------------------------------------------------------------------------------ normalising

# Letters of other scripts that render like Latin ones (the ones evasion uses in practice).
CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g",
        "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p",
        "С": "c", "Т": "t", "У": "y", "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s",
        # Greek
        "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "υ": "u",
        "ε": "e", "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k",
        "Μ": "m", "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
        # typographic apostrophes (U+2019 and its kin), so that they read like "'"
        "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'",
    }
)  # fmt: skip

LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
     "!": "i", "|": "l", "+": "t", "€": "e"}
)  # fmt: skip

# Four or more single letters separated by spaces, dots, dashes or stars: "r a n s o m".
SPREAD = re.compile(r"\b(?:[a-z0-9][\s.\-_*·]++){3,}[a-z0-9]\b")
# A chain of single letters and gaps, as long as it goes. SPREAD is only ever tried where a chain
# starts (see _spread_matches): tried at every letter of a long chain that never ends on a word
# boundary ("a_ a_ a_ ..."), it would read the rest of the chain from each, which is quadratic.
SPREAD_CHAIN = re.compile(r"\b[a-z0-9](?:[\s.\-_*·]++[a-z0-9])+")
SPREAD_GAP = re.compile(r"[\s.\-_*·]+")
INNER_STOP = re.compile(r"\.(?=\w)")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Wider whitespace between single letters parts spread-out words: "w r i t e  r a n s o m".
WORD_GAP = re.compile(r"(?<=\b\w)\s{2,}(?=\w\b)")
# A letter, a digit or symbol, a letter ("r4n", "b0m", "cr3d"): a passage worth reading again
# with the leetspeak undone. ("sha256", "2024" or "a|b" are not.)
LEETISH = re.compile(r"[a-z][0-9@$!]+[a-z]")
# A number of two or more digits standing alone is a number even in leetspeak: "a 12 y3ar 0ld"
# is twelve years old, not "a iz year old".
NUMBER = re.compile(r"\b\d{2,}\b")
PASSAGE_REACH = 300  # characters either side of what makes a second reading worth it
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
MAX_SCANNED = 64 * 1024  # characters per reading; longer texts are scanned in windows
# Longer than anything a pattern reads from where it matches (two sentences of the widest window,
# 1,000 characters), so windows that overlap by this much cut nothing in two unseen.
MATCH_REACH = 4 * 1024


def _drop_format(match: re.Match[str]) -> str:
    return "" if unicodedata.category(match.group(0)) == "Cf" else match.group(0)


def fold(text: str) -> str:
    """NFKC, format characters dropped, look-alikes mapped to Latin, case folded, whitespace
    squeezed (but kept as a word gap between spread-out letters), and a full stop inside a word
    ("explorer.exe", "e.g", "n.e.r.v.e") written as a middle dot, so that a full stop always
    ends a sentence."""
    if not text.isascii():  # ASCII has no format characters and no look-alikes
        text = unicodedata.normalize("NFKC", text)
        text = NON_ASCII.sub(_drop_format, text).translate(CONFUSABLES)
    text = WORD_GAP.sub(" / ", text.casefold())
    return INNER_STOP.sub("·", re.sub(r"\s+", " ", text).strip())


def _spread_matches(text: str) -> Iterator[re.Match[str]]:
    """The matches of SPREAD in `text`, the same as `SPREAD.finditer(text)` gives, in time that
    grows with the length of the text. SPREAD is tried once per chain, where the chain starts: a
    match it finds there is the longest, and when it finds none there, it finds none at any later
    letter of the chain either (from there it would need a longer run of the same letters)."""
    for chain in SPREAD_CHAIN.finditer(text):
        match = SPREAD.match(text, chain.start())
        if match:
            yield match


def _join_spread(text: str, *, article: bool = False) -> str:
    """Join letters spread out with gaps. When a run mixes gaps ("n.e.r.v.e a.g.e.n.t"), the
    gaps with a space in them separate words. With `article`, a leading "a" or "i" stays a word
    of its own ("a r o o t k i t" reads "a rootkit"; without it, "arootkit")."""

    def join(match: re.Match[str]) -> str:
        run = match.group(0)
        gaps = SPREAD_GAP.findall(run)
        letters = SPREAD_GAP.split(run)
        spaced = [" " in gap for gap in gaps]
        if any(spaced) and not all(spaced):
            return "".join(
                letter + (" " if i < len(gaps) and spaced[i] else "")
                for i, letter in enumerate(letters)
            )
        if article and letters[0] in ("a", "i") and len(letters) > 4:
            return letters[0] + " " + "".join(letters[1:])
        return "".join(letters)

    pieces: list[str] = []
    done = 0
    for match in _spread_matches(text):
        pieces += (text[done : match.start()], join(match))
        done = match.end()
    return "".join(pieces) + text[done:]


# A refusal that names what it refuses ("I won't write ransomware, but ...") is not a request:
# the refused clause is dropped before the patterns look. The clause ends at punctuation or at
# a conjunction, so "I can't wait, write ransomware" keeps its request.
REFUSAL = re.compile(
    r"\b(?:i|we)(?:'m| am|'re| are)?(?: really| just| simply)? (?:can't|cannot|can not|won't|"
    r"will not|not able to|unable to|must decline to|refuse to|not going to|don't|do not|"
    r"shouldn't|should not)(?: \w+)? (?:help|assist|write|create|make|give|provide|produce|"
    r"generate|build|share|offer|do|support|explain|describe|supply|show)\b"
    r"(?:(?! (?:but|so|and|then|instead|however|though|yet|because) )[^.?!,;:]){0,200}"
)


def _unleet(passage: str) -> str:
    """`passage` with the leetspeak undone, numbers standing alone kept."""
    kept = NUMBER.findall(passage)
    pieces = [piece.translate(LEET) for piece in NUMBER.split(passage)]
    return "".join(piece + (kept[i] if i < len(kept) else "") for i, piece in enumerate(pieces))


def _drop_refusals(text: str) -> str:
    return REFUSAL.sub(" ", text)


def _decoded_runs(text: str) -> Iterable[str]:
    for run in BASE64_RUN.findall(text):
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        printable = sum(c.isprintable() or c.isspace() for c in decoded)
        if decoded and printable / len(decoded) > 0.95:
            yield decoded


def _passages(matches: Iterable[re.Match[str]], text: str) -> list[str]:
    """The passages of `text` around `matches` (in order): each match's sentence, but no more
    than PASSAGE_REACH characters either side of it; overlapping passages merged."""
    spans: list[tuple[int, int]] = []
    for match in matches:
        low, high = max(0, match.start() - PASSAGE_REACH), match.end() + PASSAGE_REACH
        cut = max(text.rfind(end, low, match.start()) for end in (". ", "? ", "! "))
        start = cut + 2 if cut >= 0 else low
        stops = [text.find(end, match.end(), high) for end in (". ", "? ", "! ")]
        stop = min([i + 1 for i in stops if i >= 0] + [min(high, len(text))])
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
        else:
            spans.append((start, stop))
    # each passage ends a sentence, so that two never read as one
    return [
        text[a:b].rstrip(" ") + ("" if text[a:b].rstrip(" ")[-1:] in ".?!" else ".")
        for a, b in spans
    ]


def readings(text: str, *, depth: int = 0) -> list[str]:
    """Every normalised reading of `text` the patterns look at: the folded text, and second
    readings (spread-out letters joined, leetspeak undone) of just the passages they change, so
    that one odd word in a long text costs a passage more, not a text more."""
    folded = fold(text)
    spread = _passages(_spread_matches(folded), folded)
    leet = [_unleet(passage) for passage in _passages(LEETISH.finditer(folded), folded)]
    found = [folded, " ".join(leet)] if leet else [folded]
    for group in (spread, leet):
        if group:
            found.append(" ".join(_join_spread(passage) for passage in group))
            found.append(" ".join(_join_spread(passage, article=True) for passage in group))
    found = [_drop_refusals(reading) for reading in found]
    if depth < 2:  # base64 inside base64, but no deeper
        for decoded in _decoded_runs(text):
            found += readings(decoded, depth=depth + 1)
    unique: list[str] = []
    for reading in found:
        if reading not in unique:
            unique.append(reading)
    return unique


# ------------------------------------------------------------------------------ the patterns


@dataclass(frozen=True)
class Rule:
    name: str
    category: Category
    pattern: re.Pattern[str]


def rule(category: Category, name: str, pattern: str) -> Rule:
    return Rule(f"{category.value}.{name}", category, re.compile(pattern))


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


# ------------------------------------------------------------------------------ pattern parts
#
# Every window is bounded and stays inside one sentence ("." "?" "!"; fold turned a full stop
# inside a word into "·"), and no unbounded quantifier is nested in another, so the time a text
# takes grows with its length and nothing else. Windows are runs of single characters, which
# the regular-expression engine steps through fastest.

_S = r"[^.?!]"  # a character of the same sentence
# Where a sentence starts: after a full stop (or "?" or "!") and a space. Every reading is
# scanned with ". " in front (OfflineClassifier._windows), so that this holds for the first
# sentence too, and a rule can start by consuming the two characters, which the engine finds far
# faster than it can test every position for "the start of the text, or after a full stop".
_START = r"(?<=[.?!] )"
_SENTENCE_START = r"[.?!] "


def _near(chars: int = 100, *, unless: str | None = None) -> str:
    """Up to `chars` characters of the same sentence, ending where a word starts or ends; with
    `unless`, no word in them may start one of those."""
    if unless:
        return rf"(?:(?!\b(?:{unless})\b){_S}){{0,{chars}}}?\b"
    return rf"{_S}{{0,{chars}}}?\b"


def _has(*parts: str, unless: str | None = None, chars: int = 400, across: bool = False) -> str:
    """Said where a sentence starts: the sentence contains each of `parts`, in any order, and no
    word starting `unless`. With `across`, the sentence after it counts as well. (The rarest
    part should come first: most sentences lack it, and nothing else is looked at.)"""
    span = rf"{_S}{{0,{chars}}}?"
    if across:  # this sentence, or skip it whole and look in the next
        span = rf"(?:{_S}{{0,{chars}}}+[.?!] )?{span}"
    looks = "".join(rf"(?={span}\b(?:{part}))" for part in parts)
    guard = rf"(?!{span}\b(?:{unless})\b)" if unless else ""
    return looks + guard


def _sentence(
    *conditions: str, needs: str | None = None, chars: int = 400, across: bool = False
) -> str:
    """A sentence that meets one of `conditions` (each made with `_has`). `needs` names words
    of which every condition requires one, within `chars` (and the next sentence, `across`) as
    the widest condition reads: a sentence without any is passed over with one look instead of
    one per condition."""
    gate = _has(needs, chars=chars, across=across) if needs else ""
    return rf"{_SENTENCE_START}{gate}(?:{'|'.join(conditions)})"


_NEAR = _near()  # in the same sentence, not too far

# Asking for it: a request to make, write, get or be taught something ...
_MAKE = (
    r"(?:write|create|make(?! sure)|build|code|develop|generate|produce|design|craft|program|"
    r"implement|set up|put together|assemble|construct|give me|show me|send me|get me|find me|"
    r"teach me|tell me how|walk me through|help me|provide|(?:i|we) (?:need|want|'d like|"
    r"would like) (?:a|an|some)|instructions|guide|tutorial|recipe|step[- ]by[- ]step|"
    r"explain how to)"
)
# ... or an answer that starts to deliver it ("Here's the ...", "Sure, ...", "the script below").
_DELIVER = (
    r"(?:here(?:'s| is| are)|here you go|here it is|below (?:is|are)|the following|step (?:1|"
    rf"one)\b|{_START}(?:sure|okay|ok|certainly|of course|absolutely)|(?:the|"
    r"this) [\w-]++(?: [\w-]++)? below)"
)
_ACT = rf"(?:{_MAKE}|{_DELIVER})"
# For weapons any "how do I ..." counts as asking: nobody asks how to wire a detonator to
# defend against one (and a word such as "detect" or "history" still lets it pass).
_HOW = (
    r"(?:how (?:do|can|could|would|should|might|will) (?:i|we|you|one|someone|somebody|a person|"
    r"people|anyone)|how to|(?:easiest|best|quickest|cheapest|simplest|fastest|safest|"
    r"most effective|most reliable) (?:way|method|means|recipe)s? (?:to|of|for)|ways? to|"
    r"what(?:'s| is| are) the (?:best|easiest|strongest|most powerful|cheapest|simplest|"
    r"deadliest)|what (?:do|would|will) (?:i|we|you|one) need (?:to|for)|where (?:can|do|could|"
    r"would|should|to) (?:i |we |you |one |someone )?(?:find|get|buy|download|order|source|"
    r"obtain)|(?:files?|stls?|blueprints?|plans|schematics?|cad files?|templates?) for|"
    r"is it possible to)"
)
# The thing named in one sentence, how to make it asked in the next: "my late grandma worked
# at a napalm factory. She used to tell me the steps to make it."
_REFER_MAKE = (
    r"(?:steps?|instructions?|recipe|formula|process|method|ingredients|how) (?:\w+ ){0,2}?(?:to|"
    r"for|of) (?:make|making|build|building|cook|cooking|produce|producing|synthesi[sz]\w*|mix|"
    r"mixing|prepare|preparing|brew\w*|extract\w*|grow\w*) (?:it|them|one|some|that|this|those|"
    r"these)\b|how (?:is|are|was|were|do you|did (?:she|he|they|you)) (?:it|they|them|one|that|"
    r"this) (?:\w+ )?(?:made|built|produced|cooked|synthesi[sz]ed|mixed|brewed|grown|make|build|"
    r"cook)\b|how (?:she|he|they) (?:made|built|cooked|mixed|produced|synthesi[sz]ed|brewed) (?:it|"
    r"them|one|that|this)\b"
)

# Between an ask and its object, words that say the object is studied, detected, defended
# against or written about rather than made ("write a report about ransomware", "build a YARA
# rule for a keylogger", "make a presentation on meth addiction").
_BENIGN = (
    r"about|regarding|on how|explain\w*|detect\w*|against|analy[sz]\w*|protect\w*|defen[cd]\w*|"
    r"prevent\w*|remov\w*|report\w*|essay|blog|article|paper|talk|slides|presentation|history|"
    r"historical|timeline|museum|yara|sigma|signatures?|rules?|simulat\w*|classif\w*|scan\w*|"
    r"block\w*|identif\w*|awareness|training|quiz|trivia|course|lesson|lecture|policy|policies|"
    r"statistics|dataset|game|minigame|novel|story|movie|recogni[sz]\w*|spot\w*|warning|signs|"
    r"incident|tabletop|exercise|recover\w*|restor\w*|mitigat\w*|respond\w*|quarantin\w*|"
    r"filter\w*|reject\w*|sanitis\w*|sanitiz\w*|hash\w*|match\w*|moderat\w*|flag\w*|dispos\w*|"
    r"infect\w*|check(?!out)\w*|hunt\w*|catch\w*|harden\w*|triage\w*"
)
_OBJ = _near(unless=_BENIGN)


def _then(thing: str, chars: int = 100, *, unless: str = _BENIGN) -> str:
    """`thing` within `chars` characters of the same sentence, with no word between starting one
    of `unless`. (The unguarded look ahead fails fast; the guard is dearer, so it comes second.)"""
    return rf"(?={_near(chars)}(?:{thing})){_near(chars, unless=unless)}(?:{thing})"


def _asking(thing: str, ask: str = _ACT) -> str:
    """An ask, then `thing` within the same sentence with no benign word between."""
    return rf"\b{ask}\b{_then(thing)}"


_PRIVATE = (
    r"(?:phones?|iphone|laptop|computer|pc|tablet|car|bag|purse|browser|account|sim|inbox|icloud|"
    r"messages|texts|chats|dms|e-?mails?|calls|voicemails?|location|whereabouts|movements|webcam|"
    r"camera|microphone|keystrokes|photos|screen|whatsapp|instagram|facebook|snapchat|house|"
    r"apartment|flat|home|diary|journal)"
)
# The subject of covert surveillance: a specific other person, never "the user".
_RELATION = (
    r"(?:ex|wife|husband|spouse|girlfriend|boyfriend|gf|bf|partner|fianc\w*|roommate|flatmate|"
    r"housemate|sister|brother|sibling|mother|mom|mum|father|dad|daughter|son|cousin|aunt|uncle|"
    r"neighbou?r|coworker|co-worker|colleague|boss|manager|employee|tenant|landlord|friend|crush|"
    r"classmate|date|lover|ex-\w+)"
)
# Someone the requester picked out: "this girl", "that streamer", "a guy on discord".
_PERSON = (
    r"(?:woman|man|girl|guy|person|lady|streamer|stranger|influencer|celebrity|youtuber|tiktoker|"
    r"vtuber|cosplayer|actress|actor|model|barista|waitress|cashier|nurse|gamer|instagrammer)"
)
_TARGET = (
    r"(?:(?:my|your|his|her|our|their) (?:(?:ex|former|current|new|teenage|adult|best|older|"
    rf"younger) )?{_RELATION}(?:'s|s'|s)?\b|(?:this|that|a|one)(?: one)? (?:specific |particular |"
    rf"certain |random |[\w-]+ )?{_PERSON}(?:'s)?\b|"
    r"(?:someone|somebody)(?: else)?'s|another person'?s?|the person (?:i'm|i am|you're|you are|"
    r"we're) (?:tracking|following|watching|monitoring|spying on|stalking)|"
    # a pronoun counts with something private of theirs, or as the one watched
    rf"\b(?:her|his) (?:[\w-]++ )?{_PRIVATE}\b|(?:track|record|watch|follow|spy on|monitor|film|"
    r"photograph|locate|stalk|listen to)\w* (?:her|him)\b)"
)
_COVERT = (
    r"(?:secretly|covertly|surreptitiously|stealthily|in secret|on the sly|undetect(?:ed|abl[ey])|"
    r"behind (?:her|his|their|my \w+'s) back|sneak\w*|hid\b|hidd?en (?:[\w-]++ ){0,2}(?:cam\w*|"
    r"trackers?|recorders?|apps?|icon|mic\w*|gps|keyloggers?|extensions?|services?|devices?|from)|"
    r"staying hidden|hid(?:e|es|ing) (?:it|its|the|a|an|this|from|[\w-]+ from|"
    r"in the background)\b|silent(?:ly)?|while (?:she|he|they)(?:'s|'re| is| are)? (?:asleep|"
    r"sleeps|sleeping|in the shower|at work|away|not looking|out)|stealth\w*|(?:it|the app|"
    r"the icon) (?:doesn't|won't|does not|will not|never) (?:show|appear)\w*|(?:keep|stop|"
    r"prevent)\w* (?:her|him|them|my \w+|your \w+|the (?:person|target)) from (?:noticing|"
    r"finding out|knowing|seeing|suspecting|reali[sz]ing)|"
    # against what they said: "even if she turned on ghost mode", "she blocked me"
    r"even (?:if|though|when|after) (?:she|he|they)(?:'s|'ve| has| have|"
    r" had)? (?:\w++ )?(?:turned|switched|blocked|disabled|hid|hidden|set|made|changed|stopped|"
    r"removed|unfriended)\b|(?:she|he|they)(?:'s|'ve| has| have| had)? blocked me|(?:she|he|they|"
    rf"(?:my|your) (?:[\w-]+ )?{_RELATION}) (?:changed|reset|updated|locked) (?:her|his|"
    r"their) (?:phone |new )?(?:passcode|password|pin|lock)|quietly|without (?:\w+ing )?(?:her|"
    r"him|them|his|their|anyone|the (?:person|owner|target)|my \w+)\b|without (?:the |any |"
    r"an? )?(?:\w++ )?(?:light|led|indicator|notification|alert|icon)s?\b|without (?:triggering|"
    r"showing|turning on|lighting) (?:\w++ ){0,3}(?:light|led|indicator|notification|alert|"
    r"icon)s?|with no (?:\w++ )?(?:notifications?|indicator|alerts?|icon)|(?:she|he|they|"
    r"the (?:person|target)(?: (?:i'm|i am|you're|you are) \w+)?) (?:must not|mustn't|should not|"
    r"shouldn't|won't|will not|can't|cannot|doesn't|does not|never|isn't|is not|won't be|"
    r"will never)(?: ever)? (?:find out|finds? out|know|notice|see|suspect|reali[sz]e|"
    r"be (?:notified|alerted|aware|told)|alerted|notified|aware|told|get (?:a |"
    r"any )?(?:notification|alert)))"
)
# Said consent: "she knows", "with his permission", "we both opted in".
_CONSENT = (
    r"(?:she|he|they) (?:knows?|agreed|agrees|consented|opted in|is aware|are aware)|each other|"
    r"we both|family sharing|with (?:her|his|their) (?:consent|permission|knowledge|agreement)|"
    r"opt(?:s|ed)?[- ]in|mutual\w*|both (?:of us )?(?:agree\w*|opt\w*|consent\w*)"
)
# What is watched: acts of watching and the private things they reach.
_SPY = (
    r"(?:track\w*|locat\w*|gps|spy\w*|monitor\w*|watch\w*|follow\w*|stalk\w*|read\w*|forward\w*|"
    r"mirror\w*|cop(?:y|ies)|intercept\w*|captur\w*|record\w*|screenshot\w*|screen ?shot\w*|log\w*|"
    r"keylog\w*|listen\w*|eavesdrop\w*|access\w*|get into|hack\w*|upload\w*|messag\w*|text\w*|sms|"
    r"whatsapp|dms|e-?mails?|calls|chats|webcam|camera|microphone|icloud|photos|browsing|"
    r"keystrokes|see (?:who|what|where|when|everything|all|every)|install\w*|snapchats?|snaps|"
    r"instagram|insta|facebook|messenger|tiktok|"
    r"hid(?:e|es|ing) (?:the |its )?(?:app |launcher )?icon)"
)
_SPY_TOOL = (
    r"(?:(?:gps |hidden |spy |tracking |magnetic )?trackers?|tracking (?:app|software|device|chip|"
    r"tag)s?|airtags?|spy(?:ware| ?apps?| ?cam\w*| software)|stalkerware|keyloggers?|key loggers?|"
    r"(?:hidden|spy|pinhole|nanny) cam\w*|(?:call|voice|audio) recorders?|monitoring (?:app|"
    r"software)|remote access trojans?|rats?|mspy|flexispy|spyzie|hoverwatch|eyezy|umobix|"
    r"cocospy|kidsguard|(?:the)?truthspy|xnspy|spyic|mobistealth|spyera|highster)"
)
_DEVICE = (
    r"(?:phones?|iphone|android|laptop|computer|pc|mac|macbook|tablet|ipad|car|bag|purse|browser|"
    r"device|router|account|sim|watch|keys|jacket|coat|wallet|bike|backpack)"
)
_STALK = (
    r"(?:so (?:i|you|we) (?:can|could) (?:show up|turn up|go there|be there|wait for|follow|find|"
    r"catch|confront|surprise|run into|meet|watch)|(?:follow|track|log|record|map|monitor|"
    r"watch|work out|figure out|find out|learn|know|predict|pin down|get|scrape|pull|compile|"
    r"reconstruct|piece together)\w* (?:her|his|their) (?:daily |every |real[- ]time |exact |"
    r"weekly |morning |usual |running )?(?:movements?|moves|routines?|whereabouts|schedule|habits|"
    r"routes?|commute)|everywhere (?:she|he) goes|(?:where|which (?:house|building|street|city)) "
    r"(?:this|that|a|the|my) (?:[\w-]++ ){0,2}(?:lives|works|sleeps|is staying)|"
    # when she is alone, or waiting for her to come out
    r"when (?:she|he)(?:'ll| will| is|'s|'d| would)? (?:be )?(?:alone|home alone|by (?:her|"
    r"him)self)|(?:wait|park|stand|hang around|loiter|sit)\w*(?: \w+){0,3} (?:outside|"
    r"near(?:by)?|across from|in front of|around the corner from)\b(?: [\w-]+){0,5}? (?:when|"
    r"until|for|as) (?:she|he) (?:\w+ )?(?:leaves|comes out|gets (?:home|off|out)|arrives|"
    r"goes out|walks out)|wait\w* for (?:her|him) to (?:come out|leave|get home|be alone|appear|"
    r"show up)|be there when (?:she|he) (?:leaves|comes out|gets (?:home|off)|arrives)|"
    rf"what time (?:does|do|did) (?:the|this|that) (?:[\w-]+ )?{_PERSON} (?:usually )?(?:leave|"
    r"get home|come home|go out|walk|run|jog)\w*)"
)
# Finding where a specific person lives or is: "find her new address", "figure out where he
# lives", "the home address of the streamer".
_FIND = (
    r"(?:find|finding|found|locat\w*|track\w* down|figur\w* out|work\w* out|pin\w* down|dig\w* up|"
    r"look\w* up|get|getting|uncover\w*|learn|know|tell me|see|discover\w*|determin\w*|"
    r"narrow\w* down|triangulat\w*|geolocat\w*|guess\w*|doxx?\w*|need|want|give me|get me)"
)
_WHICH_PLACE = (
    r"which (?:house|building|apartment|flat|street|city|town|neighbou?rhood|hotel|room|address|"
    r"gym|office) (?:does|did|do) (?:she|he|(?:this|that|my|the) (?:[\w-]+ )?(?:"
    rf"{_RELATION}|{_PERSON})) (?:\w+ )?(?:live|stay|sleep|work|go)\w*"
)
_WHOSE = rf"(?:her|his|(?:this|that|my|the) (?:[\w-]+ )?(?:{_RELATION}|{_PERSON})'s)"
_WHERE_THEY_ARE = (
    rf"(?:where (?:she|he|(?:this|that|my|the) (?:[\w-]++ )?(?:{_RELATION}|"
    rf"{_PERSON})) (?:\w+ )?(?:lives|live|is living|is staying|stays|sleeps|works|is|goes|moved|"
    r"hangs out|will be|parks|is at)|which (?:house|building|apartment|flat|street|city|town|"
    rf"hotel|room|gym|office) (?:she|he|(?:this|that|my|the) (?:[\w-]+ )?(?:{_RELATION}|"
    rf"{_PERSON})) (?:\w+ ){{0,3}}?(?:lives|stays|sleeps|works|is staying|goes|trains|works out|"
    rf"is at)|(?:her|his|(?:this|that|my|the) (?:[\w-]++ )?(?:{_RELATION}|{_PERSON})'s) (?:(?:new|"
    r"current|real|exact|actual|home|street|physical|private|personal|precise|real-life|"
    r"irl) )*(?:address|apartment|flat|house|home|location|whereabouts|place|hotel)|(?:(?:home|"
    r"house|street|real|exact|physical|irl) )?address (?:of|for) (?:the |this |that |a |"
    rf"my )?(?:[\w'-]++ )?(?:{_RELATION}|{_PERSON}))\b"
)
# Where a place is worked out from someone's posts: "based on the reflection in her story, she
# lives ..."
_GEOLOCATED = (
    r"(?:based on|from|judging (?:by|from)|given|using|in) (?:[\w'-]++ ){0,6}?(?:reflections?|"
    r"bus stops?|street signs?|backgrounds?|photos?|posts?|story|stories|streams?|videos?|"
    r"pictures?|check-?ins?|shadows?|landmarks?|skyline|views?|windows?|selfies?|exif|metadata|"
    r"geotags?)\b"
)
_FICTION = (
    r"novel|fiction|characters?|plot|chapter|fanfic\w*|screenplay|poem|game|songs?|lyrics?|rhym\w*"
)
# Who an account or a phone belongs to, when it is not the requester's.
_OWNER = (
    r"(?:(?:my|your) (?:(?:ex|former|current|new|teenage|adult|best|older|younger) )?"
    rf"{_RELATION}(?:'s|s')|her|his|some(?:one|body)(?: else)?'s|another person's|(?:this|that)"
    rf"(?: one)? (?:[\w-]+ )?{_PERSON}'s)"
)
_ACCOUNT = (
    r"(?:accounts?|icloud|gmail|e-?mail|inbox|phone|iphone|android|instagram|insta|facebook|fb|"
    r"snapchat|snap|whatsapp|tiktok|twitter|messages|dms|texts|laptop|computer|pc|passcode|"
    r"password|pin|lock ?screen|profile|google|outlook|hotmail|yahoo|discord|telegram|calls|"
    r"voicemails?|conversations|chats|sms|location|photos|browsing|search history)\b"
)
# The people one has no business reading: everyone but one's own young children.
_PEER = (
    r"(?:ex|wife|husband|spouse|girlfriend|boyfriend|gf|bf|partner|fianc\w*|roommate|flatmate|"
    r"housemate|sister|brother|sibling|cousin|aunt|uncle|neighbou?r|coworker|co-worker|colleague|"
    r"boss|manager|employee|tenant|landlord|friend|crush|classmate|date|lover|ex-\w+)"
)
# A small tracker and its anti-stalking alerts.
_TAG = (
    r"(?:air ?tags?|tile (?:trackers?|mates?|pros?|slims?)|smart ?tags?|bluetooth (?:tags?|"
    r"trackers?|beacons?)|"
    r"(?=trackers?\b)(?<!issue )(?<!bug )(?<!time )(?<!habit )(?<!expense )(?<!fitness )"
    r"(?<!package )(?<!task )(?<!project )(?<!budget )(?<!error )trackers?|chipolo)\b"
)
_SILENCE_ALERT = (
    r"(?:never|not|doesn't|don't|won't|without|no) (?:[\w-]++ )?(?:trigger|set off|show|raise|"
    r"fire|send|cause|pop|give|make)\w* (?:[\w-]++ ){0,3}?(?:alerts?|notifications?|warnings?|"
    r"sounds?|beeps?|noise)|(?:disabl|bypass|suppress|defeat|avoid|evad|block|silenc|stop|kill|"
    r"remov|circumvent|prevent|break|muffl|mut)\w* (?:[\w-]++ ){0,4}?(?:(?:unknown|unwanted|"
    r"unfamiliar|anti-?stalking|separation|tracker|tracking|stalker|item)[- ](?:tracker |"
    r"tracking )?(?:alerts?|notifications?|warnings?|detection|protection|features?)|speakers?|"
    r"beep\w*|sounds?|alert(?:s|ing)?)|(?:turn|switch)\w* off (?:[\w-]++ ){0,3}?(?:alerts?|"
    r"notifications?|warnings?|speakers?|beep\w*|sounds?)|"
    r"get (?:[\w-]++ ){0,2}around (?:the )?(?:[\w-]++ ){0,2}(?:alerts?|notifications?|detection)"
)
# Placed so that the one it follows never finds it.
_NEVER_FINDS = (
    r"(?:so|and|where|that) (?:the [\w-]+|she|he|they|it|nobody|no one|[\w-]+)(?:'ll|'d| will|"
    r" would)? (?:never|won't|can't|doesn't|don't|will not|wouldn't|cannot)(?: ever)? (?:spot|"
    r"find|notice|see|discover|detect|know|reali[sz]e|look|hear|suspect|check)\w*|(?:keep|stop|"
    r"prevent)\w* (?:\w+ ){0,3}from (?:noticing|finding|seeing|spotting|discovering|detecting|"
    r"knowing)"
)
# Reasons to hide or silence a tracker that are not about a person: one's own things, theft.
_OWN_THINGS = (
    rf"{_CONSENT}|my own|mine|thie\w*|theft|stolen|burglar\w*|detect\w*|am i|is someone|"
    r"protect\w*|explain\w*|why|sweep\w*|scan\w*|remov\w* (?:a|any|the) (?:hidden )?trackers?|"
    r"signs|someone (?:hid|put|placed|planted)|check\w* (?:my|our|for|whether|if)"
)

_MALWARE_THING = (
    r"(?:ransomware|keyloggers?|key loggers?|botnets?|rootkits?|bootkits?|infostealers?|"
    r"(?:credential|password|cookie|token|session|wallet|crypto|info|browser|discord|login|"
    r"account)[- ]?(?:stealers?|grabbers?|stealing)|(?=stealers?\b)(?<!scene )(?<!show )stealers?|"
    r"(?=droppers?\b)(?<!eye)(?<!eye-)(?<!eye )(?<!color )(?<!colour )(?<!medicine )(?<!pipette )"
    r"droppers?|remote access trojans?|(?:rats?|worms?)(?! (?:gears?|wheels?|drives?|holes?|"
    r"farms?|bins?|enemy|enemies|sprites?|characters?|animations?|race|poison|traps?))|"
    r"trojans?(?! horse)|cryptojackers?|(?:hidden|stealth|silent) (?:crypto ?|monero |xmr |"
    r"bitcoin |coin ?)?miners?|spyware|stalkerware|malware|backdoors?|crypters?|fud (?:crypters?|"
    r"loaders?|payloads?|stubs?)|web ?shells?|exploit kits?|phishing kits?|polymorphic (?:virus|"
    r"malware|payload|engine)|(?:computer|macro|boot[- ]?sector|self[- ]?(?:propagating|"
    r"replicating|spreading)) (?:virus|worm)\w*|logic bombs?|virus(?= (?:that|"
    r"which) (?:\w+ ){0,2}(?:delet|encrypt|steal|wip|destroy|corrupt|disabl|install)\w*)|"
    r"ddos (?:tools?|scripts?|bots?)|booters?|stressers?|(?:malicious|weaponi[sz]ed|trojani[sz]ed|"
    r"backdoored|infected) (?:[\w-]++ )?(?:macros?|extensions?|documents?|payloads?|apps?|"
    r"packages?|librar\w+|modules?|plugins?|dlls?|scripts?|software|binar\w+|executables?|"
    r"installers?|updates?|versions?|builds?|implants?|code|attachments?))\b"
    # the thing named as the subject of study is not being built: "ransomware incident", "malware
    # hash blocklist", "keylogger detection"
    r"(?![- ](?:samples?|detect\w*|famil\w*|incidents?|attacks?|outbreaks?|hash\w*|iocs?|"
    r"indicators?|reports?|signatures?|rules?|analys\w*|protection|defen[cs]es?|response|"
    r"simulation|awareness|tabletop|exercises?|recovery|prevention|scanners?|removal|decryptors?|"
    r"trends?|statistics|news|signs|threats?|cases?|victims?|infections?|like|style|"
    r"behaviou?r|activity|patterns?|alerts?))"
)
_CREDENTIALS = (
    r"(?:passwords?|credentials|logins?|cookies?|(?:session |auth |account |access )?tokens?|"
    r"2fa codes?|sms codes?|otps?|one-time codes?|credit cards?|card (?:numbers|details)|"
    r"bank(?:ing)? details|(?:crypto ?)?wallets?|seed phrases?|private keys|keystrokes|lsass|ntds|"
    r"sam (?:database|hive)|(?:password |ntlm )?hashes)"
)
_AV = (
    r"(?:anti-?virus|av|edr|xdr|(?:windows )?defender|security (?:software|products?|tools)|"
    r"signature scanners?|virus ?scanners?|virustotal|amsi|etw|smartscreen|sandbox(?:es)?|"
    r"crowdstrike|falcon|sentinel ?one|sophos|kaspersky|mcafee|norton|bitdefender|malwarebytes|"
    r"eset|carbon black|cortex)"
)
# Getting something past the security products above: "so no AV detects it", "to get the loader
# past Defender", "bypasses AMSI".
_EVADE_AV = (
    r"(?:(?:undetectable|undetected|fud|evad\w*|evasion|bypass\w*|(?:get|gets|getting|got|"
    r"sneak\w*|slip\w*|smuggl\w*)(?: [\w-]++){0,3}? past|hid(?:e|es|"
    rf"ing) (?:[\w-]++ ){{0,3}}from|unseen by|invisible to){_near(40)}{_AV}\b|\b(?:no|not a single|"
    rf"none of the|zero) {_AV} (?:\w++ )?(?:detects?|flags?|catch(?:es)?|sees?|picks? (?:it |"
    rf"them )?up|notices?)|\b{_AV}(?: engines?| products?| software| vendors?|"
    r" scanners?)? (?:won't|can't|doesn't|don't|will not|cannot|never|wouldn't|will never|"
    r"can never) (?:\w++ )?(?:flag|detect|catch|see|notice|pick up|find|block|stop|recogni[sz]e)|"
    rf"\b{_AV}(?:(?: and|,| or) (?:the )?{_AV})? (?:both |all |will |would |to )?(?:miss|ignore|"
    rf"overlook)\w*|\b{_AV} (?:shows?|says?|gives?|reports?|returns?|has|with) (?:0|zero|no|"
    r"none) (?:detections?|hits?|flags?)|without (?:being |getting )?(?:flagged|detected|caught|"
    rf"noticed|blocked) by (?:the |any )?{_AV}\b|(?:detect|flag|catch|block|delet|"
    rf"quarantin)\w* by (?:the |windows )?{_AV}\b{_near(100)}(?:fix|stop|avoid|prevent|get around|"
    r"bypass|hide|beat)\w*)"
)
# What such a thing is: an attacker's payload rather than a developer's own signed program.
_PAYLOAD = (
    r"(?:payloads?|shellcode|meterpreter|beacons?|implants?|rats?|stealers?|loaders?|stubs?|"
    r"droppers?|crypters?|backdoors?|reverse shells?|cobalt strike|mimikatz|keyloggers?|ransomware|"
    r"trojans?|miners?|malware|targets?|victims?|(?:send|sent|give|spread|distribut)\w* (?:it |"
    r"them )?to (?:people|victims|targets|others|strangers|him|her|them))\b"
)
# Words that make a sentence about evasion defensive or explanatory: how products detect it, how
# attackers do it, tuning detections, a signed program's false positive.
_EVASION_STUDY = (
    r"(?:write|tun\w*|build\w*|improv\w*|our|add\w*|creat\w*) (?:\w+ )?detections?|detection "
    r"(?:rules?|engineering)|hunt\w*|alert\w*|tun(?:e|ing)|blue team|soc|analy[sz]\w*|"
    r"explain\w*|research\w*|report\w*|improv\w*|harden\w*|monitor\w*|protect\w*|prevent\w*|"
    r"defen[cd](?!er)\w*|audit\w*|false positives?|signed|signing|certificates?|allowlist\w*|"
    r"whitelist\w*|submit\w*|history|attackers?|adversar\w*|threat actors?|criminals?|"
    r"how (?:do|does|did|can) (?:edr|av|antivirus|defender|they|malware|it|we|products?)"
)
# Wiping what a machine needs to start.
_DESTROY = (
    r"(?:destroy|overwrit|corrupt|wip|eras|brick|trash)\w* (?:\w++ ){0,3}(?:boot records?|mbr|"
    r"boot sectors?|boot ?loaders?|firmware|bios|uefi|partition tables?|hard (?:drives?|disks?)|"
    r"system32|shadow copies)"
)
# ... or its disks, its system or the whole machine, which says wiper only when the machine is
# someone else's (wiping one's own disk before selling it is housekeeping)
_DESTROY_MACHINE = (
    rf"(?:{_DESTROY}|(?:destroy|overwrit|corrupt|wip|eras|brick|trash|nuk|fry|zero|delet)\w* "
    r"(?:\w++ ){0,3}(?:(?:c: )?drives?|disks?|system32)|(?:destroy|brick|trash|nuk|fry|kill|ruin|"
    r"wreck)\w* (?:\w++ ){0,2}(?:pcs?|computers?|machines?|laptops?|systems?|phones?|devices?|"
    r"windows|os))"
)
# Whose machine: someone else's. ("of whoever runs it", "his pc", "send it to a guy on discord")
_SOMEONE_ELSES = (
    r"(?:whoever|anyone (?:who|that)|anybody (?:who|that)|everyone (?:who|that)|people who|"
    r"victims?|targets?|(?:his|her|their|someone(?: else)?'s|other people'?s?|people's|"
    r"everyone's) (?:\w++ )?(?:pcs?|computers?|machines?|laptops?|drives?|disks?|systems?|"
    r"phones?)|send (?:it|this|them) to|annoy\w* me|revenge|get back at)\b"
)
# A login page made to look like someone else's, whose form hands what is typed to the maker.
_FAKE_LOGIN = (
    r"(?:(?:clon\w*|cop(?:y|ies|ied|ying) of|cop(?:y|ies|ied|ying)|mirror\w*|fake|spoof\w*|"
    r"imitat\w*|mimic\w*|replica\w*|look-?alike|looks? (?:exactly |just )?like|phishing) "
    r"(?:[\w'-]++ ){0,6}?(?:log ?in|sign[- ]?in|log-in|logon|sso|bank\w*|password|wallet)|"
    r"evil twin|captive portal)\b"
)
_HARVEST = (
    r"(?:forward|send|post|e-?mail|relay|upload|exfiltrat|log|save|store|captur|harvest|collect|"
    r"grab|steal|record|dump|writ|pass)\w* (?:\w++ ){0,4}?(?:credentials|passwords?|logins?|"
    r"usernames?|whatever|everything|what (?:they|people|users|victims|visitors))\b"
)
_PHISHING_STUDY = (
    r"simulat\w*|training|awareness|authori[sz]\w*|spot\w*|warn\w*|report\w*|detect\w*|"
    r"takedown|take down|educat\w*|gophish|never (?:stores?|records?|saves?|captures?|keeps?)|"
    r"only (?:records?|logs?|tracks?|counts?)"
)
# An app that looks like one thing and does another: "looks like a flashlight but secretly
# uploads everyone's contacts", "pretends to be an ad blocker but skims card numbers".
_PRODUCT = (
    r"(?:apps?|apks?|updates?|extensions?|games?|tools?|installers?|plugins?|mods?|bots?|programs?|"
    r"software|utilit\w+|cleaners?|vpns?|antivirus|flashlights?|calculators?|blockers?|finders?|"
    r"readers?|players?|editors?|viewers?|launchers?|keyboards?|wallpapers?|widgets?|cheats?|"
    r"hacks?|cracks?|keygens?|drivers?|codecs?|browsers?|messengers?|wallets?|scanners?|boosters?|"
    r"optimi[sz]ers?|downloaders?|converters?|generators?|pdfs?|documents?|invoices?|login|"
    r"sign-?in|sites?|pages?|portals?)\b"
)
_DISGUISE = (
    r"(?:(?:looks? (?:exactly |just )?like|pretend(?:s|ing)? to be|disguis\w* (?:it |itself )?as|"
    r"pos(?:es|ing) as|masquerad\w* as|pass(?:es|ing)? (?:itself )?off as|appears? to be) "
    rf"(?:[\w'-]++ ){{0,4}}?{_PRODUCT}|(?:fake|trojani[sz]ed|backdoored) (?:[\w-]++ )?(?:apps?|"
    r"games?|updates?|installers?|mods?|extensions?|plugins?|cracks?|cheats?)\b)"
)
_LOOT = (
    r"(?:contacts|sms|texts|messages|photos|pictures|passwords?|credentials|logins?|cookies|tokens|"
    r"(?:credit )?card (?:numbers|details|data)|credit cards?|bank\w* (?:details|info|logins?)|"
    r"keystrokes|locations?|call logs?|browsing history|wallets?|seed phrases?|e-?mails|files|"
    r"documents)\b"
)
# What a disguised app takes, said plainly ("and forwards incoming SMS codes to me").
_TAKES = (
    r"(?:upload|send|steal|skim|exfiltrat|harvest|collect|grab|forward|record|log|read|cop(?:y|"
    rf"ies)|scrap|siphon|intercept)\w*{_near(60)}(?:{_LOOT}|sms codes|2fa codes|otps?)"
)
_SOMEONE_ELSES_DATA = (
    r"(?:the users?'?s?|users'|everyone'?s?|other people'?s?|people'?s?|victims?'?s?|visitors'?|"
    r"customers'?|players'?|whoever|anyone)\b"
)
_SECRETLY_TAKES = (
    r"(?:(?:secretly|silently|covertly|quietly|actually|really|in the background|behind the "
    r"scenes|but)\W+(?:\w++ ){0,2}(?:upload|send|steal|skim|exfiltrat|harvest|collect|grab|"
    r"forward|record|log|read|copy|copies|scrap|siphon)\w*|steal\w*|skim\w*|exfiltrat\w*|siphon\w*|"
    rf"harvest\w*){_near(60)}{_LOOT}|(?:secretly|silently|covertly|quietly|actually|really|"
    r"but)\W+(?:\w++ ){0,2}(?:mines?|install\w*|encrypt\w*|wipe\w*|joins? a botnet|"
    r"opens? a (?:reverse )?shell|downloads? (?:and runs? )?(?:a |an |my )?(?:payload|exe))\b"
)
# Lures that get people to run it: fake cheats, cracked software, "free robux".
_LURE = (
    r"(?:fake|free|cracked|pirated) (?:[\w'-]++ ){0,2}?(?:cheats?|hacks?|cracks?|keygens?|"
    r"updates?|installers?|mods?|robux|v-?bucks|nitro|photoshop|games?|software|downloads?|apps?|"
    r"links?|torrents?|versions?|copies|builds?)\b|(?:cheats?|hacks?|cracks?|keygens?|torrents?|"
    r"mods?) (?:for|of) (?:[\w'-]++ ){0,2}?(?:games?|software|apps?)"
)
_RUNS_IT = (
    r"(?:so|and|then|until|when|once) (?:people|they|users?|victims?|kids|players|everyone|he|she|"
    r"folks|anyone) (?:\w++ )?(?:run|runs|install|installs|download|downloads|open|opens|execute|"
    r"executes|click|clicks|launch|launches)\b|(?:mine|run|install|drop|deploy|put|"
    r"load)\w* (?:\w++ ){0,3}?on (?:the |their |people's |players?'s? |players' |users?'s? |"
    r"users' |everyone's |victims?'s? )(?:[\w'-]+ )?(?:pcs?|computers?|machines?|devices?|phones?)"
)
# Spreading malware: "spread my stealer through youtube", "get people to download my RAT".
_SPREAD = (
    r"(?:spread|distribut|seed|push|deliver|propagat|bundl|bind|hid|embed|sneak|inject|pack|plant|"
    r"disguis|get (?:people|users|victims|them|kids|players|everyone|him|her|someone) to "
    r"(?:download|run|install|open|execute|click))\w*"
)
# What malicious software does to other people's machines; after an ask or a delivery it names
# malware even when no word such as "malware" is used.
_MALWARE_DOES = (
    # spreads by itself
    r"(?:(?:spread|propagat|replicat|cop(?:y|ie))\w* itself\b|spreads? (?:over|through|via|across|"
    rf"to|into)\b{_NEAR}(?:every|all|other|any|each|nearby|neighbou?ring)\b(?: \w+)? (?:machines?|"
    r"computers?|hosts?|pcs?|devices?|contacts|drives|shares|systems|endpoints|servers|"
    r"networks?)\b|spreads? from (?:one|a|each) (?:\w+ ){0,2}(?:phones?|devices?|machines?|"
    r"computers?|pcs?|hosts?) to (?:another|the next|others)|sends? (?:\w+ ){0,2}(?:sms|texts|"
    r"messages) to premium|premium[- ]rate (?:sms|numbers|texts)|"
    # hides from security products
    rf"{_EVADE_AV}|(?:signature )?scanners? miss\b|"
    # takes other people's secrets
    rf"(?:steal|exfiltrat|siphon|harvest|skim)\w*{_near(40)}{_CREDENTIALS}|\b(?:people|victims?|"
    rf"other people|everyone|strangers|visitors)'s? (?:[\w-]+ )?{_CREDENTIALS}|(?:grab|dump|"
    rf"collect|scrap|read|copy|copies)\w*{_near(40)}{_CREDENTIALS}{_near(60)}(?:send|upload|post|"
    r"forward|exfiltrat|e-?mail)\w* (?:\w++ ){0,3}?(?:to (?:me|my|your|a remote|an external|"
    r"the attacker'?s?|some)\b|somewhere|elsewhere)|"
    # holds files for ransom
    rf"(?:lock|encrypt|scrambl)\w*{_near(40)}(?:files|drives?|disks?|data|computers?|pcs?|"
    rf"documents){_NEAR}(?:until|unless) (?:\w+ ){{0,2}}pays?\b|"
    rf"encrypt\w*{_near(40)}(?:files|drives?|disks?|shares|documents|backups|everything|servers?|"
    rf"computers?|machines?){_NEAR}(?:ransom\w*|bitcoin|btc|monero|xmr|demand\w*|payment|money|"
    r"pay (?:up|to (?:decrypt|unlock|get)))\b|"
    # destroys machines
    rf"{_DESTROY}{_NEAR}(?:every|all|each|any|victims?|targets?|it reaches|it infects|"
    r"won't (?:start|boot)|can't (?:start|boot)|unbootable)\b|"
    # a document that fetches and runs a program unseen: the classic malicious macro
    r"(?:macros?|documents?|docs?|attachments?|pdfs?|lnk|shortcuts?)\b"
    rf"{_near(60)}(?:silently|quietly|secretly|covertly|in the background)(?: \w+)? (?:downloads?|"
    r"fetch\w*|pulls?(?: down)?|drops?|grabs?|gets?)(?: and| then) (?:runs?|execut\w*|launch\w*|"
    r"install\w*|start\w*)|"
    # switches off the defences, then does its work
    r"(?:disabl|turn\w* off|kill|stop|uninstall|"
    rf"tamper\w* with)\w* (?:\w++ ){{0,2}}{_AV}\b(?: [^.?!]{{0,60}}?)? (?:(?:download|install|run|"
    r"execut|drop|inject|load|launch)\w* (?:\w++ ){0,3}?(?:payload\S*|[\w-]+·exe|exe|binar\w+|"
    r"shellcode|dll|implants?|miners?|from (?:my|a remote|the c2))|encrypt\w*|steal\w*|spread\w*)|"
    # plants a payload, a miner or a backdoor on a victim
    r"(?:hidden|malicious|second[- ]stage|next[- ]stage|stage[- ]?(?:two|2)|obfuscated) payloads?|"
    r"(?:drops?|installs?|runs?|deploys?) (?:a |an )?(?:hidden |silent )?(?:crypto ?)?miner\b|"
    r"(?:when|as soon as|once|after|whenever) (?:the |a )?(?:victim|target|mark)s? (?:opens|"
    r"enables|clicks|runs|installs|visits|downloads|plugs|logs)|on (?:the )?(?:victims?'?s?|"
    r"targets?'?s?) (?:machines?|computers?|pcs?|devices?|systems?|phones?|networks?|drives?|"
    r"browsers?)|(?:drop|deploy|install|push)\w* (?:it|them|\w+) on (?:the |my |our )?targets\b|"
    # injects into other processes
    r"inject\w* (?:\w++ ){0,2}into (?:a |an |the )?(?:trusted|legitimate|remote|another|other|"
    r"running|signed|system|explorer|svchost|lsass|winlogon)\b|inject\w* shellcode|"
    r"shellcode (?:loader|runner|injector)|process (?:hollowing|doppelg\w+))"
)
_ATTACK = (
    r"(?:exploit\w*|hack\w*|reverse shell|pwn\w*|break into|brute[- ]?forc\w*|ddos\w*|deface\w*|"
    r"take (?:it |them )?down|taking (?:it |them )?down|knock\w* (?:\w+ ){0,3}(?:offline|down)|"
    r"flood\w*|compromis\w*|take (?:it|them|\w+) down|backdoor\w*|crack\w* (?:the |their |"
    r"its )?(?:password|wi-?fi|account))"
)
_UNAUTHORISED = (
    r"(?:(?:a|some|this|that|random) (?:company|business|bank|school|government|organi[sz]ation|"
    r"site|website)'s (?:[\w-]+ )?(?:servers?|site|website|network|systems?)|(?:found|picked|"
    r"saw) (?:\w+ )?on shodan|(?:a list of|these|those|other people's|random|many|multiple|\d+) "
    r"(?:usernames|accounts|emails|users|people's accounts)|"
    r"(?:my )?(?:school|rival|ex|teacher|competitor|boss|neighbou?r|enemy|ex-\w+|old job)'s "
    r"(?:[\w-]+ )?(?:website|site|server|network|wi-?fi|router|game server|servers|api)|"
    r"(?:i|we) (?:don't|do not) own|(?:isn't|is not|aren't|are not) (?:mine|ours)|"
    r"without (?:the owner'?s?|their|its owner'?s?|any)? ?(?:permission|authori[sz]ation|consent)|"
    r"(?:i'm|i am|we're|we are) not authori[sz]ed|someone else's (?:server|site|website|network|"
    r"system|router|wi-?fi|account|computer|machine))"
)
_DEFENCE = (
    r"detect\w*|monitor\w*|alert\w*|prevent\w*|block\w*|protect\w*|defen[cd]\w*|audit\w*|"
    r"log(?:s|ged|ging)?|report\w*|explain\w*|history"
)

# Asking for malware: any ask, or how one would make or plant it ("how would one infect a USB
# firmware so it installs a backdoor"; not "how can I tell if there's a keylogger").
_MALWARE_ASK = (
    rf"(?:{_ACT}|how (?:would|could|might|can|do|does|should|to) (?:one |someone |somebody |"
    r"a person |you |i |we |a hacker |a script |a program )?(?=(?:make|write|build|create|code|"
    r"infect|deploy|install|spread|plant|craft|develop|program|grab|steal|lock|encrypt)\b))"
)
# Words that make a sentence about malware an explanation or defence, whatever else it says.
_MALWARE_STUDY = (
    r"detect\w*|monitor\w*|alert\w*|prevent\w*|protect\w*|defen[cd](?!er)\w*|audit\w*|report\w*|"
    r"explain\w*|history|typically|usually|often|sigma|yara|rules?|tabletop|simulat\w*|exercises?|"
    r"how (?:do|does|did|can|could) (?:it|they|attackers?|hackers?|criminals?|malware|ransomware|"
    r"worms?|viruses|trojans?|botnets?|stealers?|wipers?|these|such)|why|attackers?|criminals?|"
    r"gangs?|threat actors?|researchers?|analy[sz]\w*|recover\w*|repair\w*|restor\w*|my own|"
    r"our own"
)
_BOMB = (
    r"(?=bombs?\b)(?<!photo)(?<!photo-)(?<!photo )(?<!zip )(?<!fork )(?<!bath )(?<!seed )"
    r"(?<!stink )(?<!water )(?<!glitter )(?<!logic )(?<!f-)(?<!love )(?<!cherry )(?<!xml )"
    r"(?<!smoke )(?<!confetti )(?<!paint )(?<!color )(?<!colour )bombs?\b(?![- ]?(?:defus\w*|"
    r"disposal|squad|shelter|threats?|calorimet\w*|proof|scares?|sniff\w*|detect\w*|drills?|"
    r"effects?|emojis?|animations?|icons?|sprites?|sounds?))"
)
# A firearm, by name or by calibre ("9mm", ".22").
_GUN = (
    r"(?:guns?|rifles?|pistols?|handguns?|firearms?|shotguns?|revolvers?|ar-?15s?|ar|ak-?47s?|ak|"
    r"glocks?|\d+ ?mm|·\d{2,3}|\d{2,3} ?cal\w*|calibre|caliber)"
)
# Weapons nobody needs code or instructions for except to cause mass harm.
_WEAPON = (
    r"(?:(?:pipe|car|nail|pressure[- ]cooker|dirty|fertili[sz]er|ammonium nitrate|ammonia|anfo|"
    r"tnt|dynamite|c-?4|chemical|acid|chlorine|gas|letter|parcel|package|mail|truck|van|shrapnel|"
    r"fragmentation|homemade|home-made|diy|improvised|real|working|functional|live) bombs?|"
    # improvised and unmarked firearms
    r"zip guns?|pipe (?:guns?|shotguns?|pistols?)|slam[- ]?fire (?:shotguns?|guns?)|(?:homemade|"
    r"home-made|improvised|diy|makeshift|3d[- ]printed|printed) (?:guns?|firearms?|pistols?|"
    r"rifles?|shotguns?|smgs?|submachine guns?|machine ?guns?|suppressors?|silencers?|"
    r"receivers?|lowers?|frames?|auto sears?|switch\w*)(?! (?:props?|replicas?|models?|toys?))|"
    # plastic explosive by amount, not the C4 software diagram
    r"(?:how much|amount of|pounds? of|lbs? of|kg of|kilos? of|grams? of|blocks? of|bricks? of|"
    r"sticks? of|charges? of|enough) c-?4|c-?4 (?:explosives?|charges?|bricks?|blocks?)|"
    # a gun that fires, made from what is at hand
    r"(?=(?:guns?|shotguns?|pistols?|rifles?|"
    r"firearms?) )(?<!nerf )(?<!toy )(?<!water )(?<!paintball )(?<!airsoft )(?<!glue )(?<!nail )"
    r"(?<!heat )(?<!staple )(?<!spray )(?<!laser )(?<!foam )(?<!bubble )(?<!ray )(?<!squirt )"
    r"(?<!potato )(?:guns?|shotguns?|pistols?|rifles?|firearms?) (?:(?:that|which) (?:actually |"
    r"really |can |will )?(?:fires?|shoots?)|(?:from|out of|using|with) (?:a |an |"
    r"some )?(?:[\w-]+ ){0,2}?(?:pipes?|plumbing|steel|tubing|hardware|scrap|household|nails?|"
    r"parts))|plastic explosives?|(?:homemade|home-made|improvised|diy) explosives?|"
    r"(?:full[- ]?auto|fully[- ]automatic|select[- ]fire|"
    r"machine ?gun) (?:[\w-]+ )?(?:conversions?|conversion kits?|kits?|switch\w*|sears?|parts)|"
    r"(?:solvent traps?|oil filters?|fuel filters?)(?: kits?)? (?:into|to|as|so (?:it|"
    r"they) (?:works?|functions?) as) (?:a |an )?(?:[\w-]+ )?(?:suppressors?|silencers?)|"
    r"suicide (?:vests?|belts?)|(?:improvised )?explosive devices?|ieds?|detonators?|"
    r"blasting caps?|tatp|hmtd|rdx|petn|semtex|anfo|molotovs?(?: cocktails?)?|napalm|"
    r"nerve agents?|sarin|soman|tabun|vx (?:gas|nerve agent)|novichok|mustard gas|phosgene|ricin|"
    r"abrin|botulinum(?: toxin)?|anthrax|bioweapons?|biological weapons?|chemical weapons?|"
    r"(?:nuclear|atomic|radiological) (?:weapons?|bombs?|devices?)|(?:weapons?|"
    r"bomb)[- ]grade (?:uranium|plutonium)|ghost guns?|(?:drop[- ]in )?auto sears?|"
    r"lightning links?|glock switch\w*|(?:homemade|improvised|real|working|live|"
    r"frag\w*) grenades?|untraceable (?:guns?|firearms?|pistols?|rifles?|handguns?)|"
    rf"{_GUN} (?:suppressors?|silencers?)|(?:suppressors?|silencers?) (?:for|on) (?:(?:a|an|my|the|"
    rf"your) )?(?:[\w-]++ )?{_GUN}|(?:oil filter|solvent trap)s? (?:suppressors?|silencers?)|"
    r"(?:suppressors?|silencers?) (?:from|out of|using|with) (?:(?:a|an|the) )?(?:oil filter|"
    r"solvent trap)s?)\b"
)
# Words that name a weapon only when something is physically made from them.
_WEAPON_MATERIAL = (
    rf"(?:{_BOMB}|explosives?\b|explosive (?:charges?|devices?|vests?)|nitroglycerin|thermite|"
    r"gunpowder|black powder|flash powder|dynamite|tnt)"
)
# Making the weapons above (narrower than _PHYSICAL: "print the list of nerve agents" is not).
_MAKE_AGENT = (
    r"(?:make|making|build|building|assembl\w*|construct\w*|produce|producing|manufactur\w*|"
    r"synthesi[sz]\w*|cook|cooking|culture|culturing|cultivat\w*|grow|growing|extract|"
    r"extracting|enrich|enriching|refine|refining|weaponi[sz]\w*|brew|brewing|mix up|whip up|"
    r"recipe for|formula for|ingredients for|3d[- ]print\w*|turn|convert\w*|drill\w*|modif\w*)"
)
_PHYSICAL = (
    r"(?:make|making|build|building|assemble|construct|produce|manufactur\w*|synthesi[sz]\w*|cook|"
    r"mix|combine|culture|cultivate|grow|extract|enrich|refine|weaponi[sz]e|rig|wire up|detonate|"
    r"set off|3d[- ]print|print|turn (?:[\w-]++ ){1,4}into|recipe for|formula for|ingredients for)"
)
_GAME = (
    r"games?|minigames?|gameplay|players?|sprites?|levels|level(?! (?:a|an|the|his|her|their|that|"
    r"this|my|entire|whole)\b)|unity|godot|roblox|unreal|pygame|npcs?|enemy|enemies|boss|"
    r"power-?ups?|roguelike|shooter|fps|simulat\w*|history|historical|museum|treaty|drills?|"
    r"training|statistics|novel|movie|"
    # game names and mechanics: a bomb on a board of cells is a game piece
    r"minesweeper|bomberman|tetris|minecraft|fortnite|terraria|counter-?strike|cs:?go|valorant|"
    r"call of duty|left 4 dead|l4d|worms|first click|spawn\w*|respawn\w*|hitbox\w*|puzzles?|"
    r"arcade|rpg|mmo\w*|crafting|quests?|modding|loot|dungeons?|tabletop|xp|health ?bar|"
    r"cutscenes?|particle effects?|"
    # what happened then, not how to do it now
    r"how did|documentar\w*"
)
# Harm to many, where the weapon itself may go unnamed ("poison the water supply").
_HARM = (
    r"(?:(?:release|spread|disperse|spray|set|detonate|drop|fly|crash|plant|put|pour|slip|use|"
    r"throw|aerosoli[sz]e|launch|deploy|hide)\w* (?:it |them |off |[\w-]+ ){0,2}(?:in|into|on|"
    r"over|at|through|inside|near|onto|among) (?:(?:a|an|the|his|her|their|someone's|some|my|our|"
    r"your) )?(?:[\w-]+'s )?(?:crowd\w*|subway|metro|station|concert|stadium|school|mall|church|"
    r"mosque|synagogue|temple|festival|parade|rally|protests?|march|demonstrations?|vigils?|"
    r"building|city|water supply|reservoir|people|public|food|drink|coffee|tea|meal|air ?vents?|"
    r"ventilation)|to (?:kill|hurt|maim|poison|injure|harm|gas|sicken|incapacitate|blind|"
    r"burn) (?:as many|(?:(?:the|a|some|all|those|these|my|his|her|their|every|several|many|"
    r"lots of) )?(?:[\w-]+ )?(?:people|persons?|everyone|everybody|someone|somebody|him|her|them|"
    r"civilians|kids|children|students|neighbou?rs?|family|coworkers|classmates|crowds?|guests|"
    r"passengers|occupants|residents|inmates|officers|cops|police|soldiers|worshippers|customers|"
    r"shoppers|fans|attendees|audience))|(?:use|throw|spray|pour|"
    r"splash)\w* (?:\w+ ){0,2}?on (?:(?:my|his|her|their|the|a) )?(?:[\w-]+ )?(?:people|humans|"
    rf"civilians|crowds?|someone|somebody|him|her|them|kids|students|{_RELATION})\b(?!')|(?:knock|"
    r"put) (?:someone|somebody|him|her|them|people|a person|(?:my|his|her) [\w-]+) (?:out|"
    r"unconscious|to sleep)|(?:start|cause) (?:a|an) (?:pandemic|epidemic|outbreak)|"
    r"mass casualt\w+|maximum (?:casualties|damage|deaths|spread|harm)|as many (?:people|"
    r"casualties) as possible|into (?:an? )?aerosol|aerosoli[sz]\w* (?:it|them)|"
    r"poison\w* (?:(?:the|a|our|their|his|her|my [\w-]+'s) )?(?:[\w-]+ )?(?:water supply|"
    r"reservoir|wells?|food supply|punch bowl)|(?:put|slip|add|mix)\w* (?:\w+ ){0,2}?(?:in|"
    r"into) (?:his|her|their|its|my [\w-]+'s|someone's|the) (?:[\w-]+ )?(?:food|drink|coffee|tea|"
    r"meal|water|wine|beer|bottle)\b|(?:for|against) (?:a|an|the|my|our|his|her|"
    r"their) (?:[\w-]+ )?(?:school|church|mosque|synagogue|temple|concert|stadium|mall|crowd|"
    r"parade|rally|festival|subway|station|courthouse|police station|government building)|"
    # destroying a place or a vehicle: "bring down a small building", "take out a car"
    r"(?:bring|knock) down (?:(?:a|an|the|that|this|his|her|their) )?(?:[\w-]+ ){0,2}?(?:building|"
    r"bridge|house|tower|plane|aircraft|wall|structure|office|block)|blow (?:up|open|out) "
    r"(?:a|an|the|his|her|their|that|this|my [\w-]+'s) \w+|take out (?:a|an|the|his|her|their|"
    r"that|this) (?:[\w-]+ )?(?:car|truck|building|house|bridge|crowd|target|vehicle|convoy|tank|"
    r"door|wall|power (?:station|grid)|substation|transformer)|(?:destroy|level|flatten|demolish|"
    r"wreck|blow apart) (?:a|an|the|his|her|their|that|this|my [\w-]+'s) (?:[\w-]+ )?(?:car|truck|"
    r"building|house|bridge|crowd|target|vehicle|convoy|tank|"
    r"door|wall|power (?:station|grid)|substation|transformer)|breach\w* (?:(?:the|a|an|his|her|"
    r"their|that) )?(?:[\w'-]+ ){0,2}?(?:door|wall|gate|vault|safe)|(?:burn|melt)\w* (?:through|"
    r"into) (?:(?:a|an|the|his|her|their|my [\w-]+'s|someone's) )?(?:[\w'-]+ ){0,2}?(?:car|"
    r"engine|door|safe|lock|vault|atm|wall|engine block))"
)
_AGENT = (
    rf"(?:{_WEAPON}|{_WEAPON_MATERIAL}|(?:toxic|poison|chlorine|nerve|mustard) gas|charges?\b|"
    r"c-?4\b|fertili[sz]er|ammonium nitrate|chloroform|ether|rohypnol|roofies|sedatives?|"
    r"tranquili[sz]ers?|flamethrowers?|incendiar\w*|acid\b|agents?\b|pathogens?|cultures?\b|"
    r"virus\w*|bacteri\w*|spores|toxins?|poison\w*|chemicals?|"
    r"drones?)"
)
_FIREARM = (
    r"(?:guns?|handguns?|pistols?|rifles?|firearms?|revolvers?|shotguns?|ar-?15s?|ak-?47s?|glocks?|"
    r"lower receivers?|80% lowers?|(?:ar|ak|pistol|glock|rifle|gun)[- ]?(?:lowers?|receivers?|"
    r"frames?)|suppressors?|silencers?)\b"
)
_SERIAL_GONE = (
    r"(?:remov|grind|grinding|fil|scrub|eras|obliterat|drill|defac|sand)\w* (?:off |out |away )?"
    r"(?:the |its |their )?serial(?: numbers?)?"
)
_NO_CHECK = (
    r"(?:(?:no|without (?:[\w-]++ ){0,3}?|skip\w* (?:the )?|avoid\w* (?:the )?|bypass\w* "
    r"(?:the )?|get\w* around (?:the )?|dodg\w* (?:the )?|evad\w* (?:the )?)(?:(?:a|an|any|the) )?"
    r"(?:nics |federal |required |usual )?(?:background checks?|nics checks?|(?:atf )?(?:form )?"
    r"4473s?)|unserial\w*|untraceable)"
)
# Someone the law bars from buying a gun, and buying one for someone else (a straw purchase).
_PROHIBITED = (
    r"(?:felon(?:y|ies|s)?|criminal record|(?:a|my) record|convictions?|convicted|restraining "
    r"order|protective order|domestic (?:violence|assault|battery)|prohibited (?:person|"
    r"possessor)|on (?:probation|parole)|(?:can't|cannot|can not|won't|wouldn't|couldn't) "
    r"(?:legally )?(?:pass|clear|get through) (?:a |the )?(?:background )?checks?|(?:banned|barred|"
    r"not allowed|prohibited|disqualified) from (?:owning|buying|having|possessing|purchasing)|"
    r"i'm (?:1[0-7]|under 18|under 21|underage|too young)|failed (?:a |the |my )?(?:background |"
    r"nics )?checks?|(?:was|got|been|were) (?:denied|rejected) (?:by |at )?(?:nics|the "
    r"(?:background check|gun store|dealer)))"
)
_UNTRACEABLE = (
    r"(?:untraceable|unserial\w*|no serial(?: numbers?)?|without (?:\w+ ){0,2}?(?:a |"
    rf"any )?serial(?: numbers?)?|{_SERIAL_GONE}|never engrave a serial|(?:no|without (?:a |any )?|"
    r"skip\w* (?:the )?|avoid\w* (?:the )?|bypass\w* (?:the )?|"
    r"get around (?:the )?)background checks?|unregistered|off[- ]paper|(?:can't|cannot|can not|"
    r"won't) be traced|not traceable|without (?:[\w-]++ ){0,3}?(?:atf |nfa )?(?:paperwork|"
    rf"tax stamps?|form ?[14]s?|registration|registering)|{_NO_CHECK})"
)

_DRUG = (
    # (":meth:" is the Sphinx role for a method, in every Python docstring)
    r"(?:(?<!:)meth(?:amphetamine)?|crystal meth|heroin|fentanyl|carfentanil|nitazenes?|cocaine|"
    r"crack(?= (?:cocaine|rocks?|from (?:coke|cocaine)|out of (?:coke|cocaine)))|lsd|mdma|ecstasy|"
    r"dmt|ghb|gbl|ketamine|psilocybin|magic mushrooms|shrooms|pcp|opium|mephedrone|bath salts|"
    r"krokodil|(?:counterfeit|fake|pressed) (?:pills|xanax|oxy\w*|percocet|adderall)|m30s?)\b"
    # the drug named as the subject of health or data work: "fentanyl test strips", "cocaine
    # seizures", "heroin overdose deaths"
    r"(?![- ](?:test\w*|strips?|overdose\w*|addiction|recovery|treatment|deaths?|statistics|stats|"
    r"data\w*|polic\w*|seizures?|vaccines?|awareness|use disorder|epidemic|crisis))"
)
_PRODUCE = (
    r"(?:synthe(?:si[sz]\w*|sis)|cook\w*|manufactur\w*|produc(?:e|ing)|make|making|extract\w*|"
    r"grow\w*|cultivat\w*|brew\w*|refin\w*|press\w*|cut(?:ting)?|turn|convert\w*|lab for|"
    r"precursors? (?:for|to make)|recipe for|route (?:for|to)|ingredients for|(?:method|process|"
    r"procedure|technique)s? (?:for|of))"
)
# Street names, which count only where the trade around them is plain ("dead drops", "stealth
# shipping", "on the darknet"): on their own they are also a soft drink and a garden weed.
_DRUG_SLANG = (
    r"(?:coke|blow|molly|mandy|weed|kush|xans|xannies|xanax|percs|percocets?|oxys?|roxys|fent|"
    r"smack|crank|ket|shrooms|pills|xtc|tabs|acid|grow[- ]?ops?|grow ?house)\b"
)
_TRADE_STRONG = (
    r"(?:dead[- ]?drops?|stealth[- ]?(?:ship\w*|pack\w*|mail\w*|deliver\w*)|darknet|dark ?web|dnm|"
    r"vendor (?:shops?|pages?|accounts?)|on the street|street (?:price|level|corner)s?|per gram|"
    r"by the gram|(?:an? )?(?:eight|8)[- ]?balls?|re-?up\w*|my plug|trap (?:house|phone)|"
    r"burner phones?|launder\w*|without (?:getting )?(?:caught|busted|flagged|noticed)|"
    r"without (?:the )?(?:cops|police|feds|dea|narcs|anyone|my (?:parents|landlord)) (?:knowing|"
    r"noticing|finding out)|so (?:the )?(?:cops|police|feds|dea|narcs|irs|bank) (?:won't|can't|"
    r"don't|doesn't|never|will never)|to (?:(?:other |my )?(?:students|classmates|schoolmates|"
    r"coworkers)|kids|teens|minors|clubgoers|ravers)|at (?:parties|festivals|raves|clubs|school|"
    r"the club)|bitcoin|btc|xmr|monero|crypto (?:checkout|payments?|only)|(?:to|"
    r"for) (?:the )?dealers|(?:won't|don't|doesn't|can't|never|without)(?: get(?:ting)?|"
    r" be(?:ing)?)? (?:flagged|banned|detected|removed|taken down)|(?:\d+ )?(?:kilos?|kgs?|keys|"
    r"bricks|ounces|zips|pounds|lbs|grams) of|sell\w* (?:ounces|grams|eighths|zips|kilos)|"
    r"across (?:state lines|the border|borders)|(?:an?|one|\d+) (?:kilo|key|brick|ounce|zip|pound|"
    r"lb|gram|eighth|quarter|half)s? of|by the (?:pill|gram|ounce|tab|bag|point)|markup|"
    r"profit margin|at (?:my |the )?(?:college|school|uni|university|campus|work|job|dorms?)|"
    r"where (?:it'?s|it is|they're|they are|\w+ is) (?:illegal|not legal|banned))"
)
# Prescription drugs, which are trade when sold without one.
_RX = (
    r"(?:xanax|alprazolam|valium|diazepam|oxycodone|oxycontin|oxys?|percocets?|adderall|ritalin|"
    r"vicodin|hydrocodone|codeine|tramadol|klonopin|benzos?|opioids?|painkillers)\b"
)
# Money from dealing made to look clean.
_LAUNDER = (
    r"(?:launder\w*|(?:run|wash|clean|funnel|push|move|hide|layer|filter|pass)\w* (?:the |my |our |"
    r"all (?:the |my )?|this )?(?:\w+ )?(?:cash|money|proceeds|profits|earnings|income) (?:from|of|"
    r"through|via|into)|(?:fake|front|shell) (?:business\w*|compan\w*|car ?wash\w*|restaurants?|"
    r"laundromats?|invoices?|stores?)|front business\w*|so (?:the )?(?:bank|irs|tax ?man|hmrc|"
    r"feds)\w* (?:doesn't|don't|won't|can't|never|wouldn't) (?:flag|notice|see|ask|report|know|"
    r"find|catch))"
)
_PILLS = (
    r"(?:pills?|tablets?|(?:xanax|xan|benzo|alprazolam) bars|xans|m30s?|oxys|percs|percocets?|"
    r"roxys|blues)\b"
)
_PRECURSOR = (
    r"(?:precursors?|pseudo(?:ephedrine)?|ephedrine|safrole|p2p|phenylacetone|ergotamine|ergot|gbl|"
    r"red phosphorus|anhydrous ammonia|lithium strips|(?:cold|allergy|sinus) (?:pills|tablets|"
    r"medicine))\b"
)
# Materials only a drug cook starts from, and who says "first we take the precursor".
_COOK_CONTEXT = (
    r"(?:pseudo(?:ephedrine)?|ephedrine|safrole|p2p|phenylacetone|ergotamine|ergot|gbl|red "
    r"phosphorus|anhydrous ammonia|lithium strips|jesse|walt(?:er)?|heisenberg|mr white|"
    r"blue (?:meth|stuff|product|crystal|sky))\b"
)
_TRADE = (
    r"(?:sell\w*|deal|dealing|traffic\w*|smuggl\w*|ship\w*|mail\w*|move|push\w*|buy\w*|order\w*|"
    r"source|score|distribut\w*|stock\w*)"
)
_TRADE_CONTEXT = (
    r"(?:to sell|for sale|for resale|resale|on the street|street[- ](?:corner|deal\w*|price|level)|"
    r"orders?|dead[- ]?drops?|escrow|vendors?|buyers?|customers|per gram|kilos?|sales|dealing|"
    r"dealers?|trafficking|market(?:place)?s?|darknet|dark ?web|launder\w*|ads|adverts?|"
    r"advertis\w*|listings?|clients|stash|shipments?|profits?|margins?)\b"
)
_STUDY = (
    r"statistic\w*|stats|data|datasets?|analy[sz]\w*|chart\w*|plot\w*|visuali[sz]\w*|news|"
    # "research chemicals" is what a grey-market shop calls what it sells
    r"headlines?|articles?|research(?! chem)\w*|stud(?:y|ies)|polic(?:y|ies)|seizures?|trivia|"
    r"quiz|history|report\w*|models?|modell?ing|estimat\w*|awareness|prevent\w*|treatment|"
    r"recovery|harm reduction"
)
_CHECKING = r"detect\w*|identif\w*|spot\w*|flag\w*|warn\w*|verif\w*|authenticat\w*|test\w*"
_LAW_EVASION = (
    r"(?:past (?:customs|the border|border (?:control|security|patrol)|airport security|security|"
    r"the dogs|sniffer dogs|drug dogs|x-?rays?|scanners)|without (?:getting |being )?(?:caught|"
    r"flagged|noticed|detected|stopped|searched|tracked|traced)|so (?:customs|the police|police|"
    r"cops|border (?:control|patrol)|nobody|no one|the feds|the dea|the post office|the irs|"
    r"the bank|(?:the )?(?:police |drug |sniffer |k-?9 )?dogs) (?:won't|can't|doesn't|don't|will "
    r"not|never|wouldn't|cannot) (?:notice|find|catch|see|flag|detect|know|suspect|smell|sniff)|"
    r"undetected|without (?:the )?(?:police|customs|the post office|"
    r"anyone) noticing|without a prescription|no prescription)"
)

_MINOR = (
    r"(?:child(?:ren)?(?![- ](?:process\w*|nodes?|elements?|components?|threads?|tasks?|themes?|"
    r"class\w*|tables?|rows?|objects?|windows?|widgets?|views?|routes?|items?|keys?|entit\w+|"
    r"records?|accounts?|spans?|pids?|tabs?))|kids?|minors?(?! (?:version|release|bump|update|"
    r"change|issue|fix|bug|detail|tweak|league))|underage|under-age|pre-?teens?|tweens?|toddlers?|"
    r"infants?|little (?:girls?|boys?)|school ?(?:girls?|boys?)|(?:elementary|primary|middle|"
    r"junior high|high)[- ]school(?:ers?)?|(?:1st|2nd|3rd|[4-9]th|first|second|third|fourth|fifth|"
    r"sixth|seventh|eighth|ninth|tenth) grad(?:e|er)s?|(?:[1-9]|1[0-7])[- ]?(?:years?|"
    r"yrs?)[- ]olds?|(?:[1-9]|1[0-7]) ?yo|aged? (?:[1-9]|1[0-7])|(?:characters?|girls?|boys?|she|"
    r"he|they|both|kids?|protagonists?) (?:is|are|was|were|being) (?:only |just |about |around |"
    r"barely |both )?(?:[1-9]|1[0-7])(?![·\d%:])|(?:you are|you're) (?:only |just )?(?:[1-9]|"
    r"1[0-7])(?![·\d%:])|young (?:girls?|boys?|teens?|child(?:ren)?)|"
    r"teen(?:age|aged)?s?|jailbait|lolita|loli|shota)\b"
)
_SEXUAL = (
    r"(?:sexual\w*|sexy|sext\w*|(?:have|having|had) sex|sex (?:with|story|stories|scenes?|chats?|"
    r"roleplay|acts?|videos?|tapes?|games?)|nudes?|nudity|naked|porn\w*|erotic\w*|lewd\w*|nsfw|"
    r"fetish\w*|orgasm\w*|arous\w*|horny|smut\w*|hentai|steamy|talk(?:ing)? dirty|dirty talk|"
    r"kinky|without (?:any |her |his |their )?clothes|no clothes|unclothed|topless|in (?:her|his|"
    r"their) underwear|(?:naughty|dirty|spicy|x-rated) (?:story|stories|roleplay|rp|chats?|pics|"
    r"photos?|scenes?|texts?|things)|explicit (?:[\w-]++ )?(?:story|stories|fanfic\w*|"
    r"fan ?fiction|content|images?|pictures?|photos?|pics|videos?|scenes?|roleplay|chat|poems?|"
    r"texts?|material|art|drawings?)|intimate (?:photos?|images?|pics|videos?|acts?|scenes?)|"
    r"seduc\w*|undress\w*|molest\w*|grop(?:e|es|ing))\b"
)
# Child-safety work: banning, detecting, reporting, moderating, educating.
_CHILD_SAFETY = (
    r"ban\w*|prohibit\w*|forbid\w*|polic(?:y|ies)|report\w*|detect\w*|moderat\w*|block\w*|"
    r"prevent\w*|protect\w*|flag\w*|remov\w*|takedown|classif\w*|hash\w*|photodna|ncmec|"
    r"cybertip\w*|safeguard\w*|law enforcement|police|grooming|educat\w*|sex[- ]ed\w*|curriculum|"
    r"puberty|awareness|survivors?|therap\w*|counsel\w*|trust[- ]and[- ]safety|coppa|"
    r"age[- ]verif\w*|health|research|survey|statistics|filter\w*|refus\w*|"
    r"age[- ]?(?:gat|check|restrict)\w*|parental|restrict\w*|safe ?search|appropriate|"
    r"inappropriate|worried|concerned|parenting|talk (?:to|with) (?:him|her|them|my \w+) about"
)
_ABUSE_MATERIAL = (
    r"(?:csam|child (?:sexual )?(?:abuse|exploitation) (?:material|images?|videos?|content|photos?|"
    r"pics)|child porn\w*|kiddie porn\w*|pedo(?:phile)? (?:porn\w*|content|material|videos?|pics|"
    r"images?|links?)|jailbait (?:pics|photos?|videos?|images?)|cp (?:links?|videos?|pics?|"
    r"folders?|collections?|content|material|sites?|groups?|channels?|archives?|packs?|stash)|"
    # "cp" alone is also the copy command; as the last word of a request to find or get it
    # ("where can I find CP", "links to cp pls"), it is the material
    r"cp(?= ?(?:[.?!]|$)| (?:pls|please|online|on (?:tor|telegram|discord|the dark ?web))\b))\b"
)

# ------------------------------------------------------------------------------ the rules
#
# The first rule that matches decides the category. Surveillance comes before malware, so that
# a keylogger for one named person is surveillance and one for "victims" is malware.

DEFAULT_RULES: tuple[Rule, ...] = (
    # --- csam: any sexualisation of a minor, unless the sentence is child-safety work
    rule(Category.csam, "sexual-minor", _sentence(_has(_SEXUAL, _MINOR, unless=_CHILD_SAFETY))),
    rule(
        Category.csam,
        "minor-partner",
        _sentence(
            _has(
                _MINOR,
                r"(?:your|my) (?:[\w-]+ ){0,3}?(?:girlfriend|boyfriend|lover|wife|husband|date)\b",
                r"(?:roleplay|role-play|rp|pretend|act|play)\w*",
                unless=_CHILD_SAFETY,
            )
        ),
    ),
    rule(
        Category.csam,
        "seek-material",
        _asking(
            _ABUSE_MATERIAL,
            r"(?:download|find|get|buy|access|watch|view|share|trade|sell|send|collect|links? to)",
        ),
    ),
    # --- surveillance: a specific person, watched without their knowledge or consent
    rule(
        Category.surveillance,
        "covert",
        _sentence(_has(_COVERT, _TARGET, rf"{_SPY}\b", unless=_CONSENT))
        + rf"|\b(?:spy|spying|snoop\w*|stalk|stalking|eavesdrop\w*)(?: on| into)? {_TARGET}",
    ),
    rule(
        Category.surveillance,
        "plant-device",
        rf"\b{_SPY_TOOL}{_NEAR}(?:on|onto|in|into|inside|under|to) (?:{_TARGET}|her|his) "
        rf"(?:[\w-]++ )?{_DEVICE}\b",
    ),
    rule(
        Category.surveillance,
        "intercept",
        r"\b(?:clon\w*|intercept\w*|sniff\w*|captur\w* everything|cop(?:y|ies) of (?:all|every)\w*|"
        rf"sim[- ]swap\w*|spoof\w*){_NEAR}{_TARGET} (?:[\w-]++ ){{0,2}}(?:sim|phone|texts|messages|"
        r"sms|calls|e-?mails?|whatsapp|chats|dms|traffic|inbox|voicemails?|icloud|sends)\b",
    ),
    rule(
        Category.surveillance,
        "stalk",
        _sentence(_has(_STALK, r"(?:she|he|her|him|his)\b", unless=_CONSENT)),
    ),
    rule(
        Category.surveillance,
        "locate",
        _sentence(
            _has(
                rf"{_FIND}\b{_near(40)}{_WHERE_THEY_ARE}|{_WHICH_PLACE}|(?:what's|whats|what is) "
                rf"{_WHOSE} (?:(?:home|current|new|real|exact|street) )?(?:address|location|"
                r"whereabouts)",
                unless=rf"{_CONSENT}|{_FICTION}|my own|lost|shipping|deliver\w*|customers?|users?|"
                r"database|forms?|api|geocod\w*|crm|reconnect\w*|lost touch|reunit\w*|invit\w*|"
                r"wedding|funeral",
            ),
            # "I need to find my ex" where she moved
            _has(
                r"(?:find|locate|track\w* down|hunt\w* down)\w* (?:my|your) (?:[\w-]+ )?(?:ex|"
                r"girlfriend|boyfriend|wife|husband|ex-\w+|crush)\b",
                r"(?:address|lives?|moved|location|where|house|apartment|flat)\b",
                unless=rf"{_CONSENT}|{_FICTION}|profile|account|on (?:instagram|facebook|tiktok|"
                r"linkedin|twitter)",
            ),
            _has(
                _GEOLOCATED,
                r"(?:she|he|they) (?:\w++ ){0,2}?(?:lives?|is living|is staying|stays|sleeps|"
                r"works) (?:in|at|on|near|by|around)\b",
                unless=rf"{_CONSENT}|{_FICTION}",
            ),
        ),
    ),
    rule(
        Category.surveillance,
        "account-access",
        _sentence(
            _has(
                r"(?:(?:(?:get|getting|got|break|breaking|broke|log|logging|hack|hacking|sneak|"
                r"sneaking|login)(?: my way)? in(?:to)?|hack\w*|crack\w*|guess\w*|bypass\w*|"
                rf"brute[- ]?forc\w*) {_OWNER}|(?:access\w*|unlock\w*|listen\w* (?:to|in on)|"
                r"intercept|mirror|forward|record) (?:my|your) (?:(?:ex|former|current|new|adult|"
                rf"best|older|younger) )?{_PEER}(?:'s|s')) (?:[\w-]++ ){{0,2}}?{_ACCOUNT}|"
                # reading, which is only prying where what is read is private
                r"(?:open|read|go through|look through|see|view|check|monitor) (?:(?:my|your) "
                rf"(?:[\w-]+ )?{_PEER}(?:'s|s')|some(?:one|body)(?: else)?'s|another person's|"
                r"other people's) (?:[\w-]++ ){0,2}?(?:messages|texts|dms|imessages?|e-?mails|"
                r"inbox|calls|voicemails?|chats|whatsapp|sms|conversations|browsing|search history|"
                r"call logs?)\b",
                unless=rf"{_CONSENT}|forgot|locked out|recover\w*|asked me|passed away|died|"
                r"deceased|estate|for (?:her|him)|(?:she|he) (?:wants|asked|needs)|we share|"
                r"shared|family sharing|find my|life360",
            )
        ),
    ),
    rule(
        Category.surveillance,
        "partner-device",
        _sentence(
            # reading a partner's messages: "who my girlfriend is texting ... read her messages"
            _has(
                rf"(?:my|your) (?:[\w-]+ )?{_PEER}\b",
                r"(?:read|see|check|go through|look at|look through|access|view|"
                r"open)\w* (?:all )?(?:her|his) (?:private |personal |text |whatsapp |instagram |"
                r"facebook )?(?:messages|texts|dms|chats|e-?mails|inbox|call logs?|"
                r"browsing history|search history|photos)",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # installing something on a partner's device that watches
            _has(
                r"(?:install|put|load|sideload|plant|add)\w* (?:[\w'-]++ ){0,4}?(?:on|onto|in|"
                rf"into) (?:my|your) (?:[\w-]+ )?{_PEER}(?:'s|s') (?:[\w-]+ )?{_DEVICE}",
                r"(?:records?|logs?|tracks?|sends?|forwards?|monitors?|captures?|uploads?|see|"
                r"shows? me|mirrors?|copies)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # the camera or microphone of a partner's device
            _has(
                r"(?:camera|webcam|cam|mic(?:rophone)?|screen|keyboard) (?:on|of|in|from) (?:my|"
                rf"your) (?:[\w-]+ )?{_PEER}(?:'s|s') (?:[\w-]+ )?{_DEVICE}",
                r"(?:turn\w* on|activat|enabl|access|watch|remote\w*|see|view|record|stream|spy|"
                r"listen)\w*",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # who a partner talks to, or the codes sent to a partner's number
            _has(
                r"(?:see|know|find out|check|figure out|tell me) (?:who|what) (?:my|your) "
                rf"(?:[\w-]+ )?{_PEER} (?:is |has been )?(?:messaging|texting|talking to|"
                r"chatting with|calling|dming|sleeping with|seeing|dating|emailing)|(?:get|"
                r"receive|intercept|see|read)\w* (?:her|his|their|my [\w-]+'s) (?:2fa|sms|"
                r"verification|otp|one-time|login|security) codes?",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # "get all his texts sent to my phone"
            _has(
                r"(?:get|have|make)\w* (?:all |every |a copy of )?(?:her|his) (?:\w+ )?(?:texts|"
                r"messages|calls|e-?mails|dms|chats|notifications|photos|location|sms)\w* (?:sent|"
                r"forwarded|copied|mirrored|delivered|redirected|going) to (?:me|my)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # everything a partner posts: "tracks every like and comment my ex makes"
            _has(
                rf"(?:my|your) (?:[\w-]+ )?{_PEER}\b",
                r"(?:track|monitor|log|record|watch|scrap|alert|notif|check|text|ping|tell)\w*",
                r"(?:every|each|all|whenever|any time|anytime|the moment)\b",
                r"(?:likes?|comments?|posts?|story|stories|follows?|followers|check-?ins?|activity|"
                r"online|logs? in|messages|tweets?|status|location)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # a link that reports where the person who opens it is
            _has(
                r"(?:links?|urls?|pages?|bots?|images?|pixels?)\b",
                r"(?:logs?|grabs?|captures?|gets?|collects?|records?|"
                r"sends? me)\b (?:\w+ ){0,3}?(?:ip|ip address|location|gps|coordinates)\b",
                rf"(?:{_TARGET}|(?:she|he) (?:clicks|opens)|this (?:guy|girl|person))",
                unless=rf"{_CONSENT}|our (?:users|visitors|customers)|analytics|my own",
            ),
            needs=rf"(?:{_PEER}|her|his|she|he|{_TARGET})",
        ),
    ),
    rule(
        Category.surveillance,
        "online-status",
        _sentence(
            _has(
                r"(?:goes|go|going|went|comes|come|coming|came|is|are|was|were|gets|get|got|says|"
                r"shows|showing|appears?) (?:as )?(?:online|offline)|last[- ]seen|online status|"
                r"(?:online|offline|active) (?:times?|activity|history)|(?:is|was) (?:active|"
                r"typing)",
                rf"(?:specific|particular|certain|{_TARGET})\b",
                r"(?:log|track|record|monitor|notif|alert|watch|ping|check|spy|every time|"
                r"whenever)\w*",
                unless=rf"{_CONSENT}|our (?:app|users|chat|platform|site|service|product)|my app|"
                r"(?:users?|players?|members?|customers?)\b",
            )
        ),
    ),
    rule(
        Category.surveillance,
        "hidden-tracker",
        _sentence(
            _has(
                _TAG,
                _SILENCE_ALERT,
                rf"(?:person|people|someone|somebody|victim|target|owner|she|he|her|him|they|them|"
                rf"anyone|whoever|carrier|driver|{_RELATION})\b",
                unless=_OWN_THINGS,
            ),
            _has(
                _SPY_TOOL,
                r"(?:hid(?:e|es|ing)|conceal\w*|stash\w*|tuck\w*|stick\w*|plant\w*|place\w*|"
                r"put\w*|mount\w*|attach\w*|tap(?:e|es|ed|ing)|glu\w*|velcro\w*|wedg\w*|slip\w*)\b",
                _NEVER_FINDS,
                unless=_OWN_THINGS,
            ),
        ),
    ),
    rule(
        Category.surveillance,
        "stalkerware",
        _asking(r"stalkerware\b")
        + "|"
        # what stalkerware does, unnamed: hides its icon and reports the phone's whereabouts
        + _sentence(
            _has(
                r"hid(?:e|es|ing) (?:its|the|her|his) (?:app |launcher )?icon|(?:no|without (?:a |"
                r"any )?)(?:notification|icon)s?\b",
                rf"(?:upload|send|forward|report|mirror|cop(?:y|ies))\w*{_near(40)}(?:location|"
                r"messages|texts|calls|photos|keystrokes|whatsapp|chats|screenshots)",
                unless=_OWN_THINGS,
            )
        ),
    ),
    # --- malware: making or planting software that attacks machines the requester does not own
    rule(
        Category.malware,
        "build",
        _asking(rf"{_MALWARE_THING}|{_MALWARE_DOES}", _MALWARE_ASK)
        + rf"|\b(?:the|this) {_MALWARE_THING} below\b",
    ),
    rule(
        Category.malware,
        "evade-security",
        _sentence(_has(_EVADE_AV, _PAYLOAD, unless=_EVASION_STUDY), needs=rf"{_AV}\b"),
    ),
    rule(
        Category.malware,
        "credential-phishing",
        _sentence(
            _has(_FAKE_LOGIN, _HARVEST, unless=_PHISHING_STUDY),
            _has(r"phishing (?:pages?|sites?|panels?|links?)\b", _ACT, unless=_PHISHING_STUDY),
        ),
    ),
    rule(
        Category.malware,
        "trojanised",
        _sentence(
            _has(
                _DISGUISE,
                rf"(?:{_SECRETLY_TAKES}|{_TAKES}|(?:runs?|launch\w*|execut\w*|drops?|installs?|"
                r"loads?) (?:a |an |my |the |its )?(?:hidden |malicious |"
                r"second[- ]stage )?(?:payload|shellcode|backdoor|rat|miner|keylogger|stealer|"
                r"implant)s?\b)",
                unless=_MALWARE_STUDY,
            ),
            _has(
                _SECRETLY_TAKES,
                _SOMEONE_ELSES_DATA,
                unless=rf"{_MALWARE_STUDY}|privacy|gdpr|consent\w*|opt\w*|disclos\w*",
            ),
            # a stick that empties whatever computer it is plugged into
            _has(
                _TAKES,
                r"whatever (?:computer|pc|machine|laptop|device)|(?:any|every|each) (?:computer|pc|"
                r"machine|laptop|device) (?:it'?s |it is |it gets )?plugged",
                unless=_MALWARE_STUDY,
            ),
        ),
    ),
    rule(
        Category.malware,
        "wiper",
        _sentence(_has(_DESTROY_MACHINE, _SOMEONE_ELSES, unless=_MALWARE_STUDY)),
    ),
    rule(
        Category.malware,
        "sabotage",
        _sentence(
            # a grudge's time bomb: "I got fired. Write a script I can leave on the server that
            # deletes the customer database"
            _has(
                r"(?:delet|wip|eras|destroy|corrupt|drop|encrypt|nuk|trash)\w* (?:\w+ ){0,3}?"
                r"(?:databases?|db|data|records|backups|files|servers?|tables|repos?|repositor\w+)",
                r"(?:got fired|fired me|laid off|after i(?:'ve| have)? (?:quit|been fired|"
                r"get fired|leave the company|leave my job|'m gone)|when i'?m gone|revenge|"
                r"get back at|can leave (?:on|behind|in)|leave behind|(?:after|once|"
                r"on) my last day|time bomb|logic bomb)",
                unless=_MALWARE_STUDY,
                across=True,
            ),
            # control of other people's machines they are not told about
            _has(
                r"without (?:the |their )?(?:users?|owners?|victims?|people|anyone|"
                r"them) (?:knowing|noticing|seeing|consent\w*|permission|reali[sz]ing)",
                r"(?:(?:run|execut)\w* (?:\w+ ){0,2}commands?|control (?:their|the|every|all)|"
                r"(?:access|see|read|steal|upload|send|copy)\w* (?:their|the users?'?s?) (?:files|"
                r"data|photos|messages|passwords|screens?|webcams?|keystrokes)|mine\w*|spread\w*|"
                r"encrypt\w*)",
                unless=_MALWARE_STUDY,
            ),
        ),
    ),
    rule(
        Category.malware,
        "ransomware-steps",
        _sentence(
            _has(
                r"encrypt\w* (?:\w++ ){0,3}?(?:c: ?drive|drives?|disks?|files?|documents|"
                r"everything|all|(?:the )?(?:user|victim)'?s?|network shares|shares)\b",
                r"(?:delet|remov|wip|purg|kill|destroy|clear|nuk)\w* (?:\w++ ){0,3}(?:shadow "
                rf"copies|volume shadow|vss|restore points)|(?:turn\w* off|disabl\w*|kill\w*|"
                rf"uninstall\w*|stop\w*) (?:\w++ ){{0,2}}{_AV}\b",
                unless=_MALWARE_STUDY,
            )
        ),
    ),
    rule(
        Category.malware,
        "spread",
        _sentence(
            _has(
                _SPREAD
                + _then(rf"(?:my|our|the|a|an|this|his|their) (?:[\w-]++ )?{_MALWARE_THING}", 40),
                unless=_MALWARE_STUDY,
            ),
            _has(_LURE, rf"(?:{_MALWARE_THING}|{_RUNS_IT})", unless=_MALWARE_STUDY),
            _has(
                rf"(?:miners?|{_MALWARE_THING})",
                _RUNS_IT,
                r"(?:hid|embed|bundl|bind|sneak|inject|pack|plant|disguis|secret|silent)\w*",
                unless=_MALWARE_STUDY,
            ),
            _has(
                r"trick\w* (?:\w++ ){0,3}into (?:running|opening|installing|executing|enabling|"
                r"downloading|launching|pasting|typing)",
                rf"(?:(?:reverse )?shells?|payloads?|exe|scripts?|one-liners?|macros?|commands?|"
                rf"{_MALWARE_THING})",
                unless=rf"{_PHISHING_STUDY}|{_MALWARE_STUDY}",
            ),
            needs=rf"(?:{_MALWARE_THING}|miners?|fake|free|cracked|pirated|cheats?|"
            r"hacks?|cracks?|keygens?|torrents?|mods?|trick\w*)",
        ),
    ),
    rule(
        Category.malware,
        "working-code",
        # named in this sentence; "working" and the ask here or in the next
        _sentence(
            _has(_MALWARE_THING, unless=_MALWARE_STUDY)
            + _has(
                r"(?:real|working|functional|fully functional|actual|live|runnable|compil\w*|"
                r"actually (?:runs?|works?)|(?:must|has to|have to|needs? to|should) (?:actually )?"
                r"(?:run|work|compile))\b",
                _ACT,
                unless=_MALWARE_STUDY,
                across=True,
            )
        ),
    ),
    rule(
        Category.malware,
        "unauthorised-access",
        _sentence(_has(_ATTACK, rf"{_UNAUTHORISED}\b", unless=_DEFENCE, across=True)),
    ),
    # --- weapons: mass harm, untraceable or illegal firearms
    rule(
        Category.weapons,
        "build",
        _sentence(
            # (the weapon first: most sentences lack one, and the dearer ask is never looked for)
            _has(_WEAPON, _asking(_WEAPON, rf"(?:{_ACT}|{_HOW})"), unless=_GAME, chars=1000),
            _has(rf"{_PHYSICAL} (?:[\w'-]++ ){{0,3}}{_WEAPON_MATERIAL}", unless=_GAME),
            _has(rf"{_MAKE_AGENT}\b (?:[\w'-]++ ){{0,2}}{_WEAPON}", unless=_GAME),
            # (named in this sentence, "the steps to make it" here or in the next)
            _has(rf"(?:{_WEAPON}|{_WEAPON_MATERIAL})", unless=_GAME)
            + _has(_REFER_MAKE, unless=_GAME, across=True),
            # "the best explosive to make at home"
            _has(
                r"(?:best|easiest|cheapest|strongest|simplest|most powerful|deadliest) (?:[\w-]+ )?"
                r"(?:explosives?|bombs?|poisons?|toxins?|nerve agents?|chemical weapons?|"
                r"bioweapons?|guns?|firearms?) (?:to|you can|i can|one can) (?:make|build|cook|mix|"
                r"produce|synthesi[sz]e|3d print|print)",
                unless=_GAME,
            ),
            # an oxidiser packed into a pipe is a pipe bomb, named or not
            _has(
                r"(?:potassium (?:nitrate|chlorate|perchlorate)|ammonium (?:nitrate|perchlorate)|"
                r"black powder|gunpowder|flash powder|smokeless powder|match heads?)",
                r"(?:pack|stuff|fill|pour|tamp|load)\w* (?:\w+ ){0,4}?(?:into|in) (?:a |an |the )?"
                r"(?:[\w-]+ )?(?:pipes?|pressure cookers?|(?:steel|metal|iron|copper) (?:tubes?|"
                r"casings?))\b",
                unless=rf"{_GAME}|rockets?|motors?|propellant|candy|nozzles?",
            ),
            # the mixture itself, unnamed: fertiliser soaked in fuel oil is ANFO
            _has(
                r"(?:ammonium nitrate|fertili[sz]er)",
                r"(?:fuel oil|diesel|kerosene|nitromethane)\b",
                r"(?:mix|combin|add|soak|pour|stir|blend)\w*",
                unless=_GAME,
            ),
            needs=rf"(?:{_WEAPON}|{_WEAPON_MATERIAL}|ammonium|fertili[sz]er|potassium|match heads?|"
            r"smokeless powder|bombs?|poisons?|toxins?|guns?|firearms?)",
            chars=1000,
        ),
    ),
    rule(
        Category.weapons,
        "mass-harm",
        _sentence(
            _has(
                rf"{_HARM}\b",
                _AGENT,
                unless=rf"{_GAME}|prevent\w*|protect\w*|safeguard\w*|secur(?:e|ity|ing)|defen[cd]\w*",
            ),
            # the intent said outright, the means asked for: "hurt as many people as possible at
            # the parade, what should I use"
            _has(
                r"(?:hurt|kill|injur|harm|maim|attack|murder)\w* (?:as many (?:people|\w+) as "
                r"(?:possible|i can)|(?:a lot of|lots of|many|the most|dozens of|hundreds of|"
                r"loads of) (?:people|kids|students|civilians)|everyone (?:at|in)|a crowd)",
                r"(?:what|which|how|best|use|weapons?|get|make|build|buy)\b",
                unless=rf"{_GAME}|prevent\w*|stop\w*|protect\w*|security|report\w*",
            ),
        ),
    ),
    rule(
        Category.weapons,
        "untraceable-firearm",
        _sentence(
            _has(rf"{_UNTRACEABLE}\b", _FIREARM),
            _has(_NO_CHECK, r"(?:buy|sell|ship|order|get|source|vendor|seller|dealer)\w*\b"),
            _has(
                _PROHIBITED,
                rf"(?:buy|get|obtain|purchase|acquire|score|find|own|have)\w* (?:[\w-]++ ){{0,2}}?"
                rf"{_FIREARM}",
                r"(?:how|where|best|easiest|quickest|cheapest|help|can i|could i|way)\b",
                unless=r"legal\w*|lawful\w*|rights?|restor\w*|expung\w*|lawyers?|attorneys?|"
                r"eligib\w*|appeal\w*|pardon\w*|allowed to|is it|(?<!how )(?<!where )(?<!what )can "
                r"(?:i|a \w+|felons?|minors?) (?:legally )?(?:buy|own|get|have|possess|purchase)",
            ),
            _has(
                r"(?:buy|purchase|pick up|get|order)\w* (?:(?:a|the|my|me a|me the|that|this|"
                rf"one) )?(?:[\w-]++ )?{_FIREARM} for me\b|straw (?:purchas|buy)\w*|(?:put|"
                rf"register)\w* (?:the |a )?(?:[\w-]++ )?{_FIREARM} (?:in|under) (?:his|her|their|"
                r"someone else's|(?:my|a) [\w-]+'s) name",
                r"(?:how|where|help|best|easiest|can|could|without|so|because|since)\b",
                unless=r"illegal\w*|laws?|legal\w*|explain\w*|what is|what's|defin\w*|report\w*|"
                r"detect\w*|penalt\w*|prosecut\w*|sentenc\w*|history|statistic\w*|data",
            ),
            _has(
                _SERIAL_GONE,
                r"(?:police|cops|forensic\w*|law enforcement|atf|trace\w*|recover\w*)\b",
            ),
            # past the checkpoint: "smuggle a gun onto a plane"
            _has(
                rf"(?:smuggl|sneak)\w* (?:a |my |the |an )?(?:[\w-]+ )?(?:{_FIREARM}|explosives?|"
                rf"{_BOMB}) (?:onto|on|into|through|past|in)\b|(?:get|bring|carry|take)\w* (?:a |"
                rf"my |the |an )?(?:[\w-]+ )?(?:{_FIREARM}|explosives?|{_BOMB}) (?:through|"
                r"past) (?:airport |tsa |the )?(?:security|metal detectors?|scanners?|"
                r"checkpoints?)",
                unless=rf"{_GAME}|legal\w*|declar\w*|checked bag\w*|tsa rules|allowed",
            ),
            needs=rf"(?:{_FIREARM}|background checks?|nics|(?:form )?4473|unserial\w*|untraceable|"
            r"serial|straw|explosives?|bombs?)",
        ),
    ),
    rule(
        Category.weapons,
        "auto-conversion",
        _asking(
            r"(?:to|into|for) (?:full[- ]?auto\w*|fully[- ]automatic|automatic fire|select[- ]fire|"
            r"a machine ?gun)\b",
            r"(?:convert\w*|conversion|turn\w*|modif\w*|make)",
        )
        + "|"
        + _sentence(
            _has(
                r"(?:(?:install|fit|add|put|buy|get|order|print|mill|make|"
                r"build)\w* (?:[\w-]++ ){0,3}(?:auto sears?|lightning links?|glock switch\w*|"
                r"(?:full[- ]?auto )?conversion kits?)|(?:fire|shoot)s? (?:full[- ]?auto|"
                r"fully automatic))\b",
                unless=_GAME,
            )
        ),
    ),
    rule(
        Category.weapons,
        "weaponise",
        r"\bweaponi[sz]\w* (?:(?:the|a|an|my|this|our|your) )?(?:[\w-]++ )?(?:drones?|uavs?|"
        r"quadcopters?|robots?|rc (?:planes?|cars?)|pathogens?|virus\w*|bacteri\w*|cultures?|"
        r"anthrax|toxins?|agents?)\b|\b(?:mount|attach|rig|strap|tape|bolt)\w* (?:a |an |"
        rf"the )?(?:[\w-]++ )?(?:guns?|firearms?|explosives?|{_BOMB}|charges?|"
        rf"grenades?){_NEAR}(?:to|on|under|onto) (?:a |the |my |your )?(?:drones?|uavs?|"
        r"quadcopters?)\b|"
        # a drone that drops or fires the weapon
        + _sentence(
            _has(
                r"(?:drones?|uavs?|quadcopters?|multicopters?|fpv)\b",
                r"(?:drop|release|deliver|carry|fire|detonat|launch|dispens|dump)\w* (?:(?:a|an|"
                rf"the|some|my|its|two|three|\w+) )?(?:[\w-]++ )?(?:grenades?|explosives?|{_BOMB}|"
                r"charges?|ieds?|molotovs?|munitions?|mortars?|payloads? of (?:explosives?|"
                r"chemicals?|poison\w*))",
                unless=_GAME,
            )
        ),
    ),
    # --- drugs: producing, trading or smuggling illegal drugs
    rule(
        Category.drugs,
        "produce",
        rf"\b{_PRODUCE}\b{_then(_DRUG, 30, unless=rf'{_BENIGN}|{_STUDY}')}|"
        + _asking(
            rf"{_DRUG} (?:\w++ )?(?:synthesis|production|recipe|route|lab|cook|extraction|"
            r"manufactur\w*)\b"
        )
        + "|"
        + _sentence(
            _has(
                _PILLS,
                r"(?:counterfeit|fake|look\w* (?:exactly |just )?like (?:the )?(?:real|genuine|"
                r"legit|pharmacy|pharmaceutical|actual)|(?:nobody|no one|anyone|people) (?:can|"
                r"could|will|would)(?:n't| not| never)? tell|pill press\w*|press\w*)\b",
                unless=rf"{_STUDY}|{_CHECKING}|pharmaceutical (?:manufactur\w*|industry|"
                r"compan\w*|plants?|factor\w*)|industr\w*|how (?:do|does|did) (?:pill|tablet)s?|"
                r"explain\w*",
            ),
            # a cook's instructions: "First we take the precursor and", "then dissolve the
            # pseudoephedrine"; who cooks is said in this sentence, the step here or in the next
            _has(rf"(?:{_DRUG}|{_COOK_CONTEXT})", unless=_STUDY)
            + _has(
                r"(?:first|then|next|now|step (?:one|1|2|two)|start by|begin by)\b",
                r"(?:take|mix|add|dissolve|combine|heat|reduce|react|cook|extract|crush|grind|wash|"
                r"filter|boil|pour|stir|get|pull|separate|isolate)\w* (?:[\w-]++ ){0,2}?"
                rf"{_PRECURSOR}",
                unless=_STUDY,
                across=True,
            ),
            _has(_DRUG, unless=_STUDY) + _has(_REFER_MAKE, unless=_STUDY, across=True),
            # "the easiest drug to make and sell to other students"
            _has(
                r"(?:illegal |illicit |street |hard |party |recreational |club )?drugs?\b",
                r"(?:make|cook|produce|grow|brew|synthesi[sz]e|manufacture)(?:s|d|ing)?\b",
                r"(?:sell|deal|push|flip|hustl)\w*|customers|buyers",
                unless=rf"{_STUDY}|pharma\w*|compan\w*|generic|prescri\w*|fda|clinic\w*|"
                r"patent\w*|legal\w*|pricing|insur\w*|medic\w*|hospitals?|doctors?|discovery|"
                r"trials?|startups?|biotech|makers|industry|manufacturers",
            ),
            needs=rf"(?:{_DRUG}|{_PILLS}|{_COOK_CONTEXT}|drugs?\b)",
        ),
    ),
    rule(
        Category.drugs,
        "trade",
        rf"\b{_TRADE}\b{_then(_DRUG, 40)}|"
        + _sentence(
            _has(_DRUG, _TRADE_CONTEXT, unless=_STUDY),
            _has(
                r"(?:(?:street|drug)[- ]?deal(?:s|ing|ers?)|dealing (?:operation|business|empire|"
                r"ring|crew|network)|trap house|(?:hid|disguis|conceal|"
                r"mask)\w* (?:\w++ ){0,2}drug (?:orders|sales|deals|payments|transactions|"
                r"shipments|deliveries)|drug money)\b",
                unless=_STUDY,
            ),
            _has(
                rf"(?:{_DRUG}|{_DRUG_SLANG})",
                r"(?:sell|deal|push|move|ship|traffic|smuggl|distribut|order|buy|supply|stock|"
                r"serve|vend|flip|re-?up)\w*|customers?|buyers?|clients|menu|shop|store|checkout|"
                r"ad|ads|adverts?|listings?|promo\w*",
                _TRADE_STRONG,
                unless=_STUDY,
            ),
            _has(
                r"dead[- ]?drops?",
                r"(?:customers?|buyers?|clients|orders?|menu|shop|vendors?|pay\w*|btc|bitcoin|xmr|"
                r"monero|crypto)\b",
                unless=rf"{_STUDY}|spy\w*|espionage|games?|novel|story|files?|secure|encrypt\w*|"
                r"messages?",
            ),
            _has(
                r"(?:darknet|dark ?web|dnm|onion|tor) (?:markets?|marketplaces?|shops?|vendors?|"
                r"stores?|sites?)|stealth[- ]?(?:ship\w*|pack\w*|mail\w*|deliver\w*)",
                r"(?:sell|deal|push|move|ship|vend|stock|run|open|set up|start)\w*",
                unless=rf"{_STUDY}|investigat\w*|law enforcement|police|take ?down|taken down|"
                r"seiz\w*",
            ),
            _has(
                _LAUNDER,
                rf"(?:{_DRUG}|{_DRUG_SLANG}|deal(?:ing|ers?)|trap|re-?up|drugs?)",
                unless=rf"{_STUDY}|essay|criminolog\w*|detect\w*|aml|anti[- ]money|compliance|"
                r"investigat\w*|explain\w*|how (?:do|does|did|would) (?:\w+ )?(?:cartels?|dealers|"
                r"gangs?|criminals?|traffickers|they|people)",
            ),
            # a dealer's books: "track my dealers, how many grams each one moves"
            _has(
                r"(?:my|our|your) (?:street )?(?:dealers|runners|pushers|corner boys|plugs|"
                r"trappers)\b",
                r"(?:grams?|ounces?|oz|kilos?|zips?|eighths?|bricks?|packs?|re-?ups?|corners?|"
                r"the trap)\b",
                unless=r"gold|silver|bullion|coins?|metals?|cars?|vehicles?|cards?|antiques?",
            ),
            # a shop for prescription drugs with no prescription asked
            _has(
                _RX,
                r"(?:without (?:a |any )?|no )(?:prescriptions?|rx|scripts?)",
                r"(?:sell|ship|order|website|site|shop|store|supply|distribut|stock)\w*",
                unless=rf"{_STUDY}|dangerous|safe\w*|legal\w*|risk\w*|is it",
            ),
            needs=rf"(?:{_DRUG}|{_DRUG_SLANG}|{_RX}|street|drug\w*|deal\w*|trap\w*|dead|darknet|"
            r"dark ?web|dnm|onion|tor|vendor|stealth\w*|re-?up\w*|runners|pushers|corner boys|"
            r"plugs|trappers)",
        ),
    ),
    rule(
        Category.drugs,
        "smuggle",
        _sentence(
            _has(rf"(?:{_DRUG}|drugs|precursors?)", _LAW_EVASION, unless=_STUDY),
            _has(
                r"(?:precursors?|pseudo(?:ephedrine)?|ephedrine|safrole|isosafrole|sassafras oil|"
                r"piperonal|p2p|mdp2p|phenylacetone|ergotamine|gbl|red phosphorus|"
                r"anhydrous ammonia|lithium strips|4-anpp|anpp|npp)\b",
                r"(?:without (?:getting |being )?(?:caught|flagged|noticed|detected|tracked|"
                r"traced|reported|logged|showing id)|(?:so|and) (?:nobody|no one|they|"
                r"the (?:pharmacy|pharmacist|dea|police|supplier)) (?:won't|doesn't|can't|"
                r"never) (?:know|notice|flag|report|ask)|in bulk|large quantit\w*|untraceabl\w*|"
                r"anonymous\w*)",
                unless=_STUDY,
            ),
            # hiding it for the journey: "hide cocaine in a car"
            _has(
                rf"(?:hid|conceal|stash|smuggl|sneak|stuff)\w* (?:the |my |some |a |our )?(?:\w+ )?"
                rf"(?:{_DRUG}|drugs)(?: \w+){{0,3}} (?:in|inside|into|under|within) (?:a|an|the|my|"
                r"his|her|your|our)\b",
                unless=rf"{_STUDY}|documentar\w*|journalis\w*|how (?:do|did|does) (?:smugglers|"
                r"cartels|traffickers|they|people)",
            ),
            _has(
                _DRUG_SLANG,
                r"(?:customs|border|police|cops|k-?9|drug dogs|sniffer dogs|feds|dea|narcs|airport|"
                r"tsa|security|plane|flight|prison|jail)\b",
                r"(?:hid|conceal|stash|smuggl|sneak|pack|stuff|ship|mail|move)\w*",
                unless=_STUDY,
            ),
            needs=rf"(?:{_DRUG}|{_DRUG_SLANG}|drugs|{_PRECURSOR}|isosafrole|sassafras|piperonal|"
            r"mdp2p|4-anpp|anpp|npp)",
        )
        + rf"|\b(?:package|parcel|shipment|powder|suitcase|luggage|stash)\w*{_NEAR}past "
        r"(?:customs|the border|border (?:control|security|patrol)|airport security|sniffer dogs|"
        r"drug dogs)\b",
    ),
)


def default_classifier() -> OfflineClassifier:
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
    (Category.weapons, re.compile(rf"\b(?:{_WEAPON}|{_FIREARM})|\b{_BOMB}")),
    (Category.drugs, re.compile(rf"\b{_DRUG}")),
    (Category.malware, re.compile(rf"\b{_MALWARE_THING}")),
    (Category.surveillance, re.compile(rf"\b{_SPY_TOOL}\b|{_STALK}")),
)


def topic(text: str) -> Category | None:
    """The first Acceptable Use Policy category whose objects the text names, if any."""
    for reading in readings(text):
        for category, pattern in TOPICS:
            if pattern.search(reading[:MAX_SCANNED]):
                return category
    return None
