"""Text normalization shared by `wit queries` (building the list) and `wit harvest`
(matching alt-texts against it). Both stages must call these functions: a query only
matches text that was normalized the same way.

Characters: Unicode NFKC, then case-folded; the typographic apostrophe becomes "'";
a comma that groups digits is removed ("1,000,000" -> "1000000": a comma followed by
exactly three digits, after a digit).

Tokens, left to right:
- an abbreviation: two or more single letters each followed by a period, not glued to
  a preceding token character, period or joiner ("U.S." -> "u.s.", "e.g." -> "e.g.";
  the final period is part of it, so "U.S" without it is the tokens "u" and "s");
- otherwise a word: a maximal run of letters/digits, joined by an inner apostrophe or
  hyphen between two of them ("don't", "x-ray") or by a period between two digits
  ("3.14", "2.5.1"). So a number with digit groups or decimals is one token.
Everything else separates tokens. A normalized string is its tokens joined by single
spaces.

Why "U.S." stays "u.s.": without its periods it would be "us", the pronoun, a
stopword: the country would vanish from the query list and every "us" in an alt-text
would match it. Abbreviations written without periods ("USA", "UK") are ordinary words.
"""
from __future__ import annotations

import re
import unicodedata

_LETTER = r"[^\W\d_]"
# The lookahead first: it fails at once on almost every word, which keeps the
# alternation cheap (it is tried at every token start).
ABBREVIATION = rf"(?={_LETTER}\.{_LETTER})(?<![^\W_]|[.'\-]){_LETTER}(?:\.{_LETTER})+\."
WORD = r"[^\W_]+(?:(?:['\-]|(?<=\d)\.(?=\d))[^\W_]+)*"
TOKEN_RE = re.compile(f"{ABBREVIATION}|{WORD}")
DIGIT_GROUP_COMMA = re.compile(r",(?<=\d,)(?=\d{3}(?!\d))")


def normalize(text: str) -> str:
    """Normalize a query or a text for matching: NFKC, casefold, tokens joined by ' '."""
    return " ".join(tokenize(text))


def fold(text: str) -> str:
    """The character-level half of `tokenize`: NFKC, casefold, typographic apostrophe to
    ASCII, digit-group commas removed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return DIGIT_GROUP_COMMA.sub("", folded) if "," in folded else folded


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(fold(text))


def is_number(token: str) -> bool:
    """A token made of digits and inner periods only ("1990", "1000", "3.14")."""
    return token[:1].isdecimal() and token.replace(".", "").isdecimal()
