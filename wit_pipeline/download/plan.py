"""Which input rows each shard holds, from file metadata alone.

The launcher only describes the input files (sorted): their format, columns and, for
parquet, the row count from the footer. Text files (csv/tsv/jsonl) are counted by the
pipeline (`text_records`: tsv/jsonl in byte ranges in parallel, csv and .gz whole),
and the counts' prefix sums give the shards: each file in sorted order, cut into pieces
of `samples_per_shard` rows (as img2dataset's reader does), numbered in that order. So
shard ids and keys are a pure function of the input files — the keys an uninterrupted
run gives, and the keys earlier versions gave, which stored each piece under
`OUT/_inputs/` — and each worker reads its own rows from the input itself (parquet: the
row groups that hold them; text: from a row boundary at most SEGMENT_BYTES before them).

`OUT/_inputs/plan.json` records each input file's size and modification time (its
identity, read from the filesystem's metadata, never from the rows): a re-run whose
inputs changed is refused instead of resuming a plan that no longer describes them.
"""
from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import datetime

from shards import layout
from wit_pipeline.core import files, tables, text_records
from wit_pipeline.core.tables import URL_LIST_GLOBS
# The candidate format is harvest's.
from wit_pipeline.harvest.schema import CANDIDATE_GLOB

PLAN_DIR = "_inputs"
# A directory given to --candidates: a harvest's output folder, else a folder of url lists.
INPUT_DIRECTORY = ((CANDIDATE_GLOB,), URL_LIST_GLOBS)
TEXT_RANGE_BYTES = text_records.SEGMENT_BYTES  # tsv/jsonl are counted in ranges of this size
_DESCRIBE_THREADS = 16  # file heads read at once (remote filesystems answer in tens of ms)


@dataclasses.dataclass(frozen=True)
class InputFile:
    index: int  # position in the sorted inputs
    path: str
    fmt: str
    size: int
    url_col: str
    caption_col: str | None
    rows: int | None = None  # parquet: from its footer; text: counted by the pipeline


@dataclasses.dataclass(frozen=True)
class CountJob:
    """A part of one input file whose rows a worker counts: the rows whose line starts in
    [start, end), or (end None) the whole file from its start."""

    file: InputFile
    start: int = 0
    end: int | None = None


@dataclasses.dataclass(frozen=True)
class Segments:
    """Row boundaries found by one CountJob: (byte offset, rows from there) pairs."""

    file: InputFile
    segments: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    shard_id: int
    file: InputFile
    first_row: int  # within the file
    rows: int
    offset: int = 0  # text: a row boundary at or before first_row
    skip: int = 0    # text: rows between that boundary and first_row


def describe_inputs(identity: list[dict], input_format: str, url_col: str, caption_col: str) -> list[InputFile]:
    """One InputFile per file of `identity` (files.file_identity, in input order), from its
    head only; a clear error for a file that cannot be used."""
    paths = [item["path"] for item in identity]
    sizes = {item["path"]: item["size"] or 0 for item in identity}

    def describe(index_path: tuple[int, str]) -> InputFile:
        index, path = index_path
        fmt = tables.detect_format(path, input_format)
        names, rows = tables.inspect(path, fmt)
        url, caption = tables.column_mapping(names, path, url_col, caption_col)
        return InputFile(index=index, path=path, fmt=fmt, size=sizes[path], url_col=url, caption_col=caption,
                         rows=rows)

    with concurrent.futures.ThreadPoolExecutor(_DESCRIBE_THREADS) as pool:
        return list(pool.map(describe, enumerate(paths)))


def count_jobs(file: InputFile) -> list[CountJob]:
    if file.fmt == "parquet" or text_records.whole_file_counting(file.fmt, file.path):
        return [CountJob(file)]
    return [CountJob(file, start, min(start + TEXT_RANGE_BYTES, file.size))
            for start in range(0, max(file.size, 1), TEXT_RANGE_BYTES)]


def count_rows(job: CountJob) -> Segments:
    file = job.file
    if file.rows is not None:  # parquet: known from the footer
        return Segments(file, ((0, file.rows),))
    if job.end is None:
        return Segments(file, tuple(text_records.count_whole(file.path, file.fmt)))
    return Segments(file, tuple(text_records.count_range(file.path, file.fmt, job.start, job.end)))


