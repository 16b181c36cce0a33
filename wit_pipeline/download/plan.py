"""Read url lists and harvest candidates, and plan them into shards.

The launcher splits each input file, in sorted order, into pieces of
`samples_per_shard` rows (as img2dataset's reader does) and stores each piece as
`OUT/_inputs/NNNNN.parquet` together with `OUT/_inputs/plan.json`. Shard ids and keys
follow from input order alone, and a re-run reuses the stored plan, so an interrupted
run resumes with exactly the keys an uninterrupted run would have produced. The plan
records each input file's size and modification time (its identity, read from the
filesystem's metadata, never from the rows): a re-run whose inputs changed is refused
instead of resuming a plan that no longer describes them.
"""
from __future__ import annotations

import dataclasses
import datetime
import gzip
import zlib

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from shards import layout
from wit_pipeline.core import files
# The candidate format is harvest's; `check_harvest_finished` and `pair_uid` are re-exported
# for download's command.
from wit_pipeline.harvest.schema import CANDIDATE_GLOB, check_harvest_finished, pair_uid  # noqa: F401
INPUT_FORMATS = ("parquet", "csv", "tsv", "jsonl")
PLAN_DIR = "_inputs"
# What a directory given as a url list stands for (not .json/.txt: a folder's stats.json or
# README would be taken for lists).
URL_LIST_GLOBS = tuple(f"*.{fmt}{gz}" for fmt in INPUT_FORMATS for gz in ("", ".gz"))
# A directory given to --candidates: a harvest's output folder, else a folder of url lists.
INPUT_DIRECTORY = ((CANDIDATE_GLOB,), URL_LIST_GLOBS)
# A row's problem found while reading it (its url or caption is not UTF-8 text), carried
# beside the row so that download and harvest record it as the row's status. The columns
# exist only in tables where some row has a problem.
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


def read_table(path: str, fmt: str) -> pa.Table:
    try:
        data = files.read_bytes(path)
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        source = files.arrow_reader(data)
        if fmt == "parquet":
            return pq.read_table(source)
        if fmt in ("csv", "tsv"):
            return pa_csv.read_csv(source, parse_options=pa_csv.ParseOptions(
                delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=fmt == "csv"),
                convert_options=pa_csv.ConvertOptions(strings_can_be_null=False))
        return pa_json.read_json(source)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:  # gzip: OSError (bad header), EOFError (cut)
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    shard_id: int
    input_path: str  # the stored piece under OUT/_inputs
    rows: int


def _as_text(column: pa.ChunkedArray, path: str, name: str) -> tuple[pa.ChunkedArray, dict[int, bytes]]:
    """The column as UTF-8 strings, and {row: its bytes} for the rows that are not UTF-8
    (kept, with U+FFFD for the bytes that are not). Arrow's csv reader types such a column
    as binary; its json and parquet readers keep them in string columns unchecked."""
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


def normalize_columns(table: pa.Table, path: str, url_col: str, caption_col: str) -> pa.Table:
    """Rename the url/caption columns to `url`/`caption`; candidates' `text` is the caption.

    Every row is decoded on its own: a row whose url or caption is not UTF-8 gets an
    `invalid_url` / `invalid_caption` status in INPUT_STATUS (its message names the file
    and row), and the other rows are unaffected. Bytes that are not UTF-8 in other text
    columns become U+FFFD."""
    names = table.column_names
    if url_col not in names:
        raise ValueError(f"{path}: no url column {url_col!r} (columns: {names}); set --url-col")
    if caption_col == "auto":
        caption_col = "caption" if "caption" in names else ("text" if "text" in names else None)
    elif caption_col not in names:
        raise ValueError(f"{path}: no caption column {caption_col!r} (columns: {names}); set --caption-col")
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
        columns[INPUT_ERROR] = pa.array(
            [p and f"{path} row {row}: column {p[1]!r} is not UTF-8 text: {p[2][:80]!r}" for row, p in enumerate(found)],
            pa.string())
    return pa.table(columns)


def _when(seconds) -> str:
    if seconds is None:
        return "unknown time"
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="seconds")


def _plan_difference(planned: dict, now: dict) -> str:
    """What makes a stored plan's signature differ from this run's, in words."""
    for key, flag in (("samples_per_shard", "--samples-per-shard"), ("url_col", "--url-col"),
                      ("caption_col", "--caption-col")):
        if planned.get(key) != now[key]:
            return f"with {flag} {planned.get(key)} (now {now[key]})"
    before = {item["path"]: item for item in planned.get("inputs", []) if isinstance(item, dict)}
    if [item["path"] for item in now["inputs"]] != list(before):
        return f"from other input files ({len(before)} then, {len(now['inputs'])} now)"
    for item in now["inputs"]:
        old = before[item["path"]]
        if old != item:
            return (f"from {item['path']} as it was then ({old['size']} bytes, modified {_when(old['mtime'])}); "
                    f"it has changed since ({item['size']} bytes, modified {_when(item['mtime'])})")
    return "with other inputs"


def plan_shards(inputs: list[str], out_dir: str, samples_per_shard: int, input_format: str = "auto",
                url_col: str = "url", caption_col: str = "auto") -> list[ShardSpec]:
    """Split inputs into shard pieces under OUT/_inputs, or reuse the pieces of an earlier run."""
    plan_dir = files.join(out_dir, PLAN_DIR)
    plan_path = files.join(plan_dir, "plan.json")
    signature = {"inputs": files.file_identity(inputs), "samples_per_shard": samples_per_shard,
                 "url_col": url_col, "caption_col": caption_col}
    if files.exists(plan_path):
        plan = files.read_json(plan_path)
        if plan["signature"] != signature:
            raise ValueError(f"{out_dir} holds a run planned {_plan_difference(plan['signature'], signature)}; "
                             f"use a new --out")
        return [ShardSpec(**spec) for spec in plan["shards"]]
    specs: list[ShardSpec] = []
    for path in inputs:
        table = normalize_columns(read_table(path, detect_format(path, input_format)), path, url_col, caption_col)
        for start in range(0, table.num_rows, samples_per_shard):
            piece = table.slice(start, samples_per_shard)
            shard_id = len(specs)
            piece_path = files.join(plan_dir, f"{layout.shard_name(shard_id)}.parquet")
            files.write_parquet(piece_path, piece)
            specs.append(ShardSpec(shard_id=shard_id, input_path=piece_path, rows=piece.num_rows))
    # Written last: a launcher killed mid-planning re-plans from scratch next time.
    files.write_json(plan_path, {"signature": signature, "shards": [dataclasses.asdict(s) for s in specs]})
    return specs


def read_piece(spec: ShardSpec) -> list[dict]:
    return files.read_parquet(spec.input_path).to_pylist()
