"""The one reader of url lists and harvest candidates: parquet, csv, tsv, jsonl (optionally
.gz), with the url/caption column mapping. `wit harvest --url-list` and `wit download`
read their inputs here, so both accept the same files with the same `--input-format`,
`--url-col` and `--caption-col` flags and the same errors.
"""
from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from wit_pipeline.core import files, text_records

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
    """The whole file as a table: parquet as stored (.gz un-gzipped here, once), csv/tsv/jsonl
    through the row grammar of `text_records` (csv/tsv values are strings)."""
    if fmt != "parquet":
        names, rows = text_records.read_records(path, fmt, 0, 0, None)
        return _rows_table(rows, names)
    data = files.read_bytes(path)
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from None


def inspect(path: str, fmt: str) -> tuple[list[str], int | None]:
    """(column names, row count or None) from the file's head alone: a parquet footer, a
    csv/tsv header line, a jsonl file's first row. Row counts only parquet stores."""
    if fmt == "parquet" and not path.endswith(".gz"):
        with files.open_read(path) as f:
            try:
                parquet = pq.ParquetFile(f)
            except (pa.ArrowInvalid, OSError) as exc:
                raise ValueError(f"cannot read {path} as parquet: {exc}") from None
            return parquet.schema_arrow.names, parquet.metadata.num_rows
    if fmt == "parquet":
        table = read_table(path, fmt)
        return table.column_names, table.num_rows
    if fmt != "jsonl":
        return text_records.header(path, fmt), None
    names, rows = text_records.read_records(path, fmt, 0, 0, 1)
    if rows and text_records.ROW_ERROR in rows[0]:
        raise ValueError(f"{path}: the first line is not a JSON object ({rows[0][text_records.ROW_ERROR]})")
    return names, None


def column_names(path: str, fmt: str) -> list[str]:
    """The columns of a list without reading all of it (the launcher checks every list)."""
    return inspect(path, fmt)[0]


def column_mapping(names: list[str], path: str, url_col: str, caption_col: str) -> tuple[str, str | None]:
    """(url column, caption column or None) of a file with these columns; a clear error when
    the flags name columns it does not have. `auto` caption: `caption`, else `text`."""
    if url_col not in names:
        raise ValueError(f"{path}: no url column {url_col!r} (columns: {names}); set --url-col")
    if caption_col == "auto":
        return url_col, "caption" if "caption" in names else ("text" if "text" in names else None)
    if caption_col not in names:
        raise ValueError(f"{path}: no caption column {caption_col!r} (columns: {names}); set --caption-col")
    return url_col, caption_col


def normalize_columns(table: pa.Table, path: str, url_col: str, caption_col: str) -> pa.Table:
    """Rename the url/caption columns to `url`/`caption`; candidates' `text` is the caption."""
    return _renamed(table, *column_mapping(table.column_names, path, url_col, caption_col))


def _renamed(table: pa.Table, url_col: str, caption_col: str | None) -> pa.Table:
    columns = {"url": table.column(url_col).cast(pa.string())}
    columns["caption"] = (table.column(caption_col).cast(pa.string()) if caption_col
                          else pa.nulls(len(table), pa.string()))
    for name in table.column_names:
        if name not in (url_col, caption_col) and name not in columns:
            columns[name] = table.column(name)
    return pa.table(columns)


def check_columns(path: str, input_format: str, url_col: str, caption_col: str) -> None:
    """Fail early, with the file and the columns it has, when a list cannot be used."""
    column_mapping(column_names(path, detect_format(path, input_format)), path, url_col, caption_col)


def read_parquet_rows(path: str, first: int, count: int, url_col: str, caption_col: str | None) -> list[dict]:
    """Rows [first, first + count) of a parquet file, reading only the row groups that hold
    them; `url_col`/`caption_col` (as column_mapping resolved them) renamed `url`/`caption`."""
    if path.endswith(".gz"):
        table = read_table(path, "parquet").slice(first, count)
    else:
        with files.open_read(path) as f:
            parquet = pq.ParquetFile(f)
            groups, group_start, skip = [], 0, 0
            for index in range(parquet.metadata.num_row_groups):
                group_rows = parquet.metadata.row_group(index).num_rows
                if group_start + group_rows > first and group_start < first + count:
                    if not groups:
                        skip = first - group_start
                    groups.append(index)
                group_start += group_rows
            table = parquet.read_row_groups(groups).slice(skip, count) if groups else None
    return [] if table is None else _renamed(table, url_col, caption_col).to_pylist()


def read_text_rows(path: str, fmt: str, offset: int, skip: int, count: int, url_col: str,
                   caption_col: str | None) -> list[dict]:
    """`count` rows of a csv/tsv/jsonl file after skipping `skip` rows from the row boundary at
    byte `offset`, `url_col`/`caption_col` (as column_mapping resolved them) renamed `url`/
    `caption`. A row that cannot be read keeps its reason under text_records.ROW_ERROR."""
    _names, rows = text_records.read_records(path, fmt, offset, skip, count)
    normalized = []
    for row in rows:
        out = {"url": _text(row.pop(url_col, None)), "caption": _text(row.pop(caption_col, None))
               if caption_col else None}
        out.update(row)
        normalized.append(out)
    return _consistent_types(normalized) if fmt == "jsonl" else normalized


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _consistent_types(rows: list[dict]) -> list[dict]:
    """jsonl values keep their JSON types; a key whose values have no one Arrow type among
    these rows (a number here, a string there) is kept as JSON text instead."""
    names = dict.fromkeys(name for row in rows for name in row)
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            for row in rows:
                if row.get(name) is not None:
                    row[name] = json.dumps(row[name])
    return rows


def _rows_table(rows: list[dict], names: list[str]) -> pa.Table:
    names = list(dict.fromkeys([*names, *(name for row in rows for name in row)]))
    return pa.table({name: pa.array([_text(row.get(name)) for row in rows], pa.string()) for name in names})
