"""`wit queries`: the WIT query list (Wikipedia words, PMI bigrams, popular titles,
WordNet synsets, optional online expansion) as one Beam pipeline.

The parsing, counting and ranking logic lives in the `queries` package; this module
only wires it: `BuildQueries` is the composite PTransform, `main` the command.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import functools
import io
import logging
import math
import re
import sys
import time

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.transforms.window import GlobalWindows

from queries import multistream, ngrams, output, pageviews, union, wiki_api, wikidump, wikitext, wordnet
from queries.normalize import normalize
from queries.union import Candidate
from wit_pipeline import files, summary
from wit_pipeline.options import DryRun, make_pipeline, pipeline_options, stop_if_dry_run

METRICS_NAMESPACE = "wit.queries"
PROGRESS_EVERY_ARTICLES = 20_000


@dataclasses.dataclass(frozen=True)
class QueryConfig:
    min_word_count: int = 100
    min_bigram_count: int = 1000
    min_pmi: float = 30.0
    max_bigrams: int = 100_000
    min_title_views: int = 70
    max_queries: int = 500_000
    count_shards: int = 64  # the CLI default (0) sizes this from the input, see auto_count_shards
    max_keys_in_memory: int = 3_000_000
    wiki_api_max_pages: int = 100
    wiki_api_url: str = wiki_api.DEFAULT_API_URL
    wiki_api_rate: float = 5.0
    wiki_api_timeout: float = 10.0
    wiki_api_retries: int = 3

    def validate(self) -> None:
        for name in ("min_word_count", "min_bigram_count", "min_title_views", "max_queries",
                     "count_shards", "max_keys_in_memory", "wiki_api_max_pages"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_bigrams < 0:
            raise ValueError(f"--max-bigrams must be >= 0 (0: no cap), got {self.max_bigrams}")
        if self.min_pmi < 0:
            raise ValueError(f"--min-pmi must be >= 0, got {self.min_pmi}")


@functools.lru_cache(maxsize=None)
def _counter(name: str):
    return Metrics.counter(METRICS_NAMESPACE, name)


def _report(stats: collections.Counter, prefix: str) -> None:
    for key, value in stats.items():
        if value:
            _counter(f"{prefix}.{key}").inc(value)


def _progress(message: str) -> None:
    print(f"wit queries: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- dumps

class _ReadDumpFn(beam.DoFn):
    """DumpRange (a whole file, or a stream-aligned slice of a multistream dump) -> Articles."""

    def process(self, dump_range: multistream.DumpRange):
        stats: collections.Counter = collections.Counter()
        started = time.monotonic()
        name = dump_range.describe()
        encoding = None  # a whole file declares its own
        if not dump_range.whole_file:
            with files.open_read(dump_range.path) as head:
                encoding = wikidump.head_encoding(head, dump_range.path)
        with files.open_read(dump_range.path) as stream:
            if dump_range.start:
                stream.seek(dump_range.start)
            limit = None if dump_range.end is None else dump_range.end - dump_range.start
            reader = multistream.LimitedReader(stream, limit)
            for article in wikidump.iter_articles(reader, name, stats, fragment=not dump_range.whole_file,
                                                  encoding=encoding):
                yield article
                if stats["articles"] % PROGRESS_EVERY_ARTICLES == 0:
                    _progress(f"{name}: {stats['articles']:,} articles ({time.monotonic() - started:.0f}s)")
        stats["files" if dump_range.whole_file else "ranges"] += 1
        _report(stats, "wiki_dump")
        _progress(f"{name}: done, {stats['articles']:,} articles of {stats['pages']:,} pages "
                  f"in {time.monotonic() - started:.0f}s")


class ReadArticles(beam.PTransform):
    """DumpRanges -> Articles; files and ranges are spread over workers."""

    def expand(self, ranges):
        return (ranges
                | "SpreadFiles" >> beam.Reshuffle()
                | "Parse" >> beam.ParDo(_ReadDumpFn()))


def plan_dump_ranges(dump_paths, index_paths, split_bytes: int) -> list[multistream.DumpRange]:
    """Whole files, except multistream dumps with an index: those are cut at stream offsets."""
    indexed = {}
    for index_path in index_paths:
        dump_path = multistream.dump_for_index(index_path)
        if not files.exists(dump_path):
            raise FileNotFoundError(f"multistream index {index_path!r}: its dump {dump_path!r} does not exist")
        indexed[dump_path] = index_path
    ranges = []
    for path in sorted(set(dump_paths) | set(indexed)):
        if path in indexed:
            ranges += multistream.plan_ranges(path, multistream.read_offsets(indexed[path]), split_bytes)
        else:
            ranges.append(multistream.DumpRange(path))
    return ranges


# ------------------------------------------------------------------------- counting

class _CountFn(beam.DoFn):
    """Texts -> ((kind, shard), partial counts), flushed at a memory cap and at the end of a bundle."""

    def __init__(self, count_shards: int, max_keys: int):
        self._shards = count_shards
        self._max_keys = max_keys

    def start_bundle(self):
        self._counter = ngrams.NgramCounter(self._max_keys)

    def process(self, text: str):
        self._counter.add(text)
        if self._counter.full():
            _counter("ngrams.memory_flushes").inc()
            yield from self._flush()

    def finish_bundle(self):
        for item in self._flush():
            yield GlobalWindows.windowed_value(item) if not isinstance(item, pvalue.TaggedOutput) \
                else pvalue.TaggedOutput(item.tag, GlobalWindows.windowed_value(item.value))

    def _flush(self):
        unigrams, pairs, tokens = self._counter.drain()
        if tokens:
            yield pvalue.TaggedOutput("tokens", tokens)
        yield from ngrams.split_shards(unigrams, pairs, self._shards)


class _MergeShardFn(beam.DoFn):
    def __init__(self, min_unigram: int, min_bigram: int):
        self._min = {ngrams.UNIGRAM: min_unigram, ngrams.BIGRAM: min_bigram}

    def process(self, element):
        (kind, _shard), blobs = element
        for key, count in ngrams.merge_shard(kind, blobs, self._min[kind]):
            yield pvalue.TaggedOutput(kind, (key, count))


class CountNgrams(beam.PTransform):
    """Texts -> {'unigrams': (word, count), 'bigrams': ('w1 w2', count), 'tokens': total}.

    Only words seen at least min(min_word_count, min_bigram_count) times and bigrams
    seen at least min_bigram_count times come out; see `queries.ngrams` for the
    memory plan.
    """

    def __init__(self, config: QueryConfig):
        super().__init__()
        self._config = config

    def expand(self, texts):
        c = self._config
        partials = texts | "CountPartials" >> beam.ParDo(
            _CountFn(c.count_shards, c.max_keys_in_memory)).with_outputs("tokens", main="partials")
        merged = (partials.partials
                  | "GroupShards" >> beam.GroupByKey()
                  | "MergeShards" >> beam.ParDo(
                      _MergeShardFn(min(c.min_word_count, c.min_bigram_count), c.min_bigram_count)
                  ).with_outputs(ngrams.UNIGRAM, ngrams.BIGRAM))
        tokens = partials.tokens | "TotalTokens" >> beam.CombineGlobally(sum)
        return {"unigrams": merged[ngrams.UNIGRAM], "bigrams": merged[ngrams.BIGRAM], "tokens": tokens}


def _attach_unigram_count(element, position: int):
    """Join step: (word, {'word': [count], 'pairs': [(bigram, counts...)]}) -> next key, bigram, counts."""
    _word, grouped = element
    word_counts = list(grouped["word"])
    for pair, *counts in grouped["pairs"]:
        if not word_counts:
            raise RuntimeError(f"bigram {pair!r} has no unigram count: counting is inconsistent")
        counts = counts + [word_counts[0]]
        next_key = pair.split(" ")[1] if position == 0 else pair
        yield next_key, (pair, *counts)


class ScoreBigrams(beam.PTransform):
    """(unigram counts, bigram counts, total tokens) -> bigram Candidates with PMI >= min_pmi.

    PMI needs both words' counts: two joins by word (first, then second word), which
    scale like the counts themselves, rather than a side input of the vocabulary.
    """

    def __init__(self, config: QueryConfig):
        super().__init__()
        self._config = config

    def expand(self, counts):
        c = self._config
        frequent_words = counts["unigrams"] | "FrequentForPairs" >> beam.Filter(
            lambda kv, m: kv[1] >= m, c.min_bigram_count)
        by_first = counts["bigrams"] | "KeyByFirst" >> beam.Map(lambda kv: (kv[0].split(" ")[0], kv))
        with_first = ({"word": frequent_words, "pairs": by_first}
                      | "JoinFirst" >> beam.CoGroupByKey()
                      | "AttachFirst" >> beam.FlatMap(_attach_unigram_count, 0))
        with_both = ({"word": frequent_words, "pairs": with_first}
                     | "JoinSecond" >> beam.CoGroupByKey()
                     | "AttachSecond" >> beam.FlatMap(_attach_unigram_count, 1))
        scored = (with_both
                  | "Pmi" >> beam.FlatMap(_score_pair, c.min_pmi, pvalue.AsSingleton(counts["tokens"])))
        if not c.max_bigrams:
            return scored
        return (scored
                | "TopBigrams" >> beam.combiners.Top.Of(c.max_bigrams, key=_bigram_rank, reverse=True)
                | "UnlistBigrams" >> beam.FlatMap(lambda top: top))


def _bigram_rank(bigram: Candidate) -> tuple:
    """Highest PMI first, then the more frequent, then alphabetical; smaller ranks first."""
    return (-bigram.score, -bigram.count, bigram.query)


def _score_pair(element, min_pmi: float, total_tokens: int):
    _key, (pair, pair_count, first_count, second_count) = element
    score = ngrams.pmi_ratio(pair_count, first_count, second_count, total_tokens)
    if score >= min_pmi:
        _counter("bigram.above_min_pmi").inc()
        yield Candidate(pair, "bigram", pair_count, score)
    else:
        _counter("bigram.below_min_pmi").inc()


# ------------------------------------------------------------------------ pageviews

def title_key(title: str) -> str:
    """MediaWiki form of a dump title: single spaces, first letter upper-case."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


