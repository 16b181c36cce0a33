"""One worker's share of `wit download`: fetch, decode and write a shard. Plain Python,
no Beam: the pipeline's DoFns only hand it shard specs and count what it reports.

Each row's outcome is a status, never an exception. A shard is written by one call and
becomes visible only complete (ShardWriter renames its files into place, stats last).
Rows are fetched in an order interleaved across hosts (core/net/hosts), and the tar holds
the samples in that order; the parquet lists every row in key order.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import os
import threading
from typing import Callable, Iterable

from shards import layout
from shards.schema import SUCCESS
from shards.writer import ShardWriter
from wit_pipeline.core.console import Progress
from wit_pipeline.core.net import Fetcher, FetchPolicy
from wit_pipeline.core.net.hosts import HostBreaker, host_key, interleave_hosts
from wit_pipeline.core.tables import INPUT_ERROR, INPUT_STATUS
from wit_pipeline.download import summary
from wit_pipeline.download.images import (ImageOptions, ImageRejected, PixelBudget, decoded_pixels, process_image,
                                          shared_pixel_budget)
from wit_pipeline.harvest.schema import pair_uid

RESULT_FIELDS = ("status", "error_message", "width", "height", "original_width", "original_height", "sha256",
                 "phash")


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """What every worker needs to turn shard rows into a shard (fixed for the run)."""

    out_dir: str
    samples_per_shard: int
    image: ImageOptions
    policy: FetchPolicy
    threads: int
    decode_processes: int
    host_failure_limit: int
    run_id: str  # what the worker processes of one run share (ProcessShare), never another run's
    one_process: bool  # the whole run is this process (the default DirectRunner)
    show_progress: bool = True
    progress: tuple[int, int] | None = None  # (input rows, rows done before this run), when known


def download_row(fetcher: Fetcher, row: dict, opts: ImageOptions, pixel_budget: PixelBudget,
                 breaker: HostBreaker | None = None,
                 decoders: concurrent.futures.Executor | None = None) -> tuple[dict, bytes | None]:
    """Fetch and process one input row; every outcome becomes a status, never an exception.

    Decoding holds `pixel_budget` for the pixels it will decode. `breaker`: the shard's; it
    is told how the row's host did. `decoders`, when given, is a process pool that runs the
    image work.
    """
    result = dict(row)
    input_status, input_error = result.pop(INPUT_STATUS, None), result.pop(INPUT_ERROR, None)
    url, caption = result.get("url"), result.get("caption")
    result.setdefault("uid", None)
    if not result["uid"]:
        result["uid"] = pair_uid(url or "", caption)
    result.update(dict.fromkeys(RESULT_FIELDS))
    if input_status:  # found unusable while reading the input (core/tables)
        result.update(status=input_status, error_message=input_error)
        return result, None
    if not url or not isinstance(url, str):
        result.update(status="invalid_url", error_message="empty url")
        return result, None
    fetched = fetcher.fetch(url.strip(), breaker=breaker)
    host = host_key(url)
    if not fetched.ok:
        result.update(status=fetched.status, error_message=fetched.error_message)
        if breaker is not None and fetched.status != "host_backoff":
            breaker.record(host, fetched.status)
        return result, None
    result["sha256"] = hashlib.sha256(fetched.content).hexdigest()
    try:
        with pixel_budget.hold(decoded_pixels(fetched.content, opts)):
            image = (decoders.submit(process_image, fetched.content, opts).result() if decoders
                     else process_image(fetched.content, opts))
    except ImageRejected as rejected:
        result.update(status=rejected.status, error_message=str(rejected)[:500])
        html = "html" in (fetched.headers.get("content-type") or "").lower()
        if breaker is not None and html and rejected.status == "not_an_image":
            breaker.record(host, "html_instead_of_image")  # a captcha or block page counts against the host
        return result, None
    except Exception as exc:  # a decoder bug must cost one row, not the shard
        result.update(status="processing_error", error_message=f"{type(exc).__name__}: {exc}"[:500])
        return result, None
    result.update(status=SUCCESS, width=image.width, height=image.height, original_width=image.original_width,
                  original_height=image.original_height, phash=image.phash)
    if breaker is not None:
        breaker.record(host, SUCCESS)
    return result, image.data


def ordered_map(pool: concurrent.futures.Executor, fn, items: Iterable, window: int):
    """Like pool.map, but keeps at most `window` results in flight (bounded memory)."""
    pending: collections.deque = collections.deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class KeyOrderedWriter(ShardWriter):
    """A ShardWriter whose parquet lists the rows in key order (the tar keeps the order the
    samples were added in) and whose stats name the hosts with the most failed rows."""

    def close(self) -> dict:
        self.rows.sort(key=lambda row: row["key"])
        return super().close()

    def stats(self) -> dict:
        return {**super().stats(), "failed_hosts": summary.failed_hosts(self.rows, host_key)}


class ShardWorker:
    """Writes shards: a thread pool of downloads (and, when asked, a process pool that
    decodes), shared by every shard this worker writes."""

    def __init__(self, settings: WorkerSettings, fetcher: Fetcher):
        self.settings, self.fetcher = settings, fetcher
        self.pool = concurrent.futures.ThreadPoolExecutor(settings.threads, thread_name_prefix="wit-download")
        # spawn, not fork: this process already runs threads (Beam's and ours).
        self.decoders = (concurrent.futures.ProcessPoolExecutor(
            settings.decode_processes, mp_context=multiprocessing.get_context("spawn"))
            if settings.decode_processes else None)
        self.pixel_budget = shared_pixel_budget(settings.image.decode_pixel_budget)
        self.stopping = threading.Event()

    def close(self) -> None:
        # Beam's multi-threaded runner tears a DoFn down from another thread while a shard may
        # still be written (after a bundle failed elsewhere). Rows already running finish with
        # the fetcher and decoders they started with, instead of recording the shutdown as their
        # status in a shard that would then look complete; waiting costs nothing extra, as
        # the interpreter joins these threads at exit anyway.
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.decoders is not None:
            self.decoders.shutdown(wait=True, cancel_futures=True)

    def download(self, rows: list[dict], breaker: HostBreaker) -> Iterable[tuple[dict, bytes | None]]:
        """(result row, image) for each row, in an order interleaved across hosts."""
        settings = self.settings
        order = interleave_hosts([host_key(row.get("url")) for row in rows],
                                 settings.policy.per_host_connections, settings.threads)
        work = lambda index: download_row(self.fetcher, rows[index], settings.image,  # noqa: E731
                                          self.pixel_budget, breaker, self.decoders)
        return ordered_map(self.pool, work, order, window=settings.threads * 4)

    def fill(self, writer: ShardWriter, shard_id: int, rows: list[dict], on_row: Callable[[str], None]) -> None:
        """Download `rows` into `writer`; a shutdown under way leaves the shard unfinished."""
        try:
            for result, image in self.download(rows, HostBreaker(self.settings.host_failure_limit)):
                writer.add(result, image)
                on_row(result["status"])
        except (concurrent.futures.CancelledError, RuntimeError):  # pool shut down under us: no new rows
            if not self.stopping.is_set():
                raise
            raise RuntimeError(f"shard {shard_id} left unfinished: the worker was shut down "
                               "after a failure elsewhere") from None

    def write_shard(self, shard_id: int, rows: list[dict], on_row: Callable[[str], None]) -> dict:
        """Download `rows` into shard `shard_id`; `on_row(status)` after each row. Returns its stats."""
        settings = self.settings
        for index, row in enumerate(rows):
            row["key"] = layout.sample_key(shard_id, index, settings.samples_per_shard)
        with KeyOrderedWriter(settings.out_dir, shard_id, image_ext=settings.image.encode_format) as writer:
            self.fill(writer, shard_id, rows, on_row)
        return writer.stats()


class ProcessShare:
    """What the DoFn instances and threads of one worker process share during one run: the
    Fetcher (its connection pools, robots.txt and DNS caches, per-host limits) and the
    progress line.

    The progress line: when the whole run is one process (the default DirectRunner) it
    counts every row against the run's total; otherwise each worker process prints its own
    rows to its own stderr (on a cluster, the worker's log), and the runner's UI shows the
    `wit.download` counters.
    """

    _lock = threading.Lock()
    _open: dict[str, "ProcessShare"] = {}

    def __init__(self, settings: WorkerSettings):
        self.fetcher = Fetcher(settings.policy)
        show = None if settings.show_progress else False  # None: when stderr is a terminal
        if settings.one_process:
            total, done = settings.progress or (None, 0)
            self.progress = Progress("download", total, initial=done, show=show)
        else:
            self.progress = Progress(f"download worker {os.getpid()}", show=show)
        self.users = 0

    @classmethod
    def acquire(cls, settings: WorkerSettings) -> "ProcessShare":
        with cls._lock:
            share = cls._open.get(settings.run_id)
            if share is None:
                share = cls._open[settings.run_id] = cls(settings)
            share.users += 1
            return share

    def release(self, settings: WorkerSettings) -> None:
        with self._lock:
            self.users -= 1
            if self.users == 0:
                del self._open[settings.run_id]
                self.fetcher.close()
