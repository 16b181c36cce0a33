"""The Beam side of `wit harvest`: one composite PTransform per step, and `Harvest` chaining them.

    ReadSources          archives, url lists, a crawl -> image batches (+ skip examples)
    SelectCandidates     image batch -> candidate batch (filters, matching, language ID),
                         buffered and keyed by uid partition; site-level counts
    FindSiteRepeats      site-level counts -> (partition, (site, text)) to cut (repeats/)
    DropDuplicates       (partition, candidates) -> (partition, one row per uid), cut applied
    Balance              -> (partition, rows kept under the per-query cap) + query counts
    WriteCandidates, WriteQueryCounts, WriteSkipExamples (write/pipeline.py) -> OUT/

Elements are Arrow batches, not images: a page has tens of images and the runner's cost
is per element. Only candidates reach a shuffle. Archives and url lists are read and
selected in one fused stage (a Reshuffle spreads the file names); the crawl, one DoFn,
is reshuffled before selection. Every step counts what it drops in the `wit.harvest`
metrics (core/counters).
"""
from __future__ import annotations

import functools
import gc
import operator

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from wit_pipeline.core import counters, files
from wit_pipeline.core.console import Progress
from wit_pipeline.harvest import balance, candidates, repeats
from wit_pipeline.harvest.batches import ImageBatchBuilder, Tally
from wit_pipeline.harvest.filters import TextFilter, TextFilterConfig
from wit_pipeline.harvest.matcher import SharedMatchers
from wit_pipeline.harvest.repeats import SiteRepeatConfig
from wit_pipeline.harvest.repeats.pipeline import FindSiteRepeats
from wit_pipeline.harvest.select import CandidateSelector
from wit_pipeline.harvest.sources import HarvestSources
from wit_pipeline.harvest.sources.archives import Counted, PageRows, Skip, read_archive
from wit_pipeline.harvest.sources.crawl import CrawlConfig, Crawler, read_seeds
from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES, ImageRef
from wit_pipeline.harvest.sources.lists import url_list_images

STAGE = "harvest"
SKIP_EXAMPLES = 5
SKIPS = "skips"
SITE_COUNTS = "site_counts"
# Candidates a selecting DoFn holds before handing them on: large enough that one
# partition's piece of them is worth an element, small enough to stay a few MB.
BUFFERED_CANDIDATES = 50_000


def _count(name: str, n: int = 1) -> None:
    counters.count(STAGE, name, n)


