"""The Beam side of `wit queries`: one composite PTransform per step, and the DoFns they use.

`BuildQueries` chains them (PBegin -> one element: the ranked list of Candidates);
`run_pipeline` runs it and writes the outputs. Every step takes the command's frozen
config (`queries.command.QueriesConfig`, read by attribute) and leaves parsing,
counting and ranking to the plain modules of `queries/`.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import logging
import sys
import time

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from queries import api, errors, multistream, ngrams, output, pageviews, union, wikitext, wordnet
from queries.dumps import head_encoding, iter_articles
from queries.normalize import normalize
from queries.union import Candidate
from wit_pipeline.core import counters, files
from wit_pipeline.core.options import DryRun, make_pipeline, pipeline_options, stop_if_dry_run

STAGE = "queries"
PROGRESS_EVERY_ARTICLES = 20_000


def _count(name: str, n: int = 1) -> None:
    counters.count(STAGE, name, n)


def _report(stats: collections.Counter, prefix: str) -> None:
    for key, value in stats.items():
        if value:
            _count(f"{prefix}.{key}", value)


def _progress(message: str) -> None:
    print(f"wit queries: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- dumps

class _ReadDumpFn(beam.DoFn):
    """DumpRange (a whole file, or a stream-aligned slice of a multistream dump) -> Articles."""

    def process(self, dump_range: multistream.DumpRange):
        stats: collections.Counter = collections.Counter()
        started = time.monotonic()
        name = dump_range.describe()
        encoding = None  # a whole file declares its own; a slice takes the dump's, from its first stream
        if not dump_range.whole_file:
            with files.open_read(dump_range.path) as head:
                encoding = head_encoding(head, dump_range.path)
        with files.open_read(dump_range.path) as stream:
            if dump_range.start:
                stream.seek(dump_range.start)
            limit = None if dump_range.end is None else dump_range.end - dump_range.start
            reader = multistream.LimitedReader(stream, limit)
            for article in iter_articles(reader, name, stats, fragment=not dump_range.whole_file,
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
            _count("ngrams.memory_flushes")
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

    def __init__(self, config):
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

    def __init__(self, config):
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
                | "TopBigrams" >> beam.combiners.Top.Of(c.max_bigrams, key=union.bigram_rank, reverse=True)
                | "UnlistBigrams" >> beam.FlatMap(lambda top: top))


def _score_pair(element, min_pmi: float, total_tokens: int):
    _key, (pair, pair_count, first_count, second_count) = element
    score = ngrams.pmi_ratio(pair_count, first_count, second_count, total_tokens)
    if score >= min_pmi:
        _count("bigram.above_min_pmi")
        yield Candidate(pair, "bigram", pair_count, score)
    else:
        _count("bigram.below_min_pmi")


# ------------------------------------------------------------------------ pageviews

class _ReadPageviewsFn(beam.DoFn):
    """Pageview file -> (title, views) for English Wikipedia article titles."""

    def process(self, path: str):
        stats: collections.Counter = collections.Counter()
        started = time.monotonic()
        with files.open_read(path) as stream:
            yield from pageviews.read_views(pageviews.decompressed_lines(stream, path), path, stats)
        stats["files"] += 1
        _report(stats, "pageviews")
        _progress(f"{path}: {stats['lines']:,} pageview lines in {time.monotonic() - started:.0f}s")


def _keep_existing(element):
    title, grouped = element
    views = list(grouped["views"])
    if not views:
        return
    views = sum(views)
    if any(True for _ in grouped["articles"]):
        yield title, views
    else:
        _count("pageviews.titles_not_in_dump")


class TitleCandidates(beam.PTransform):
    """Pageview files (+ dump article titles when given) -> title Candidates (score: views)."""

    def __init__(self, config, article_titles=None):
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


# ------------------------------------------------------------------- wordnet, api

class _ReadWndbFn(beam.DoFn):
    def process(self, path: str):
        with files.open_read(path) as stream:
            lemmas = wordnet.read_head_lemmas(io.TextIOWrapper(stream, encoding="utf-8", errors="strict"), path)
        _count("wordnet.synsets", len(lemmas))
        for _synset, lemma in lemmas:
            yield Candidate(lemma, "wordnet", None, None)


class _CrawlFn(beam.DoFn):
    def __init__(self, config):
        self._config = config

    def process(self, seeds):
        c = self._config
        stats: collections.Counter = collections.Counter()
        try:
            for page in api.crawl(list(seeds), c.wiki_api_max_pages, api_url=c.wiki_api_url,
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
        _count(f"empty_after_normalization.{candidate.source}")
        return
    _count(f"candidates.{candidate.source}")
    yield query, dataclasses.replace(candidate, query=query)


def _resolve(element):
    query, candidates = element
    winner, sources = union.resolve(query, candidates)
    _count(f"unique.{winner.source}")
    for name in union.overlap_names(sources):
        _count(f"overlap.{name}")
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

def _counted(element, name: str):
    _count(name)
    return element


class BuildQueries(beam.PTransform):
    """PBegin -> a single element: the ranked list of query Candidates."""

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, begin):
        c = self._config
        candidates = []
        texts = []
        article_titles = None
        if c.dump_paths or c.dump_index_paths:
            ranges = multistream.plan_dump_ranges(c.dump_paths, c.dump_index_paths, c.split_bytes)
            _progress(f"{len(ranges):,} dump file(s)/range(s) to read")
            articles = (begin | "DumpRanges" >> beam.Create(ranges)
                        | "ReadArticles" >> ReadArticles())
            texts.append(articles | "PlainText" >> beam.Map(lambda a: wikitext.to_plain_text(a.text)))
            if c.pageview_paths:
                article_titles = articles | "ArticleTitles" >> beam.Map(
                    lambda a: (pageviews.canonical_title(a.title), None))
        if c.api_seeds:
            pages = (begin | "ApiSeeds" >> beam.Create([tuple(c.api_seeds)])
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
        if c.pageview_paths:
            candidates.append(begin | "PageviewPaths" >> beam.Create(sorted(c.pageview_paths))
                              | "Titles" >> TitleCandidates(c, article_titles))
        if c.wordnet_paths:
            candidates.append(begin | "WordNetPaths" >> beam.Create(list(c.wordnet_paths))
                              | "WordNet" >> beam.ParDo(_ReadWndbFn()))
        elif c.use_nltk_wordnet:
            candidates.append(begin | "NltkWordNet" >> beam.Create(
                [Candidate(lemma, "wordnet", None, None) for _, lemma in wordnet.nltk_head_lemmas()])
                | "CountSynsets" >> beam.Map(_counted, "wordnet.synsets"))
        return (tuple(candidates) | "AllCandidates" >> beam.Flatten()
                | "Union" >> UnionQueries(c.max_queries))


class _WriteOutputsFn(beam.DoFn):
    def __init__(self, out: str):
        self._out = out

    def process(self, ranked):
        output.write_outputs(self._out, ranked)
        _progress(f"wrote {len(ranked):,} queries to {self._out}")
        yield len(ranked)


def run_pipeline(config, beam_argv: list[str]) -> dict[str, int]:
    """Run the pipeline, write OUT/queries.*, return the pipeline's counters by name."""
    pipeline = make_pipeline(pipeline_options(beam_argv))
    _ = (pipeline
         | "BuildQueries" >> BuildQueries(config)
         | "Write" >> beam.ParDo(_WriteOutputsFn(config.out)))
    hold_back = errors.HoldBackInputErrors()
    for name in errors.BEAM_LOGGERS:
        logging.getLogger(name).addFilter(hold_back)
    try:
        result = pipeline.run()
        result.wait_until_finish()
        stop_if_dry_run(pipeline.options)
    except DryRun:
        raise
    except Exception as exc:  # noqa: BLE001 - runners wrap worker errors in their own types
        message = errors.input_error_message(exc)
        if message is not None:
            raise ValueError(message) from exc
        raise
    finally:
        for name in errors.BEAM_LOGGERS:
            logging.getLogger(name).removeFilter(hold_back)
    return counters.read_counters(result, STAGE)
