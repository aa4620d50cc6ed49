"""Normalising a text against the usual evasions before the rules read it: look-alike letters,
format characters, leetspeak, spread-out letters, base64 runs and refusals (see the package's
docstring for each)."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Iterator

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