class _ReadFn(beam.DoFn):
    """One input -> image batches and skip examples; a subclass's `items(path)` reads it
    (ImageRefs, Skips and Counteds). Counts are tallied per input and handed to the
    metrics once."""

    def process(self, path):
        tally, builder = Tally(SKIP_EXAMPLES), ImageBatchBuilder()
        for item in self.items(path):
            if isinstance(item, (ImageRef, PageRows)):
                full = builder.add(item) if isinstance(item, ImageRef) else builder.add_page(item.rows)
                if full is not None:
                    yield self._found(full)
            elif isinstance(item, Skip):
                tally.skip(item.reason, item.detail, item.count)
            elif isinstance(item, Counted):
                tally.count(f"seen.{item.name}", item.count)
        if len(builder):
            yield self._found(builder.flush())
        for name, n in tally.counts.items():
            _count(name, n)
        for example in tally.examples_found():
            yield beam.pvalue.TaggedOutput(SKIPS, example)

    def _found(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        sources = batch.column("source").to_pylist()
        for source in set(sources):
            _count(f"images_found.{source}", sources.count(source))
        return batch


class _ReadArchiveFn(_ReadFn):
    """(path, start, end): a whole archive or a split of one. Whatever it holds, what was
    read from it is kept and its problem is a counted skip: one file never fails the run."""

    def __init__(self, max_record_bytes: int, text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES) -> None:
        self.max_record_bytes, self.text_sources = max_record_bytes, text_sources

    def setup(self):
        self.progress = Progress("harvest: images found in archives")

    def items(self, split):
        path, start, end = split
        images = 0
        if start == 0:
            yield Counted("archive_files")
        try:
            with files.open_read(path) as stream:
                whole = start == 0 and end is None
                for item in read_archive(stream, path, self.max_record_bytes, self.text_sources,
                                         None if whole else (start, end), page_rows=True):
                    images += len(item.rows) if isinstance(item, PageRows) else isinstance(item, ImageRef)
                    yield item
        except OSError as exc:  # unreadable storage: what was read so far is kept
            yield Skip("unreadable_archive", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")
        except Exception as exc:  # a reader bug on some unforeseen bytes must not fail the whole run
            yield Skip("archive_reader_error", f"{path}: {type(exc).__name__}: {str(exc)[:160]}")
        self.progress.update("images", images)


class _ReadUrlListFn(_ReadFn):
    def __init__(self, input_format: str, url_col: str, caption_col: str) -> None:
        self.input_format, self.url_col, self.caption_col = input_format, url_col, caption_col

    def items(self, path):
        yield Counted("url_list_files")
        yield from url_list_images(path, self.input_format, self.url_col, self.caption_col)


class _CrawlFn(_ReadFn):
    """The whole crawl in one DoFn: its frontier, visited set and page budget are global."""

    def __init__(self, policy, config: CrawlConfig, text_sources: tuple[str, ...]) -> None:
        self.policy, self.config, self.text_sources = policy, config, text_sources

    def setup(self):
        from wit_pipeline.core.net import Fetcher

        self.fetcher = Fetcher(self.policy)

    def items(self, seeds_path):
        seeds = read_seeds(files.read_bytes(seeds_path).decode("utf-8", errors="replace"))
        _count("seen.crawl_seeds", len(seeds))
        return Crawler(self.fetcher, self.config, self.text_sources).crawl(seeds)

    def teardown(self):
        self.fetcher.close()


class ReadSources(beam.PTransform):
    """PBegin -> {"images": image batches (batches.IMAGE_SCHEMA), "skips": (reason, detail) examples}."""

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
        # One element is a file (or a split of a large one): the Reshuffles break fusion
        # with Create, so a cluster hands files to all workers, not to the one that listed them.
        if sources.archives:
            outputs.append(pbegin
                           | "ArchiveSplits" >> beam.Create(sources.archive_splits())
                           | "SpreadArchives" >> beam.Reshuffle()
                           | "ReadArchives" >> beam.ParDo(_ReadArchiveFn(
                               sources.max_record_bytes, sources.text_sources)).with_outputs(SKIPS, main="images"))
        if sources.url_lists:
            outputs.append(pbegin
                           | "UrlListPaths" >> beam.Create(sorted(sources.url_lists))
                           | "SpreadUrlLists" >> beam.Reshuffle()
                           | "ReadUrlLists" >> beam.ParDo(_ReadUrlListFn(
                               sources.input_format, sources.url_col, sources.caption_col)).with_outputs(
                                   SKIPS, main="images"))
        if sources.crawl_seeds:
            crawled = (pbegin
                       | "SeedFile" >> beam.Create([sources.crawl_seeds])
                       | "Crawl" >> beam.ParDo(_CrawlFn(self.fetch_policy, self.crawl_config,
                                                        sources.text_sources)).with_outputs(SKIPS, main="images"))
            # The crawl is one DoFn: its batches are spread before the selection fans out.
            outputs.append({"images": crawled.images | "SpreadCrawl" >> beam.Reshuffle(), SKIPS: crawled.skips})
        return {"images": [o["images"] for o in outputs] | "AllImages" >> beam.Flatten(),
                SKIPS: [o[SKIPS] for o in outputs] | "AllSkips" >> beam.Flatten()}


# finish_bundle hands on WindowedValues: their timestamp and window are built once, not per element.
_END_OF_GLOBAL_WINDOW, _GLOBAL_WINDOWS = GlobalWindow().max_timestamp(), (GlobalWindow(),)


def _windowed(value):
    return WindowedValue(value, _END_OF_GLOBAL_WINDOW, _GLOBAL_WINDOWS)


class _SelectFn(beam.DoFn):
    """Image batches -> (partition, candidate table), buffered over the bundle; tagged: rule
    examples (SKIPS) and the site-level rule's counts (SITE_COUNTS). The query automaton is
    built once per worker process and shared by its threads (SharedMatchers)."""

    def __init__(self, queries_path: str, filter_config: TextFilterConfig, partitions: int,
                 site_repeats: SiteRepeatConfig) -> None:
        self.queries_path, self.filter_config, self.partitions = queries_path, filter_config, partitions
        self.site_repeats = site_repeats

    def setup(self):
        # Building it allocates millions of long-lived objects: collections on the way would
        # only walk them again and again (~0.6 s of a worker's start with 500k queries).
        collecting = gc.isenabled()
        gc.disable()
        try:
            matcher = SharedMatchers.for_file(self.queries_path)
        finally:
            if collecting:
                gc.enable()
        self.selector = CandidateSelector(TextFilter(self.filter_config, matcher.vocabulary), matcher, SKIP_EXAMPLES,
                                          self.site_repeats.enabled, self.partitions)
        # The matcher's millions of objects live as long as the worker: out of the garbage
        # collector's sight, its collections no longer walk them (~15% of the reading time).
        gc.freeze()

    def start_bundle(self):
        self.buffered, self.rows = [], 0

    def process(self, batch):
        selection = self.selector.select(batch)
        for name, n in selection.counts.items():
            _count(name, n)
        if selection.candidates is not None:
            self.buffered.append(selection.candidates)
            self.rows += selection.candidates.num_rows
            if self.rows >= BUFFERED_CANDIDATES:
                yield from self._hand_on(lambda value: value)

    def finish_bundle(self):
        yield from self._hand_on(_windowed, examples=True)

    def _hand_on(self, wrap, examples: bool = False):
        if self.buffered:
            table = pa.Table.from_batches(self.buffered)
            self.buffered, self.rows = [], 0
            yield from map(wrap, candidates.split_into_partitions(table, self.partitions))
        yield from (beam.pvalue.TaggedOutput(SITE_COUNTS, wrap(item)) for item in self.selector.sites.drain())
        if examples:
            yield from (beam.pvalue.TaggedOutput(SKIPS, wrap(item)) for item in self.selector.drain_examples())


class SelectCandidates(beam.PTransform):
    """Image batches -> {"candidates": (partition, candidate table), SKIPS, SITE_COUNTS} (select.py)."""

    def __init__(self, queries_path: str, filter_config: TextFilterConfig, partitions: int = 1,
                 site_repeats: SiteRepeatConfig = SiteRepeatConfig()) -> None:
        super().__init__()
        self.select = _SelectFn(queries_path, filter_config.validate(), partitions, site_repeats.validate())

    def expand(self, images):
        return images | "Select" >> beam.ParDo(self.select).with_outputs(SKIPS, SITE_COUNTS, main="candidates")


def _unique(item):
    partition, grouped = item
    tables = list(grouped["pieces"])
    if tables:
        table, cut, duplicates = candidates.unique_rows(tables, set(grouped["cut"]))
        if cut:
            _count(f"filtered.{repeats.SITE_REPEATED}", cut)
        _count("pairs.duplicates", duplicates)
        _count("pairs.unique", table.num_rows)
        yield partition, table


class DropDuplicates(beam.PTransform):
    """{"pieces": (partition, candidates), "cut": (partition, uid)} -> (partition, one row per
    uid, the rows of the cut pairs removed); both counted."""

    def expand(self, found):
        return found | "GroupPartitions" >> beam.CoGroupByKey() | "Unique" >> beam.FlatMap(_unique)


class _MergeDicts(beam.CombineFn):
    """Dicts of one query shard -> one dict; values merged by `merge(old, new)`."""

    def __init__(self, merge) -> None:
        self.merge = merge

    def create_accumulator(self):
        return {}

    def add_input(self, merged, found):
        for key, value in found.items():
            merged[key] = value if key not in merged else self.merge(merged[key], value)
        return merged

    def merge_accumulators(self, accumulators):
        return functools.reduce(self.add_input, accumulators, {})

    def extract_output(self, merged):
        return merged


class _DecideFn(beam.DoFn):
    KEPT_FOR = "kept_for"

    def __init__(self, cap: int, mode: str) -> None:
        self.cap, self.mode = cap, mode

    def process(self, item, limits):
        partition, table = item
        if not limits:  # no query over the cap: every pair is kept
            _count("balance.kept", table.num_rows)
            yield partition, table
            return
        rows, kept_for = balance.decide(*balance.uids_and_queries(table), limits, self.cap, self.mode)
        _count("balance.dropped_over_cap", table.num_rows - len(rows))
        _count("balance.kept", len(rows))
        if rows:
            yield partition, table if len(rows) == table.num_rows else table.take(pa.array(rows, pa.int32()))
        for shard in balance.by_query_shard(kept_for):
            yield beam.pvalue.TaggedOutput(self.KEPT_FOR, shard)


class Balance(beam.PTransform):
    """(partition, unique candidates) -> {"kept": (partition, rows kept),
    "query_counts": (query shard, {query: (matched, kept)})}.

    The rules are balance.py's; its docstring has the distributed plan.
    """

    def __init__(self, cap: int, mode: str = balance.EXACT) -> None:
        super().__init__()
        balance.validate_balance(cap, mode)
        self.cap, self.mode = cap, mode

    def expand(self, unique):
        cap = self.cap
        matched = (unique
                   | "CountPerQuery" >> beam.FlatMap(lambda item: balance.by_query_shard(
                       balance.count_per_query(item[1].column("matched").to_pylist())))
                   | "SumPerQuery" >> beam.CombinePerKey(_MergeDicts(operator.add)))
        over_cap = (matched
                    | "OverCap" >> beam.MapTuple(lambda _, counts: balance.over_cap(counts, cap))
                    | "AllOverCap" >> beam.CombineGlobally(_MergeDicts(operator.add)))
        if self.mode == balance.EXACT:
            limits = (unique
                      | "BottomKs" >> beam.FlatMap(lambda item, over: balance.by_query_shard(
                          balance.bottom_k_per_query(*balance.uids_and_queries(item[1]), cap, over)), beam.pvalue.AsSingleton(over_cap))
                      | "MergeBottomKs" >> beam.CombinePerKey(_MergeDicts(balance.merge_bottom_k))
                      | "Thresholds" >> beam.MapTuple(lambda _, found: {q: b.threshold() for q, b in found.items()})
                      | "AllThresholds" >> beam.CombineGlobally(_MergeDicts(operator.add)))
        else:
            limits = over_cap
        decided = unique | "Decide" >> beam.ParDo(
            _DecideFn(cap, self.mode), limits=beam.pvalue.AsSingleton(limits)).with_outputs(
                _DecideFn.KEPT_FOR, main="kept")
        kept_counts = decided[_DecideFn.KEPT_FOR] | "SumKept" >> beam.CombinePerKey(_MergeDicts(operator.add))
        query_counts = ({"matched": matched, "kept": kept_counts}
                        | "JoinCounts" >> beam.CoGroupByKey()
                        | "QueryCountShards" >> beam.MapTuple(balance.query_counts_of_shard, beam.pvalue.AsSingleton(over_cap)))
        return {"kept": decided.kept, "query_counts": query_counts}


class Harvest(beam.PTransform):
    """PBegin -> {"candidates": (partition, rows kept), "query_counts": (query shard, {query: (matched, kept)}),
    "skips": (reason, [up to SKIP_EXAMPLES details])}."""

    def __init__(self, queries_path: str, sources: HarvestSources, *, filter_config: TextFilterConfig | None = None,
                 per_query_cap: int = 20_000, balance_mode: str = balance.EXACT, fetch_policy=None,
                 crawl_config: CrawlConfig | None = None, partitions: int = 1,
                 site_repeats: SiteRepeatConfig = SiteRepeatConfig()) -> None:
        super().__init__()
        self.read = ReadSources(sources, fetch_policy, crawl_config)
        self.select = SelectCandidates(queries_path, filter_config or TextFilterConfig(), partitions, site_repeats)
        self.site_repeats = FindSiteRepeats(site_repeats, partitions)
        self.balance = Balance(per_query_cap, balance_mode)

    def expand(self, pbegin):
        found = pbegin | "Read" >> self.read
        selected = found["images"] | "SelectCandidates" >> self.select
        repeated = selected[SITE_COUNTS] | "FindSiteRepeats" >> self.site_repeats
        balanced = ({"pieces": selected.candidates, "cut": repeated["cut"]}
                    | "DropDuplicates" >> DropDuplicates()
                    | "Balance" >> self.balance)
        skip_examples = ((found[SKIPS], selected[SKIPS], repeated["examples"])
                         | "AllExamples" >> beam.Flatten()
                         | "SkipExamples" >> beam.combiners.Top.SmallestPerKey(SKIP_EXAMPLES))
        return {"candidates": balanced["kept"], "query_counts": balanced["query_counts"], "skips": skip_examples}
