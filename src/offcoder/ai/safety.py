"""Content safety (S1): the Acceptable Use Policy categories, and the offline classifier that
checks every prompt before it leaves and every output before it is shown.

The offline classifier needs no network at run time. It first normalises the text against the
usual evasions, then matches curated rules:

- Unicode: NFKC, format characters (zero-width joiners and the like) dropped, look-alike
  letters from other scripts (Cyrillic "а", Greek "ο", ...) mapped to Latin, typographic
  apostrophes made plain, case folded;
- leetspeak: digits and symbols standing for letters ("r4ns0mw4re"), undone in a second
  reading of the sentences that have them;
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

The labelled corpus in tests/data/safety holds both sides, and a test measures precision and
recall per category against thresholds in docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Sequence
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

# Three or more single letters separated by spaces, dots, dashes or stars: "r a n s o m".
SPREAD = re.compile(r"\b(?:[a-z0-9][\s.\-_*·]+){3,}[a-z0-9]\b")
SPREAD_GAP = re.compile(r"[\s.\-_*·]+")
INNER_STOP = re.compile(r"\.(?=\w)")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Wider whitespace between single letters parts spread-out words: "w r i t e  r a n s o m".
WORD_GAP = re.compile(r"(?<=\b\w)\s{2,}(?=\w\b)")
# A letter, a digit or symbol, a letter ("r4n", "b0m", "cr3d"): a passage worth reading again
# with the leetspeak undone. ("sha256", "2024" or "a|b" are not.)
LEETISH = re.compile(r"[a-z][0-9@$!]+[a-z]")
PASSAGE_REACH = 300  # characters either side of what makes a second reading worth it
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
MAX_SCANNED = 64 * 1024  # characters per reading; longer texts are scanned in windows


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

    return SPREAD.sub(join, text)


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


def _passages(pattern: re.Pattern[str], text: str) -> list[str]:
    """The passages of `text` around the matches of `pattern`: each match's sentence, but no
    more than PASSAGE_REACH characters either side of it; overlapping passages merged."""
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
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
    spread = _passages(SPREAD, folded)
    leet = [passage.translate(LEET) for passage in _passages(LEETISH, folded)]
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
                yield text
                continue
            step = MAX_SCANNED // 2  # overlapping, so nothing is cut in two unseen
            for start in range(0, len(text), step):
                yield text[start : start + MAX_SCANNED]


# ------------------------------------------------------------------------------ pattern parts
#
# Every window is bounded and stays inside one sentence ("." "?" "!"; fold turned a full stop
# inside a word into "·"), and no unbounded quantifier is nested in another, so the time a text
# takes grows with its length and nothing else. Windows are runs of single characters, which
# the regular-expression engine steps through fastest.

_S = r"[^.?!]"  # a character of the same sentence
_START = r"(?:^|(?<=[.?!] ))"  # where a sentence starts


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


def _sentence(*conditions: str) -> str:
    """A sentence that meets one of `conditions` (each made with `_has`)."""
    return rf"{_START}(?:{'|'.join(conditions)})"


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
    rf"(?:here(?:'s| is| are)|below (?:is|are)|the following|{_START}(?:sure|okay|ok|certainly|"
    r"of course|absolutely)|(?:the|this) [\w-]++(?: [\w-]++)? below)"
)
_ACT = rf"(?:{_MAKE}|{_DELIVER})"
# For weapons any "how do I ..." counts as asking: nobody asks how to wire a detonator to
# defend against one (and a word such as "detect" or "history" still lets it pass).
_HOW = r"(?:how (?:do|can|could|would|should) (?:i|we|you|one)|how to)"

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
    r"infect\w*|check\w*|hunt\w*|catch\w*|harden\w*|triage\w*"
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
_TARGET = (
    r"(?:(?:my|your|his|her|our) (?:(?:ex|former|current|new|teenage|adult|best|older|"
    rf"younger) )?{_RELATION}(?:'s|s'|s)?\b|(?:this|that|a|one) (?:specific |particular |certain |"
    r"random )?(?:woman|man|girl|guy|person|lady|streamer|stranger|influencer|celebrity)(?:'s)?\b|"
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
    r"staying hidden|hid(?:e|es|ing) (?:it|its|the|a|an|this|from|[\w-]+ from)\b|silent(?:ly)?|"
    r"quietly|without (?:\w+ing )?(?:her|him|them|his|their|anyone|the (?:person|owner|target)|"
    r"my \w+)\b|without (?:the |any |an? )?(?:\w++ )?(?:light|led|indicator|notification|alert|"
    r"icon)s?\b|without (?:triggering|showing|turning on|lighting) (?:\w++ ){0,3}(?:light|led|"
    r"indicator|notification|alert|icon)s?|with no (?:\w++ )?(?:notifications?|indicator|alerts?|"
    r"icon)|(?:she|he|they|the (?:person|target)(?: (?:i'm|i am|you're|you are) \w+)?) (?:must not|"
    r"mustn't|should not|shouldn't|won't|will not|can't|cannot|doesn't|does not|never|isn't|is not|"
    r"won't be|will never)(?: ever)? (?:find out|finds? out|know|notice|see|suspect|reali[sz]e|"
    r"be (?:notified|alerted|aware|told)|alerted|notified|aware|told|get (?:a |"
    r"any )?(?:notification|alert)))"
)
# Said consent: "she knows", "with his permission", "we both opted in".
_CONSENT = (
    r"(?:she|he|they) (?:knows?|agreed|agrees|consented|opted in|is aware|are aware)|with (?:her|"
    r"his|their) (?:consent|permission|knowledge|agreement)|opt(?:s|ed)?[- ]in|mutual\w*|"
    r"both (?:of us )?(?:agree\w*|opt\w*|consent\w*)"
)
# What is watched: acts of watching and the private things they reach.
_SPY = (
    r"(?:track\w*|locat\w*|gps|spy\w*|monitor\w*|watch\w*|follow\w*|stalk\w*|read\w*|forward\w*|"
    r"mirror\w*|cop(?:y|ies)|intercept\w*|captur\w*|record\w*|screenshot\w*|screen ?shot\w*|log\w*|"
    r"keylog\w*|listen\w*|eavesdrop\w*|access\w*|get into|hack\w*|upload\w*|messag\w*|text\w*|sms|"
    r"whatsapp|dms|e-?mails?|calls|chats|webcam|camera|microphone|icloud|photos|browsing|"
    r"keystrokes|see (?:who|what|where|when|everything|all|every))"
)
_SPY_TOOL = (
    r"(?:(?:gps |hidden |spy |tracking |magnetic )?trackers?|tracking (?:app|software|device|chip|"
    r"tag)s?|airtags?|spy(?:ware| ?apps?| ?cam\w*| software)|stalkerware|keyloggers?|key loggers?|"
    r"(?:hidden|spy|pinhole|nanny) cam\w*|(?:call|voice|audio) recorders?|monitoring (?:app|"
    r"software)|remote access trojans?|rats?)"
)
_DEVICE = (
    r"(?:phones?|iphone|android|laptop|computer|pc|mac|macbook|tablet|ipad|car|bag|purse|browser|"
    r"device|router|account|sim|watch|keys|jacket|coat|wallet|bike|backpack)"
)
_STALK = (
    r"(?:so (?:i|you|we) (?:can|could) (?:show up|turn up|go there|be there|wait for|follow|find|"
    r"catch|confront|surprise|run into|meet|watch)|(?:follow|track|log|record|map|monitor|"
    r"watch)\w* (?:her|his|their) (?:daily |every |real[- ]time |exact )?(?:movements?|moves|"
    r"routines?|whereabouts|schedule)|everywhere (?:she|he) goes|(?:where|which (?:house|building|"
    r"street|city)) (?:this|that|a|the|my) (?:[\w-]++ ){0,2}(?:lives|works|sleeps|is staying))"
)

_MALWARE_THING = (
    r"(?:ransomware|keyloggers?|key loggers?|botnets?|rootkits?|bootkits?|infostealers?|"
    r"(?:credential|password|cookie|token|session|wallet|crypto|info|browser|"
    r"account)[- ]?(?:stealers?|grabbers?|stealing)|remote access trojans?|(?:rats?|"
    r"worms?)(?! (?:gears?|wheels?|drives?|holes?|farms?|bins?|enemy|enemies|sprites?|characters?|"
    r"animations?|race|poison|traps?))|trojans?(?! horse)|cryptojackers?|(?:hidden|stealth|"
    r"silent) (?:crypto ?)?miners?|spyware|stalkerware|malware|backdoors?|crypters?|exploit kits?|"
    r"phishing kits?|polymorphic (?:virus|malware|payload|engine)|(?:computer|macro|"
    r"boot[- ]?sector|self[- ]?(?:propagating|replicating|spreading)) (?:virus|worm)\w*|"
    r"logic bombs?|ddos (?:tools?|scripts?|bots?)|booters?|stressers?|(?:malicious|weaponi[sz]ed|"
    r"trojani[sz]ed|backdoored|infected) (?:[\w-]++ )?(?:macros?|extensions?|documents?|payloads?|"
    r"apps?|packages?|librar\w+|modules?|plugins?|dlls?|scripts?|software|binar\w+|executables?|"
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
    r"(?:passwords?|credentials|logins?|cookies|session tokens?|auth tokens?|tokens|2fa codes?|"
    r"sms codes?|otps?|one-time codes?|credit cards?|card (?:numbers|details)|bank(?:ing)? details|"
    r"(?:crypto ?)?wallets?|seed phrases?|private keys|keystrokes)"
)
_AV = (
    r"(?:anti-?virus|av|edr|xdr|(?:windows )?defender|security (?:software|products?|tools)|"
    r"signature scanners?|virus ?scanners?|virustotal|amsi|sandbox(?:es)?)"
)
# What malicious software does to other people's machines; after an ask or a delivery it names
# malware even when no word such as "malware" is used.
_MALWARE_DOES = (
    # spreads by itself
    rf"(?:(?:spread|propagat|replicat|cop(?:y|ie))\w* itself\b|spreads? (?:over|through|via|across|"
    rf"to|into)\b{_NEAR}(?:every|all|other|any|each|nearby|neighbou?ring)\b(?: \w+)? (?:machines?|"
    r"computers?|hosts?|pcs?|devices?|contacts|drives|shares|systems|endpoints|servers|"
    r"networks?)\b|"
    # hides from security products
    r"(?:undetectable|undetected|fud|evad\w*|evasion|bypass\w*|get(?:ting)? past|"
    rf"slip(?:ping)? past|hid(?:e|es|ing) (?:\w++ ){{0,3}}from){_near(40)}{_AV}\b|\b{_AV} (?:won't|"
    r"can't|doesn't|don't|will not|cannot|never|wouldn't) (?:flag|detect|catch|see|notice|pick up)|"
    r"(?:signature )?scanners? miss\b|"
    # takes other people's secrets
    rf"(?:steal|exfiltrat|siphon|harvest)\w*{_near(40)}{_CREDENTIALS}|\b(?:people|victims?|"
    rf"other people|everyone|strangers|visitors)'s? {_CREDENTIALS}|(?:grab|dump|collect|"
    rf"scrap)\w*{_near(40)}{_CREDENTIALS}{_near(60)}(?:send|upload|post|forward|"
    r"exfiltrat)\w* (?:\w++ )?to (?:my|your|a remote|the attacker'?s?) (?:\w++ )?(?:webhook|server|"
    r"c2|bot|channel|panel)|"
    # holds files for ransom
    rf"encrypt\w*{_near(40)}(?:files|drives?|disks?|shares|documents|backups){_NEAR}"
    r"(?:ransom\w*|bitcoin|monero|pay (?:up|to (?:decrypt|unlock|get)))\b|"
    # destroys machines
    r"(?:destroy|overwrit|corrupt|wip|eras|brick|trash)\w* (?:\w++ ){0,3}(?:boot records?|mbr|"
    r"boot sectors?|bootloaders?|firmware|partition tables?|hard (?:drives?|disks?)|shadow copies)"
    rf"{_NEAR}(?:every|all|each|any|victims?|targets?|it reaches|it infects|won't (?:start|boot)|"
    r"can't (?:start|boot)|unbootable)\b|"
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
    r"compromis\w*|take (?:it|them|\w+) down|backdoor\w*|crack\w* (?:the |their |its )?(?:password|"
    r"wi-?fi|account))"
)
_UNAUTHORISED = (
    r"(?:(?:i|we) (?:don't|do not) own|(?:isn't|is not|aren't|are not) (?:mine|ours)|"
    r"without (?:the owner'?s?|their|its owner'?s?|any)? ?(?:permission|authori[sz]ation|consent)|"
    r"(?:i'm|i am|we're|we are) not authori[sz]ed|someone else's (?:server|site|website|network|"
    r"system|router|wi-?fi|account|computer|machine))"
)
_DEFENCE = (
    r"detect\w*|monitor\w*|alert\w*|prevent\w*|block\w*|protect\w*|defen[cd]\w*|audit\w*|"
    r"log(?:s|ged|ging)?|report\w*|explain\w*|history"
)

_BOMB = (
    r"(?<!photo)(?<!photo-)(?<!photo )(?<!zip )(?<!fork )(?<!bath )(?<!seed )(?<!stink )"
    r"(?<!water )(?<!glitter )(?<!logic )(?<!f-)(?<!love )(?<!cherry )(?<!xml )bombs?\b"
    r"(?![- ]?(?:defus\w*|disposal|squad|shelter|threats?|calorimet\w*|proof|scares?|sniff\w*|"
    r"detect\w*|drills?))"
)
# A firearm, by name or by calibre ("9mm", ".22").
_GUN = (
    r"(?:guns?|rifles?|pistols?|handguns?|firearms?|shotguns?|revolvers?|ar-?15s?|ar|ak-?47s?|ak|"
    r"glocks?|\d+ ?mm|·\d{2,3}|\d{2,3} ?cal\w*|calibre|caliber)"
)
# Weapons nobody needs code or instructions for except to cause mass harm.
_WEAPON = (
    r"(?:pipe bombs?|car bombs?|nail bombs?|pressure[- ]cooker bombs?|dirty bombs?|"
    r"suicide (?:vests?|belts?)|(?:improvised )?explosive devices?|ieds?|detonators?|"
    r"blasting caps?|tatp|hmtd|rdx|petn|semtex|anfo|molotovs?(?: cocktails?)?|napalm|nerve agents?|"
    r"sarin|soman|tabun|vx (?:gas|nerve agent)|novichok|mustard gas|phosgene|ricin|abrin|"
    r"botulinum(?: toxin)?|anthrax|bioweapons?|biological weapons?|chemical weapons?|(?:nuclear|"
    r"atomic|radiological) (?:weapons?|bombs?|devices?)|(?:weapons?|bomb)[- ]grade (?:uranium|"
    r"plutonium)|ghost guns?|(?:drop[- ]in )?auto sears?|lightning links?|glock switch\w*|"
    r"(?:homemade|improvised|real|working|live|frag\w*) grenades?|untraceable (?:guns?|firearms?|"
    rf"pistols?|rifles?|handguns?)|{_GUN} (?:suppressors?|silencers?)|(?:suppressors?|silencers?) "
    rf"(?:for|on) (?:(?:a|an|my|the|your) )?(?:[\w-]++ )?{_GUN}|(?:oil filter|solvent trap)s? "
    r"(?:suppressors?|silencers?)|(?:suppressors?|silencers?) (?:from|out of|using|with) "
    r"(?:(?:a|an|the) )?(?:oil filter|solvent trap)s?)\b"
)
# Words that name a weapon only when something is physically made from them.
_WEAPON_MATERIAL = (
    rf"(?:{_BOMB}|explosives?\b|explosive (?:charges?|devices?|vests?)|nitroglycerin|thermite|"
    r"gunpowder|black powder|flash powder)"
)
_PHYSICAL = (
    r"(?:make|making|build|building|assemble|construct|produce|manufactur\w*|synthesi[sz]\w*|cook|"
    r"mix|combine|culture|cultivate|grow|extract|enrich|refine|weaponi[sz]e|rig|wire up|detonate|"
    r"set off|3d[- ]print|print|turn (?:[\w-]++ ){1,4}into|recipe for|formula for|ingredients for)"
)
_GAME = (
    r"games?|minigames?|gameplay|players?|sprites?|levels?|unity|godot|roblox|unreal|pygame|"
    r"npcs?|enemy|enemies|boss|power-?ups?|roguelike|shooter|fps|simulat\w*|history|historical|"
    r"museum|treaty|drills?|training|statistics|novel|movie"
)
_HARM = (
    r"(?:(?:release|spread|disperse|spray|set|detonate|drop|fly|crash|plant|put|pour|slip|use|"
    r"throw|aerosoli[sz]e|launch|deploy|hide)\w* (?:it |them |off |[\w-]+ ){0,2}(?:in|into|on|over|"
    r"at|through|inside|near|onto|among) (?:(?:a|an|the|his|her|their|someone's|some|my|our|"
    r"your) )?(?:[\w-]+'s )?(?:crowd\w*|subway|metro|station|concert|stadium|school|mall|church|"
    r"mosque|synagogue|temple|festival|parade|rally|building|city|water supply|reservoir|people|"
    r"public|food|drink|coffee|tea|meal|air ?vents?|ventilation)|to (?:kill|hurt|maim|poison|"
    r"injure|harm) (?:people|as many|someone|him|her|them|civilians|everyone)|use (?:it |"
    r"them )?on (?:people|humans|civilians|a crowd|someone)|(?:start|cause) (?:a|an) (?:pandemic|"
    r"epidemic|outbreak)|mass casualt\w+|maximum (?:casualties|damage|deaths|spread|harm)|"
    r"bring down (?:a|the) building|blow up (?:a|the|an) \w+|as many (?:people|"
    r"casualties) as possible)"
)
_AGENT = (
    rf"(?:{_WEAPON}|{_WEAPON_MATERIAL}|(?:toxic|poison|chlorine|nerve|mustard) gas|charges?\b|"
    r"agents?\b|pathogens?|cultures?\b|virus\w*|bacteri\w*|spores|toxins?|poison\w*|chemicals?|"
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
_UNTRACEABLE = (
    rf"(?:untraceable|unserial\w*|no serial(?: numbers?)?|without (?:a |any )?serial(?: numbers?)?|"
    rf"{_SERIAL_GONE}|never engrave a serial|(?:no|without (?:a |any )?|skip\w* (?:the )?|"
    r"avoid\w* (?:the )?|bypass\w* (?:the )?|get around (?:the )?)background checks?|unregistered|"
    r"off[- ]paper|(?:can't|cannot|can not|won't) be traced|not traceable)"
)
_NO_CHECK = (
    r"(?:(?:no|without (?:a |any )?|skip\w* (?:the )?|avoid\w* (?:the )?|bypass\w* (?:the )?)"
    r"background checks?|unserial\w*|untraceable)"
)

_DRUG = (
    r"(?:meth(?:amphetamine)?|crystal meth|heroin|fentanyl|carfentanil|nitazenes?|cocaine|"
    r"crack(?= (?:cocaine|rocks?))|lsd|mdma|ecstasy|dmt|ghb|gbl|ketamine|psilocybin|"
    r"magic mushrooms|shrooms|pcp|opium|mephedrone|bath salts|krokodil|(?:counterfeit|fake|"
    r"pressed) (?:pills|xanax|oxy\w*|percocet|adderall)|m30s?)\b"
    # the drug named as the subject of health or data work: "fentanyl test strips", "cocaine
    # seizures", "heroin overdose deaths"
    r"(?![- ](?:test\w*|strips?|overdose\w*|addiction|recovery|treatment|deaths?|statistics|stats|"
    r"data\w*|polic\w*|seizures?|vaccines?|awareness|use disorder|epidemic|crisis))"
)
_PRODUCE = (
    r"(?:synthe(?:si[sz]\w*|sis)|cook\w*|manufactur\w*|produc(?:e|ing)|make|making|extract\w*|"
    r"grow\w*|cultivat\w*|brew\w*|refin\w*|press\w*|cut(?:ting)?|turn|convert\w*|lab for|"
    r"precursors? (?:for|to make)|recipe for|route (?:for|to)|ingredients for)"
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
    r"headlines?|articles?|research\w*|stud(?:y|ies)|polic(?:y|ies)|seizures?|trivia|quiz|history|"
    r"report\w*|models?|modell?ing|estimat\w*|awareness|prevent\w*|treatment|recovery|"
    r"harm reduction"
)
_CHECKING = r"detect\w*|identif\w*|spot\w*|flag\w*|warn\w*|verif\w*|authenticat\w*|test\w*"
_LAW_EVASION = (
    r"(?:past (?:customs|the border|border (?:control|security|patrol)|airport security|security|"
    r"the dogs|sniffer dogs|drug dogs|x-?rays?|scanners)|without (?:getting |being )?(?:caught|"
    r"flagged|noticed|detected|stopped|searched|tracked|traced)|so (?:customs|the police|police|"
    r"cops|border (?:control|patrol)|nobody|no one|the feds|the dea|the post office|the irs|"
    r"the bank) (?:won't|can't|doesn't|don't|will not|never|wouldn't) (?:notice|find|catch|see|"
    r"flag|detect|know|suspect)|undetected|without (?:the )?(?:police|customs|the post office|"
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
    r"barely |both )?(?:[1-9]|1[0-7])(?![·\d%:])|young (?:girls?|boys?|teens?|child(?:ren)?)|"
    r"teen(?:age|aged)?s?|jailbait|lolita|loli|shota)\b"
)
_SEXUAL = (
    r"(?:sexual\w*|sexy|sext\w*|(?:have|having|had) sex|sex (?:with|story|stories|scenes?|chats?|"
    r"roleplay|acts?|videos?|tapes?|games?)|nudes?|nudity|naked|porn\w*|erotic\w*|lewd\w*|nsfw|"
    r"fetish\w*|orgasm\w*|arous\w*|horny|smut\w*|hentai|steamy|talk(?:ing)? dirty|dirty talk|"
    r"explicit (?:[\w-]++ )?(?:story|stories|fanfic\w*|fan ?fiction|content|images?|pictures?|"
    r"photos?|pics|videos?|scenes?|roleplay|chat|poems?|texts?|material|art|drawings?)|intimate "
    r"(?:photos?|images?|pics|videos?|acts?|scenes?)|seduc\w*|undress\w*|molest\w*|grop(?:e|es|"
    r"ing))\b"
)
# Child-safety work: banning, detecting, reporting, moderating, educating.
_CHILD_SAFETY = (
    r"ban\w*|prohibit\w*|forbid\w*|polic(?:y|ies)|report\w*|detect\w*|moderat\w*|block\w*|"
    r"prevent\w*|protect\w*|flag\w*|remov\w*|takedown|classif\w*|hash\w*|photodna|ncmec|"
    r"cybertip\w*|safeguard\w*|law enforcement|police|grooming|educat\w*|sex[- ]ed\w*|curriculum|"
    r"puberty|awareness|survivors?|therap\w*|counsel\w*|trust[- ]and[- ]safety|coppa|"
    r"age[- ]verif\w*|health|research|survey|statistics|filter\w*|refus\w*|"
    r"age[- ]?(?:gat|check|restrict)\w*|parental|restrict\w*|safe ?search"
)
_ABUSE_MATERIAL = (
    r"(?:csam|child (?:sexual )?(?:abuse|exploitation) (?:material|images?|videos?|content|photos?|"
    r"pics)|child porn\w*|kiddie porn\w*|cp (?:links?|videos?|pics?|folders?|collections?))\b"
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
    rule(Category.surveillance, "stalkerware", _asking(r"stalkerware\b")),
    # --- malware: making or planting software that attacks machines the requester does not own
    rule(
        Category.malware,
        "build",
        _asking(rf"{_MALWARE_THING}|{_MALWARE_DOES}")
        + rf"|\b(?:the|this) {_MALWARE_THING} below\b",
    ),
    rule(
        Category.malware,
        "unauthorised-access",
        _sentence(_has(rf"{_UNAUTHORISED}\b", _ATTACK, unless=_DEFENCE, across=True)),
    ),
    # --- weapons: mass harm, untraceable or illegal firearms
    rule(
        Category.weapons,
        "build",
        _asking(_WEAPON, rf"(?:{_ACT}|{_HOW})")
        + "|"
        + _sentence(_has(rf"{_PHYSICAL} (?:[\w'-]++ ){{0,3}}{_WEAPON_MATERIAL}", unless=_GAME)),
    ),
    rule(Category.weapons, "mass-harm", _sentence(_has(rf"{_HARM}\b", _AGENT, unless=_GAME))),
    rule(
        Category.weapons,
        "untraceable-firearm",
        _sentence(
            _has(rf"{_UNTRACEABLE}\b", _FIREARM),
            _has(_NO_CHECK, r"(?:buy|sell|ship|order|get|source|vendor|seller|dealer)\w*\b"),
            _has(
                _SERIAL_GONE,
                r"(?:police|cops|forensic\w*|law enforcement|atf|trace\w*|recover\w*)\b",
            ),
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
        r"quadcopters?)\b",
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
                r"pills?\b",
                r"(?:counterfeit|fake|look\w* (?:exactly )?like (?:real|genuine)|pill press|"
                r"press\w*|m30)\b",
                unless=rf"{_STUDY}|{_CHECKING}",
            )
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
        ),
    ),
    rule(
        Category.drugs,
        "smuggle",
        _sentence(_has(rf"(?:{_DRUG}|drugs|precursors?)", _LAW_EVASION, unless=_STUDY))
        + rf"|\b(?:package|parcel|shipment|powder|suitcase|luggage|stash)\w*{_NEAR}past "
        r"(?:customs|the border|border (?:control|security|patrol)|airport security|sniffer dogs|"
        r"drug dogs)\b",
    ),
)


def default_classifier() -> OfflineClassifier:
    return OfflineClassifier(DEFAULT_RULES)


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
