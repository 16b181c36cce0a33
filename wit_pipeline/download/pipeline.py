"""The Beam side of `wit download`: composite PTransforms.

    input files | PlanShards                       -> every shard spec (ids from input order)
      pending   | DownloadShards                   -> stats of shards written now
      finished  | FinishedShards (--retry-failed)  -> stats read, or of shards rewritten
      all stats + planned rows | SummarizeRun      -> the run's totals, one file

The DoFns only hand shard specs to a ShardWorker (worker.py) and count what it reports
into the `wit.download` metrics and the worker process's progress line.
"""
from __future__ import annotations

import apache_beam as beam

from shards import layout
from shards.schema import SUCCESS
from shards.writer import shard_complete
from wit_pipeline.core import counters, files
from wit_pipeline.download import plan, retry, summary
from wit_pipeline.download.worker import ProcessShare, ShardWorker, WorkerSettings


class PlanShards(beam.PTransform):
    """InputFile PCollection -> every ShardSpec of the run. Text files are counted in
    parallel (byte ranges, or whole csv/.gz files); one step then cuts all files into
    shards. When every row count is known already (all parquet: `first_shards` holds each
    file's first shard id, from the launcher), each file is cut on its own, a stage less."""

    def __init__(self, samples_per_shard: int, first_shards: list[int] | None = None):
        super().__init__()
        self.samples_per_shard, self.first_shards = samples_per_shard, first_shards

    def expand(self, inputs):
        if self.first_shards is not None:
            firsts = self.first_shards
            return (inputs
                    | "WithFirstShard" >> beam.Map(lambda file: (file, firsts[file.index]))
                    | "CutFiles" >> beam.FlatMap(plan.file_specs, self.samples_per_shard))
        return (inputs
                | "CountJobs" >> beam.FlatMap(plan.count_jobs)
                | "SpreadCounting" >> beam.Reshuffle()
                | "CountRows" >> beam.Map(plan.count_rows)
                | "AllCounts" >> beam.combiners.ToList()
                | "CutShards" >> beam.FlatMap(plan.shard_specs, self.samples_per_shard))


class _ShardFn(beam.DoFn):
    """Shared by the DoFns that write shards: the process's Fetcher and progress line, a
    ShardWorker (made when first needed), and the counters."""

    def __init__(self, settings: WorkerSettings):
        self.settings = settings

    def setup(self):
        self.share = ProcessShare.acquire(self.settings)
        self._worker = None
        self.rows_counter = counters.counter("download", "rows")
        self.success_counter = counters.counter("download", "success")
        self.failed_counter = counters.counter("download", "failed")

    @property
    def worker(self) -> ShardWorker:
        if self._worker is None:
            self._worker = ShardWorker(self.settings, self.share.fetcher)
        return self._worker

    def teardown(self):
        if self._worker is not None:
            self._worker.close()
        self.share.release(self.settings)

    def count(self, status: str) -> None:
        self.rows_counter.inc()
        (self.success_counter if status == SUCCESS else self.failed_counter).inc()
        self.share.progress.update(status)

    def stats_of(self, shard_id: int) -> dict:
        return files.read_json(files.join(self.settings.out_dir, layout.stats_name(shard_id)))


class DownloadShardFn(_ShardFn):
    def process(self, spec: plan.ShardSpec):
        if shard_complete(self.settings.out_dir, spec.shard_id):  # finished by an earlier attempt of this bundle
            yield {**self.stats_of(spec.shard_id), "this_run": True}
            return
        rows = plan.read_shard_rows(spec)
        yield {**self.worker.write_shard(spec.shard_id, rows, self.count), "this_run": True}


class FinishedShardFn(_ShardFn):
    def __init__(self, settings: WorkerSettings, retry_statuses: tuple[str, ...]):
        super().__init__(settings)
        self.retry_statuses = retry_statuses

    def process(self, spec: plan.ShardSpec):
        stats = self.stats_of(spec.shard_id)
        if any(retry.matches(status, self.retry_statuses) for status in stats["status"]):
            retried = retry.retry_shard(self.worker, spec.shard_id, self.retry_statuses, self.count)
            if retried is not None:
                yield retried
                return
        yield stats


class DownloadShards(beam.PTransform):
    """Pending ShardSpecs -> stats of the shards written now, under the settings' out_dir."""

    def __init__(self, settings: WorkerSettings):
        super().__init__()
        self.settings = settings

    def expand(self, specs):
        return (specs
                # Downloads are I/O bound and one element is a whole shard: break fusion so
                # a cluster spreads shards over all workers instead of the one that planned them.
                | "SpreadShards" >> beam.Reshuffle()
                | "DownloadShards" >> beam.ParDo(DownloadShardFn(self.settings)))


class FinishedShards(beam.PTransform):
    """Finished ShardSpecs -> their stats, read by the workers; with retry statuses, a shard
    holding such rows is rewritten with those rows tried again (retry.py)."""

    def __init__(self, settings: WorkerSettings, retry_statuses: tuple[str, ...] = ()):
        super().__init__()
        self.settings, self.retry_statuses = settings, retry_statuses

    def expand(self, specs):
        return (specs
                | "SpreadFinished" >> beam.Reshuffle()
                | "ReadOrRetry" >> beam.ParDo(FinishedShardFn(self.settings, self.retry_statuses)))


class _TotalsFn(beam.CombineFn):
    def create_accumulator(self):
        return summary.empty()

    def add_input(self, totals, item):
        return summary.add(totals, item)

    def merge_accumulators(self, accumulators):
        return summary.merge(list(accumulators))

    def extract_output(self, totals):
        return totals


class SummarizeRun(beam.PTransform):
    """(shard stats..., planned ShardSpecs) -> the run's totals, written to `path` as one file."""

    def __init__(self, path: str, retrying: bool):
        super().__init__()
        self.path, self.retrying = path, retrying

    def expand(self, parts):
        stats, specs = parts
        planned = specs | "PlannedRows" >> beam.Map(lambda spec: {"planned_rows": spec.rows})
        return ((*stats, planned)
                | "AllStats" >> beam.Flatten()
                | "Totals" >> beam.CombineGlobally(_TotalsFn())
                | "WriteTotals" >> beam.Map(lambda totals: files.write_json(
                    self.path, summary.finish(totals, self.retrying))))


class Download(beam.PTransform):
    """InputFile PCollection -> shards written for every planned shard not in `finished`
    (finished ones retried when asked), and the run's totals written to `totals_path`."""

    def __init__(self, settings: WorkerSettings, finished: set[int], totals_path: str,
                 retry_statuses: tuple[str, ...] = (), first_shards: list[int] | None = None):
        super().__init__()
        self.settings, self.finished = settings, frozenset(finished)
        self.totals_path, self.retry_statuses, self.first_shards = totals_path, retry_statuses, first_shards

    def expand(self, inputs):
        finished = self.finished
        specs = inputs | "Plan" >> PlanShards(self.settings.samples_per_shard, self.first_shards)
        if not finished:  # a first run: no branch for finished shards (a stage less)
            written = specs | "Fetch" >> DownloadShards(self.settings)
            return ((written,), specs) | "Summarize" >> SummarizeRun(self.totals_path, bool(self.retry_statuses))
        pending, done = specs | "PendingOrFinished" >> beam.Partition(
            lambda spec, _n: 1 if spec.shard_id in finished else 0, 2)
        written = pending | "Fetch" >> DownloadShards(self.settings)
        kept = done | "Finished" >> FinishedShards(self.settings, self.retry_statuses)
        return ((written, kept), specs) | "Summarize" >> SummarizeRun(self.totals_path, bool(self.retry_statuses))
