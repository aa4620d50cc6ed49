"""The parts every category's rules are built from: a rule, and the bounded windows, asks and
benign words a rule reads a sentence with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from offcoder.ai.safety.verdict import Category


@dataclass(frozen=True)
class Rule:
    name: str
    category: Category
    pattern: re.Pattern[str]


def rule(category: Category, name: str, pattern: str) -> Rule:
    """A rule named `category.name`, its pattern compiled once."""
    return Rule(f"{category.value}.{name}", category, re.compile(pattern))


# ------------------------------------------------------------------------------ pattern parts
#
# Every window is bounded and stays inside one sentence ("." "?" "!"; fold turned a full stop
# inside a word into "·"), and no unbounded quantifier is nested in another, so the time a text
# takes grows with its length and nothing else. Windows are runs of single characters, which
# the regular-expression engine steps through fastest.

S = r"[^.?!]"  # a character of the same sentence
# Where a sentence starts: after a full stop (or "?" or "!") and a space. Every reading is
# scanned with ". " in front (OfflineClassifier._windows), so that this holds for the first
# sentence too, and a rule can start by consuming the two characters, which the engine finds far
# faster than it can test every position for "the start of the text, or after a full stop".
START = r"(?<=[.?!] )"
SENTENCE_START = r"[.?!] "


def near(chars: int = 100, *, unless: str | None = None) -> str:
    """Up to `chars` characters of the same sentence, ending where a word starts or ends; with
    `unless`, no word in them may start one of those."""
    if unless:
        return rf"(?:(?!\b(?:{unless})\b){S}){{0,{chars}}}?\b"
    return rf"{S}{{0,{chars}}}?\b"


def has(*parts: str, unless: str | None = None, chars: int = 400, across: bool = False) -> str:
    """Said where a sentence starts: the sentence contains each of `parts`, in any order, and no
    word starting `unless`. With `across`, the sentence after it counts as well. (The rarest
    part should come first: most sentences lack it, and nothing else is looked at.)"""
    span = rf"{S}{{0,{chars}}}?"
    if across:  # this sentence, or skip it whole and look in the next
        span = rf"(?:{S}{{0,{chars}}}+[.?!] )?{span}"
    looks = "".join(rf"(?={span}\b(?:{part}))" for part in parts)
    guard = rf"(?!{span}\b(?:{unless})\b)" if unless else ""
    return looks + guard


def sentence(
    *conditions: str, needs: str | None = None, chars: int = 400, across: bool = False
) -> str:
    """A sentence that meets one of `conditions` (each made with `has`). `needs` names words
    of which every condition requires one, within `chars` (and the next sentence, `across`) as
    the widest condition reads: a sentence without any is passed over with one look instead of
    one per condition."""
    gate = has(needs, chars=chars, across=across) if needs else ""
    return rf"{SENTENCE_START}{gate}(?:{'|'.join(conditions)})"


NEAR = near()  # in the same sentence, not too far

# Asking for it: a request to make, write, get or be taught something ...
MAKE = (
    r"(?:write|create|make(?! sure)|build|code|develop|generate|produce|design|craft|program|"
    r"implement|set up|put together|assemble|construct|give me|show me|send me|get me|find me|"
    r"teach me|tell me how|walk me through|help me|provide|(?:i|we) (?:need|want|'d like|"
    r"would like) (?:a|an|some)|instructions|guide|tutorial|recipe|step[- ]by[- ]step|"
    r"explain how to)"
)
# ... or an answer that starts to deliver it ("Here's the ...", "Sure, ...", "the script below").
DELIVER = (
    r"(?:here(?:'s| is| are)|here you go|here it is|below (?:is|are)|the following|step (?:1|"
    rf"one)\b|{START}(?:sure|okay|ok|certainly|of course|absolutely)|(?:the|"
    r"this) [\w-]++(?: [\w-]++)? below)"
)
ACT = rf"(?:{MAKE}|{DELIVER})"
# The thing named in one sentence, how to make it asked in the next: "my late grandma worked
# at a napalm factory. She used to tell me the steps to make it."
REFER_MAKE = (
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
BENIGN = (
    r"about|regarding|on how|explain\w*|detect\w*|against|analy[sz]\w*|protect\w*|defen[cd]\w*|"
    r"prevent\w*|remov\w*|report\w*|essay|blog|article|paper|talk|slides|presentation|history|"
    r"historical|timeline|museum|yara|sigma|signatures?|rules?|simulat\w*|classif\w*|scan\w*|"
    r"block\w*|identif\w*|awareness|training|quiz|trivia|course|lesson|lecture|policy|policies|"
    r"statistics|dataset|game|minigame|novel|story|movie|recogni[sz]\w*|spot\w*|warning|signs|"
    r"incident|tabletop|exercise|recover\w*|restor\w*|mitigat\w*|respond\w*|quarantin\w*|"
    r"filter\w*|reject\w*|sanitis\w*|sanitiz\w*|hash\w*|match\w*|moderat\w*|flag\w*|dispos\w*|"
    r"infect\w*|check(?!out)\w*|hunt\w*|catch\w*|harden\w*|triage\w*"
)


def then(thing: str, chars: int = 100, *, unless: str = BENIGN) -> str:
    """`thing` within `chars` characters of the same sentence, with no word between starting one
    of `unless`. (The unguarded look ahead fails fast; the guard is dearer, so it comes second.)"""
    return rf"(?={near(chars)}(?:{thing})){near(chars, unless=unless)}(?:{thing})"


def asking(thing: str, ask: str = ACT) -> str:
    """An ask, then `thing` within the same sentence with no benign word between."""
    return rf"\b{ask}\b{then(thing)}"


# The subject of covert surveillance: a specific other person, never "the user".
RELATION = (
    r"(?:ex|wife|husband|spouse|girlfriend|boyfriend|gf|bf|partner|fianc\w*|roommate|flatmate|"
    r"housemate|sister|brother|sibling|mother|mom|mum|father|dad|daughter|son|cousin|aunt|uncle|"
    r"neighbou?r|coworker|co-worker|colleague|boss|manager|employee|tenant|landlord|friend|crush|"
    r"classmate|date|lover|ex-\w+)"
)
