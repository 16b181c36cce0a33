"""The Beam side of the site-level rule (the rule and its counts: repeats/__init__.py)."""
from __future__ import annotations

import functools

import apache_beam as beam

from wit_pipeline.harvest import candidates, repeats


class FindSiteRepeats(beam.PTransform):
    """((site, uid or None), (pages, text)) counts -> {"cut": (partition, uid), "examples":
    ("filtered.site_repeated_text", detail)}: the pairs over the thresholds, sent to the uid
    partition holding their rows (of `partitions`, as candidates.py partitions them).

    One combine per (site, pair) and per site, then a group per site of its page count and
    its pairs on at least `min_pages` pages only: a site's pages are never gathered.
    """

    def __init__(self, config: repeats.SiteRepeatConfig, partitions: int) -> None:
        super().__init__()
        self.config = config.validate()
        self.partition_of = functools.partial(candidates.partition_of, partitions=partitions)

    def expand(self, counts):
        sites = (counts
                 | "PagesPerSitePair" >> beam.CombinePerKey(repeats.merge_pages)
                 | "OnEnoughPages" >> beam.Filter(repeats.may_repeat, self.config)
                 | "BySite" >> beam.MapTuple(repeats.by_site)
                 | "GroupSites" >> beam.GroupByKey())
        return {"cut": sites | "CutKeys" >> beam.FlatMap(repeats.cut_keys, self.config, self.partition_of),
                "examples": sites | "Examples" >> beam.FlatMap(repeats.examples, self.config)}
