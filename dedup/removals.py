"""What `wit dedup` removes, and why: `OUT/audit/removed.parquet`.

Removal reasons, one per key, the first that applies:
`unreadable` > `undecodable` > `eval_overlap` > `exact_duplicate` > `near_duplicate_phash` >
`near_duplicate_embedding`. `unreadable`: the sample could not be read from its damaged
shard (see `shards.reader.read_samples`); the run goes on with everything else.
"""
from __future__ import annotations

import pyarrow as pa

from dedup.clusters import REASONS

REASON_ORDER = ("unreadable", "undecodable", "eval_overlap") + REASONS


def overlap_removals(item):
    name, matches = item
    for eval_id, key, tar, similarity, distance in matches:
        yield key, ("eval_overlap", tar, f"{name}:{eval_id}")


def undecodable_removals(block):
    tar, table = block
    for key, error in zip(table.keys[~table.ok], table.errors[~table.ok]):
        yield str(key), ("undecodable", tar, str(error))


def unreadable_removals(block):
    tar, table = block
    for key, error in zip(table.unreadable_keys.tolist(), table.unreadable_errors.tolist()):
        if key:  # "" is the tar itself (where reading stopped): no sample to name
            yield key, ("unreadable", tar, error)


def first_reason(candidates):
    return min(candidates, key=lambda c: (REASON_ORDER.index(c[0]), c[2]))


def removed_table(rows) -> pa.Table:
    rows = sorted(rows)
    return pa.table({
        "key": pa.array([r[0] for r in rows], pa.string()),
        "shard": pa.array([r[1][1] for r in rows], pa.string()),
        "reason": pa.array([r[1][0] for r in rows], pa.string()),
        "detail": pa.array([r[1][2] for r in rows], pa.string()),
    })
