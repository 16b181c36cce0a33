"""Generated inputs for `wit queries`: MediaWiki XML dumps, pageview files and a WNDB
WordNet directory, in the real formats. Tests, the benchmark and `wit demo` use them;
nothing is downloaded.
"""
from __future__ import annotations

import bz2
import codecs
import dataclasses
import gzip
import itertools
import os
import random
from typing import Iterable, Sequence
from xml.sax.saxutils import escape

EXPORT_NS = "http://www.mediawiki.org/xml/export-0.10/"


@dataclasses.dataclass(frozen=True)
class Page:
    title: str
    text: str
    ns: int = 0
    redirect_to: str | None = None


def dump_xml(pages: Iterable[Page], encoding: str | None = None) -> Iterable[str]:
    """The dump's text; with `encoding`, it starts with an XML declaration naming it."""
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    yield (f'{declaration}<mediawiki xmlns="{EXPORT_NS}" version="0.10" xml:lang="en">\n'
           "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <namespaces>\n"
           '      <namespace key="0" case="first-letter" />\n'
           '      <namespace key="1" case="first-letter">Talk</namespace>\n'
           "    </namespaces>\n  </siteinfo>\n")
    for page_id, page in enumerate(pages, 1):
        redirect = f'    <redirect title="{escape(page.redirect_to, {chr(34): "&quot;"})}" />\n' \
            if page.redirect_to else ""
        yield ("  <page>\n"
               f"    <title>{escape(page.title)}</title>\n    <ns>{page.ns}</ns>\n    <id>{page_id}</id>\n"
               f"{redirect}"
               f"    <revision>\n      <id>{page_id * 10}</id>\n"
               "      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
               f'      <text bytes="{len(page.text.encode())}" xml:space="preserve">{escape(page.text)}</text>\n'
               "    </revision>\n  </page>\n")
    yield "</mediawiki>\n"


def _opener(path: str, encoding: str = "utf-8"):
    if path.endswith(".bz2"):
        return bz2.open(path, "wt", encoding=encoding)
    if path.endswith(".gz"):
        return gzip.open(path, "wt", encoding=encoding)
    return open(path, "w", encoding=encoding)


def write_dump(path: str, pages: Iterable[Page], encoding: str = "utf-8") -> str:
    """A dump in `encoding` (Python's codec: "utf-16" writes a byte-order mark); any other
    than UTF-8 is declared in an XML declaration, as XML requires."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _opener(path, encoding) as f:
        for part in dump_xml(pages, None if encoding == "utf-8" else encoding):
            f.write(part)
    return path


def write_pageviews(path: str, rows: Iterable[tuple[str, str, int]]) -> str:
    """rows: (domain_code, page_title, views); the bytes column is always 0, as in real files."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _opener(path) as f:
        for domain, title, views in rows:
            f.write(f"{domain} {title} {views} 0\n")
    return path


WNDB_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by\n" \
              "  2 Princeton University under the following license.\n"


def write_wordnet(directory: str, synsets: dict[str, Sequence[Sequence[str]]]) -> str:
    """synsets: {'noun': [[lemma, ...], ...], 'verb': ..., 'adj': ..., 'adv': ...}."""
    os.makedirs(directory, exist_ok=True)
    types = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
    for pos, ss_type in types.items():
        lines = [WNDB_HEADER]
        offset = len(WNDB_HEADER)
        for lemmas in synsets.get(pos, []):
            words = " ".join(f"{lemma} 0" for lemma in lemmas)
            line = f"{offset:08d} 03 {ss_type} {len(lemmas):02x} {words} 000 | a gloss\n"
            lines.append(line)
            offset += len(line)
        with open(os.path.join(directory, f"data.{pos}"), "w", encoding="utf-8") as f:
            f.writelines(lines)
    return directory


# ---------------------------------------------------------------- bulk text for benchmarks

