"""The Beam side of harvest's outputs: candidate files, query counts and skip examples."""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from wit_pipeline.core import counters, files
from wit_pipeline.harvest import candidates
from wit_pipeline.harvest.matcher import SharedMatchers
from wit_pipeline.harvest.schema import QUERY_COUNT_SCHEMA, candidate_file_count, candidate_file_name

STAGE = "harvest"


class _WriteFileFn(beam.DoFn):
    def __init__(self, out: str) -> None:
        self.out = out

    def process(self, item, num_files):
        index, tables = item
        files.write_parquet(files.join(self.out, candidate_file_name(index, num_files)),
                            candidates.candidate_file_table(list(tables)))
        counters.count(STAGE, "output.candidate_shards")
        yield index


class WriteCandidates(beam.PTransform):
    """(partition, rows) -> ceil(rows / shard_size) files, rows hashed to them by uid, each sorted by uid.

    File contents and names depend only on the rows, never on workers, bundles or partitions.
    """

    def __init__(self, out: str, shard_size: int) -> None:
        super().__init__()
        self.out, self.shard_size = out, shard_size

    def expand(self, kept):
        total = (kept
                 | "RowCounts" >> beam.MapTuple(lambda _, table: table.num_rows)
                 | "Total" >> beam.CombineGlobally(sum))
        num_files = beam.pvalue.AsSingleton(total | "NumFiles" >> beam.Map(candidate_file_count, self.shard_size))
        return (kept
                | "SplitIntoFiles" >> beam.FlatMap(lambda item, n: candidates.split_into_files(item[1], n), num_files)
                | "GroupFiles" >> beam.GroupByKey()
                | "WriteFiles" >> beam.ParDo(_WriteFileFn(self.out), num_files))


class _WriteQueryCountsFn(beam.DoFn):
    def __init__(self, queries_path: str, out_path: str) -> None:
        self.queries_path, self.out_path = queries_path, out_path

    def process(self, shards):
        counts = {query: found for _, shard in shards for query, found in shard.items()}
        queries = SharedMatchers.queries_of(self.queries_path)  # normalized, in the list's order
        found = [counts.get(query, (0, 0)) for query in queries]
        files.write_parquet(self.out_path, pa.table(
            {"query": queries, "matched": [c[0] for c in found], "kept": [c[1] for c in found]},
            schema=QUERY_COUNT_SCHEMA))
        yield self.out_path


class WriteQueryCounts(beam.PTransform):
    """(query shard, {query: (matched, kept)}) of the queries that matched ->
    OUT/query_counts.parquet with a row for EVERY query of the list, in its order (zeros
    for the others)."""

    def __init__(self, queries_path: str, out_path: str) -> None:
        super().__init__()
        self.write = _WriteQueryCountsFn(queries_path, out_path)

    def expand(self, counts):
        return counts | "AllCounts" >> beam.combiners.ToList() | "Write" >> beam.ParDo(self.write)


class WriteSkipExamples(beam.PTransform):
    """(reason, [details]) -> one JSON file {reason: [details]}."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, examples):
        path = self.path
        return (examples
                | "AllSkipExamples" >> beam.combiners.ToDict()
                | "Write" >> beam.Map(lambda found: files.write_json(path, found)))
