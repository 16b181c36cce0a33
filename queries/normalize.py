"""Text normalization shared by `wit queries` (building the list) and `wit harvest`
(matching alt-texts against it). Both stages must call these functions: a query only
matches text that was normalized the same way.

Rules: Unicode NFKC, then case-folded; a token is a maximal run of letters/digits,
optionally joined by an inner apostrophe or hyphen ("don't", "x-ray"); everything else
separates tokens. A normalized string is its tokens joined by single spaces.
"""
from __future__ import annotations

import re
import unicodedata

TOKEN_RE = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")


def normalize(text: str) -> str:
    """Normalize a query or a text for matching: NFKC, casefold, tokens joined by ' '."""
    return " ".join(tokenize(text))


def fold(text: str) -> str:
    """NFKC, casefold, typographic apostrophe to ASCII: the character-level half of `tokenize`."""
    return unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(fold(text))
