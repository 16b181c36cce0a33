"""Helpers the `wit queries` tests share: exact reference counts of plain texts."""
from __future__ import annotations

from queries import ngrams
from queries.normalize import fold


def tokens_with_boundaries(text: str) -> list[str]:
    """Folded tokens of `text`, with single boundary characters where clauses break."""
    return ngrams.TOKENS_AND_BOUNDARIES.findall(fold(text))


def count_text(text: str) -> tuple[dict, dict]:
    """Exact unigram and bigram counts of one text (bigram keys 'w1 w2'), through the real counter."""
    counter = ngrams.NgramCounter(max_keys=None)
    counter.add(text)
    unigrams, pairs, _ = counter.drain()
    words = unigrams.words
    return (dict(zip(words, unigrams.counts.tolist())),
            {words[a] + " " + words[b]: n
             for a, b, n in zip(pairs.first.tolist(), pairs.second.tolist(), pairs.counts.tolist())})
