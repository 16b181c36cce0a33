"""The Beam side of `wit harvest`: one composite PTransform per step, and `Harvest` chaining them.

    ReadSources                            archives, url lists, a crawl -> ImageRefs (+ skips)
    FilterAndMatch                         ImageRefs -> candidate rows (filters, uid, queries)
    DropDuplicates                         one row per uid
    Balance                                at most `cap` rows kept per query
    WriteCandidates / WriteQueryCounts     OUT/candidates-*.parquet, OUT/query_counts.parquet

Every step counts what it drops in the `wit.harvest` metrics (core/counters) and keeps a
few examples of each file- or record-level skip.
"""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
import pyarrow as pa

from wit_pipeline.core import counters, files
from wit_pipeline.core.console import Progress
from wit_pipeline.harvest.balance import EXACT, BottomK, kept_for_exact, kept_for_metaclip, rank_key, validate_balance
from wit_pipeline.harvest.filters import TextFilter, TextFilterConfig
from wit_pipeline.harvest.matcher import SharedMatchers, normalized_queries, read_query_file
from wit_pipeline.harvest.schema import (CANDIDATE_SCHEMA, QUERY_COUNT_SCHEMA, candidate_file_count, candidate_file_name,
                                         candidate_file_of, pair_uid)
from wit_pipeline.harvest.sources import HarvestSources
from wit_pipeline.harvest.sources.archives import Counted, Skip, read_archive
from wit_pipeline.harvest.sources.crawl import CrawlConfig, Crawler, read_seeds
from wit_pipeline.harvest.sources.html import ImageRef
from wit_pipeline.harvest.sources.lists import url_list_images

