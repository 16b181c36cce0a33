"""What `wit dedup` removes, one file per input shard, and the summary the launcher reads.

Removal reasons, one per sample, the first that applies:
`unreadable` > `undecodable` > `eval_overlap` > `exact_duplicate` > `near_duplicate_phash` >
`near_duplicate_embedding`. `unreadable`: the sample could not be read from its damaged
shard (see `shards.reader.read_samples`); the run goes on with everything else.

`OUT/audit/removed/NNNNN.parquet` holds the removals of the NNNNN-th input shard (in the
sorted order of `--shards`; every input shard has its file, empty or not): `key`,
`shard`, `reason`, `detail`, sorted by key. Re-sharding reads the files of the input
shards it copies from, never the whole list. `OUT/audit/removed/_summary.json` holds the
counts by reason and a digest of every file: that is all the launcher reads.
"""
from __future__ import annotations

import hashlib

import pyarrow as pa

from dedup.clusters import REASONS
from wit_pipeline.core import files

REASON_ORDER = ("unreadable", "undecodable", "eval_overlap") + REASONS
SUMMARY_NAME = "_summary.json"


def removed_dir(audit_dir: str) -> str:
    return files.join(audit_dir, "removed")


def removal_path(audit_dir: str, shard_index: int) -> str:
    return files.join(removed_dir(audit_dir), f"{shard_index:05d}.parquet")


def first_reason(candidates):
    """(reason, detail) of the strictest reason among a sample's candidates."""
    return min(candidates, key=lambda c: (REASON_ORDER.index(c[0]), c[1]))


def undecodable(tar: str, table):
    for key, error in zip(table.keys[~table.ok], table.errors[~table.ok]):
        yield str(key), ("undecodable", str(error))


def unreadable(tar: str, table):
    for key, error in zip(table.unreadable_keys.tolist(), table.unreadable_errors.tolist()):
        if key:  # "" is the tar itself (where reading stopped): no sample to name
            yield key, ("unreadable", error)


def removal_table(shard: str, rows: list[tuple[str, tuple[str, str]]]) -> pa.Table:
    rows = sorted(rows)
    return pa.table({
        "key": pa.array([key for key, _ in rows], pa.string()),
        "shard": pa.array([shard] * len(rows), pa.string()),
        "reason": pa.array([reason for _, (reason, _) in rows], pa.string()),
        "detail": pa.array([detail for _, (_, detail) in rows], pa.string()),
    })


def write_shard_removals(audit_dir: str, shard_index: int, shard: str, rows) -> dict:
    """Writes one input shard's file; returns its part of the summary."""
    path = removal_path(audit_dir, shard_index)
    files.write_parquet(path, removal_table(shard, list(rows)))
    by_reason: dict[str, int] = {}
    for _, (reason, _) in rows:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return {"by_reason": by_reason, "digests": {shard_index: hashlib.sha256(files.read_bytes(path)).hexdigest()}}


def merge_summaries(parts) -> dict:
    """Associative: counts add up, digests collect (Beam may combine partial merges)."""
    total = {"by_reason": {}, "digests": {}}
    for part in parts:
        for reason, count in part["by_reason"].items():
            total["by_reason"][reason] = total["by_reason"].get(reason, 0) + count
        total["digests"].update(part["digests"])
    return total


def summary(merged: dict) -> dict:
    by_reason = {reason: merged["by_reason"].get(reason, 0) for reason in REASON_ORDER}
    digest = hashlib.sha256()
    for index in sorted(merged["digests"]):
        digest.update(f"{index}:{merged['digests'][index]}\n".encode())
    return {"removed": sum(by_reason.values()), "removed_by_reason": by_reason, "files": len(merged["digests"]),
            "sha256": digest.hexdigest()}


def write_summary(audit_dir: str, merged: dict) -> None:
    files.write_json(files.join(removed_dir(audit_dir), SUMMARY_NAME), summary(merged))


def read_summary(audit_dir: str) -> dict:
    return files.read_json(files.join(removed_dir(audit_dir), SUMMARY_NAME))


def removed_keys(audit_dir: str, shard_index: int) -> set[str]:
    return set(files.read_parquet(removal_path(audit_dir, shard_index)).column("key").to_pylist())
