"""Image references from img2dataset-style URL lists (parquet/csv/tsv/jsonl, optionally .gz).

The caption is the text; there is no page, so `page_url` is null. Reading and column
handling are `wit_pipeline.core.tables`, shared with `wit download`, so both stages accept
the same files with the same `--url-col` / `--caption-col` / `--input-format` flags.
"""
from __future__ import annotations

import itertools
from typing import Iterator

from wit_pipeline.core.tables import INPUT_ERROR, INPUT_STATUS, URL_LIST_GLOBS, detect_format, read_list
from wit_pipeline.harvest.sources.html import ImageRef, clean_text
from wit_pipeline.harvest.sources.urls import resolve_url
from wit_pipeline.harvest.sources.archives import ArchiveItem, Counted, Skip

# What a directory given to --url-list stands for.
URL_LIST_DIRECTORY = (URL_LIST_GLOBS,)


def url_list_images(path: str, input_format: str = "auto", url_col: str = "url",
                    caption_col: str = "auto") -> Iterator[ArchiveItem]:
    table = read_list(path, detect_format(path, input_format), url_col, caption_col)
    yield Counted("url_list_rows", table.num_rows)
    urls = table.column("url").to_pylist()
    captions = table.column("caption").to_pylist()
    # A row that could not be read (its url or caption not UTF-8, ...) is skipped with its reason.
    problems = (zip(table.column(INPUT_STATUS).to_pylist(), table.column(INPUT_ERROR).to_pylist())
                if INPUT_STATUS in table.column_names else itertools.repeat((None, None)))
    for row, (raw_url, caption, (input_status, input_error)) in enumerate(zip(urls, captions, problems)):
        if input_status:
            yield Skip(input_status, input_error)
            continue
        url, reason = resolve_url(raw_url, None)
        if url is None:
            yield Skip(reason, f"{path} row {row}: {str(raw_url)[:200]!r}")
            continue
        yield ImageRef(url=url, text=clean_text(caption), page_url=None, source="url_list")
