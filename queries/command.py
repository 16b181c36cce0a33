"""`wit queries`: the WIT query list (Wikipedia words, PMI bigrams, popular titles,
WordNet synsets, optional online expansion) as one Beam pipeline.

Flags become one frozen `QueriesConfig`, checked once (paths expanded, thresholds in
range) before Beam's pipeline modules are imported; `queries.pipeline` builds and runs
the pipeline from it, `queries.summary` reports what it did.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

from queries import api, multistream, ngrams, summary, wordnet
from queries.schema import PLOT_NAME, QUERIES_PARQUET, QUERIES_TXT
from wit_pipeline.core import console, files

# What a directory given to --wiki-dump / --wiki-dump-index stands for (a pageviews folder
# means every file in it). Dumps: enwiki-...-pages-articles[-multistream][N].xml[-pA pB][.bz2|.gz].
DUMP_DIRECTORY = (("*.xml", "*.xml.*", "*.xml-*"),)
INDEX_DIRECTORY = (("*-index*",),)
NO_SOURCE = "no source given: pass --wiki-dump, --pageviews, --wordnet and/or --wiki-api-seed"


@dataclasses.dataclass(frozen=True)
class QueriesConfig:
    """Everything one run needs; invalid values raise ValueError when it is built."""

    out: str
    dump_paths: tuple[str, ...] = ()
    dump_index_paths: tuple[str, ...] = ()
    split_bytes: int = 32 << 20
    pageview_paths: tuple[str, ...] = ()
    wordnet_dir: str | None = None  # its WNDB files: wordnet_paths
    wordnet_paths: tuple[str, ...] = ()
    use_nltk_wordnet: bool = False
    api_seeds: tuple[str, ...] = ()
    min_word_count: int = 100
    min_bigram_count: int = 1000
    min_pmi: float = 30.0
    max_bigrams: int = 100_000
    min_title_views: int = 70
    max_queries: int = 500_000
    count_shards: int = 64  # the CLI default (0) sizes this from the input, see ngrams.count_shards_for
    max_keys_in_memory: int = 3_000_000
    wiki_api_max_pages: int = 100
    wiki_api_url: str = api.DEFAULT_API_URL
    wiki_api_rate: float = 5.0
    wiki_api_timeout: float = 10.0
    wiki_api_retries: int = 3

    def __post_init__(self):
        if not (self.dump_paths or self.dump_index_paths or self.pageview_paths or self.wordnet_paths
                or self.use_nltk_wordnet or self.api_seeds):
            raise ValueError(NO_SOURCE)
        for name in ("min_word_count", "min_bigram_count", "min_title_views", "max_queries",
                     "count_shards", "max_keys_in_memory", "wiki_api_max_pages"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_bigrams < 0:
            raise ValueError(f"--max-bigrams must be >= 0 (0: no cap), got {self.max_bigrams}")
        if self.min_pmi < 0:
            raise ValueError(f"--min-pmi must be >= 0, got {self.min_pmi}")
        if self.split_bytes < 1:
            raise ValueError(f"--split-mb must be positive, got {self.split_bytes / (1 << 20)}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "QueriesConfig":
        if not args.split_mb > 0:
            raise ValueError(f"--split-mb must be positive, got {args.split_mb}")
        nltk = args.wordnet == "nltk"
        wordnet_paths = () if nltk or not args.wordnet else _wndb_paths(args.wordnet)
        dump_paths = tuple(files.expand_inputs(args.wiki_dump, "--wiki-dump", DUMP_DIRECTORY))
        index_paths = tuple(files.expand_inputs(args.wiki_dump_index, "--wiki-dump-index", INDEX_DIRECTORY))
        count_shards = args.count_shards or _auto_count_shards(
            sorted(set(dump_paths) | {multistream.dump_for_index(i) for i in index_paths}))
        return cls(
            out=args.out, dump_paths=dump_paths, dump_index_paths=index_paths,
            split_bytes=max(1, int(args.split_mb * (1 << 20))),
            pageview_paths=tuple(files.expand_inputs(args.pageviews, "--pageviews", (("*",),))),
            wordnet_dir=None if nltk else args.wordnet, wordnet_paths=wordnet_paths, use_nltk_wordnet=nltk,
            api_seeds=tuple(args.wiki_api_seed),
            min_word_count=args.min_word_count, min_bigram_count=args.min_bigram_count,
            min_pmi=args.min_pmi, max_bigrams=args.max_bigrams, min_title_views=args.min_title_views,
            max_queries=args.max_queries, count_shards=count_shards,
            max_keys_in_memory=args.max_keys_in_memory, wiki_api_max_pages=args.wiki_api_max_pages,
            wiki_api_url=args.wiki_api_url, wiki_api_rate=args.wiki_api_rate,
            wiki_api_timeout=args.wiki_api_timeout, wiki_api_retries=args.wiki_api_retries)


def _wndb_paths(directory: str) -> tuple[str, ...]:
    if not files.exists(directory):
        raise FileNotFoundError(f"WordNet directory {directory!r} does not exist")
    paths = tuple(files.join(directory, name) for name in wordnet.WNDB_FILES)
    missing = [p for p in paths if not files.exists(p)]
    if missing:
        raise FileNotFoundError(f"WordNet directory {directory!r} lacks {', '.join(missing)}")
    return paths


def _auto_count_shards(paths: list[str]) -> int:
    return ngrams.count_shards_for({entry["path"]: entry["size"] or 0 for entry in files.file_identity(paths)})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = QueriesConfig
    parser.add_argument("--out", required=True, help="output directory (local or gs://, s3://, ...)")
    parser.add_argument("--wiki-dump", nargs="+", default=[], metavar="GLOB",
                        help="MediaWiki pages-articles XML dumps (plain, .bz2, .gz; a folder means its *.xml* files)")
    parser.add_argument("--wiki-dump-index", nargs="+", default=[], metavar="GLOB",
                        help="multistream indexes (*-multistream-index*.txt*.bz2): their dumps are read "
                             "in stream-aligned ranges by many workers")
    parser.add_argument("--split-mb", type=float, default=32,
                        help="compressed MB per range of an indexed multistream dump")
    parser.add_argument("--pageviews", nargs="+", default=[], metavar="GLOB",
                        help="Wikimedia pageview dump files (`domain page_title views bytes`, gz or plain; a folder "
                             "means every file in it)")
    parser.add_argument("--wordnet", nargs="?", const="nltk", default=None, metavar="DIR",
                        help="WNDB directory with data.noun/verb/adj/adv; the bare flag uses nltk's installed WordNet")
    parser.add_argument("--wiki-api-seed", nargs="+", default=[], metavar="TITLE",
                        help="seed titles (articles or Category:...) for online expansion with wikipedia-api")
    parser.add_argument("--wiki-api-max-pages", type=int, default=defaults.wiki_api_max_pages)
    parser.add_argument("--wiki-api-url", default=defaults.wiki_api_url, help="MediaWiki api.php endpoint")
    parser.add_argument("--wiki-api-rate", type=float, default=defaults.wiki_api_rate,
                        help="maximum API requests per second")
    parser.add_argument("--wiki-api-timeout", type=float, default=defaults.wiki_api_timeout)
    parser.add_argument("--wiki-api-retries", type=int, default=defaults.wiki_api_retries)
    parser.add_argument("--min-word-count", type=int, default=defaults.min_word_count)
    parser.add_argument("--min-bigram-count", type=int, default=defaults.min_bigram_count)
    parser.add_argument("--min-pmi", type=float, default=defaults.min_pmi,
                        help="minimum p(x,y)/(p(x)p(y)) (= 2**PMI in bits)")
    parser.add_argument("--max-bigrams", type=int, default=defaults.max_bigrams,
                        help="keep the top bigrams by PMI (0: no cap)")
    parser.add_argument("--min-title-views", type=int, default=defaults.min_title_views)
    parser.add_argument("--max-queries", type=int, default=defaults.max_queries)
    parser.add_argument("--count-shards", type=int, default=0,
                        help="partitions of the n-gram counts (memory per merge = distinct n-grams / shards); "
                             "0: one per ~64 MB of uncompressed text, at least 16")
    parser.add_argument("--max-keys-in-memory", type=int, default=defaults.max_keys_in_memory,
                        help="distinct bigrams a worker holds before flushing partial counts")


def main(args, beam_argv: list[str]) -> int:
    files.lock_out(args.out, "queries")
    config = QueriesConfig.from_args(args)
    from queries.pipeline import run_pipeline  # Beam's pipeline modules: only once the flags are good

    started = time.monotonic()
    counters = run_pipeline(config, beam_argv)
    table = files.read_parquet(files.join(config.out, QUERIES_PARQUET))
    stats = summary.build_stats(counters, table.column("source").to_pylist(), config, time.monotonic() - started)
    stats["outputs"] = {name: files.join(config.out, name) for name in (QUERIES_PARQUET, QUERIES_TXT, PLOT_NAME)}
    console.finish(config.out, "wit queries", stats)
    return 0
