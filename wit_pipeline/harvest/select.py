"""Which images of a batch become candidates, and with which of their texts, cheapest test first.

    image batch (batches.IMAGE_SCHEMA: one row per image, its texts in --text-source order)
      -> the text and image rules (filters.TextFilter: text_reason, image_reason), per text
      -> query matching of the texts that passed (matcher.QueryMatcher.match_batch), one call
      -> the language check of the texts that matched (TextFilter.language_decision),
         only until one of an image's texts passes
      -> candidate batch: one row per kept image with the text that passed first (its
         `text` and `text_source`), every image column, plus `uid` and `matched`

Each image is counted once (filters.TextFilter.choose_batch says under which reason):
`filtered.<reason>`, `pairs.no_query_match`, `filtered.wrong_language` or `pairs.matched`;
`pairs.passed_filters` counts the images with a text that passed the rules before
matching, so `passed_filters = no_query_match + wrong_language + matched`. Every language
decision is counted as `language.<how>_<accepted|rejected>` (language.py), and a few
examples of each rule are kept (the smallest "text | page" strings, as skips keep theirs).
The pages of every site and the pages each (site, candidate pair) is on are counted for
the site-level rule (repeats/).
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from wit_pipeline.harvest.filters import NO_QUERY_MATCH, WRONG_LANGUAGE, ImageTexts, TextFilter
from wit_pipeline.harvest.matcher import QueryMatcher
from wit_pipeline.harvest.repeats import SiteCounts, count_buckets
from wit_pipeline.harvest.schema import pair_uid
from wit_pipeline.harvest.sources.html import split_more_texts

MATCHED_TYPE = pa.list_(pa.string())


@dataclass
class Selection:
    candidates: pa.RecordBatch | None                     # None when no image was kept
    counts: dict[str, int] = field(default_factory=dict)  # counter name -> n > 0


_RULE_COLUMNS = ("text", "text_source", "more_texts", "width", "height", "region", "page_language")


def _distinct_images(batch: pa.RecordBatch) -> tuple[list[ImageTexts], list[int]]:
    """The batch's distinct images as the rules see them, and each row's index among them:
    alt-texts repeat across a site's pages (a WAT batch has ~4 rows per distinct one), and
    the rules, the matcher and the language check give one answer per distinct image."""
    index: dict[tuple, int] = {}
    rows = [index.setdefault(key, len(index))
            for key in zip(*(batch.column(name).to_pylist() for name in _RULE_COLUMNS))]
    images = []
    for text, source, more, width, height, region, language in index:
        found = ((source, text),) if text else ()
        if more:
            found += split_more_texts(more)
        images.append(ImageTexts(found, width, height, region, language))
    return images, rows


class CandidateSelector:
    """`select` one batch. Kept over the batches until drained: a few examples of each rule's
    rejections, and the site-level rule's counts (repeats.SiteCounts; `count_sites` False
    when the rule is off; `partitions`, the candidates' partition count, sizes their buckets)."""

    def __init__(self, text_filter: TextFilter, matcher: QueryMatcher, examples: int = 5,
                 count_sites: bool = False, partitions: int = 1) -> None:
        self.text_filter, self.matcher, self.examples = text_filter, matcher, examples
        self.count_sites = count_sites
        self._examples: dict[str, list[str]] = {}
        self.sites = SiteCounts(count_buckets(partitions))

    def drain_examples(self) -> list[tuple[str, str]]:
        """("filtered.<reason>", "text | page") pairs: the `examples` smallest per reason."""
        found = [(name, detail) for name, details in sorted(self._examples.items()) for detail in details]
        self._examples = {}
        return found

    def select(self, batch: pa.RecordBatch) -> Selection:
        images, image_of_row = _distinct_images(batch)
        choices = self.text_filter.choose_batch(images, self.matcher.match_batch)
        page_urls, urls = batch.column("page_url").to_pylist(), batch.column("url").to_pylist()
        rows, example_pages = [], {}     # kept rows; per rejected distinct image, its rows' pages
        for row, image in enumerate(image_of_row):
            reason = choices[image].reason
            if reason is None:
                rows.append(row)
            elif reason != NO_QUERY_MATCH:
                example_pages.setdefault(image, set()).add(page_urls[row] or urls[row])
        reasons, decisions, passed = Counter(), Counter(), 0
        for image, n in Counter(image_of_row).items():
            choice = choices[image]
            for decision in choice.decisions:
                decisions[decision] += n
            reason = choice.reason
            if reason is None or reason == NO_QUERY_MATCH or reason == WRONG_LANGUAGE:
                passed += n
            if reason is not None:
                reasons[reason] += n
        for image, pages in example_pages.items():
            choice = choices[image]
            for page in heapq.nsmallest(self.examples, pages):   # only these can be among the smallest
                self._example(f"filtered.{choice.reason}", choice.text[:120], page)
        counts = {("pairs.no_query_match" if reason == NO_QUERY_MATCH else f"filtered.{reason}"): n
                  for reason, n in reasons.items()}
        counts.update((f"language.{decision.by}_{'accepted' if decision.accepted else 'rejected'}", n)
                      for decision, n in decisions.items())
        if passed:
            counts["pairs.passed_filters"] = passed
        selection = Selection(None, counts)
        if self.count_sites:
            self.sites.add_pages(page_urls)
        if rows:
            counts["pairs.matched"] = len(rows)
            kept = [choices[image_of_row[row]] for row in rows]
            sources = batch.column("text_source").to_pylist()
            later_text = any(choice.text_source != sources[row] for row, choice in zip(rows, kept))
            selection.candidates = found = self._candidates(batch, rows, kept, later_text)
            if self.count_sites:
                self.sites.add_candidates([page_urls[row] for row in rows], found.column("uid").to_pylist(),
                                          found.column("text").to_pylist())
        return selection

    def _example(self, name: str, text: str, page: str) -> None:
        """Keep the `self.examples` smallest "text | page" details per name (deterministic,
        whatever the batches); the detail is only built when it can be one of them."""
        kept = self._examples.setdefault(name, [])
        full = len(kept) >= self.examples
        if full and text + " |" > kept[-1]:
            return
        detail = f"{text} | {page}"
        if detail in kept:
            return
        if not full:
            kept.append(detail)
            kept.sort()
        elif detail < kept[-1]:
            kept[-1] = detail
            kept.sort()

    @staticmethod
    def _candidates(batch: pa.RecordBatch, rows: list[int], kept: list, later_text: bool) -> pa.RecordBatch:
        """The kept rows with `uid` and `matched`; `text` and `text_source` set to the chosen
        ones when an image's first text was not the one kept (`later_text`)."""
        candidates = batch.take(pa.array(rows, pa.int32()))
        texts = [choice.text for choice in kept]
        if later_text:
            for name, values in (("text", texts), ("text_source", [choice.text_source for choice in kept])):
                index = candidates.schema.get_field_index(name)
                candidates = candidates.set_column(index, name, pa.array(values, pa.string()))
        urls = candidates.column("url").to_pylist()
        candidates = candidates.append_column("uid", pa.array([pair_uid(url, text) for url, text in zip(urls, texts)],
                                                              pa.string()))
        return candidates.append_column("matched", pa.array([choice.matched for choice in kept], MATCHED_TYPE))
