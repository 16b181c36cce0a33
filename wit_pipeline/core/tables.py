"""The one reader of url lists and harvest candidates: parquet, csv, tsv, jsonl (optionally
.gz), with the url/caption column mapping. `wit harvest --url-list` and `wit download`
read their inputs here, so both accept the same files with the same `--input-format`,
`--url-col` and `--caption-col` flags and the same errors.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import zlib

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from wit_pipeline.core import files

INPUT_FORMATS = ("parquet", "csv", "tsv", "jsonl")
# What a directory given as a url list stands for (not .json/.txt: a folder's stats.json or
# README would be taken for lists).
URL_LIST_GLOBS = tuple(f"*.{fmt}{gz}" for fmt in INPUT_FORMATS for gz in ("", ".gz"))


def detect_format(path: str, requested: str = "auto") -> str:
    if requested != "auto":
        if requested not in INPUT_FORMATS:
            raise ValueError(f"--input-format must be auto or one of {', '.join(INPUT_FORMATS)}, got {requested!r}")
        return requested
    name = path.lower()
    for suffix, fmt in ((".parquet", "parquet"), (".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"),
                        (".json", "jsonl"), (".txt", "tsv")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return fmt
    raise ValueError(f"cannot tell the format of {path}; pass --input-format {'|'.join(INPUT_FORMATS)}")


def read_table(path: str, fmt: str) -> pa.Table:
    """The whole file as a table (`files.read_bytes` gives the bytes as stored, so .gz is
    un-gzipped here, once)."""
    data = files.read_bytes(path)
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    try:
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(data))
        if fmt in ("csv", "tsv"):
            return pa_csv.read_csv(io.BytesIO(data), parse_options=pa_csv.ParseOptions(
                delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=fmt == "csv"),
                convert_options=pa_csv.ConvertOptions(strings_can_be_null=False))
        return pa_json.read_json(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from None


def normalize_columns(table: pa.Table, path: str, url_col: str, caption_col: str) -> pa.Table:
    """Rename the url/caption columns to `url`/`caption`; candidates' `text` is the caption."""
    names = table.column_names
    if url_col not in names:
        raise ValueError(f"{path}: no url column {url_col!r} (columns: {names}); set --url-col")
    if caption_col == "auto":
        caption_col = "caption" if "caption" in names else ("text" if "text" in names else None)
    elif caption_col not in names:
        raise ValueError(f"{path}: no caption column {caption_col!r} (columns: {names}); set --caption-col")
    columns = {"url": table.column(url_col).cast(pa.string())}
    columns["caption"] = (table.column(caption_col).cast(pa.string()) if caption_col
                          else pa.nulls(len(table), pa.string()))
    for name in names:
        if name not in (url_col, caption_col) and name not in columns:
            columns[name] = table.column(name)
    return pa.table(columns)


def column_names(path: str, fmt: str) -> list[str]:
    """The columns of a list without reading all of it (the launcher checks every list)."""
    if fmt == "parquet" and not path.endswith(".gz"):
        with files.open_read(path) as f:
            return pq.ParquetFile(f).schema_arrow.names
    with files.open_read(path) as f:
        head = f.read(1 << 16)
    if path.endswith(".gz"):
        head = zlib.decompressobj(wbits=31).decompress(head)
    first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip("\r\ufeff")
    if fmt == "jsonl":
        try:
            return list(json.loads(first_line))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: the first line is not a JSON object ({exc})") from None
    delimiter = "\t" if fmt == "tsv" else ","
    return next(csv.reader([first_line], delimiter=delimiter), [])


def check_columns(path: str, input_format: str, url_col: str, caption_col: str) -> None:
    """Fail early, with the file and the columns it has, when a list cannot be used."""
    names = column_names(path, detect_format(path, input_format))
    normalize_columns(pa.table({name: pa.array([], pa.string()) for name in dict.fromkeys(names)}),
                      path, url_col, caption_col)
