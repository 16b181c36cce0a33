"""Which queries occur, as whole tokens, in each text.

Queries and texts are tokenized exactly as `queries.normalize.tokenize` does (the
function `wit queries` built the list with). Matching is whole-token: "cat" is found in
"a cat sat", never in "concatenate"; overlapping queries are all reported ("new york"
and "york" in "new york city"). `match_batch` lists each query found once: single-token
queries in text order, then multi-token queries in text order.

MetaCLIP's `substr_matching` runs one character-level Aho-Corasick `iter` per text and a
Python loop over its matches. Most of that time goes to per-character automaton steps,
per-match tuples and per-text interpreter overhead. Here (bench/match_throughput.py
measures the difference):

- Batches. A batch of texts is tokenized in a few C-level calls on one joined buffer,
  texts separated by a sentinel token: `bytes.lower/translate/split`, plus a regex
  that only visits apostrophes and hyphens. On ASCII text (most alt-texts) that yields
  exactly the tokens of the Unicode regex; a non-ASCII text is first replaced by its
  `normalize`d form (NFKC + casefold + the regex), which the byte rules leave as it is.
  tests/harvest/test_query_matcher_perf_equivalence.py checks both on random Unicode texts.
- One hash lookup per token (`map(dict.get)`) answers both "which single-token query
  is this token" and "which automaton symbol does it get". Single-token queries (most
  of a Wikipedia-derived list, and most matches) never walk an automaton.
- Multi-token queries go through an Aho-Corasick automaton (pyahocorasick) over a token
  alphabet: each token of a multi-token query gets a fixed-width code of `width`
  symbols whose first symbol comes from a "lead" range and the others from a disjoint
  "follow" range. A key therefore only matches starting at a token start and spans
  whole tokens, so whole-token semantics hold by construction, and the automaton walks
  ~3 symbols per token with at most 64 children per node (pyahocorasick scans children
  linearly, so a flat alphabet of 100k tokens at the root would be slow). Tokens in no
  multi-token query become one "unknown" symbol that resets the automaton.
- No Python bytecode runs per token: lookups, symbol encoding and the automaton are
  C calls over whole lists. Results are cut per text at the sentinels with
  `list.index` and de-duplicated with `dict.fromkeys`, in one short loop per text.
"""
from __future__ import annotations

import itertools
import operator
import re
import threading
from typing import Iterable, Sequence

import ahocorasick

from queries.schema import normalize, tokenize

# Inserted after case folding, so it never collides with a text token or a query token.
_SENTINEL = "Q"
_SENTINEL_BYTES = b"Q"
_SENTINEL_SYMBOL = chr(1)
_UNKNOWN_SYMBOL = chr(2)
_ALPHABET = 64
_LEAD_BASE = 3
_FOLLOW_BASE = _LEAD_BASE + _ALPHABET
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_NO_QUERY = ("", _UNKNOWN_SYMBOL)

# Byte-level tokenizer for a batch. After lower(), token bytes are ASCII [a-z0-9], the
# joiners ' and -, and every byte >= 0x80; every other byte separates tokens, except the
# sentinel "Q" (no other upper case is left). A raw text only reaches it when it is ASCII,
# where this is exactly `tokenize`; a non-ASCII text is replaced by its `normalize`d form
# first (tokens joined by spaces), which these rules leave as it is.
_TOKEN_BYTES = bytes(c if (48 <= c <= 57 or 97 <= c <= 122 or c in b"'-Q" or c >= 0x80) else 32 for c in range(256))
# ' and - only join tokens when single and between two token characters; any other run
# of them separates. Written to start with the joiner class so that `re` jumps from one
# joiner to the next instead of trying lookbehinds at every byte (12x faster).
_STRAY_JOINERS = re.compile(rb"['\-](?:['\-]+|(?<![a-z0-9\x80-\xff]['\-])|(?![a-z0-9\x80-\xff]))")


def batch_tokens(texts: Sequence[str]) -> list[bytes]:
    """`tokenize` of each text, as UTF-8 bytes, each text's tokens followed by a sentinel token."""
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:  # a line break inside a text is just whitespace
        texts = [text.replace("\n", " ") for text in texts]
        joined = "\n".join(texts)
    if not joined.isascii():
        texts = list(texts)
        for i in itertools.compress(itertools.count(), map(operator.not_, map(str.isascii, texts))):
            texts[i] = normalize(texts[i])
        joined = "\n".join(texts)
    data = (joined + "\n").encode().lower().replace(b"\n", b" Q ").translate(_TOKEN_BYTES)
    if b"'" in data or b"-" in data:
        data = _STRAY_JOINERS.sub(b" ", data)
    return data.split()


def read_query_file(path: str) -> list[str]:
    """The `query` column of a `wit queries` parquet file, or the lines of a text file."""
    from wit_pipeline.core import files
    if path.endswith(".parquet"):
        table = files.read_parquet(path)
        if "query" not in table.column_names:
            raise ValueError(f"{path}: no `query` column (columns: {table.column_names})")
        return [q for q in table.column("query").to_pylist() if q is not None]
    return [line.strip() for line in files.read_bytes(path).decode("utf-8").splitlines() if line.strip()]