_SYLLABLES = ["ka", "lo", "mi", "ra", "sen", "tor", "vi", "an", "el", "ur", "dax", "po", "que", "zi", "bel", "mor"]


def vocabulary(size: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def write_bulk_dumps(directory: str, total_bytes: int, files: int = 8, seed: int = 0,
                     vocab_size: int = 50_000) -> list[str]:
    """`files` plain XML dumps of about total_bytes of wikitext together.

    Words follow a Zipf law, and like real prose each word prefers a few successors
    (a first-order Markov chain), so the bigram distribution is concentrated the way
    natural text's is, rather than every pair of words being equally likely.
    """
    rng = random.Random(seed)
    words = vocabulary(vocab_size, seed)
    rng.shuffle(words)  # Zipf rank independent of spelling
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))
    successors = {w: rng.choices(words, cum_weights=cum_weights, k=6) for w in words}
    phrases = [(rng.choice(words), rng.choice(words)) for _ in range(2_000)]
    paths = []
    per_file = total_bytes // files
    for index in range(files):
        path = os.path.join(directory, f"enwiki-pages-articles{index + 1}.xml")
        written = 0

        def pages():
            nonlocal written
            number = 0
            while written < per_file:
                number += 1
                text = _markov_article(rng, words, cum_weights, successors, phrases)
                written += len(text)
                yield Page(f"Article {index}-{number}", text)
        write_dump(path, pages())
        paths.append(path)
    return paths


def _markov_article(rng: random.Random, words, cum_weights, successors, phrases) -> str:
    length = rng.randint(300, 700)
    fresh = rng.choices(words, cum_weights=cum_weights, k=length)
    coins = [rng.random() for _ in range(length)]
    body = [fresh[0]]
    for position in range(1, length):
        coin = coins[position]
        body.append(successors[body[-1]][int(coin * 10)] if coin < 0.6 else fresh[position])
    for position in range(0, length, 23):
        a, b = phrases[int(rng.random() * len(phrases))]
        body[position] = f"[[{a} {b}]]"
    for position in range(11, length, 17):
        body[position] += "."
    return ("{{Infobox thing|name=" + body[0] + "}}\n" + " ".join(body)
            + ".<ref>{{cite web|url=http://example.org}}</ref>\n[[Category:" + fresh[1] + "]]\n")


def write_multistream(directory: str, pages: Sequence[Page], pages_per_stream: int = 100,
                      name: str = "enwiki-20240101-pages-articles-multistream",
                      encoding: str = "utf-8") -> tuple[str, str]:
    """A multistream dump (`NAME.xml.bz2`: one bz2 stream for the header, one per
    `pages_per_stream` pages, one for the closing tag) and its index
    (`NAME-index.txt.bz2`, lines `offset:page_id:title`), as Wikimedia publishes them.
    `encoding` as in `write_dump`: the header holds the declaration and any byte-order mark."""
    os.makedirs(directory, exist_ok=True)
    parts = list(dump_xml(pages, None if encoding == "utf-8" else encoding))
    header, page_parts, closing = parts[0], parts[1:-1], parts[-1]
    encode = codecs.getincrementalencoder(encoding)().encode  # a byte-order mark only at the start
    dump_path = os.path.join(directory, f"{name}.xml.bz2")
    index_lines = []
    with open(dump_path, "wb") as f:
        f.write(bz2.compress(encode(header)))
        for first in range(0, len(page_parts), pages_per_stream):
            offset = f.tell()
            for page_id in range(first + 1, min(first + pages_per_stream, len(page_parts)) + 1):
                index_lines.append(f"{offset}:{page_id}:{pages[page_id - 1].title}\n")
            f.write(bz2.compress(encode("".join(page_parts[first:first + pages_per_stream]))))
        f.write(bz2.compress(encode(closing)))
    index_path = os.path.join(directory, f"{name}-index.txt.bz2")
    with open(index_path, "wb") as f:
        f.write(bz2.compress("".join(index_lines).encode()))
    return dump_path, index_path
