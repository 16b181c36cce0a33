"""The vectorized n-gram counter must count exactly what a plain per-text Counter pass counts.

`queries.ngrams.NgramCounter` batches texts, tokenizes a batch with one regex pass over
the texts joined by newlines, and counts with Arrow/numpy; these tests compare it with
the obvious reference (tokenize each text on its own, Counter of tokens and of adjacent
pairs within a clause) on corpora built to hit the edge cases: batches and pair runs
merged many times, flushes at the key cap, texts starting with combining marks,
characters that NFKC/casefold expand, empty texts.
"""
from __future__ import annotations

import collections
import random
import unicodedata

import pytest

from queries import ngrams
from queries.normalize import fold, tokenize
from tests.queries.fixtures import tokens_with_boundaries

EDGE_TEXTS = [
    "",
    "\u0301 starts with a combining acute",  # NFKC must not compose it with the previous text
    "e\u0301cole ÉCOLE Ｆｕｌｌwidth ﬁne Straße STRASSE ſt Don’t don't x-ray X-Ray",
    "ends with a base letter e",
    "New York, City of. New York\nis big (very) big",
    "…«quoted» “curly” [brackets] {braces} a|b c;d e:f g!h i?j",
    "123 4-5 a_b __init__ ''bold'' --",
    "\n\n\n",
    "Ω ω ὦ ΐ ﬀ Ǆ ǅ ǆ",
]

WORDS = ["the", "of", "new", "york", "paris", "x-ray", "don't", "Straße", "ÉCOLE", "e\u0301cole", "ﬁne",
         "Ｎew", "ſun", "42", "a"]
MARKS = [" ", " ", " ", " ", ", ", ". ", "\n", " (", ") ", "; ", " “", "” ", " – ", "'' "]


def reference_counts(texts):
    """Per-text tokenization; pairs never span a clause boundary or two texts."""
    unigrams, bigrams = collections.Counter(), collections.Counter()
    for text in texts:
        clause: list[str] = []
        for token in tokens_with_boundaries(text):
            if token in ngrams.BOUNDARY_CHARS:
                clause = []
                continue
            unigrams[token] += 1
            if clause:
                bigrams[clause[-1] + " " + token] += 1
            clause.append(token)
    return unigrams, bigrams


def random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = [rng.choice(WORDS) + rng.choice(MARKS) for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.2:
            parts.insert(0, "\u0301")
        texts.append("".join(parts))
    return texts


def counted_through_shards(texts, max_keys, num_shards=5):
    """Counts as the pipeline produces them: flushes at the cap, shard split, merge."""
    counter = ngrams.NgramCounter(max_keys)
    parts = collections.defaultdict(list)
    tokens = flushes = 0

    def flush():
        nonlocal tokens
        unigrams, pairs, n = counter.drain()
        tokens += n
        for key, part in ngrams.split_shards(unigrams, pairs, num_shards):
            parts[key].append(part)

    for text in texts:
        counter.add(text)
        if counter.full():
            flushes += 1
            flush()
    flush()
    merged = {ngrams.UNIGRAM: {}, ngrams.BIGRAM: {}}
    for (kind, _shard), blobs in parts.items():
        for key, n in ngrams.merge_shard(kind, blobs, 1):
            assert key not in merged[kind]
            merged[kind][key] = n
    return merged[ngrams.UNIGRAM], merged[ngrams.BIGRAM], tokens, flushes


@pytest.mark.parametrize("batch_chars", [1, 7, 500, ngrams.BATCH_CHARS])
@pytest.mark.parametrize("max_keys", [None, 3, 40, 10_000])
def test_counts_equal_a_plain_counter_pass(monkeypatch, batch_chars, max_keys):
    monkeypatch.setattr(ngrams, "BATCH_CHARS", batch_chars)
    texts = EDGE_TEXTS + random_texts(seed=batch_chars * 31 + (max_keys or 0), count=300) + EDGE_TEXTS
    expected_u, expected_b = reference_counts(texts)
    unigrams, bigrams, tokens, flushes = counted_through_shards(texts, max_keys)
    assert unigrams == dict(expected_u)
    assert bigrams == dict(expected_b)
    assert tokens == sum(expected_u.values())
    if max_keys is not None and max_keys < len(expected_b):
        assert flushes > 0


def test_unigrams_are_the_shared_tokenization():
    texts = EDGE_TEXTS + random_texts(seed=7, count=50)
    unigrams, _, _, _ = counted_through_shards(texts, None)
    assert unigrams == dict(collections.Counter(t for text in texts for t in tokenize(text)))


def test_full_is_exact_at_the_key_cap():
    counter = ngrams.NgramCounter(max_keys=4)
    counter.add("a b c")  # 2 pairs
    assert not counter.full()
    counter.add("a b")  # still 2 distinct pairs
    assert not counter.full()
    counter.add("c a. d e")  # + "c a", "d e": 4
    assert counter.full()
    unigrams, pairs, tokens = counter.drain()
    assert tokens == 9 and len(pairs.counts) == 4
    assert not counter.full()


def test_full_counts_pairs_still_in_unmerged_runs():
    # With a cap of 8 a batch is counted every 8 characters; a batch with fewer
    # distinct pairs than already merged stays a separate sorted run until the
    # distinct total is needed.
    counter = ngrams.NgramCounter(max_keys=8)
    counter.add("a b c d e f g")  # 6 pairs, merged
    counter.add("a b c   ")  # a run of 2 pairs already counted: still 6 distinct
    assert not counter.full()
    counter.add("x y z   ")  # a run of 2 new pairs: 8 distinct
    assert counter.full()


def test_folding_joined_texts_equals_joining_folded_texts():
    # The counter folds a batch of texts joined by "\n" at once; this must equal
    # folding each text alone, including around combining marks at text edges.
    rng = random.Random(3)
    alphabet = [chr(c) for c in range(0x20, 0x3000)
                if unicodedata.category(chr(c)) not in ("Cs", "Cn")]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    texts += ["\u0301", "e", "\u0327\u0301", "ﬁ", "ß", "İ", "ſ"]
    assert fold("\n".join(texts)) == "\n".join(fold(t) for t in texts)
