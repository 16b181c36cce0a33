"""Which image references of a batch become candidates, cheapest test first.

    image batch (batches.IMAGE_SCHEMA)
      -> the text filters but language (filters.TextFilter.cheap_reject_reason), per text
      -> query matching of the survivors (matcher.QueryMatcher.match_batch), one call
      -> language identification of the texts that matched (TextFilter.wrong_language)
      -> candidate batch: the surviving rows, every image column, plus `uid` and `matched`

Each reference is counted once, under the first step that drops it: `filtered.<reason>`,
`pairs.no_query_match`, `filtered.wrong_language`; `pairs.passed_filters` counts those
that passed the text filters before matching, `pairs.matched` the candidates. Language
identification costs more than the other filters and the matching together, so it runs
last: a text in another language that matches no query is counted as no_query_match.

A step is a function of the batch's columns that narrows the list of surviving row
indices; another one (a page-region rule, a second language check) slots in the same way.
"""
from __future__ import annotations

import pyarrow as pa

from wit_pipeline.harvest.filters import TextFilter
from wit_pipeline.harvest.matcher import QueryMatcher
from wit_pipeline.harvest.schema import pair_uid

MATCHED_TYPE = pa.list_(pa.string())


class CandidateSelector:
    def __init__(self, text_filter: TextFilter, matcher: QueryMatcher) -> None:
        self.text_filter, self.matcher = text_filter, matcher

    def select(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch | None, dict[str, int]]:
        """(candidate batch or None when no row survived, {counter name: n > 0})."""
        counts: dict[str, int] = {}

        def count(name: str, n: int) -> None:
            if n:
                counts[name] = counts.get(name, 0) + n

        texts = batch.column("text").to_pylist()
        widths, heights = batch.column("width").to_pylist(), batch.column("height").to_pylist()
        reject = self.text_filter.cheap_reject_reason
        rows = []
        for row, (text, width, height) in enumerate(zip(texts, widths, heights)):
            reason = reject(text, width, height)
            if reason is None:
                rows.append(row)
            else:
                count(f"filtered.{reason}", 1)
        count("pairs.passed_filters", len(rows))

        matched_rows, matched = [], []
        for row, queries in zip(rows, self.matcher.match_batch([texts[row] for row in rows])):
            if queries:
                matched_rows.append(row)
                matched.append(queries)
        count("pairs.no_query_match", len(rows) - len(matched_rows))

        wrong = self.text_filter.wrong_language([texts[row] for row in matched_rows])
        rows = [row for row, drop in zip(matched_rows, wrong) if not drop]
        matched = [queries for queries, drop in zip(matched, wrong) if not drop]
        count("filtered.wrong_language", len(matched_rows) - len(rows))
        count("pairs.matched", len(rows))
        if not rows:
            return None, counts
        candidates = batch.take(pa.array(rows, pa.int32()))
        urls = candidates.column("url").to_pylist()
        uids = [pair_uid(url, texts[row]) for url, row in zip(urls, rows)]
        candidates = candidates.append_column("uid", pa.array(uids, pa.string()))
        return candidates.append_column("matched", pa.array(matched, MATCHED_TYPE)), counts