class _ReadPageviewsFn(beam.DoFn):
    """Pageview file -> (title, views) for English Wikipedia article titles."""

    def process(self, path: str):
        stats: collections.Counter = collections.Counter()
        started = time.monotonic()
        with files.open_read(path) as stream:
            lines = _decompressed_lines(stream, path)
            for raw in lines:
                stats["lines"] += 1
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    stats["undecodable_lines"] += 1
                    continue
                if not line:
                    stats["blank_lines"] += 1
                    continue
                try:
                    domain, raw_title, views = pageviews.parse_line(line)
                    if domain not in pageviews.ENGLISH_DOMAINS:
                        stats["other_wiki_lines"] += 1
                        continue
                    title = pageviews.canonical_title(raw_title)
                except (pageviews.MalformedLine, UnicodeDecodeError):
                    stats["malformed_lines"] += 1
                    continue
                if not pageviews.is_article_title(title):
                    stats["non_article_lines"] += 1
                    continue
                stats["english_article_lines"] += 1
                yield title, views
        well_formed = stats["lines"] - stats["malformed_lines"] - stats["undecodable_lines"] - stats["blank_lines"]
        if stats["lines"] and not well_formed:
            raise pageviews.PageviewError(
                f"{path}: none of its {stats['lines']:,} lines is `domain_code page_title views bytes` "
                "(is this a pageviews-YYYYMMDD-HH0000 file?)")
        stats["files"] += 1
        _report(stats, "pageviews")
        _progress(f"{path}: {stats['lines']:,} pageview lines in {time.monotonic() - started:.0f}s")


