"""The Beam side of `wit download`: composite PTransforms over shard specs.

    pending shard specs | DownloadShards -> per-shard stats

The DoFns only move shard specs to a ShardWorker (worker.py) and count what it reports
into the `wit.download` metrics and the worker process's progress line.
"""
from __future__ import annotations

import apache_beam as beam

from shards import layout
from shards.schema import SUCCESS
from shards.writer import shard_complete
from wit_pipeline.core import counters, files
from wit_pipeline.download.plan import ShardSpec, read_piece
from wit_pipeline.download.worker import ProcessShare, ShardWorker, WorkerSettings


class _DownloadShardFn(beam.DoFn):
    def __init__(self, settings: WorkerSettings):
        self.settings = settings

    def setup(self):
        self.share = ProcessShare.acquire(self.settings)
        self.worker = ShardWorker(self.settings, self.share.fetcher)
        self.rows_counter = counters.counter("download", "rows")
        self.success_counter = counters.counter("download", "success")
        self.failed_counter = counters.counter("download", "failed")

    def teardown(self):
        self.worker.close()
        self.share.release(self.settings)

    def process(self, spec: ShardSpec):
        out_dir = self.settings.out_dir
        if shard_complete(out_dir, spec.shard_id):  # finished by an earlier attempt of this bundle
            yield files.read_json(files.join(out_dir, layout.stats_name(spec.shard_id)))
            return
        yield self.worker.write_shard(spec.shard_id, read_piece(spec), self._count)

    def _count(self, status: str) -> None:
        self.rows_counter.inc()
        (self.success_counter if status == SUCCESS else self.failed_counter).inc()
        if self.share.progress is not None:
            self.share.progress.update(status)


class DownloadShards(beam.PTransform):
    """ShardSpec PCollection -> per-shard stats dicts, shards written under the settings' out_dir."""

    def __init__(self, settings: WorkerSettings):
        super().__init__()
        self.settings = settings

    def expand(self, specs):
        return (specs
                # Downloads are I/O bound and one element is a whole shard: break fusion so
                # a cluster spreads shards over all workers instead of the one that read the plan.
                | "SpreadShards" >> beam.Reshuffle()
                | "DownloadShards" >> beam.ParDo(_DownloadShardFn(self.settings)))
