"""`wit harvest`: (image URL, alt-text) pairs whose text contains a query, at most N per query.

    sources (WARC/WAT files, URL lists, a polite crawl)
      -> image references (html_images, web_archives, url_lists, crawl)
      -> text filters (text_filters), uid, query matching (query_matcher)
      -> exact duplicates dropped (one CombinePerKey on uid)
      -> per-query cap (balance.Balance)
      -> OUT/candidates-NNNNN-of-NNNNN.parquet, OUT/query_counts.parquet, OUT/stats.json

`Harvest` is the composite PTransform; `main` is the CLI. Everything that is skipped on
the way is counted by reason (Beam metrics) and a few examples of each file/record-level
skip are kept, so the summary says what was skipped and where.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from typing import Iterable

import apache_beam as beam
import pyarrow as pa

from wit_pipeline.core import counters, files
from wit_pipeline.harvest.balance import BALANCE_MODES, EXACT, Balance, pair_uid, validate_balance
from wit_pipeline.harvest.sources.crawl import CrawlConfig, Crawler, read_seeds
from wit_pipeline.core.tables import URL_LIST_GLOBS
from wit_pipeline.harvest.sources.html import ImageRef
from wit_pipeline.harvest.matcher import SharedMatchers, normalized_queries, read_query_file
from wit_pipeline.harvest.filters import TextFilter, TextFilterConfig, read_boilerplate_file
from wit_pipeline.harvest.sources.lists import check_url_list, url_list_images
from wit_pipeline.harvest.sources.archives import DEFAULT_MAX_RECORD_BYTES, Counted, Skip, read_archive

STAGE = "harvest"
SKIP_EXAMPLES = 5
MATCH_BATCH = 512
CANDIDATE_SCHEMA = pa.schema([
    ("uid", pa.string()), ("url", pa.string()), ("text", pa.string()), ("page_url", pa.string()),
    ("source", pa.string()), ("matched", pa.list_(pa.string())),
])
QUERY_COUNT_SCHEMA = pa.schema([("query", pa.string()), ("matched", pa.int64()), ("kept", pa.int64())])
_SHARD_RE = re.compile(r"candidates-(\d{5})-of-(\d{5})\.parquet$")
# What a directory given to --warc/--wat stands for.
ARCHIVE_DIRECTORY = (("*.warc", "*.warc.gz", "*.wat", "*.wat.gz", "*.arc", "*.arc.gz"),)


def _count(name: str, n: int = 1) -> None:
    counters.count(STAGE, name, n)


def _route(items: Iterable) -> Iterable:
    """ImageRefs go on; Skips and Counteds become counters (Skips also an example)."""
    for item in items:
        if isinstance(item, ImageRef):
            _count(f"images_found.{item.source}")
            yield item
        elif isinstance(item, Skip):
            _count(f"skipped.{item.reason}", item.count)
            yield beam.pvalue.TaggedOutput("skips", (item.reason, item.detail))
        elif isinstance(item, Counted):
            _count(f"seen.{item.name}", item.count)


class _ReadArchiveFn(beam.DoFn):
    """One archive file. Whatever the file holds, what was read from it is kept and the
    file's problem is a counted skip: one file never fails the run."""

    def __init__(self, max_record_bytes: int) -> None:
        self.max_record_bytes = max_record_bytes

    def process(self, path):
        started = time.monotonic()
        images = skips = 0
        try:
            with files.open_read(path) as stream:
                for item in _route(read_archive(stream, path, self.max_record_bytes)):
                    if isinstance(item, ImageRef):
                        images += 1
                    else:
                        skips += 1
                    yield item
        except OSError as exc:  # unreadable storage: what was read so far is kept
            skips += 1
            yield from _route([Skip("unreadable_archive", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")])
        except Exception as exc:  # a reader bug on some unforeseen bytes must not fail the whole run
            skips += 1
            yield from _route([Skip("archive_reader_error", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")])
        _count("seen.archive_files")
        print(f"harvest: {path}: {images} images, {skips} skip events, {time.monotonic() - started:.1f}s",
              file=sys.stderr, flush=True)


class _ReadUrlListFn(beam.DoFn):
    def __init__(self, input_format: str, url_col: str, caption_col: str) -> None:
        self.input_format, self.url_col, self.caption_col = input_format, url_col, caption_col

    def process(self, path):
        yield from _route(url_list_images(path, self.input_format, self.url_col, self.caption_col))
        _count("seen.url_list_files")
        print(f"harvest: {path}: url list read", file=sys.stderr, flush=True)


class _CrawlFn(beam.DoFn):
    """The whole crawl in one DoFn: its frontier, visited set and page budget are global."""

    def __init__(self, policy, config: CrawlConfig) -> None:
        self.policy, self.config = policy, config

    def setup(self):
        from wit_pipeline.core.net import Fetcher

        self.fetcher = Fetcher(self.policy)

    def process(self, seeds_path):
        seeds = read_seeds(files.read_bytes(seeds_path).decode("utf-8", errors="replace"))
        _count("seen.crawl_seeds", len(seeds))
        yield from _route(Crawler(self.fetcher, self.config).crawl(seeds))
        print(f"harvest: crawl of {len(seeds)} seeds finished", file=sys.stderr, flush=True)

    def teardown(self):
        self.fetcher.close()


class _FilterAndMatchFn(beam.DoFn):
    """Batches of ImageRefs -> candidate rows whose text passes the filters and matches a query.

    The query automaton is built once per worker process (setup) and shared by all
    DoFn instances on that worker's threads (SharedMatchers).
    """

    def __init__(self, queries_path: str, filter_config: TextFilterConfig) -> None:
        self.queries_path, self.filter_config = queries_path, filter_config

    def setup(self):
        self.matcher = SharedMatchers.for_file(self.queries_path)
        self.text_filter = TextFilter(self.filter_config)

    def process(self, batch):
        survivors = []
        for ref in batch:
            reason = self.text_filter.reject_reason(ref.text, ref.width, ref.height)
            if reason is None:
                survivors.append(ref)
            else:
                _count(f"filtered.{reason}")
        _count("pairs.passed_filters", len(survivors))
        for ref, matched in zip(survivors, self.matcher.match_batch([r.text for r in survivors])):
            if not matched:
                _count("pairs.no_query_match")
                continue
            _count("pairs.matched")
            yield {"uid": pair_uid(ref.url, ref.text), "url": ref.url, "text": ref.text,
                   "page_url": ref.page_url, "source": ref.source, "matched": matched}


def _preference(row: dict) -> tuple:
    """Which copy of a duplicated pair is kept: deterministic, independent of arrival order."""
    return (row["source"], row["page_url"] or "")


class _FirstCopyCombineFn(beam.CombineFn):
    """(count, preferred row) over the copies of one uid."""

    def create_accumulator(self):
        return 0, None

    def add_input(self, accumulator, row):
        count, best = accumulator
        return count + 1, row if best is None or _preference(row) < _preference(best) else best

    def merge_accumulators(self, accumulators):
        count, best = 0, None
        for other_count, other in accumulators:
            count += other_count
            if other is not None and (best is None or _preference(other) < _preference(best)):
                best = other
        return count, best

    def extract_output(self, accumulator):
        return accumulator


def _unique(item):
    _, (count, row) = item
    if count > 1:
        _count("pairs.duplicates", count - 1)
    _count("pairs.unique")
    return row


class _WriteShardFn(beam.DoFn):
    def __init__(self, out: str) -> None:
        self.out = out

    def process(self, item, num_shards):
        index, rows = item
        rows = sorted(rows, key=lambda r: r["uid"])
        table = pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)
        path = files.join(self.out, f"candidates-{index:05d}-of-{num_shards:05d}.parquet")
        files.write_parquet(path, table)
        _count("output.candidate_shards")
        yield path


def shard_count(rows: int, shard_size: int) -> int:
    return max(1, -(-rows // shard_size))


def shard_of(uid: str, num_shards: int) -> int:
    return int(uid[:15], 16) % num_shards


class WriteCandidates(beam.PTransform):
    """Rows hashed by uid into ceil(rows / shard_size) shards; each shard sorted by uid.

    Shard contents and names depend only on the rows, never on workers or bundles.
    """

    def __init__(self, out: str, shard_size: int) -> None:
        super().__init__()
        self.out, self.shard_size = out, shard_size

    def expand(self, rows):
        total = rows | "CountRows" >> beam.combiners.Count.Globally()
        num_shards = total | "NumShards" >> beam.Map(shard_count, self.shard_size)
        side = beam.pvalue.AsSingleton(num_shards)
        return (rows
                | "KeyByShard" >> beam.Map(lambda row, n: (shard_of(row["uid"], n), row), side)
                | "GroupShards" >> beam.GroupByKey()
                | "WriteShards" >> beam.ParDo(_WriteShardFn(self.out), side))


class _WriteQueryCountsFn(beam.DoFn):
    def __init__(self, path: str) -> None:
        self.path = path

    def process(self, rows):
        rows = sorted(rows)  # (rank, query, matched, kept): the query file's order
        table = pa.table({"query": [r[1] for r in rows], "matched": [r[2] for r in rows],
                          "kept": [r[3] for r in rows]}, schema=QUERY_COUNT_SCHEMA)
        files.write_parquet(self.path, table)
        yield self.path


def _query_count_row(item):
    query, grouped = item
    ranks = grouped["rank"]
    counts = list(grouped["counts"])
    matched, kept = counts[0] if counts else (0, 0)
    rank = min(ranks) if ranks else float("inf")  # a query missing from the file cannot match; kept for safety
    return rank, query, matched, kept


@dataclasses.dataclass
class HarvestSources:
    archives: list[str] = dataclasses.field(default_factory=list)   # WARC and WAT files
    url_lists: list[str] = dataclasses.field(default_factory=list)
    crawl_seeds: str | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    input_format: str = "auto"
    url_col: str = "url"
    caption_col: str = "auto"


class Harvest(beam.PTransform):
    """PBegin -> {"candidates": rows kept, "query_counts": (query, (matched, kept)),
    "skips": (reason, detail)}.

    Rows are dicts with the candidates schema (uid, url, text, page_url, source, matched).
    """

    def __init__(self, queries_path: str, sources: HarvestSources, *, filter_config: TextFilterConfig | None = None,
                 per_query_cap: int = 20_000, balance: str = EXACT, fetch_policy=None,
                 crawl_config: CrawlConfig | None = None) -> None:
        super().__init__()
        validate_balance(per_query_cap, balance)
        self.queries_path, self.sources = queries_path, sources
        self.filter_config = (filter_config or TextFilterConfig()).validate()
        self.per_query_cap, self.balance = per_query_cap, balance
        self.fetch_policy = fetch_policy
        self.crawl_config = (crawl_config or CrawlConfig()).validate()

    def expand(self, pbegin):
        sources = self.sources
        outputs = []
        # Reading is I/O bound and one element is a whole file: the Reshuffles below break
        # fusion with Create, so a cluster hands files to all workers, not to the one
        # that listed them.
        if sources.archives:
            outputs.append(pbegin
                           | "ArchivePaths" >> beam.Create(sorted(sources.archives))
                           | "SpreadArchives" >> beam.Reshuffle()
                           | "ReadArchives" >> beam.ParDo(_ReadArchiveFn(sources.max_record_bytes)).with_outputs(
                               "skips", main="images"))
        if sources.url_lists:
            outputs.append(pbegin
                           | "UrlListPaths" >> beam.Create(sorted(sources.url_lists))
                           | "SpreadUrlLists" >> beam.Reshuffle()
                           | "ReadUrlLists" >> beam.ParDo(_ReadUrlListFn(
                               sources.input_format, sources.url_col, sources.caption_col)).with_outputs(
                                   "skips", main="images"))
        if sources.crawl_seeds:
            if self.fetch_policy is None:
                raise ValueError("a crawl needs a fetch policy")
            outputs.append(pbegin
                           | "SeedFile" >> beam.Create([sources.crawl_seeds])
                           | "Crawl" >> beam.ParDo(_CrawlFn(self.fetch_policy, self.crawl_config)).with_outputs(
                               "skips", main="images"))
        if not outputs:
            raise ValueError("nothing to harvest: give --warc/--wat, --url-list or --crawl-seeds")

        images = [o.images for o in outputs] | "AllImages" >> beam.Flatten()
        skips = [o.skips for o in outputs] | "AllSkips" >> beam.Flatten()
        pairs = (images
                 # The crawl is one DoFn (its frontier and page budget are global) and one
                 # archive yields thousands of images: spread them before filtering and matching.
                 | "SpreadImages" >> beam.Reshuffle()
                 | "Batch" >> beam.BatchElements(min_batch_size=MATCH_BATCH, max_batch_size=MATCH_BATCH)
                 | "FilterAndMatch" >> beam.ParDo(_FilterAndMatchFn(self.queries_path, self.filter_config)))
        unique = (pairs
                  | "KeyByUid" >> beam.Map(lambda row: (row["uid"], row))
                  | "DropDuplicates" >> beam.CombinePerKey(_FirstCopyCombineFn())
                  | "Unique" >> beam.Map(_unique))
        balanced = unique | "Balance" >> Balance(self.per_query_cap, self.balance)
        skip_examples = (skips
                         | "SkipExamples" >> beam.combiners.Top.SmallestPerKey(SKIP_EXAMPLES))
        return {"candidates": balanced["kept"], "query_counts": balanced["query_counts"],
                "skips": skip_examples}


class WriteQueryCounts(beam.PTransform):
    """(query, (matched, kept)) -> OUT/query_counts.parquet with a row for EVERY query in the list."""

    def __init__(self, queries_path: str, out_path: str) -> None:
        super().__init__()
        self.queries_path, self.out_path = queries_path, out_path

    def expand(self, counts):
        path = self.queries_path
        ranks = (counts.pipeline
                 | "QueryFile" >> beam.Create([path])
                 | "QueryRanks" >> beam.FlatMap(
                     lambda p: ((q, i) for i, q in enumerate(normalized_queries(read_query_file(p))))))
        return ({"rank": ranks, "counts": counts}
                | "JoinQueries" >> beam.CoGroupByKey()
                | "Rows" >> beam.Map(_query_count_row)
                | "AllRows" >> beam.combiners.ToList()
                | "Write" >> beam.ParDo(_WriteQueryCountsFn(self.out_path)))


# ------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queries", required=True,
                        help="queries.parquet from `wit queries` (or its output folder), or a .txt, one per line")
    parser.add_argument("--out", required=True, help="output directory (local or any Beam filesystem)")
    src = parser.add_argument_group("sources (at least one)")
    src.add_argument("--warc", action="append", default=[], metavar="GLOB",
                     help="WARC files, .warc or .warc.gz (repeatable; a folder means its .warc/.wat/.arc[.gz] "
                          "files); WAT files work here too")
    src.add_argument("--wat", action="append", default=[], metavar="GLOB",
                     help="Common Crawl WAT files (repeatable): IMG@/src links with alt/title")
    src.add_argument("--max-record-bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES, metavar="N",
                     help="HTML and WAT records larger than this (Content-Length, or decoded payload) are skipped "
                          f"as record_too_large without being read into memory (default {DEFAULT_MAX_RECORD_BYTES})")
    src.add_argument("--url-list", action="append", default=[], metavar="GLOB",
                     help="img2dataset-style lists: parquet/csv/tsv/jsonl with url and caption columns (a folder "
                          "means all such files in it)")
    src.add_argument("--input-format", default="auto", help="format of --url-list files (default: from the name)")
    src.add_argument("--url-col", default="url", help="URL column of --url-list files (default url)")
    src.add_argument("--caption-col", default="auto",
                     help="caption column of --url-list files (default: caption, else text)")
    src.add_argument("--crawl-seeds", metavar="FILE", help="crawl from these start URLs (one per line)")

    crawl = parser.add_argument_group("crawl")
    crawl.add_argument("--max-pages", type=int, default=1000, help="most pages fetched by the crawl (default 1000)")
    crawl.add_argument("--max-depth", type=int, default=2, help="most links away from a seed (default 2)")
    crawl.add_argument("--allowed-domains", default=None,
                       help="comma-separated domains the crawl may enter (default: the seeds' hosts; * for any)")
    crawl.add_argument("--per-host-concurrency", type=int, default=2, help="requests in flight per host (default 2)")
    crawl.add_argument("--per-host-delay", type=float, default=1.0,
                       help="seconds between request starts to one host (default 1.0)")
    crawl.add_argument("--crawl-threads", type=int, default=16, help="crawl threads in all (default 16)")

    filters = parser.add_argument_group("text filters")
    filters.add_argument("--min-text-chars", type=int, default=5, help="shorter texts are dropped (default 5)")
    filters.add_argument("--max-text-chars", type=int, default=1000, help="longer texts are dropped (default 1000)")
    filters.add_argument("--min-text-words", type=int, default=1, help="texts with fewer words are dropped (default 1)")
    filters.add_argument("--keep-file-names", action="store_true",
                         help="keep file-name-like texts (IMG_1234.jpg, DSC0042) instead of dropping them")
    filters.add_argument("--boilerplate-file", metavar="FILE",
                         help="texts to drop as boilerplate, one per line (replaces the built-in list)")
    filters.add_argument("--keep-boilerplate", action="store_true",
                         help="keep boilerplate alt-texts (image, logo, icon, click here, ...)")
    filters.add_argument("--min-declared-size", type=int, default=32,
                         help="drop images whose declared width or height is below this (icons, spacers; 0 = off)")
    filters.add_argument("--lang", default="en",
                         help="keep texts identified as this language (fastText lid.176; 'any' = no filter)")
    filters.add_argument("--lang-min-score", type=float, default=0.0,
                         help="minimum language-identification confidence (default 0)")

    balance = parser.add_argument_group("balancing")
    balance.add_argument("--per-query-cap", type=int, default=20_000, help="pairs kept per query (default 20000)")
    balance.add_argument("--balance", choices=BALANCE_MODES, default=EXACT,
                         help="exact: deterministic bottom-cap by hash (default); "
                              "metaclip: keep with probability cap/matched")
    parser.add_argument("--shard-size", type=int, default=100_000,
                        help="rows per candidates parquet file, roughly (default 100000)")

    from wit_pipeline.core.net import FetchPolicy

    FetchPolicy.add_arguments(parser)


def filter_config_from_args(args) -> TextFilterConfig:
    boilerplate = TextFilterConfig().boilerplate
    if args.keep_boilerplate:
        boilerplate = frozenset()
    elif args.boilerplate_file:
        path = files.expand_input(args.boilerplate_file, "--boilerplate-file")
        boilerplate = read_boilerplate_file(files.read_bytes(path).decode("utf-8"))
    lang = None if (args.lang or "").lower() in ("", "any", "none") else args.lang.lower()
    return TextFilterConfig(min_chars=args.min_text_chars, max_chars=args.max_text_chars,
                            min_words=args.min_text_words, drop_file_names=not args.keep_file_names,
                            boilerplate=boilerplate, min_declared_size=args.min_declared_size,
                            lang=lang, min_lang_score=args.lang_min_score).validate()


def crawl_config_from_args(args) -> CrawlConfig:
    domains = None
    if args.allowed_domains:
        domains = tuple(d.strip() for d in args.allowed_domains.split(",") if d.strip())
    return CrawlConfig(max_pages=args.max_pages, max_depth=args.max_depth, allowed_domains=domains,
                       per_host_concurrency=args.per_host_concurrency, per_host_delay=args.per_host_delay,
                       threads=args.crawl_threads).validate()


def _candidate_files(out: str) -> list[str]:
    return [p for p in files.match(files.join(out, "candidates-*-of-*.parquet")) if _SHARD_RE.search(p)]


def _finish_shards(out: str, before: set[str], num_shards: int) -> list[str]:
    """Complete this run's shard set (a shard no row hashed to is written empty, so all
    `-of-N` names exist) and remove shards an earlier run left with another N."""
    current = [files.join(out, f"candidates-{i:05d}-of-{num_shards:05d}.parquet") for i in range(num_shards)]
    for path in current:
        if not files.exists(path):
            files.write_parquet(path, CANDIDATE_SCHEMA.empty_table())
    stale = sorted(set(before) - set(current))
    if stale:
        from apache_beam.io.filesystems import FileSystems

        FileSystems.delete(stale)
    return current


def main(args, beam_argv: list[str]) -> int:
    from wit_pipeline.core.net import FetchPolicy
    from wit_pipeline.core.options import make_pipeline, pipeline_options, stop_if_dry_run

    files.lock_out(args.out, "harvest")
    started = time.monotonic()
    args.queries = files.expand_input(args.queries, "--queries", (("queries.parquet",),))
    queries = normalized_queries(read_query_file(args.queries))
    if not queries:
        raise ValueError(f"--queries {args.queries}: the query list is empty")
    validate_balance(args.per_query_cap, args.balance)
    if args.shard_size < 1:
        raise ValueError("--shard-size must be >= 1")
    if args.max_record_bytes < 1:
        raise ValueError(f"--max-record-bytes must be >= 1, got {args.max_record_bytes}")
    filter_config = filter_config_from_args(args)
    crawl_config = crawl_config_from_args(args)
    archives = sorted({*files.expand_inputs(args.warc, "--warc", ARCHIVE_DIRECTORY),
                       *files.expand_inputs(args.wat, "--wat", ARCHIVE_DIRECTORY)})
    url_lists = files.expand_inputs(args.url_list, "--url-list", (URL_LIST_GLOBS,))
    for path in url_lists:
        check_url_list(path, args.input_format, args.url_col, args.caption_col)
    if args.crawl_seeds:
        args.crawl_seeds = files.expand_input(args.crawl_seeds, "--crawl-seeds")
    if not (archives or url_lists or args.crawl_seeds):
        raise ValueError("nothing to harvest: give --warc/--wat, --url-list or --crawl-seeds")
    policy = FetchPolicy.from_args(args) if args.crawl_seeds else None

    out = args.out
    files.makedirs(out)
    # stats.json, written last, is what tells `wit download` this harvest finished.
    files.remove(files.join(out, "stats.json"))
    before = set(_candidate_files(out))
    sources = HarvestSources(archives=archives, url_lists=url_lists, crawl_seeds=args.crawl_seeds,
                             max_record_bytes=args.max_record_bytes, input_format=args.input_format,
                             url_col=args.url_col, caption_col=args.caption_col)
    print(f"harvest: {len(queries):,} queries; {len(archives)} archive files, {len(url_lists)} url lists"
          f"{', crawl of ' + args.crawl_seeds if args.crawl_seeds else ''}", file=sys.stderr, flush=True)
    pipeline = make_pipeline(pipeline_options(beam_argv))
    harvested = pipeline | "Harvest" >> Harvest(
        args.queries, sources, filter_config=filter_config, per_query_cap=args.per_query_cap,
        balance=args.balance, fetch_policy=policy, crawl_config=crawl_config)
    harvested["candidates"] | "WriteCandidates" >> WriteCandidates(out, args.shard_size)
    harvested["query_counts"] | "WriteQueryCounts" >> WriteQueryCounts(
        args.queries, files.join(out, "query_counts.parquet"))
    skips_path = files.join(out, "skipped_examples.json")
    (harvested["skips"]
     | "AllSkipExamples" >> beam.combiners.ToDict()
     | "WriteSkipExamples" >> beam.Map(lambda examples: files.write_json(skips_path, examples)))
    result = pipeline.run()
    result.wait_until_finish()
    stop_if_dry_run(pipeline.options)
    counted = counters.read_counters(result, STAGE)
    written = _finish_shards(out, before, shard_count(counted.get("balance.kept", 0), args.shard_size))
    skip_examples = files.read_json(skips_path) if files.exists(skips_path) else {}
    counts = files.read_parquet(files.join(out, "query_counts.parquet"))
    matched_col = counts.column("matched").to_pylist()
    kept_col = counts.column("kept").to_pylist()
    stats = {
        "inputs": {"queries": len(queries), "archive_files": len(archives), "url_list_files": len(url_lists),
                   "crawl_seeds": counted.get("seen.crawl_seeds", 0)},
        "seen": counters.group(counted, "seen"),
        "images_found": counters.group(counted, "images_found"),
        "skipped": counters.group(counted, "skipped"),
        "filtered": counters.group(counted, "filtered"),
        "pairs": {"passed_filters": counted.get("pairs.passed_filters", 0),
                  "no_query_match": counted.get("pairs.no_query_match", 0),
                  "matched": counted.get("pairs.matched", 0),
                  "duplicates_dropped": counted.get("pairs.duplicates", 0),
                  "unique": counted.get("pairs.unique", 0),
                  "dropped_over_cap": counted.get("balance.dropped_over_cap", 0),
                  "kept": counted.get("balance.kept", 0)},
        "queries": {"in_list": len(matched_col), "matched_any": sum(1 for m in matched_col if m),
                    "over_cap": sum(1 for m in matched_col if m > args.per_query_cap),
                    "max_kept": max(kept_col, default=0)},
        "balance": {"mode": args.balance, "per_query_cap": args.per_query_cap},
        "outputs": {"candidates": [p.rsplit("/", 1)[-1] for p in written],
                    "query_counts": "query_counts.parquet", "skipped_examples": "skipped_examples.json"},
        # One short example per reason keeps the summary on one screen; all are in the file.
        "skipped_examples": {reason: examples[0][:160] for reason, examples in sorted(skip_examples.items())
                             if examples},
        "seconds": round(time.monotonic() - started, 1),
    }
    from wit_pipeline.core.console import finish

    finish(out, "wit harvest", stats)
    return 0