def normalized_queries(queries: Iterable[str]) -> list[str]:
    """Queries as the matcher reports them: normalized, non-empty, first spelling kept."""
    unique: dict[str, None] = {}
    for query in queries:
        if query is not None:
            normalized = " ".join(tokenize(query))
            if normalized:
                unique.setdefault(normalized, None)
    return list(unique)


class QueryMatcher:
    """Immutable after construction; `match_batch` is safe to call from many threads."""

    def __init__(self, queries: Iterable[str]) -> None:
        self.queries: list[str] = normalized_queries(queries)
        multi_token: list[list[str]] = []
        # bytes token -> the single-token query (str) it is; the sentinel maps to itself.
        single: dict[bytes, str] = {_SENTINEL_BYTES: _SENTINEL}
        for query in self.queries:
            if " " in query:
                multi_token.append(query.split(" "))
            else:
                single[query.encode()] = query
        symbols, self._automaton = self._build_automaton(multi_token)
        # ONE hash lookup per text token answers both questions: which single-token query
        # it is (or "") and which automaton symbol it gets. Tokens of no query get _NO_QUERY.
        # Built in query-list order (most frequent first for a ranked list): a dict keeps
        # its entries in insertion order, so the hot tokens' entries and key objects sit
        # together in memory and stay in cache; a hash-ordered build measured ~20% slower.
        self._token_info: dict[bytes, tuple[str, str]] = {_SENTINEL_BYTES: (_SENTINEL, _SENTINEL_SYMBOL)}
        for query in self.queries:
            for token in query.split(" "):
                key = token.encode()
                if key not in self._token_info:
                    self._token_info[key] = (single.get(key, ""), symbols.get(key, _UNKNOWN_SYMBOL))

    @staticmethod
    def _build_automaton(multi_token: list[list[str]]):
        vocabulary: dict[str, None] = {}
        for tokens in multi_token:
            vocabulary.update(dict.fromkeys(tokens))
        width = 1
        while _ALPHABET ** width < max(1, len(vocabulary)):
            width += 1
        symbols: dict[bytes, str] = {_SENTINEL_BYTES: _SENTINEL_SYMBOL}
        for code, token in enumerate(vocabulary):
            digits = []
            for _ in range(width - 1):
                code, digit = divmod(code, _ALPHABET)
                digits.append(chr(_FOLLOW_BASE + digit))
            symbols[token.encode()] = chr(_LEAD_BASE + code) + "".join(reversed(digits))
        automaton = ahocorasick.Automaton()
        for tokens in multi_token:
            automaton.add_word("".join(symbols[t.encode()] for t in tokens), " ".join(tokens))
        automaton.add_word(_SENTINEL_SYMBOL, _SENTINEL)
        automaton.make_automaton()
        return symbols, automaton

    def __len__(self) -> int:
        return len(self.queries)

    def _match_tokens(self, tokens: list[bytes], n_texts: int) -> list[list[str]]:
        info = list(map(self._token_info.get, tokens, itertools.repeat(_NO_QUERY)))
        single = list(filter(None, map(_FIRST, info)))
        multi = list(map(_SECOND, self._automaton.iter("".join(map(_SECOND, info)))))
        # Cut both lists at their sentinels and de-duplicate each text's matches in
        # first-seen order. `list.index` tries `is` before `==`, and no query equals the
        # sentinel (queries are case-folded). A loop per text with C calls inside measured
        # 1.3x faster than a chain of C-level `map`s over the items.
        found = []
        append, unique = found.append, dict.fromkeys
        next_single, next_multi = single.index, multi.index
        s = m = 0
        for _ in range(n_texts):
            s_end = next_single(_SENTINEL, s)
            m_end = next_multi(_SENTINEL, m)
            append([*unique(single[s:s_end] + multi[m:m_end])])
            s, m = s_end + 1, m_end + 1
        if s != len(single) or m != len(multi):
            raise AssertionError(f"{n_texts} texts but {single.count(_SENTINEL)}/{multi.count(_SENTINEL)} sentinels")
        return found

    def match_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """For each text, the queries it contains, each once."""
        if not texts:
            return []
        return self._match_tokens(batch_tokens(texts), len(texts))

    def match(self, text: str) -> list[str]:
        return self.match_batch([text])[0]


class SharedMatchers:
    """One matcher per (process, query file version): DoFn instances on a worker's threads share it.

    Keyed by path, size and modification time, so a rewritten query file is never
    matched with a stale automaton in a long-lived worker.
    """

    _cache: dict[tuple, QueryMatcher] = {}
    _lock = threading.Lock()

    @classmethod
    def for_file(cls, path: str) -> QueryMatcher:
        from wit_pipeline.core import files

        identity = files.file_identity([path])[0]
        key = (path, identity["size"], identity["mtime"])
        with cls._lock:
            matcher = cls._cache.get(key)
            if matcher is None:
                matcher = cls._cache[key] = QueryMatcher(read_query_file(path))
            return matcher
