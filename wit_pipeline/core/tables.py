"""The one reader of url lists and harvest candidates: parquet, csv, tsv, jsonl (optionally
.gz), with the url/caption column mapping. `wit harvest --url-list` and `wit download`
read their inputs here, so both accept the same files with the same `--input-format`,
`--url-col` and `--caption-col` flags, the same errors and the same per-row statuses.

Rows are decoded one by one: a row whose url or caption is not UTF-8 text gets the
status `invalid_url` / `invalid_caption` in INPUT_STATUS, with a message naming the file,
the row and the bytes in INPUT_ERROR (the columns exist only where some row has a
problem); a csv/tsv/jsonl row that cannot be read at all gets `invalid_row`. Bytes that
are not UTF-8 in other text columns become U+FFFD.
"""
from __future__ import annotations

import gzip
import json
import zlib

import pyarrow as pa
import pyarrow.parquet as pq

from wit_pipeline.core import files, text_records

INPUT_FORMATS = ("parquet", "csv", "tsv", "jsonl")
# What a directory given as a url list stands for (not .json/.txt: a folder's stats.json or
# README would be taken for lists).
URL_LIST_GLOBS = tuple(f"*.{fmt}{gz}" for fmt in INPUT_FORMATS for gz in ("", ".gz"))
# A row's problem found while reading it, carried beside the row so that download and
# harvest record it as the row's status.
INPUT_STATUS, INPUT_ERROR = "_input_status", "_input_error"


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


def read_parquet(path: str) -> pa.Table:
    """A whole parquet file (.gz un-gzipped here, once), as stored."""
    try:
        data = files.read_bytes(path)
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        return pq.read_table(files.arrow_reader(data))
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:  # gzip: OSError (bad header), EOFError (cut)
        raise ValueError(f"cannot read {path} as parquet: {exc}") from None


def read_list(path: str, fmt: str, url_col: str, caption_col: str) -> pa.Table:
    """A whole list or candidate file: `url`, `caption`, the other columns, and per-row
    problems in INPUT_STATUS / INPUT_ERROR."""
    if fmt == "parquet":
        return normalize_columns(read_parquet(path), path, url_col, caption_col)
    names, rows = text_records.read_records(path, fmt, 0, 0, None)
    url_col, caption_col = column_mapping(names if fmt != "jsonl" else _jsonl_names(names, url_col), path,
                                          url_col, caption_col)
    return _text_table(rows, names, path, url_col, caption_col, 0, keep_types=fmt == "jsonl")


def inspect(path: str, fmt: str) -> tuple[list[str], int | None]:
    """(column names, row count or None) from the file's head alone: a parquet footer, a
    csv/tsv header line, a jsonl file's first row. Row counts only parquet stores."""
    if fmt == "parquet" and not path.endswith(".gz"):
        try:
            with files.open_read(path) as f:
                parquet = pq.ParquetFile(f)
                return parquet.schema_arrow.names, parquet.metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"cannot read {path} as parquet: {exc}") from None
    if fmt == "parquet":
        table = read_parquet(path)
        return table.column_names, table.num_rows
    if fmt != "jsonl":
        return text_records.header(path, fmt), None
    names, rows = text_records.read_records(path, fmt, 0, 0, 1)
    if rows and text_records.ROW_PROBLEM in rows[0]:
        raise ValueError(f"{path}: the first line is not a JSON object ({rows[0][text_records.ROW_PROBLEM]})")
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


def check_columns(path: str, input_format: str, url_col: str, caption_col: str) -> None:
    """Fail early, with the file and the columns it has, when a list cannot be used."""
    column_mapping(column_names(path, detect_format(path, input_format)), path, url_col, caption_col)


def normalize_columns(table: pa.Table, path: str, url_col: str, caption_col: str | None,
                      first_row: int = 0, resolved: bool = False) -> pa.Table:
    """Rename the url/caption columns to `url`/`caption` (candidates' `text` is the caption),
    every row decoded on its own (the module's rule; `first_row`: the file row of the table's
    first, for the messages). `resolved`: the columns are column_mapping's answer already."""
    names = table.column_names
    if not resolved:
        url_col, caption_col = column_mapping(names, path, url_col, caption_col)
    urls, bad_urls = _as_text(table.column(url_col), path, url_col)
    captions, bad_captions = _as_text(table.column(caption_col), path, caption_col) if caption_col else (
        pa.nulls(len(table), pa.string()), {})
    columns = {"url": urls, "caption": captions}
    for name in names:
        if name not in (url_col, caption_col) and name not in columns:
            column = table.column(name)
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = _as_text(column, path, name)[0]
            columns[name] = column
    problems = {row: ("invalid_caption", caption_col, value) for row, value in bad_captions.items()}
    problems.update({row: ("invalid_url", url_col, value) for row, value in bad_urls.items()})
    if problems:
        found = [problems.get(row) for row in range(len(table))]
        columns[INPUT_STATUS] = pa.array([p and p[0] for p in found], pa.string())
        columns[INPUT_ERROR] = pa.array([p and _not_utf8(path, first_row + row, p[1], p[2])
                                         for row, p in enumerate(found)], pa.string())
    return pa.table(columns)


