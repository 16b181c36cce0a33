"""Candidate tables between selection and the written files: partitions, duplicates, files.

Candidates (select.py's batches: the image columns plus `uid` and `matched`) are spread
over `partitions` by a hash of the uid, so that every copy of a pair lands in the same
partition, and each partition is handled as one table: duplicates dropped, the per-query
cap decided (balance.py), rows sent to their output file. Nothing here depends on how
rows were split into batches or workers, so the outputs do not either.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from wit_pipeline.harvest.repeats import cut_repeated
from wit_pipeline.harvest.schema import CANDIDATE_SCHEMA, candidate_file_of


def _uid_hash(uids: list[str]) -> list[int]:
    # Not the bits candidate_file_of uses: a partition then spreads over all files.
    return [int(uid[15:20], 16) for uid in uids]


def split_by(table: pa.Table, keys: list[int]) -> list[tuple[int, pa.Table]]:
    """(key, the table's rows with that key) for every key present, in key order."""
    by_key: dict[int, list[int]] = {}
    for row, key in enumerate(keys):
        by_key.setdefault(key, []).append(row)
    if len(by_key) == 1:
        return [(keys[0], table)]
    return [(key, table.take(pa.array(by_key[key], pa.int32()))) for key in sorted(by_key)]


def partition_of(uids: list[str], partitions: int) -> list[int]:
    """The partition of each uid: every copy of a pair lands in the same one."""
    return [h % partitions for h in _uid_hash(uids)] if partitions > 1 else [0] * len(uids)


def split_into_partitions(table: pa.Table, partitions: int) -> list[tuple[int, pa.Table]]:
    if partitions == 1:
        return [(0, table)]
    return split_by(table, partition_of(table.column("uid").to_pylist(), partitions))


def split_into_files(table: pa.Table, num_files: int) -> list[tuple[int, pa.Table]]:
    return split_by(table, [candidate_file_of(uid, num_files) for uid in table.column("uid").to_pylist()])


def drop_duplicates(table: pa.Table) -> tuple[pa.Table, int]:
    """(one row per uid, the number of copies dropped), sorted by uid.

    The copy kept is the one with the smallest (source, page_url), a missing page_url
    counting as "", so the choice does not depend on arrival order.
    """
    if table.num_rows == 0:
        return table, 0
    keys = pa.table({"uid": table.column("uid"), "source": table.column("source"),
                     "page_url": pc.fill_null(table.column("page_url"), "")})
    table = table.take(pc.sort_indices(keys, sort_keys=[("uid", "ascending"), ("source", "ascending"),
                                                          ("page_url", "ascending")]))
    uids = table.column("uid")
    first = pc.not_equal(uids.slice(1), uids.slice(0, len(uids) - 1))
    keep = pa.concat_arrays([pa.array([True]), first.combine_chunks()])
    unique = table.filter(keep)
    return unique, table.num_rows - unique.num_rows


def unique_rows(tables: list[pa.Table], repeated: set[str]) -> tuple[pa.Table, int, int]:
    """A partition's rows without the pairs the site-level rule cuts (their uids, repeats/) and
    with one row per uid: (rows, rows cut as repeated, copies dropped)."""
    table, cut = cut_repeated(pa.concat_tables(tables), repeated)
    table, duplicates = drop_duplicates(table)
    return table, cut, duplicates


def candidate_file_table(tables: list[pa.Table]) -> pa.Table:
    """One output file's rows: the candidate columns, sorted by uid, in one chunk."""
    table = pa.concat_tables([t.select(CANDIDATE_SCHEMA.names) for t in tables])
    return table.sort_by("uid").cast(CANDIDATE_SCHEMA).combine_chunks()
