"""Merging the per-source candidates into one ranked, de-duplicated list.

Source precedence (a query found by several sources keeps the first one's row):
unigram, bigram, title, wordnet, api. It follows the CLIP paper's construction: the
base list is Wikipedia words, bigrams and titles, "augmented with all WordNet synsets
not already in the query list"; the online expansion only adds what is still new.

Ranking: by source precedence, then by the source's own strength (unigram count,
bigram PMI, title views, api word count), then alphabetically. `--max-queries` keeps
the head of that ranking, so the cap drops api, then wordnet, then the weakest
titles first. The order is total (queries are unique), hence deterministic.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Iterable

from queries.schema import PRECEDENCE


@dataclasses.dataclass(frozen=True)
class Candidate:
    query: str
    source: str
    count: int | None
    score: float | None

    def strength(self) -> float:
        if self.score is not None:
            return self.score
        return float(self.count or 0)


def merge_same_source(a: Candidate, b: Candidate) -> Candidate:
    """Two candidates of one source that normalize to the same query (e.g. two titles
    differing only in case): views add up, counts add up, the best PMI stays."""
    if a.source == "bigram":
        return a if (a.score, a.count) >= (b.score, b.count) else b
    count = None if a.count is None and b.count is None else (a.count or 0) + (b.count or 0)
    score = None if a.score is None and b.score is None else (a.score or 0.0) + (b.score or 0.0)
    return Candidate(a.query, a.source, count, score)


def resolve(query: str, candidates: Iterable[Candidate]) -> tuple[Candidate, tuple[str, ...]]:
    """The winning candidate for one query, and every source that proposed it (sorted by precedence)."""
    by_source: dict[str, Candidate] = {}
    for candidate in candidates:
        previous = by_source.get(candidate.source)
        by_source[candidate.source] = candidate if previous is None else merge_same_source(previous, candidate)
    sources = tuple(sorted(by_source, key=PRECEDENCE.__getitem__))
    return by_source[sources[0]], sources


def rank_key(candidate: Candidate) -> tuple:
    """Sort key: smaller ranks first."""
    return (PRECEDENCE[candidate.source], -candidate.strength(), candidate.query)


def bigram_rank(bigram: Candidate) -> tuple:
    """For `--max-bigrams`: highest PMI first, then the more frequent, then alphabetical;
    smaller ranks first."""
    return (-bigram.score, -bigram.count, bigram.query)


def overlap_names(sources: tuple[str, ...]) -> list[str]:
    """'a&b' for every pair of sources that proposed the same query."""
    return [f"{a}&{b}" for a, b in itertools.combinations(sources, 2)]