def _decompressed_lines(stream, path: str):
    pending = b""
    for chunk in wikidump.iter_decompressed(stream, path):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def _keep_existing(element):
    title, grouped = element
    views = list(grouped["views"])
    if not views:
        return
    views = sum(views)
    if any(True for _ in grouped["articles"]):
        yield title, views
    else:
        _counter("pageviews.titles_not_in_dump").inc()


class TitleCandidates(beam.PTransform):
    """Pageview files (+ dump article titles when given) -> title Candidates (score: views)."""

    def __init__(self, config: QueryConfig, article_titles=None):
        super().__init__()
        self._config = config
        self._article_titles = article_titles

    def expand(self, paths):
        views = (paths
                 | "SpreadFiles" >> beam.Reshuffle()
                 | "ParseLines" >> beam.ParDo(_ReadPageviewsFn())
                 | "SumViews" >> beam.CombinePerKey(sum))
        if self._article_titles is not None:
            views = ({"views": views, "articles": self._article_titles}
                     | "JoinArticles" >> beam.CoGroupByKey()
                     | "KeepArticles" >> beam.FlatMap(_keep_existing))
        return (views
                | "MinViews" >> beam.Filter(lambda kv, m: kv[1] >= m, self._config.min_title_views)
                | "ToCandidate" >> beam.MapTuple(lambda title, v: Candidate(title, "title", None, float(v))))


