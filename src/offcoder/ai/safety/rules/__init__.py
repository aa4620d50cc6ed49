"""The rules of every category, in the order they are tried.

The first rule that matches decides the category. Surveillance comes before malware, so that
a keylogger for one named person is surveillance and one for "victims" is malware.
"""

from __future__ import annotations

from offcoder.ai.safety.patterns import Rule
from offcoder.ai.safety.rules import csam, drugs, malware, surveillance, weapons

DEFAULT_RULES: tuple[Rule, ...] = (
    *csam.RULES,
    *surveillance.RULES,
    *malware.RULES,
    *weapons.RULES,
    *drugs.RULES,
)