def shard_specs(counted: list[Segments], samples_per_shard: int) -> list[ShardSpec]:
    """Every shard of the run, in id order: each file (in input order) cut into pieces of
    samples_per_shard rows, each piece told where its rows start."""
    by_file: dict[int, tuple[InputFile, list[tuple[int, int]]]] = {}
    for part in counted:
        entry = by_file.setdefault(part.file.index, (part.file, []))
        entry[1].extend(segment for segment in part.segments if segment[1] > 0)
    specs: list[ShardSpec] = []
    for index in sorted(by_file):
        file, segments = by_file[index]
        specs += _cut(file, sorted(segments), len(specs), samples_per_shard)
    return specs


def first_shards(inputs: list[InputFile], samples_per_shard: int) -> list[int]:
    """The id of each file's first shard, when every file's row count is known (parquet)."""
    firsts, shards = [], 0
    for file in inputs:
        firsts.append(shards)
        shards += -(-file.rows // samples_per_shard)
    return firsts


def file_specs(file_and_first_shard: tuple[InputFile, int], samples_per_shard: int) -> list[ShardSpec]:
    """The shards of one file whose rows are known (parquet), numbered from its first shard's id."""
    file, first_shard = file_and_first_shard
    return _cut(file, [(0, file.rows)], first_shard, samples_per_shard)


def _cut(file: InputFile, segments: list[tuple[int, int]], first_shard: int, samples_per_shard: int) -> list[ShardSpec]:
    offsets = [offset for offset, _rows in segments]
    first_rows = [0]
    for _offset, rows in segments:
        first_rows.append(first_rows[-1] + rows)
    total, specs = first_rows[-1], []
    for first in range(0, total, samples_per_shard):
        shard_id, rows = first_shard + len(specs), min(samples_per_shard, total - first)
        if file.fmt == "parquet":
            specs.append(ShardSpec(shard_id, file, first, rows))
            continue
        segment = bisect.bisect_right(first_rows, first) - 1
        specs.append(ShardSpec(shard_id, file, first, rows, offsets[segment], first - first_rows[segment]))
    return specs


def read_shard_rows(spec: ShardSpec) -> list[dict]:
    """The shard's rows, read from its input file, `url` and `caption` named so."""
    file = spec.file
    if file.fmt == "parquet":
        rows = tables.read_parquet_rows(file.path, spec.first_row, spec.rows, file.url_col, file.caption_col)
    else:
        rows = tables.read_text_rows(file.path, file.fmt, spec.offset, spec.skip, spec.rows, file.url_col,
                                     file.caption_col, spec.first_row)
    if len(rows) != spec.rows:
        raise ValueError(f"{file.path} changed during the run: shard {spec.shard_id} expected {spec.rows} rows "
                         f"from row {spec.first_row}, found {len(rows)}")
    return rows


def finished_shards(out_dir: str) -> set[int]:
    """Ids of the shards whose stats file exists (written last: the shard is complete), by one listing."""
    found = set()
    for path in files.match(files.join(out_dir, "*_stats.json")):
        name = path.rpartition("/")[2][: -len("_stats.json")]
        if name.isdigit() and len(name) >= layout.SHARD_ID_DIGITS:
            found.add(int(name))
    return found


def plan_signature(identity: list[dict], samples_per_shard: int, url_col: str, caption_col: str) -> dict:
    return {"inputs": identity, "samples_per_shard": samples_per_shard, "url_col": url_col,
            "caption_col": caption_col}


def check_plan(out_dir: str, signature: dict) -> bool:
    """True when OUT already holds a run planned with this signature; a clear error when it
    holds one planned from other inputs or flags; False for a new OUT."""
    plan_path = files.join(out_dir, PLAN_DIR, "plan.json")
    if not files.exists(plan_path):
        return False
    planned = files.read_json(plan_path)["signature"]
    if planned != signature:
        raise ValueError(f"{out_dir} holds a run planned {_plan_difference(planned, signature)}; use a new --out")
    return True


def record_plan(out_dir: str, signature: dict) -> None:
    files.write_json(files.join(out_dir, PLAN_DIR, "plan.json"), {"signature": signature})


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
