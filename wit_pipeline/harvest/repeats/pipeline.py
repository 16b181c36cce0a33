"""The Beam side of the site-level rule (the rule and its counts: repeats/__init__.py)."""
from __future__ import annotations

import functools

import apache_beam as beam

from wit_pipeline.harvest import candidates, repeats


class _MergeCounts(beam.CombineFn):
    """A bucket's {(site, uid or None): (pages, text)} dicts -> one (repeats.merge_counts)."""

    def create_accumulator(self):
        return {}

    def add_input(self, merged, found):
        return repeats.merge_counts(merged, found)

    def merge_accumulators(self, accumulators):
        return functools.reduce(repeats.merge_counts, accumulators, {})

    def extract_output(self, merged):
        return merged


class FindSiteRepeats(beam.PTransform):
    """(bucket, {(site, uid or None): (pages, text)}) counts -> {"cut": (partition, uid),
    "examples": ("filtered.site_repeated_text", detail)}: the pairs over the thresholds,
    sent to the uid partition holding their rows (of `partitions`, as candidates.py
    partitions them).

    One combine per bucket of pairs (repeats.count_buckets), then a group per site of its
    page count and its pairs on at least `min_pages` pages only: a site's pages are never
    gathered.
    """

    def __init__(self, config: repeats.SiteRepeatConfig, partitions: int) -> None:
        super().__init__()
        self.config = config.validate()
        self.partition_of = functools.partial(candidates.partition_of, partitions=partitions)

    def expand(self, counts):
        sites = (counts
                 | "PagesPerBucket" >> beam.CombinePerKey(_MergeCounts())
                 | "OnEnoughPages" >> beam.FlatMap(repeats.may_repeat, self.config)
                 | "GroupSites" >> beam.GroupByKey())
        return {"cut": sites | "CutKeys" >> beam.FlatMap(repeats.cut_keys, self.config, self.partition_of),
                "examples": sites | "Examples" >> beam.FlatMap(repeats.examples, self.config)}