STAGE = "harvest"
SKIP_EXAMPLES = 5
MATCH_BATCH = 512


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

    def setup(self):
        self.progress = Progress("harvest: images found in archives")

    def process(self, path):
        images = 0
        try:
            with files.open_read(path) as stream:
                for item in _route(read_archive(stream, path, self.max_record_bytes)):
                    images += isinstance(item, ImageRef)
                    yield item
        except OSError as exc:  # unreadable storage: what was read so far is kept
            yield from _route([Skip("unreadable_archive", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")])
        except Exception as exc:  # a reader bug on some unforeseen bytes must not fail the whole run
            yield from _route([Skip("archive_reader_error", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")])
        _count("seen.archive_files")
        self.progress.update("images", images)


class _ReadUrlListFn(beam.DoFn):
    def __init__(self, input_format: str, url_col: str, caption_col: str) -> None:
        self.input_format, self.url_col, self.caption_col = input_format, url_col, caption_col

    def process(self, path):
        yield from _route(url_list_images(path, self.input_format, self.url_col, self.caption_col))
        _count("seen.url_list_files")


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

    def teardown(self):
        self.fetcher.close()


class ReadSources(beam.PTransform):
    """PBegin -> {"images": ImageRefs of every source, "skips": (reason, detail)}."""

    def __init__(self, sources: HarvestSources, fetch_policy=None, crawl_config: CrawlConfig | None = None) -> None:
        super().__init__()
        if sources.crawl_seeds and fetch_policy is None:
            raise ValueError("a crawl needs a fetch policy")
        if not (sources.archives or sources.url_lists or sources.crawl_seeds):
            raise ValueError("nothing to harvest: give --warc/--wat, --url-list or --crawl-seeds")
        self.sources, self.fetch_policy = sources, fetch_policy
        self.crawl_config = (crawl_config or CrawlConfig()).validate()

    def expand(self, pbegin):
        sources, outputs = self.sources, []
        # One element is a whole file: the Reshuffles break fusion with Create, so a
        # cluster hands files to all workers, not to the one that listed them.
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
            outputs.append(pbegin
                           | "SeedFile" >> beam.Create([sources.crawl_seeds])
                           | "Crawl" >> beam.ParDo(_CrawlFn(self.fetch_policy, self.crawl_config)).with_outputs(
                               "skips", main="images"))
        return {"images": [o.images for o in outputs] | "AllImages" >> beam.Flatten(),
                "skips": [o.skips for o in outputs] | "AllSkips" >> beam.Flatten()}


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


class FilterAndMatch(beam.PTransform):
    """ImageRefs -> candidate rows (dicts of CANDIDATE_SCHEMA) that pass the filters and match."""

    def __init__(self, queries_path: str, filter_config: TextFilterConfig) -> None:
        super().__init__()
        self.queries_path, self.filter_config = queries_path, filter_config

    def expand(self, images):
        return (images
                # The crawl is one DoFn (its frontier and page budget are global) and one
                # archive yields thousands of images: spread them before filtering and matching.
                | "Spread" >> beam.Reshuffle()
                | "Batch" >> beam.BatchElements(min_batch_size=MATCH_BATCH, max_batch_size=MATCH_BATCH)
                | "FilterAndMatch" >> beam.ParDo(_FilterAndMatchFn(self.queries_path, self.filter_config)))


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


class DropDuplicates(beam.PTransform):
    """Candidate rows -> one row per uid (the copy `_preference` picks); copies counted."""

    def expand(self, rows):
        return (rows
                | "KeyByUid" >> beam.Map(lambda row: (row["uid"], row))
                | "FirstCopy" >> beam.CombinePerKey(_FirstCopyCombineFn())
                | "Unique" >> beam.Map(_unique))


class _QueryCapCombineFn(beam.CombineFn):
    """(query, rank key) -> (matched count, threshold or None), holding at most `cap` keys."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def create_accumulator(self):
        return BottomK(self.cap)

    def add_input(self, accumulator, key):
        accumulator.add(key)
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged.merge(other)
        return merged

    def extract_output(self, accumulator):
        return accumulator.count, accumulator.threshold()


class _DecideKeep(beam.DoFn):
    KEPT_FOR = "kept_for"

    def __init__(self, cap: int, mode: str) -> None:
        self.cap, self.mode = cap, mode

    def process(self, pair, limits):
        if self.mode == EXACT:
            kept = kept_for_exact(pair["uid"], pair["matched"], limits)
        else:
            kept = kept_for_metaclip(pair["uid"], pair["matched"], limits, self.cap)
        if not kept:
            _count("balance.dropped_over_cap")
            return
        _count("balance.kept")
        yield pair
        for query in kept:
            yield beam.pvalue.TaggedOutput(self.KEPT_FOR, query)


def _balance_count_row(item):
    query, grouped = item
    return query, (sum(grouped["matched"]), sum(grouped["kept"]))


class Balance(beam.PTransform):
    """Pairs (dicts with `uid` and `matched`) -> {"kept": pairs, "query_counts": (query, (matched, kept))}.

    The rules are balance.py's; this is their distributed plan (see its docstring).
    """

    def __init__(self, cap: int, mode: str = EXACT) -> None:
        super().__init__()
        validate_balance(cap, mode)
        self.cap, self.mode = cap, mode

    def expand(self, pairs):
        cap = self.cap
        if self.mode == EXACT:
            per_query = (pairs
                         | "RankKeys" >> beam.FlatMap(lambda p: ((q, rank_key(p["uid"], q)) for q in p["matched"]))
                         | "BottomKPerQuery" >> beam.CombinePerKey(_QueryCapCombineFn(cap)))
            limits = (per_query
                      | "OverCap" >> beam.Filter(lambda item: item[1][0] > cap)
                      | "Thresholds" >> beam.MapTuple(lambda q, stats: (q, stats[1])))
            matched = per_query | "MatchedCounts" >> beam.MapTuple(lambda q, stats: (q, stats[0]))
        else:
            matched = (pairs
                       | "Incidences" >> beam.FlatMap(lambda p: p["matched"])
                       | "CountPerQuery" >> beam.combiners.Count.PerElement())
            limits = matched | "OverCap" >> beam.Filter(lambda item: item[1] > cap)
        decided = pairs | "DecideKeep" >> beam.ParDo(
            _DecideKeep(cap, self.mode), limits=beam.pvalue.AsDict(limits)).with_outputs(
                _DecideKeep.KEPT_FOR, main="kept")
        kept_counts = decided[_DecideKeep.KEPT_FOR] | "KeptCounts" >> beam.combiners.Count.PerElement()
        query_counts = ({"matched": matched, "kept": kept_counts}
                        | "JoinCounts" >> beam.CoGroupByKey()
                        | "QueryCountRows" >> beam.Map(_balance_count_row))
        return {"kept": decided.kept, "query_counts": query_counts}


class Harvest(beam.PTransform):
    """PBegin -> {"candidates": rows kept, "query_counts": (query, (matched, kept)),
    "skips": (reason, [up to SKIP_EXAMPLES details])}.

    Rows are dicts with the candidates schema (uid, url, text, page_url, source, matched).
    """

    def __init__(self, queries_path: str, sources: HarvestSources, *, filter_config: TextFilterConfig | None = None,
                 per_query_cap: int = 20_000, balance: str = EXACT, fetch_policy=None,
                 crawl_config: CrawlConfig | None = None) -> None:
        super().__init__()
        self.read = ReadSources(sources, fetch_policy, crawl_config)
        self.filter_and_match = FilterAndMatch(queries_path, (filter_config or TextFilterConfig()).validate())
        self.balance = Balance(per_query_cap, balance)

    def expand(self, pbegin):
        found = pbegin | "Read" >> self.read
        balanced = (found["images"]
                    | "FilterAndMatch" >> self.filter_and_match
                    | "DropDuplicates" >> DropDuplicates()
                    | "Balance" >> self.balance)
        skip_examples = found["skips"] | "SkipExamples" >> beam.combiners.Top.SmallestPerKey(SKIP_EXAMPLES)
        return {"candidates": balanced["kept"], "query_counts": balanced["query_counts"],
                "skips": skip_examples}


# ---------------------------------------------------------------------- writing

class _WriteShardFn(beam.DoFn):
    def __init__(self, out: str) -> None:
        self.out = out

    def process(self, item, num_shards):
        index, rows = item
        rows = sorted(rows, key=lambda r: r["uid"])
        table = pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)
        path = files.join(self.out, candidate_file_name(index, num_shards))
        files.write_parquet(path, table)
        _count("output.candidate_shards")
        yield path


class WriteCandidates(beam.PTransform):
    """Rows hashed by uid into ceil(rows / shard_size) shards; each shard sorted by uid.

    Shard contents and names depend only on the rows, never on workers or bundles.
    """

    def __init__(self, out: str, shard_size: int) -> None:
        super().__init__()
        self.out, self.shard_size = out, shard_size

    def expand(self, rows):
        total = rows | "CountRows" >> beam.combiners.Count.Globally()
        num_shards = total | "NumShards" >> beam.Map(candidate_file_count, self.shard_size)
        side = beam.pvalue.AsSingleton(num_shards)
        return (rows
                | "KeyByShard" >> beam.Map(lambda row, n: (candidate_file_of(row["uid"], n), row), side)
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


class WriteSkipExamples(beam.PTransform):
    """(reason, [details]) -> one JSON file {reason: [details]}."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, examples):
        path = self.path
        return (examples
                | "AllSkipExamples" >> beam.combiners.ToDict()
                | "Write" >> beam.Map(lambda found: files.write_json(path, found)))