# -------------------------------------------------------------------------- wordnet

class _ReadWndbFn(beam.DoFn):
    def process(self, path: str):
        with files.open_read(path) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict")
            try:
                lemmas = list(wordnet.iter_head_lemmas(text, path))
            except UnicodeDecodeError as exc:
                raise wordnet.WordNetError(f"{path}: not UTF-8 text: {exc}") from None
        _counter("wordnet.synsets").inc(len(lemmas))
        for _synset, lemma in lemmas:
            yield Candidate(lemma, "wordnet", None, None)


def wordnet_paths(directory: str) -> list[str]:
    paths = [files.join(directory, name) for name in wordnet.WNDB_FILES]
    missing = [p for p in paths if not files.exists(p)]
    if missing:
        raise FileNotFoundError(f"WordNet directory {directory!r} lacks {', '.join(missing)}")
    return paths


# ------------------------------------------------------------------------ wiki api

class _CrawlFn(beam.DoFn):
    def __init__(self, config: QueryConfig):
        self._config = config

    def process(self, seeds):
        c = self._config
        stats: collections.Counter = collections.Counter()
        try:
            for page in wiki_api.crawl(list(seeds), c.wiki_api_max_pages, api_url=c.wiki_api_url,
                                       requests_per_second=c.wiki_api_rate, timeout=c.wiki_api_timeout,
                                       max_retries=c.wiki_api_retries, stats=stats):
                yield page
                if stats["pages"] % 50 == 0:
                    _progress(f"wiki api: {stats['pages']:,} pages fetched")
        finally:
            _report(stats, "wiki_api")


# ---------------------------------------------------------------------------- union

def _normalized(candidate: Candidate):
    query = normalize(candidate.query)
    if not query:
        _counter(f"empty_after_normalization.{candidate.source}").inc()
        return
    _counter(f"candidates.{candidate.source}").inc()
    yield query, dataclasses.replace(candidate, query=query)


def _resolve(element):
    query, candidates = element
    winner, sources = union.resolve(query, candidates)
    _counter(f"unique.{winner.source}").inc()
    for name in union.overlap_names(sources):
        _counter(f"overlap.{name}").inc()
    return winner


class UnionQueries(beam.PTransform):
    """Candidates of every source -> one list of at most max_queries, ranked, unique."""

    def __init__(self, max_queries: int):
        super().__init__()
        self._max_queries = max_queries

    def expand(self, candidates):
        return (candidates
                | "Normalize" >> beam.FlatMap(_normalized)
                | "GroupByQuery" >> beam.GroupByKey()
                | "Resolve" >> beam.Map(_resolve)
                | "Cap" >> beam.combiners.Top.Of(self._max_queries, key=union.rank_key, reverse=True)
                | "Rank" >> beam.Map(lambda top: sorted(top, key=union.rank_key)))


# -------------------------------------------------------------------------- compose

@dataclasses.dataclass(frozen=True)
class Sources:
    dump_paths: tuple[str, ...] = ()
    dump_index_paths: tuple[str, ...] = ()
    split_bytes: int = 32 << 20
    pageview_paths: tuple[str, ...] = ()
    wordnet_dir: str | None = None
    use_nltk_wordnet: bool = False
    api_seeds: tuple[str, ...] = ()

    def empty(self) -> bool:
        return not (self.dump_paths or self.dump_index_paths or self.pageview_paths or self.wordnet_dir
                    or self.use_nltk_wordnet or self.api_seeds)


