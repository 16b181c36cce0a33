"""What `wit harvest` hands on: the candidate files `wit download` reads, and their ids.

    OUT/candidates-NNNNN-of-NNNNN.parquet   CANDIDATE_SCHEMA, rows sorted by uid
    OUT/query_counts.parquet                QUERY_COUNT_SCHEMA, one row per query, the list's order
    OUT/stats.json                          written last: lists the candidate files of the
                                            harvest that finished (`check_harvest_finished`)

Other stages import harvest only through this module.
"""
from __future__ import annotations

import hashlib
import re

import pyarrow as pa

from wit_pipeline.core import files

CANDIDATE_SCHEMA = pa.schema([
    ("uid", pa.string()), ("url", pa.string()), ("text", pa.string()), ("page_url", pa.string()),
    ("source", pa.string()), ("matched", pa.list_(pa.string())),
])
QUERY_COUNT_SCHEMA = pa.schema([("query", pa.string()), ("matched", pa.int64()), ("kept", pa.int64())])
CANDIDATE_GLOB = "candidates-*-of-*.parquet"
CANDIDATE_FILE = re.compile(r"candidates-(\d{5})-of-(\d{5})\.parquet$")
QUERY_COUNTS_FILE = "query_counts.parquet"
SKIPPED_EXAMPLES_FILE = "skipped_examples.json"
STATS_FILE = "stats.json"


def pair_uid(url: str, text: str | None) -> str:
    """Stable id of an (image url, text) pair; harvest and download agree on it."""
    return hashlib.sha1(f"{url}\x1f{text or ''}".encode("utf-8")).hexdigest()[:20]


def candidate_file_name(index: int, num_files: int) -> str:
    return f"candidates-{index:05d}-of-{num_files:05d}.parquet"


def candidate_file_count(rows: int, rows_per_file: int) -> int:
    return max(1, -(-rows // rows_per_file))


def candidate_file_of(uid: str, num_files: int) -> int:
    """Which file a row goes to: a hash of its uid, so contents never depend on workers."""
    return int(uid[:15], 16) % num_files


def candidate_files(out: str) -> list[str]:
    """The candidate files in `out`, whatever run wrote them."""
    return [path for path in files.match(files.join(out, CANDIDATE_GLOB)) if CANDIDATE_FILE.search(path)]


def check_harvest_finished(paths: list[str]) -> None:
    """Refuse harvest candidates whose harvest did not finish: a harvest killed mid-write
    leaves some candidate files but no stats.json (harvest writes it last) listing them."""
    by_directory: dict[str, list[str]] = {}
    for path in paths:
        if CANDIDATE_FILE.search(path):
            directory, _, name = path.rpartition("/")
            by_directory.setdefault(directory, []).append(name)
    for directory, names in sorted(by_directory.items()):
        stats_path = files.join(directory, STATS_FILE) if directory else STATS_FILE
        stats = files.read_json(stats_path) if files.exists(stats_path) else None
        listed = set(((stats or {}).get("outputs") or {}).get("candidates") or [])
        missing = sorted(set(names) - listed)
        if stats is None:
            raise ValueError(f"{directory or '.'}/{names[0]}: its harvest did not finish (no stats.json beside "
                             f"it); run `wit harvest` into {directory or '.'} again to finish it")
        if missing:
            raise ValueError(f"{directory or '.'}/{missing[0]} is not one of the candidate files of the harvest "
                             f"that finished in {directory or '.'} (see its stats.json); a later harvest there did "
                             f"not finish: run it again")
