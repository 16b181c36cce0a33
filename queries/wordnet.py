"""WordNet synsets as queries: one entry per synset, from its head (first) lemma.

Reads the WNDB database files (`data.noun`, `data.verb`, `data.adj`, `data.adv`) of
WordNet 3.x, or nltk's installed WordNet corpus. Underscores become spaces and the
adjective position markers `(a)`, `(p)`, `(ip)` are stripped.

WNDB data line: `offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] ...`,
`w_cnt` two hex digits; the license header lines start with two spaces.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

WNDB_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_SYNSET_TYPES = frozenset("nvasr")
_ADJECTIVE_MARKER = re.compile(r"\((?:a|p|ip)\)$")


class WordNetError(ValueError):
    pass


def lemma_text(lemma: str) -> str:
    return _ADJECTIVE_MARKER.sub("", lemma).replace("_", " ").strip()


def parse_data_line(line: str) -> tuple[str, str]:
    """(synset offset + type, head lemma text) of one WNDB data line."""
    fields = line.split(" ", 5)
    if len(fields) < 5 or not fields[0].isdigit() or fields[2] not in _SYNSET_TYPES:
        raise WordNetError(f"not a WNDB data line: {line[:80]!r}")
    try:
        word_count = int(fields[3], 16)
    except ValueError:
        raise WordNetError(f"bad word count {fields[3]!r}") from None
    if word_count < 1:
        raise WordNetError("synset without words")
    return f"{fields[0]}-{fields[2]}", lemma_text(fields[4])


def iter_head_lemmas(lines: Iterable[str], path: str) -> Iterator[tuple[str, str]]:
    """(synset id, head lemma) per data line; WordNetError naming `path` and line on bad input."""
    synsets = 0
    for number, line in enumerate(lines, 1):
        if line.startswith("  ") or not line.strip():
            continue
        try:
            yield parse_data_line(line.rstrip("\n"))
        except WordNetError as exc:
            raise WordNetError(f"{path}:{number}: {exc}") from None
        synsets += 1
    if synsets == 0:
        raise WordNetError(f"{path}: no synsets (is this a WNDB data file?)")


def read_head_lemmas(text: Iterable[str], path: str) -> list[tuple[str, str]]:
    """`iter_head_lemmas` of a whole file opened as strict UTF-8 text."""
    try:
        return list(iter_head_lemmas(text, path))
    except UnicodeDecodeError as exc:
        raise WordNetError(f"{path}: not UTF-8 text: {exc}") from None


def nltk_head_lemmas() -> list[tuple[str, str]]:
    """(synset name, head lemma) for every synset of nltk's installed WordNet."""
    try:
        from nltk.corpus import wordnet
        synsets = list(wordnet.all_synsets())
    except LookupError as exc:
        raise WordNetError("nltk's WordNet data is not installed (python -m nltk.downloader wordnet), "
                           "or give --wordnet DIR with the WNDB data.* files") from exc
    return sorted((s.name(), lemma_text(s.lemmas()[0].name())) for s in synsets)