def _as_text(column: pa.ChunkedArray, path: str, name: str) -> tuple[pa.ChunkedArray, dict[int, bytes]]:
    """The column as UTF-8 strings, and {row: its bytes} for the rows that are not UTF-8
    (kept, with U+FFFD for the bytes that are not). Arrow's readers keep such values in
    binary columns, or in string columns unchecked."""
    kind = column.type
    is_string = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not (is_string or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        try:  # numbers, dates, ...
            return column.cast(pa.string()), {}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ValueError(f"{path}: column {name!r} ({kind}) cannot be read as text") from None
    try:
        if is_string:
            column.validate(full=True)
        return column.cast(pa.string()), {}
    except pa.ArrowInvalid:  # some rows are not UTF-8: decode them one by one
        pass
    texts, undecodable = [], {}
    for row, value in enumerate(column.cast(pa.binary()).to_pylist()):
        try:
            texts.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(value.decode("utf-8", errors="replace"))
            undecodable[row] = value
    return pa.chunked_array([pa.array(texts, pa.string())]), undecodable


def _not_utf8(path: str, row: int, column: str, value: bytes) -> str:
    return f"{path} row {row}: column {column!r} is not UTF-8 text: {value[:80]!r}"


def read_parquet_rows(path: str, first: int, count: int, url_col: str, caption_col: str | None) -> list[dict]:
    """Rows [first, first + count) of a parquet file, reading only the row groups that hold
    them; `url_col`/`caption_col` (as column_mapping resolved them) renamed `url`/`caption`."""
    if path.endswith(".gz"):
        table = read_parquet(path).slice(first, count)
    else:
        # A local file is read by Arrow itself (its threads then hold no Python object).
        source = path if files.is_local(path) else files.open_read(path)
        try:
            parquet = pq.ParquetFile(source)
            groups, group_start, skip = [], 0, 0
            for index in range(parquet.metadata.num_row_groups):
                group_rows = parquet.metadata.row_group(index).num_rows
                if group_start + group_rows > first and group_start < first + count:
                    if not groups:
                        skip = first - group_start
                    groups.append(index)
                group_start += group_rows
            table = (parquet.read_row_groups(groups, use_threads=False).slice(skip, count) if groups
                     else parquet.schema_arrow.empty_table())
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"cannot read {path} as parquet: {exc}") from None
        finally:
            if source is not path:
                source.close()
    return normalize_columns(table, path, url_col, caption_col, first, resolved=True).to_pylist()


def read_text_rows(path: str, fmt: str, offset: int, skip: int, count: int, url_col: str,
                   caption_col: str | None, first_row: int) -> list[dict]:
    """`count` rows of a csv/tsv/jsonl file after skipping `skip` rows from the row boundary at
    byte `offset` (`first_row`: the file row they start at), `url_col`/`caption_col` (as
    column_mapping resolved them) renamed `url`/`caption`."""
    names, rows = text_records.read_records(path, fmt, offset, skip, count)
    return _text_table(rows, names, path, url_col, caption_col, first_row, keep_types=fmt == "jsonl").to_pylist()


def _jsonl_names(names: list[str], url_col: str) -> list[str]:
    # jsonl rows name their own keys: a file whose first row has the url column qualifies
    # (inspect checked that), whatever a later row lacks.
    return names if url_col in names else [url_col, *names]


def _text_table(rows: list[dict], names: list[str], path: str, url_col: str, caption_col: str | None,
                first_row: int, keep_types: bool) -> pa.Table:
    """Rows of a text list as a table with the module's per-row statuses; jsonl values keep
    their JSON types where one Arrow type holds a column, else become JSON text."""
    statuses, errors = [], []
    urls, captions = [], []
    for index, row in enumerate(rows):
        problem = row.pop(text_records.ROW_PROBLEM, None)
        url, bad_url = _decoded(row.pop(url_col, None))
        caption, bad_caption = _decoded(row.pop(caption_col, None)) if caption_col else (None, None)
        urls.append(url)
        captions.append(caption)
        if problem:
            statuses.append("invalid_row")
            errors.append(f"{path} row {first_row + index}: {problem}")
        elif bad_url is not None or bad_caption is not None:
            column, value = (url_col, bad_url) if bad_url is not None else (caption_col, bad_caption)
            statuses.append("invalid_url" if bad_url is not None else "invalid_caption")
            errors.append(_not_utf8(path, first_row + index, column, value))
        else:
            statuses.append(None)
            errors.append(None)
    columns = {"url": pa.array(urls, pa.string()), "caption": pa.array(captions, pa.string())}
    others = dict.fromkeys(name for name in [*names, *(key for row in rows for key in row)]
                           if name not in (url_col, caption_col))
    for name in others:
        values = [_clean(row.get(name)) for row in rows]
        columns[_clean(name)] = _column(values, keep_types)
    if any(statuses):
        columns[INPUT_STATUS] = pa.array(statuses, pa.string())
        columns[INPUT_ERROR] = pa.array(errors, pa.string())
    return pa.table(columns)


def _decoded(value) -> tuple[str | None, bytes | None]:
    """(the value as text, its bytes when they are not UTF-8)."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return _json_text(_clean(value)), None
    try:
        value.encode("utf-8")
        return value, None
    except UnicodeEncodeError:  # surrogate escapes: the bytes as they were in the file
        raw = value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", errors="replace"), raw


def _clean(value):
    """The value with every string in it decoded, U+FFFD for bytes that are not UTF-8."""
    if isinstance(value, str):
        return _decoded(value)[0]
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


def _json_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _column(values: list, keep_types: bool) -> pa.Array:
    if keep_types:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a number here, a string there: JSON text
            return pa.array([None if value is None else json.dumps(value) for value in values], pa.string())
    return pa.array([_json_text(value) for value in values], pa.string())
