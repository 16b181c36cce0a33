"""Query-list quality: `wit queries` on a generated dump whose right answer is known.

    .venv/bin/python bench/query_quality.py [--articles 300] [--min-word-count 20] [--min-bigram-count 20]
                                            [--keep-numbers] [--stopwords none] [--code DIR --legacy]

`wit_pipeline.run.worlds.wiki_quality` writes a MediaWiki dump of real-looking articles:
prose around infoboxes, tables, citation templates, image links with bracketed
captions, digit-grouped numbers, decimals, years, "U.S.", formulas in `<sub>`/`{{chem}}`
and appendix sections (See also, References, Bibliography, External links, ...) that
repeat the prose's words among names, "pp.", "ISBN". It also writes which tokens the
prose holds, so the unigram and bigram queries the thresholds and rules must give are
known without the code under test. The benchmark runs the whole `wit queries` command
on the dump and prints:

- junk found: queries that are not in the expected list (boilerplate words, fragments
  of split formulas or numbers, numbers, function words);
- real words missed: expected queries the list lacks;
- miscounted: queries in both with another count (text counted that should not be, or
  prose that was lost).

Goal: none of the three. Exit status 1 when any is found.

`--code DIR` runs another checkout's `wit` on the same dump (e.g. the code before the
rules, to see what they fix); `--legacy` says that checkout has no `--stopwords` or
`--keep-numbers`, so the expected list is the CLIP paper's (function words and numbers
are queries) and only junk of the other kinds counts against it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow.parquet as pq  # noqa: E402

from wit_pipeline.run.worlds import wiki  # noqa: E402
from wit_pipeline.run.worlds import wiki_quality  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_wit(code: str, dump: str, out: str, args, legacy: bool) -> list[dict]:
    argv = [sys.executable, "-m", "wit_pipeline.cli", "queries", "--out", out, "--wiki-dump", dump,
            "--min-word-count", str(args.min_word_count), "--min-bigram-count", str(args.min_bigram_count),
            "--min-pmi", str(args.min_pmi), "--max-bigrams", str(args.max_bigrams)]
    if not legacy:
        argv += ["--keep-numbers"] * args.keep_numbers + (["--stopwords", args.stopwords] if args.stopwords else [])
    environment = dict(os.environ, PYTHONPATH=code)
    subprocess.run(argv, check=True, cwd=code, env=environment, stdout=subprocess.DEVNULL)
    return pq.read_table(os.path.join(out, "queries.parquet")).to_pylist()


def compare(rows: list[dict], expected: dict[str, int]) -> tuple[list, list, list]:
    found = {row["query"]: row["count"] for row in rows if row["source"] in ("unigram", "bigram")}
    junk = sorted(query for query in found if query not in expected)
    missed = sorted(query for query in expected if query not in found)
    miscounted = sorted((query, found[query], expected[query]) for query in found
                        if query in expected and found[query] != expected[query])
    return junk, missed, miscounted


def _show(label: str, items: list, limit: int = 40) -> None:
    shown = ", ".join(str(item) for item in items[:limit]) + (" ..." if len(items) > limit else "")
    print(f"{label}: {len(items)}" + (f"  [{shown}]" if items else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-word-count", type=int, default=20)
    parser.add_argument("--min-bigram-count", type=int, default=20)
    parser.add_argument("--min-pmi", type=float, default=30.0)
    parser.add_argument("--max-bigrams", type=int, default=100_000)
    parser.add_argument("--keep-numbers", action="store_true")
    parser.add_argument("--stopwords", choices=["none"], default=None, help="`none`: function words are queries")
    parser.add_argument("--code", default=ROOT, help="the checkout whose `wit` runs (default: this one)")
    parser.add_argument("--legacy", action="store_true",
                        help="the checkout has no --stopwords/--keep-numbers: expect the CLIP paper's list")
    args = parser.parse_args()

    corpus = wiki_quality.quality_corpus(args.articles, args.seed)
    expected = wiki_quality.expected_queries(
        corpus, min_word_count=args.min_word_count, min_bigram_count=args.min_bigram_count, min_pmi=args.min_pmi,
        max_bigrams=args.max_bigrams, keep_numbers=args.keep_numbers or args.legacy,
        stopwords=args.stopwords is None and not args.legacy)
    with tempfile.TemporaryDirectory(prefix="wit-query-quality-") as work:
        dump = wiki.write_dump(os.path.join(work, "enwiki-quality-pages-articles.xml.bz2"), corpus.pages)
        rows = run_wit(os.path.abspath(args.code), dump, os.path.join(work, "out"), args, args.legacy)
    junk, missed, miscounted = compare(rows, expected)
    tokens = sum(len(clause) for clause in corpus.clauses)
    print(f"{args.articles} articles, {tokens:,} counted tokens; code: {args.code}; expected "
          f"{sum(' ' not in q for q in expected)} unigrams + {sum(' ' in q for q in expected)} bigrams; "
          f"wit queries gave {sum(r['source'] == 'unigram' for r in rows)} + {sum(r['source'] == 'bigram' for r in rows)}")
    _show("junk found", junk)
    _show("real words missed", missed)
    _show("miscounted (query, counted, expected)", miscounted, limit=15)
    return 1 if junk or missed or miscounted else 0


if __name__ == "__main__":
    sys.exit(main())
