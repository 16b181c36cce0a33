"""The matcher's fast paths give exactly what the shared normalization defines.

`QueryMatcher` tokenizes a whole batch with byte-level C calls (ASCII texts raw,
non-ASCII texts after `normalize`) instead of calling `tokenize` per text, and cuts
its match lists per text by sentinel identity. These tests compare both against the
plain definitions on many random texts, mixing ASCII with the Unicode cases NFKC and
case folding change (ligatures, full-width forms, combining marks, ß, Kelvin sign,
curly apostrophes, non-Latin scripts, other scripts' digits, line separators).
"""
from __future__ import annotations

import random

from queries.normalize import normalize, tokenize
from wit_pipeline.harvest.matcher import QueryMatcher, batch_tokens

_ASCII = "aAbBzZqQ09 '-_.,;:!?\t\r\x0b\x0c\x1c\x1f\x7f\"/()[]&"
_UNICODE = ["é", "É", "e\u0301", "\u0301", "ß", "ẞ", "\ufb01", "Ａ", "１", "\u212a", "\u2019", "\u2018", "\u2013",
            "\u00a0", "\u2028", "\x85", "ΣΊΣΥΦΟΣ", "ς", "İ", "ı", "ǅ", "ﬀ", "٣", "中文", "日本", "\u200b", "\u00ad",
            "ŉ", "ﬅ", "㎏", "①", "\U0001d400", "🙂", "\ufeff", "ʼ", "'", "-", "--", "Q", "q"]


def _random_text(rng: random.Random, unicode_share: float) -> str:
    pieces = []
    for _ in range(rng.randint(0, 14)):
        if rng.random() < unicode_share:
            pieces.append(rng.choice(_UNICODE))
        else:
            pieces.append("".join(rng.choice(_ASCII) for _ in range(rng.randint(1, 5))))
    return "".join(pieces)


def _cut_at_sentinels(tokens: list[bytes]) -> list[list[str]]:
    per_text, current = [], []
    for token in tokens:
        if token == b"Q":
            per_text.append(current)
            current = []
        else:
            current.append(token.decode())
    assert current == []
    return per_text


def test_batch_tokens_equal_tokenize_per_text():
    rng = random.Random(11)
    for unicode_share in (0.0, 0.05, 0.5):
        texts = [_random_text(rng, unicode_share) for _ in range(6000)]
        texts += ["", "\n", "a\nb", "A\r\nB", "x--y", "-x-", "'tis", "don't", "o'-k", "Q", "q Q"]
        for start in range(0, len(texts), 500):
            batch = texts[start:start + 500]
            assert _cut_at_sentinels(batch_tokens(batch)) == [tokenize(t) for t in batch]


def test_ascii_only_batches_take_the_byte_path_unchanged():
    rng = random.Random(12)
    texts = [_random_text(rng, 0.0) for _ in range(4000)]
    assert all(t.isascii() for t in texts)
    assert _cut_at_sentinels(batch_tokens(texts)) == [tokenize(t) for t in texts]
    punctuation_heavy = ["".join(rng.choice("aZ9 '-_.,\t!x") for _ in range(rng.randint(0, 25))) for _ in range(5000)]
    assert _cut_at_sentinels(batch_tokens(punctuation_heavy)) == [tokenize(t) for t in punctuation_heavy]
    # The byte path leaves an already-normalized text as it is, which the non-ASCII path relies on.
    normalized = [normalize(_random_text(rng, 0.5)) for _ in range(4000)]
    assert [" ".join(tokens) for tokens in _cut_at_sentinels(batch_tokens(normalized))] == normalized


def _reference_matches(queries: list[str], text: str) -> list[str]:
    """The documented order, by brute force: single-token queries in text order, then multi-token ones."""
    tokens = tokenize(text)
    wanted = {" ".join(tokenize(q)) for q in queries} - {""}
    singles = [t for t in tokens if t in wanted]
    multis = []
    for end in range(1, len(tokens) + 1):  # by end position, longest first, like the automaton
        for start in range(0, end - 1):
            candidate = " ".join(tokens[start:end])
            if candidate in wanted:
                multis.append(candidate)
    return list(dict.fromkeys(singles + multis))


def test_match_batch_equals_brute_force_on_mixed_texts():
    rng = random.Random(13)
    vocabulary = ["cat", "café", "strasse", "straße", "new", "york", "x-ray", "don't", "σίσυφος", "fish", "42",
                  "a", "b", "ｑ", "q", "中文", "ice", "cream"]
    queries = sorted({" ".join(rng.choice(vocabulary) for _ in range(rng.choice((1, 1, 2, 3)))) for _ in range(60)})
    queries += ["CAFÉ", "New York", "ice-cream", "Q", "\ufb01sh"]
    matcher = QueryMatcher(queries)
    spellings = vocabulary + ["CAT", "Café", "CAFE\u0301", "STRASSE", "Straße", "NEW", "X-Ray", "Don\u2019t",
                              "ΣΊΣΥΦΟΣ", "\ufb01sh", "４２", "Q", "ice--cream", "catalog"]
    separators = [" ", "  ", ", ", ". ", "-", "'", "\t", "\n", "_", " - ", "\u2028", "/"]
    texts = ["".join(rng.choice(spellings) + rng.choice(separators) for _ in range(rng.randint(0, 9)))
             for _ in range(4000)]
    for start in range(0, len(texts), 700):
        batch = texts[start:start + 700]
        assert matcher.match_batch(batch) == [_reference_matches(queries, t) for t in batch]
