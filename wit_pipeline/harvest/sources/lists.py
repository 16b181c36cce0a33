"""Image references from img2dataset-style URL lists (parquet/csv/tsv/jsonl, optionally .gz).

The caption is the text; there is no page, so `page_url` is null. Reading and column
handling are shared with `wit download` (`download_inputs`), so both stages accept the
same files with the same `--url-col` / `--caption-col` / `--input-format` flags.
"""
from __future__ import annotations

import csv
import itertools
import json
import zlib
from typing import Iterator

import pyarrow as pa

from wit_pipeline.core import files
from wit_pipeline.download.plan import (INPUT_ERROR, INPUT_STATUS, URL_LIST_GLOBS, detect_format,
                                        normalize_columns, read_table)
from wit_pipeline.harvest.sources.html import ImageRef, clean_text, resolve_url
from wit_pipeline.harvest.sources.archives import ArchiveItem, Counted, Skip

# What a directory given to --url-list stands for.
URL_LIST_DIRECTORY = (URL_LIST_GLOBS,)


def column_names(path: str, fmt: str) -> list[str]:
    """The columns of a list without reading all of it (the launcher checks every list)."""
    try:
        if fmt == "parquet" and not path.endswith(".gz"):
            import pyarrow.parquet as pq

            with files.open_read(path) as f:
                return pq.ParquetFile(f).schema_arrow.names
        with files.open_read(path) as f:
            head = f.read(1 << 16)
        if path.endswith(".gz"):
            head = zlib.decompressobj(wbits=31).decompress(head)
    except (pa.ArrowInvalid, OSError, zlib.error) as exc:
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from None
    first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip("\r\ufeff")
    if fmt == "jsonl":
        try:
            return list(json.loads(first_line))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: the first line is not a JSON object ({exc})") from None
    delimiter = "\t" if fmt == "tsv" else ","
    return next(csv.reader([first_line], delimiter=delimiter), [])


def check_url_list(path: str, input_format: str, url_col: str, caption_col: str) -> None:
    """Fail early, with the file and the columns it has, when a list cannot be used."""
    names = column_names(path, detect_format(path, input_format))
    normalize_columns(pa.table({name: pa.array([], pa.string()) for name in dict.fromkeys(names)}),
                      path, url_col, caption_col)


def url_list_images(path: str, input_format: str = "auto", url_col: str = "url",
                    caption_col: str = "auto") -> Iterator[ArchiveItem]:
    table = normalize_columns(read_table(path, detect_format(path, input_format)), path, url_col, caption_col)
    yield Counted("url_list_rows", table.num_rows)
    urls = table.column("url").to_pylist()
    captions = table.column("caption").to_pylist()
    # A row whose url or caption is not UTF-8 is skipped with its reason (download_inputs).
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
