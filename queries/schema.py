"""What other stages rely on from `wit queries`: the query list's files and columns, and
the normalization a query and a text must both go through to match.

`wit harvest` (and the generated worlds of `wit run`) import `queries` only through this
module. A query list is `OUT/queries.parquet` (columns below, rows in rank order, each
`query` unique and already normalized) and `OUT/queries.txt` (the same queries, one per
line). The matcher must tokenize texts exactly as `tokenize` does, or a query counted
in Wikipedia would not be found in the alt-texts that contain it (the rules are in
`queries.normalize`).
"""
from __future__ import annotations

import pyarrow as pa

from queries.normalize import TOKEN_RE, fold, normalize, tokenize

__all__ = ["QUERIES_PARQUET", "QUERIES_TXT", "PLOT_NAME", "SCHEMA", "SOURCES", "PRECEDENCE",
           "TOKEN_RE", "fold", "normalize", "tokenize"]

QUERIES_PARQUET = "queries.parquet"
QUERIES_TXT = "queries.txt"
PLOT_NAME = "count_distribution.png"

SCHEMA = pa.schema([
    pa.field("query", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("count", pa.int64()),  # occurrences, for unigrams and bigrams
    pa.field("score", pa.float64()),  # PMI ratio for bigrams, views for titles
])

# The values of `source`, in precedence order: a query several sources propose keeps
# the row of the first, and the list is ranked by source first.
SOURCES = ("unigram", "bigram", "title", "wordnet", "api")
PRECEDENCE = {name: index for index, name in enumerate(SOURCES)}
