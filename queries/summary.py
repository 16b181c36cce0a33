"""`OUT/stats.json` of `wit queries` (also printed as the summary), from the pipeline's
counters and the written list."""
from __future__ import annotations

import collections
from typing import Iterable

from queries.schema import SOURCES
from wit_pipeline.core.counters import group


def build_stats(counters: dict[str, int], final_sources: Iterable[str], config, seconds: float) -> dict:
    """`final_sources`: the `source` column of the written list; `config`: the command's
    QueriesConfig (which sources were given, the thresholds)."""
    final = collections.Counter(final_sources)
    unique = group(counters, "unique")
    candidates = group(counters, "candidates")
    stats = {
        "queries": sum(final.values()),
        "by_source": {s: final.get(s, 0) for s in SOURCES},
        "candidates_by_source": {s: candidates.get(s, 0) for s in SOURCES},
        "unique_by_source": {s: unique.get(s, 0) for s in SOURCES},
        "dropped_by_max_queries": {s: unique.get(s, 0) - final.get(s, 0) for s in SOURCES},
        "overlaps": group(counters, "overlap"),
        "empty_after_normalization": group(counters, "empty_after_normalization"),
        "thresholds": {"min_word_count": config.min_word_count, "min_bigram_count": config.min_bigram_count,
                       "min_pmi": config.min_pmi, "max_bigrams": config.max_bigrams,
                       "min_title_views": config.min_title_views, "max_queries": config.max_queries},
        "seconds": round(seconds, 2),
    }
    if config.dump_paths or config.dump_index_paths:
        stats["wiki_dump"] = group(counters, "wiki_dump")
        stats["bigram_pmi"] = group(counters, "bigram")
        stats["ngram_memory_flushes"] = counters.get("ngrams.memory_flushes", 0)
        stats["count_shards"] = config.count_shards
    if config.pageview_paths:
        stats["pageviews"] = group(counters, "pageviews")
    if config.wordnet_dir or config.use_nltk_wordnet:
        stats["wordnet"] = {"synsets": counters.get("wordnet.synsets", 0),
                            "source": "nltk" if config.use_nltk_wordnet else config.wordnet_dir}
    if config.api_seeds:
        stats["wiki_api"] = group(counters, "wiki_api")
    return stats