class BuildQueries(beam.PTransform):
    """PBegin -> a single element: the ranked list of query Candidates."""

    def __init__(self, sources: Sources, config: QueryConfig):
        super().__init__()
        self._sources = sources
        self._config = config

    def expand(self, begin):
        s, c = self._sources, self._config
        candidates = []
        texts = []
        article_titles = None
        if s.dump_paths or s.dump_index_paths:
            ranges = plan_dump_ranges(s.dump_paths, s.dump_index_paths, s.split_bytes)
            _progress(f"{len(ranges):,} dump file(s)/range(s) to read")
            articles = (begin | "DumpRanges" >> beam.Create(ranges)
                        | "ReadArticles" >> ReadArticles())
            texts.append(articles | "PlainText" >> beam.Map(lambda a: wikitext.to_plain_text(a.text)))
            if s.pageview_paths:
                article_titles = articles | "ArticleTitles" >> beam.Map(lambda a: (title_key(a.title), None))
        if s.api_seeds:
            pages = (begin | "ApiSeeds" >> beam.Create([tuple(s.api_seeds)])
                     | "Crawl" >> beam.ParDo(_CrawlFn(c)))
            texts.append(pages | "ApiText" >> beam.Map(lambda p: p.text))
            candidates.append(pages | "ApiTitles" >> beam.Map(lambda p: Candidate(p.title, "api", None, None)))
        if texts:
            all_texts = texts[0] if len(texts) == 1 else tuple(texts) | "AllTexts" >> beam.Flatten()
            counts = all_texts | "CountNgrams" >> CountNgrams(c)
            candidates.append(counts["unigrams"]
                              | "FrequentWords" >> beam.Filter(lambda kv, m: kv[1] >= m, c.min_word_count)
                              | "Unigrams" >> beam.MapTuple(lambda w, n: Candidate(w, "unigram", n, None)))
            candidates.append(counts | "ScoreBigrams" >> ScoreBigrams(c))
        if s.pageview_paths:
            candidates.append(begin | "PageviewPaths" >> beam.Create(sorted(s.pageview_paths))
                              | "Titles" >> TitleCandidates(c, article_titles))
        if s.wordnet_dir:
            candidates.append(begin | "WordNetPaths" >> beam.Create(wordnet_paths(s.wordnet_dir))
                              | "WordNet" >> beam.ParDo(_ReadWndbFn()))
        elif s.use_nltk_wordnet:
            candidates.append(begin | "NltkWordNet" >> beam.Create(
                [Candidate(lemma, "wordnet", None, None) for _, lemma in wordnet.nltk_head_lemmas()])
                | "CountSynsets" >> beam.Map(_counted, "wordnet.synsets"))
        if not candidates:
            raise ValueError("no source given: pass --wiki-dump, --pageviews, --wordnet and/or --wiki-api-seed")
        return (tuple(candidates) | "AllCandidates" >> beam.Flatten()
                | "Union" >> UnionQueries(c.max_queries))


def _counted(element, name: str):
    _counter(name).inc()
    return element


class _WriteOutputsFn(beam.DoFn):
    def __init__(self, out: str):
        self._out = out

    def process(self, ranked):
        output.write_outputs(self._out, ranked)
        _progress(f"wrote {len(ranked):,} queries to {self._out}")
        yield len(ranked)


# ------------------------------------------------------------------------------ CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (local or gs://, s3://, ...)")
    parser.add_argument("--wiki-dump", nargs="+", default=[], metavar="GLOB",
                        help="MediaWiki pages-articles XML dumps (plain, .bz2, .gz)")
    parser.add_argument("--wiki-dump-index", nargs="+", default=[], metavar="GLOB",
                        help="multistream indexes (*-multistream-index*.txt*.bz2): their dumps are read "
                             "in stream-aligned ranges by many workers")
    parser.add_argument("--split-mb", type=float, default=32,
                        help="compressed MB per range of an indexed multistream dump")
    parser.add_argument("--pageviews", nargs="+", default=[], metavar="GLOB",
                        help="Wikimedia pageview dump files (`domain page_title views bytes`, gz or plain)")
    parser.add_argument("--wordnet", nargs="?", const="nltk", default=None, metavar="DIR",
                        help="WNDB directory with data.noun/verb/adj/adv; the bare flag uses nltk's installed WordNet")
    parser.add_argument("--wiki-api-seed", nargs="+", default=[], metavar="TITLE",
                        help="seed titles (articles or Category:...) for online expansion with wikipedia-api")
    parser.add_argument("--wiki-api-max-pages", type=int, default=QueryConfig.wiki_api_max_pages)
    parser.add_argument("--wiki-api-url", default=QueryConfig.wiki_api_url, help="MediaWiki api.php endpoint")
    parser.add_argument("--wiki-api-rate", type=float, default=QueryConfig.wiki_api_rate,
                        help="maximum API requests per second")
    parser.add_argument("--wiki-api-timeout", type=float, default=QueryConfig.wiki_api_timeout)
    parser.add_argument("--wiki-api-retries", type=int, default=QueryConfig.wiki_api_retries)
    parser.add_argument("--min-word-count", type=int, default=QueryConfig.min_word_count)
    parser.add_argument("--min-bigram-count", type=int, default=QueryConfig.min_bigram_count)
    parser.add_argument("--min-pmi", type=float, default=QueryConfig.min_pmi,
                        help="minimum p(x,y)/(p(x)p(y)) (= 2**PMI in bits)")
    parser.add_argument("--max-bigrams", type=int, default=QueryConfig.max_bigrams,
                        help="keep the top bigrams by PMI (0: no cap)")
    parser.add_argument("--min-title-views", type=int, default=QueryConfig.min_title_views)
    parser.add_argument("--max-queries", type=int, default=QueryConfig.max_queries)
    parser.add_argument("--count-shards", type=int, default=0,
                        help="partitions of the n-gram counts (memory per merge = distinct n-grams / shards); "
                             "0: one per ~64 MB of uncompressed text, at least 16")
    parser.add_argument("--max-keys-in-memory", type=int, default=QueryConfig.max_keys_in_memory,
                        help="distinct bigrams a worker holds before flushing partial counts")


