"""What the audit writes, as plain functions over feature tables and search results:
`overlap-NAME.parquet`, `nearest-NAME.parquet`, the dataset counts (`_dataset.json`)
and the per-sample problems (`undecodable.parquet`, `unreadable.parquet`).

A match is (eval_id, key, shard, similarity, pHash distance).
"""
from __future__ import annotations

import dataclasses

import pyarrow as pa

from dedup import search
from dedup.store import FeatureTable


@dataclasses.dataclass(frozen=True)
class EvalFeatures:
    name: str
    table: FeatureTable        # decodable images only
    undecodable: tuple[tuple[str, str], ...]
    problems: tuple[str, ...] = ()   # ids seen twice


def load_block(tar: str, tag: str) -> tuple[str, FeatureTable]:
    from dedup.store import shard_embedding_path

    return tar, FeatureTable.load(shard_embedding_path(tar, tag))


def load_eval(name: str, path: str) -> tuple[str, EvalFeatures]:
    """An eval set's cached feature table, split into decodable images and failures."""
    table = FeatureTable.load(path)
    ok = table.ok
    undecodable = tuple((str(k), str(e)) for k, e in zip(table.keys[~ok], table.errors[~ok]))
    return name, EvalFeatures(name, table.select(ok), undecodable, tuple(table.unreadable_errors.tolist()))


def count_block(block) -> dict:
    """The block's counts; a damaged shard also gives its entry of the `damaged` list."""
    tar, table = block
    unreadable_samples = int((table.unreadable_keys != "").sum())
    damaged = []
    if table.damaged:
        damaged.append({"shard": tar, "samples_read": len(table), "unreadable_samples": unreadable_samples,
                        "problems": len(table.unreadable_errors),
                        "first_problems": table.unreadable_errors[:3].tolist()})
    return {"samples": len(table), "undecodable": int((~table.ok).sum()), "unreadable_samples": unreadable_samples,
            "damaged": damaged}


def sum_counts(counts) -> dict:
    """Associative (Beam may combine partial sums): numbers add up, damaged lists concatenate."""
    total = {"samples": 0, "undecodable": 0, "unreadable_samples": 0, "damaged": []}
    for c in counts:
        for k in total:
            total[k] += c[k]
    return total


def dataset_counts(total) -> dict:
    damaged = sorted(total["damaged"], key=lambda d: d["shard"])
    return {"samples": total["samples"], "undecodable": total["undecodable"], "damaged_shards": len(damaged),
            "unreadable_samples": total["unreadable_samples"], "damaged": damaged}


def unreadable_rows(block):
    tar, table = block
    for key, error in zip(table.unreadable_keys.tolist(), table.unreadable_errors.tolist()):
        yield tar, key, error


def undecodable_rows(block):
    tar, table = block
    for key, error in zip(table.keys[~table.ok], table.errors[~table.ok]):
        yield str(key), tar, str(error)


def problem_table(rows, columns: tuple[str, str, str]) -> pa.Table:
    rows = sorted(rows)
    return pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(columns)})


def overlap_table(matches) -> pa.Table:
    return pa.table({
        "eval_id": pa.array([m[0] for m in matches], pa.string()),
        "key": pa.array([m[1] for m in matches], pa.string()),
        "similarity": pa.array([float(m[3]) for m in matches], pa.float32()),
        "phash_distance": pa.array([int(m[4]) for m in matches], pa.int16()),
        "shard": pa.array([m[2] for m in matches], pa.string()),
    })


def nearest_table(ev: EvalFeatures, state: search.NearestState | None, k: int) -> pa.Table:
    if state is None:
        state = search.NearestState.empty(len(ev.table), k)
    found = state.keys != ""
    return pa.table({
        "eval_id": pa.array([str(x) for x in ev.table.keys], pa.string()),
        "label": pa.array(ev.table.labels.tolist(), pa.int64()),
        "nearest_keys": pa.array([[str(k) for k, f in zip(row, fr) if f] for row, fr in zip(state.keys, found)],
                                 pa.list_(pa.string())),
        "nearest_similarities": pa.array([[float(s) for s, f in zip(row, fr) if f]
                                          for row, fr in zip(state.scores, found)], pa.list_(pa.float32())),
        "phash_nearest_key": pa.array([str(k) if k else None for k in state.phash_key], pa.string()),
        "phash_nearest_distance": pa.array([int(d) if k else None for d, k in zip(state.phash_distance, state.phash_key)],
                                           pa.int16()),
    })


def search_eval_sets(block, evals: dict, config, backend, device):
    """(name, NearestState) per eval set and ("matches", (name, match)) per match of one block."""
    tar, table = block
    valid = table.select(table.ok)
    for name, ev in evals.items():
        if len(ev.table) == 0:
            continue
        state, matches = search.search_block(
            ev.table.embeddings, ev.table.phash, list(valid.keys), valid.embeddings, valid.phash,
            k=config.top_k, threshold=config.similarity, phash_distance=config.phash_distance,
            backend=backend, device=device)
        yield "nearest", (name, state)
        eval_ids = ev.table.keys
        for m in matches:
            yield "matches", (name, (str(eval_ids[m.eval_index]), m.key, tar, m.similarity, m.phash_distance))


def merge_states(states):
    """Merges per-block `NearestState`s of one eval set (None is the empty state)."""
    result = None
    for state in states:
        if state is not None:
            result = state if result is None else result.merge(state)
    return result
