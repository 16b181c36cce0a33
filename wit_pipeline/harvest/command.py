"""`wit harvest`: (image URL, alt-text) pairs whose text contains a query, at most N per query.

Flags -> `HarvestConfig` (frozen, every check done once, before Beam is imported) -> the
`pipeline.Harvest` PTransform -> OUT/candidates-NNNNN-of-NNNNN.parquet,
OUT/query_counts.parquet, OUT/skipped_examples.json and, last, OUT/stats.json (the file
that tells `wit download` this harvest finished; harvest/schema.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

from wit_pipeline.core import counters, files
from wit_pipeline.harvest import schema
from wit_pipeline.harvest.balance import BALANCE_MODES, EXACT, validate_balance
from wit_pipeline.harvest.filters import TextFilterConfig, read_boilerplate_file
from wit_pipeline.harvest.matcher import SharedMatchers
from wit_pipeline.harvest.repeats import SiteRepeatConfig
from wit_pipeline.harvest.sources import DEFAULT_ARCHIVE_SPLIT_BYTES, DEFAULT_MAX_RECORD_BYTES, HarvestSources
from wit_pipeline.harvest.sources.crawl import CrawlConfig
from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES, TEXT_SOURCES, parse_text_sources
from wit_pipeline.core.tables import check_columns
from wit_pipeline.harvest.sources.lists import URL_LIST_DIRECTORY

# What a directory given to --warc/--wat stands for.
ARCHIVE_DIRECTORY = (("*.warc", "*.warc.gz", "*.wat", "*.wat.gz", "*.arc", "*.arc.gz"),)
# Input bytes per partition of the candidates (dedup and balance hold one partition's
# rows at a time): a 256 MB WAT gives about 400k candidates, ~150 MB as Arrow; url lists
# hold about one row per 100 bytes, all of them candidates.
ARCHIVE_BYTES_PER_PARTITION = 256 << 20
URL_LIST_BYTES_PER_PARTITION = 32 << 20
MAX_PARTITIONS = 1 << 16


def candidate_partitions(sources: HarvestSources) -> int:
    """How many partitions the candidates are spread over, from the size of the inputs."""
    archive_bytes = sum(size or 0 for size in sources.archive_sizes)
    list_bytes = sum(found["size"] or 0 for found in files.file_identity(list(sources.url_lists)))
    wanted = -(-archive_bytes // ARCHIVE_BYTES_PER_PARTITION) - (-list_bytes // URL_LIST_BYTES_PER_PARTITION)
    return min(MAX_PARTITIONS, max(1, wanted))


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
    src.add_argument("--archive-split-bytes", type=int, default=DEFAULT_ARCHIVE_SPLIT_BYTES, metavar="N",
                     help="gzip archives larger than this are read in splits of about N bytes by several workers "
                          f"(at gzip member boundaries; default {DEFAULT_ARCHIVE_SPLIT_BYTES}, 0 = never)")
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
    filters.add_argument("--text-source", default=",".join(DEFAULT_TEXT_SOURCES), metavar="SOURCES",
                         help="where an image's text may come from, tried in this order: comma-separated of "
                              f"{', '.join(TEXT_SOURCES)} (default {','.join(DEFAULT_TEXT_SOURCES)}; "
                              "'alt' for CLIP's alt-text only). A WAT has only alt and title")
    filters.add_argument("--min-text-chars", type=int, default=5, help="shorter texts are dropped (default 5)")
    filters.add_argument("--max-text-chars", type=int, default=1000, help="longer texts are dropped (default 1000)")
    filters.add_argument("--min-text-words", type=int, default=1, help="texts with fewer words are dropped (default 1)")
    filters.add_argument("--keep-file-names", action="store_true",
                         help="keep file-name-like texts (IMG_1234.jpg, DSC0042) instead of dropping them")
    filters.add_argument("--boilerplate-file", metavar="FILE",
                         help="texts to drop as boilerplate, one per line (replaces the built-in list)")
    filters.add_argument("--keep-boilerplate", action="store_true",
                         help="keep boilerplate texts (image, logo, click here, ...) and page-chrome labels "
                              "(texts icon, 5.00 out of 5 stars, (navigation image), Share on Facebook, ...)")
    filters.add_argument("--keep-page-chrome", action="store_true",
                         help="keep images inside the page's header, nav, aside and footer")
    filters.add_argument("--site-repeat-min-pages", type=int, default=3, metavar="N",
                         help="drop a text that is a candidate on at least N pages of a site and on at least "
                              "--site-repeat-share of its pages (banners, slogans; default 3, 0 = off)")
    filters.add_argument("--site-repeat-share", type=float, default=0.5, metavar="FRACTION",
                         help="see --site-repeat-min-pages (default 0.5)")
    filters.add_argument("--min-declared-size", type=int, default=32,
                         help="drop images whose declared width or height is below this (icons, spacers; default 32, 0 = off)")
    filters.add_argument("--lang", default="en",
                         help="keep texts in this language (default en; 'any' = no filter): fastText lid.176, "
                              "and for short texts a script, query-vocabulary and page-language check")
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


def _filter_config(args) -> TextFilterConfig:
    boilerplate = TextFilterConfig().boilerplate
    if args.keep_boilerplate:
        boilerplate = frozenset()
    elif args.boilerplate_file:
        path = files.expand_input(args.boilerplate_file, "--boilerplate-file")
        boilerplate = read_boilerplate_file(files.read_bytes(path).decode("utf-8"))
    lang = None if (args.lang or "").lower() in ("", "any", "none") else args.lang.lower()
    return TextFilterConfig(min_chars=args.min_text_chars, max_chars=args.max_text_chars,
                            min_words=args.min_text_words, drop_file_names=not args.keep_file_names,
                            boilerplate=boilerplate, ui_patterns=not args.keep_boilerplate,
                            min_declared_size=args.min_declared_size, drop_chrome_regions=not args.keep_page_chrome,
                            lang=lang, min_lang_score=args.lang_min_score).validate()


def _crawl_config(args) -> CrawlConfig:
    domains = None
    if args.allowed_domains:
        domains = tuple(d.strip() for d in args.allowed_domains.split(",") if d.strip())
    return CrawlConfig(max_pages=args.max_pages, max_depth=args.max_depth, allowed_domains=domains,
                       per_host_concurrency=args.per_host_concurrency, per_host_delay=args.per_host_delay,
                       threads=args.crawl_threads).validate()


def _sources(args) -> HarvestSources:
    if args.max_record_bytes < 1:
        raise ValueError(f"--max-record-bytes must be >= 1, got {args.max_record_bytes}")
    if args.archive_split_bytes < 0:
        raise ValueError(f"--archive-split-bytes must be >= 0, got {args.archive_split_bytes}")
    archives = sorted({*files.expand_inputs(args.warc, "--warc", ARCHIVE_DIRECTORY),
                       *files.expand_inputs(args.wat, "--wat", ARCHIVE_DIRECTORY)})
    url_lists = files.expand_inputs(args.url_list, "--url-list", URL_LIST_DIRECTORY)
    for path in url_lists:
        check_columns(path, args.input_format, args.url_col, args.caption_col)
    seeds = files.expand_input(args.crawl_seeds, "--crawl-seeds") if args.crawl_seeds else None
    if not (archives or url_lists or seeds):
        raise ValueError("nothing to harvest: give --warc/--wat, --url-list or --crawl-seeds")
    return HarvestSources(archives=tuple(archives), url_lists=tuple(url_lists), crawl_seeds=seeds,
                          max_record_bytes=args.max_record_bytes, input_format=args.input_format,
                          url_col=args.url_col, caption_col=args.caption_col,
                          text_sources=parse_text_sources(args.text_source),
                          archive_sizes=tuple(found["size"] for found in files.file_identity(archives)),
                          archive_split_bytes=args.archive_split_bytes)


@dataclasses.dataclass(frozen=True)
class HarvestConfig:
    queries_path: str
    queries: int                     # entries of the normalized query list
    out: str
    sources: HarvestSources
    filters: TextFilterConfig
    crawl: CrawlConfig
    fetch_policy: object | None      # core.net.FetchPolicy when there is a crawl
    per_query_cap: int
    balance: str
    shard_size: int
    partitions: int                  # of the candidates, for dedup and balance
    site_repeats: SiteRepeatConfig

    @classmethod
    def from_args(cls, args) -> "HarvestConfig":
        """Every flag checked, every input found: a mistake is one ValueError before anything runs."""
        queries_path = files.expand_input(args.queries, "--queries", (("queries.parquet",),))
        queries = SharedMatchers.queries_of(queries_path)
        if not queries:
            raise ValueError(f"--queries {queries_path}: the query list is empty")
        validate_balance(args.per_query_cap, args.balance)
        if args.shard_size < 1:
            raise ValueError("--shard-size must be >= 1")
        filters, crawl, sources = _filter_config(args), _crawl_config(args), _sources(args)
        site_repeats = SiteRepeatConfig(args.site_repeat_min_pages, args.site_repeat_share).validate()
        policy = None
        if sources.crawl_seeds:
            from wit_pipeline.core.net import FetchPolicy

            policy = FetchPolicy.from_args(args)
        return cls(queries_path=queries_path, queries=len(queries), out=args.out, sources=sources,
                   filters=filters, crawl=crawl, fetch_policy=policy, per_query_cap=args.per_query_cap,
                   balance=args.balance, shard_size=args.shard_size, partitions=candidate_partitions(sources),
                   site_repeats=site_repeats)


def run(config: HarvestConfig, beam_argv: list[str]) -> dict:
    """Run the pipeline into config.out; the counters it left, by name."""
    from wit_pipeline.core.options import make_pipeline, pipeline_options, stop_if_dry_run
    from wit_pipeline.harvest.pipeline import Harvest
    from wit_pipeline.harvest.write.pipeline import WriteCandidates, WriteQueryCounts, WriteSkipExamples

    pipeline = make_pipeline(pipeline_options(beam_argv))
    harvested = pipeline | "Harvest" >> Harvest(
        config.queries_path, config.sources, filter_config=config.filters, per_query_cap=config.per_query_cap,
        balance_mode=config.balance, fetch_policy=config.fetch_policy, crawl_config=config.crawl,
        partitions=config.partitions, site_repeats=config.site_repeats)
    harvested["candidates"] | "WriteCandidates" >> WriteCandidates(config.out, config.shard_size)
    harvested["query_counts"] | "WriteQueryCounts" >> WriteQueryCounts(
        config.queries_path, files.join(config.out, schema.QUERY_COUNTS_FILE))
    harvested["skips"] | "WriteSkipExamples" >> WriteSkipExamples(
        files.join(config.out, schema.SKIPPED_EXAMPLES_FILE))
    result = pipeline.run()
    result.wait_until_finish()
    stop_if_dry_run(pipeline.options)
    return counters.read_counters(result, "harvest")


def _finish_shards(out: str, before: set[str], num_shards: int) -> list[str]:
    """Complete this run's shard set (a shard no row hashed to is written empty, so all
    `-of-N` names exist) and remove shards an earlier run left with another N."""
    current = [files.join(out, schema.candidate_file_name(i, num_shards)) for i in range(num_shards)]
    for path in current:
        if not files.exists(path):
            files.write_parquet(path, schema.CANDIDATE_SCHEMA.empty_table())
    files.remove_all(sorted(set(before) - set(current)))
    return current


def harvest_stats(config: HarvestConfig, counted: dict, written: list[str]) -> dict:
    """stats.json: the counters grouped, the query counts summed up, the outputs named."""
    out = config.out
    skips_path = files.join(out, schema.SKIPPED_EXAMPLES_FILE)
    skip_examples = files.read_json(skips_path) if files.exists(skips_path) else {}
    counts = files.read_parquet(files.join(out, schema.QUERY_COUNTS_FILE))
    matched_col = counts.column("matched").to_pylist()
    kept_col = counts.column("kept").to_pylist()
    sources = config.sources
    return {
        "inputs": {"queries": config.queries, "archive_files": len(sources.archives),
                   "url_list_files": len(sources.url_lists), "crawl_seeds": counted.get("seen.crawl_seeds", 0)},
        "seen": counters.group(counted, "seen"),
        "images_found": counters.group(counted, "images_found"),
        "skipped": counters.group(counted, "skipped"),
        "filtered": counters.group(counted, "filtered"),
        "language": counters.group(counted, "language"),
        "pairs": {"passed_filters": counted.get("pairs.passed_filters", 0),
                  "no_query_match": counted.get("pairs.no_query_match", 0),
                  "matched": counted.get("pairs.matched", 0),
                  "duplicates_dropped": counted.get("pairs.duplicates", 0),
                  "unique": counted.get("pairs.unique", 0),
                  "dropped_over_cap": counted.get("balance.dropped_over_cap", 0),
                  "kept": counted.get("balance.kept", 0)},
        "queries": {"in_list": len(matched_col), "matched_any": sum(1 for m in matched_col if m),
                    "over_cap": sum(1 for m in matched_col if m > config.per_query_cap),
                    "max_kept": max(kept_col, default=0)},
        "balance": {"mode": config.balance, "per_query_cap": config.per_query_cap},
        "outputs": {"candidates": [p.rsplit("/", 1)[-1] for p in written],
                    "query_counts": schema.QUERY_COUNTS_FILE, "skipped_examples": schema.SKIPPED_EXAMPLES_FILE},
        # One short example per skip reason keeps the summary on one screen; all are in the
        # file, with those of the filters (`filtered.<reason>`).
        "skipped_examples": {reason: examples[0][:160] for reason, examples in sorted(skip_examples.items())
                             if examples and not reason.startswith("filtered.")},
    }


def main(args, beam_argv: list[str]) -> int:
    import sys

    from wit_pipeline.core.console import finish

    started = time.monotonic()
    config = HarvestConfig.from_args(args)
    files.lock_out(config.out, "harvest")
    files.makedirs(config.out)
    files.remove(files.join(config.out, schema.STATS_FILE))  # written last: absent until this run finished
    before = set(schema.candidate_files(config.out))
    sources = config.sources
    print(f"harvest: {config.queries:,} queries; {len(sources.archives)} archive files, {len(sources.url_lists)} "
          f"url lists{', crawl of ' + sources.crawl_seeds if sources.crawl_seeds else ''}", file=sys.stderr, flush=True)
    counted = run(config, beam_argv)
    num_files = schema.candidate_file_count(counted.get("balance.kept", 0), config.shard_size)
    written = _finish_shards(config.out, before, num_files)
    stats = harvest_stats(config, counted, written)
    stats["seconds"] = round(time.monotonic() - started, 1)
    finish(config.out, "wit harvest", stats)
    return 0