# Typical expansion of wikitext XML; used only to size the shuffle.
_EXPANSION = {".bz2": 5.0, ".gz": 4.0}
BYTES_PER_COUNT_SHARD = 64 << 20


def auto_count_shards(paths) -> int:
    """One shard per ~64 MB of uncompressed dump: distinct n-grams grow sublinearly with
    text, so a shard's merge stays well under a worker's memory at any corpus size."""
    from apache_beam.io.filesystems import FileSystems

    total = 0.0
    for result in FileSystems.match(list(paths)) if paths else []:
        for meta in result.metadata_list:
            total += meta.size_in_bytes * next((f for ext, f in _EXPANSION.items() if meta.path.endswith(ext)), 1.0)
    return int(min(8192, max(16, math.ceil(total / BYTES_PER_COUNT_SHARD))))


def config_from_args(args, sources: "Sources") -> QueryConfig:
    count_shards = args.count_shards or auto_count_shards(
        sorted(set(sources.dump_paths) | {multistream.dump_for_index(i) for i in sources.dump_index_paths}))
    config = QueryConfig(
        min_word_count=args.min_word_count, min_bigram_count=args.min_bigram_count,
        min_pmi=args.min_pmi, max_bigrams=args.max_bigrams, min_title_views=args.min_title_views,
        max_queries=args.max_queries, count_shards=count_shards,
        max_keys_in_memory=args.max_keys_in_memory, wiki_api_max_pages=args.wiki_api_max_pages,
        wiki_api_url=args.wiki_api_url, wiki_api_rate=args.wiki_api_rate,
        wiki_api_timeout=args.wiki_api_timeout, wiki_api_retries=args.wiki_api_retries)
    config.validate()
    return config


def sources_from_args(args) -> Sources:
    if not args.split_mb > 0:
        raise ValueError(f"--split-mb must be positive, got {args.split_mb}")
    nltk = args.wordnet == "nltk"
    if args.wordnet and not nltk and not files.exists(args.wordnet):
        raise FileNotFoundError(f"WordNet directory {args.wordnet!r} does not exist")
    sources = Sources(
        dump_paths=tuple(files.match_many(args.wiki_dump)) if args.wiki_dump else (),
        dump_index_paths=tuple(files.match_many(args.wiki_dump_index)) if args.wiki_dump_index else (),
        split_bytes=max(1, int(args.split_mb * (1 << 20))),
        pageview_paths=tuple(files.match_many(args.pageviews)) if args.pageviews else (),
        wordnet_dir=None if nltk else args.wordnet,
        use_nltk_wordnet=nltk,
        api_seeds=tuple(args.wiki_api_seed))
    if sources.empty():
        raise ValueError("no source given: pass --wiki-dump, --pageviews, --wordnet and/or --wiki-api-seed")
    return sources


_INPUT_ERRORS = (wikidump.DumpError, wordnet.WordNetError, pageviews.PageviewError)
_INPUT_ERROR = re.compile(r"(?:DumpError|WordNetError|PageviewError): (.+)")  # as other runners relay it
_BEAM_STEP = re.compile(r" \[while running '[^']*'\]")  # what Beam appends to a worker's message


