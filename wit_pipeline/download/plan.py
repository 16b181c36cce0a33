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

from shards import layout
from wit_pipeline.core import files
from wit_pipeline.core.tables import URL_LIST_GLOBS, detect_format, normalize_columns, read_table
# The candidate format is harvest's.
from wit_pipeline.harvest.schema import CANDIDATE_GLOB

PLAN_DIR = "_inputs"
# A directory given to --candidates: a harvest's output folder, else a folder of url lists.
INPUT_DIRECTORY = ((CANDIDATE_GLOB,), URL_LIST_GLOBS)


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    shard_id: int
    input_path: str  # the stored piece under OUT/_inputs
    rows: int


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