class _NoInputErrorTracebacks(logging.Filter):
    """Beam logs a failing worker's exception with its traceback (25-140 lines) before the
    runner re-raises it; bad input is then reported in one line naming the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], _INPUT_ERRORS):
            return False
        return not _INPUT_ERROR.search(record.getMessage())  # other runners log the traceback as text


@contextlib.contextmanager
def _input_errors_in_one_line():
    quiet, handlers = _NoInputErrorTracebacks(), list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def run_pipeline(sources: Sources, config: QueryConfig, out: str, beam_argv: list[str]) -> dict[str, int]:
    """Run the pipeline, write OUT/queries.*, return the pipeline's counters by name."""
    pipeline = make_pipeline(pipeline_options(beam_argv))
    _ = (pipeline
         | "BuildQueries" >> BuildQueries(sources, config)
         | "Write" >> beam.ParDo(_WriteOutputsFn(out)))
    try:
        with _input_errors_in_one_line():
            result = pipeline.run()
            result.wait_until_finish()
        stop_if_dry_run(pipeline.options)
    except DryRun:
        raise
    except Exception as exc:  # noqa: BLE001 - runners wrap worker errors in their own types
        found = [str(exc)] if isinstance(exc, _INPUT_ERRORS) else _INPUT_ERROR.findall(str(exc))
        if found:
            raise ValueError(_BEAM_STEP.sub("", found[-1]).strip()) from exc
        raise
    return _counters(result)


def _counters(result) -> dict[str, int]:
    totals: dict[str, int] = collections.defaultdict(int)
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += int(value or 0)
    return dict(totals)


def build_stats(counters: dict[str, int], table, sources: Sources, config: QueryConfig,
                seconds: float) -> dict:
    final = collections.Counter(table.column("source").to_pylist())

    def section(prefix: str) -> dict[str, int]:
        return {k[len(prefix) + 1:]: v for k, v in sorted(counters.items()) if k.startswith(prefix + ".")}

    unique = section("unique")
    stats = {
        "queries": table.num_rows,
        "by_source": {s: final.get(s, 0) for s in union.SOURCES},
        "candidates_by_source": {s: section("candidates").get(s, 0) for s in union.SOURCES},
        "unique_by_source": {s: unique.get(s, 0) for s in union.SOURCES},
        "dropped_by_max_queries": {s: unique.get(s, 0) - final.get(s, 0) for s in union.SOURCES},
        "overlaps": section("overlap"),
        "empty_after_normalization": section("empty_after_normalization"),
        "thresholds": {"min_word_count": config.min_word_count, "min_bigram_count": config.min_bigram_count,
                       "min_pmi": config.min_pmi, "max_bigrams": config.max_bigrams,
                       "min_title_views": config.min_title_views, "max_queries": config.max_queries},
        "seconds": round(seconds, 2),
    }
    if sources.dump_paths or sources.dump_index_paths:
        stats["wiki_dump"] = section("wiki_dump")
        stats["bigram_pmi"] = section("bigram")
        stats["ngram_memory_flushes"] = counters.get("ngrams.memory_flushes", 0)
        stats["count_shards"] = config.count_shards
    if sources.pageview_paths:
        stats["pageviews"] = section("pageviews")
    if sources.wordnet_dir or sources.use_nltk_wordnet:
        stats["wordnet"] = {"synsets": counters.get("wordnet.synsets", 0),
                            "source": "nltk" if sources.use_nltk_wordnet else sources.wordnet_dir}
    if sources.api_seeds:
        stats["wiki_api"] = section("wiki_api")
    return stats


def main(args, beam_argv: list[str]) -> int:
    sources = sources_from_args(args)
    config = config_from_args(args, sources)
    started = time.monotonic()
    counters = run_pipeline(sources, config, args.out, beam_argv)
    table = files.read_parquet(files.join(args.out, "queries.parquet"))
    stats = build_stats(counters, table, sources, config, time.monotonic() - started)
    stats["outputs"] = {name: files.join(args.out, name)
                        for name in ("queries.parquet", "queries.txt", output.PLOT_NAME)}
    summary.finish(args.out, "wit queries", stats)
    return 0
