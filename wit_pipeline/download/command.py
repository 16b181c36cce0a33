"""`wit download`: url lists or harvest candidates -> WebDataset shards (SPEC command 3).

Pipeline: the launcher plans input rows into shard pieces (`download_inputs`), then
    pending shard specs | Reshuffle | DownloadShards (thread pool per worker) -> per-shard stats
Each shard is written by one DoFn call and becomes visible only complete, so a re-run
on the same OUT skips finished shards and redoes the rest with the same keys.
"""
from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import math
import multiprocessing
import os
import threading
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions

from shards import layout
from shards.schema import SUCCESS
from shards.writer import ShardWriter, remove_unfinished, shard_complete, write_totals
from wit_pipeline.core import console, counters, files
from wit_pipeline.download.plan import (INPUT_DIRECTORY, INPUT_ERROR, INPUT_STATUS, ShardSpec, check_harvest_finished,
                                        pair_uid, plan_shards, read_piece)
from wit_pipeline.download.images import (ImageOptions, ImageRejected, PixelBudget, decoded_pixels, process_image,
                                          shared_pixel_budget)
from wit_pipeline.core.net import Fetcher, FetchPolicy
from wit_pipeline.core.options import is_local_runner, make_pipeline, pipeline_options, stop_if_dry_run
from wit_pipeline.core.console import Progress

_progress: Progress | None = None  # the launcher's live line when workers run in-process


def download_row(fetcher: Fetcher, row: dict, opts: ImageOptions, pixel_budget: PixelBudget,
                 decoders: concurrent.futures.Executor | None = None) -> tuple[dict, bytes | None]:
    """Fetch and process one input row; every outcome becomes a status, never an exception.

    Decoding holds `pixel_budget` for the pixels it will decode; `decoders`, when given, is
    a process pool that runs the image work.
    """
    url, caption = row.get("url"), row.get("caption")
    result = dict(row)
    input_status, input_error = result.pop(INPUT_STATUS, None), result.pop(INPUT_ERROR, None)
    result.setdefault("uid", None)
    if not result["uid"]:
        result["uid"] = pair_uid(url or "", caption)
    result.update(status=None, error_message=None, width=None, height=None, original_width=None,
                  original_height=None, sha256=None, phash=None)
    if input_status:  # found unusable while reading the input (download_inputs.normalize_columns)
        result.update(status=input_status, error_message=input_error)
        return result, None
    if not url or not isinstance(url, str):
        result.update(status="invalid_url", error_message="empty url")
        return result, None
    fetched = fetcher.fetch(url.strip())
    if not fetched.ok:
        result.update(status=fetched.status, error_message=fetched.error_message)
        return result, None
    result["sha256"] = hashlib.sha256(fetched.content).hexdigest()
    try:
        with pixel_budget.hold(decoded_pixels(fetched.content, opts)):
            image = (decoders.submit(process_image, fetched.content, opts).result() if decoders
                     else process_image(fetched.content, opts))
    except ImageRejected as rejected:
        result.update(status=rejected.status, error_message=str(rejected)[:500])
        return result, None
    except Exception as exc:  # a decoder bug must cost one row, not the shard
        result.update(status="processing_error", error_message=f"{type(exc).__name__}: {exc}"[:500])
        return result, None
    result.update(status=SUCCESS, width=image.width, height=image.height, original_width=image.original_width,
                  original_height=image.original_height, phash=image.phash)
    return result, image.data


def _ordered_map(pool: concurrent.futures.Executor, fn, items, window: int):
    """Like pool.map, but keeps at most `window` results in flight (bounded memory)."""
    pending: collections.deque = collections.deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class DownloadShardFn(beam.DoFn):
    def __init__(self, out_dir: str, policy: FetchPolicy, image_options: ImageOptions, threads: int,
                 samples_per_shard: int, decode_processes: int = 0):
        self.out_dir, self.policy, self.image_options = out_dir, policy, image_options
        self.threads, self.samples_per_shard = threads, samples_per_shard
        self.decode_processes = decode_processes

    def setup(self):
        self.fetcher = Fetcher(self.policy)
        self.pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="wit-download")
        # spawn, not fork: this process already runs threads (Beam's and ours).
        self.decoders = concurrent.futures.ProcessPoolExecutor(
            self.decode_processes, mp_context=multiprocessing.get_context("spawn")) if self.decode_processes else None
        self.pixel_budget = shared_pixel_budget(self.image_options.decode_pixel_budget)
        self.stopping = threading.Event()
        self.rows_counter = counters.counter("download", "rows")
        self.success_counter = counters.counter("download", "success")
        self.failed_counter = counters.counter("download", "failed")

    def teardown(self):
        # Beam's multi-threaded runner calls this from another thread while process() may
        # still run (after a bundle failed elsewhere). Rows already running finish with the
        # fetcher and decoders they started with, instead of recording the shutdown as their
        # status in a shard that would then look complete; waiting costs nothing extra, as
        # the interpreter joins these threads at exit anyway.
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.decoders is not None:
            self.decoders.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()

    def process(self, spec: ShardSpec):
        if shard_complete(self.out_dir, spec.shard_id):  # finished by an earlier attempt of this bundle
            yield files.read_json(files.join(self.out_dir, layout.stats_name(spec.shard_id)))
            return
        rows = read_piece(spec)
        for index, row in enumerate(rows):
            row["key"] = layout.sample_key(spec.shard_id, index, self.samples_per_shard)
        work = lambda row: download_row(self.fetcher, row, self.image_options, self.pixel_budget,  # noqa: E731
                                        self.decoders)
        with ShardWriter(self.out_dir, spec.shard_id, image_ext=self.image_options.encode_format) as writer:
            try:
                for result, image in _ordered_map(self.pool, work, rows, window=self.threads * 4):
                    writer.add(result, image)
                    self.rows_counter.inc()
                    (self.success_counter if result["status"] == SUCCESS else self.failed_counter).inc()
                    if _progress is not None:
                        _progress.update(result["status"])
            except (concurrent.futures.CancelledError, RuntimeError):  # pool shut down under us: no new rows
                if not self.stopping.is_set():
                    raise
                raise RuntimeError(f"shard {spec.shard_id} left unfinished: the worker was shut down "
                                   "after a failure elsewhere") from None
        yield writer.stats()


class Download(beam.PTransform):
    """ShardSpec PCollection -> per-shard stats dicts, shards written under out_dir."""

    def __init__(self, out_dir: str, policy: FetchPolicy, image_options: ImageOptions, threads: int = 64,
                 samples_per_shard: int = 10_000, decode_processes: int = 0):
        super().__init__()
        self.fn = DownloadShardFn(out_dir, policy, image_options, threads, samples_per_shard, decode_processes)

    def expand(self, specs):
        return (specs
                # Downloads are I/O bound and one element is a whole shard: break fusion so
                # a cluster spreads shards over all workers instead of the one that read the plan.
                | "SpreadShards" >> beam.Reshuffle()
                | "DownloadShards" >> beam.ParDo(self.fn))


def resolve_decode_processes(value: int | str, options) -> int:
    """`auto`: a pool only when one local process runs everything. Pillow releases the GIL
    while decoding, but the GIL hand-offs between its chunks and the download threads' Python
    left about a third of two cores idle; Beam's multi-process and cluster runners already
    run one worker process per core, where a pool would only oversubscribe."""
    if value == "auto":
        direct = options.view_as(DirectOptions)
        one_process = is_local_runner(options) and direct.direct_running_mode != "multi_processing"
        return (os.cpu_count() or 1) if one_process and (os.cpu_count() or 1) > 1 else 0
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--decode-processes must be auto or a number, got {value!r}") from None
    if count < 0:
        raise ValueError(f"--decode-processes must be >= 0, got {count}")
    return count


def add_arguments(parser) -> None:
    parser.add_argument("--candidates", "--url-list", dest="inputs", nargs="+", action="extend", required=True,
                        help="candidate parquet globs from `wit harvest` (or its output folder), or "
                             "img2dataset-style url lists (parquet/csv/tsv/jsonl, optionally .gz; a folder means "
                             "all of those in it)")
    parser.add_argument("--out", required=True, help="output directory (local or any Beam filesystem)")
    parser.add_argument("--input-format", default="auto", help="auto|parquet|csv|tsv|jsonl (default: from the extension)")
    parser.add_argument("--url-col", default="url", help="url column (default url)")
    parser.add_argument("--caption-col", default="auto", help="caption column (default: caption, else text)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--resize-mode", default="border", help="border|keep_ratio|center_crop|no (default border)")
    parser.add_argument("--resize-only-if-bigger", action="store_true", help="never upscale small images")
    parser.add_argument("--encode-format", default="jpg", help="jpg|webp|png (default jpg)")
    parser.add_argument("--encode-quality", type=int, default=95)
    parser.add_argument("--samples-per-shard", type=int, default=10_000)
    parser.add_argument("--min-image-size", type=int, default=0)
    parser.add_argument("--max-aspect-ratio", type=float, default=math.inf)
    parser.add_argument("--max-pixels", type=int, default=ImageOptions.max_pixels,
                        help="decompression-bomb limit in pixels (default %(default)s)")
    parser.add_argument("--decode-pixel-budget", type=int, default=ImageOptions.decode_pixel_budget,
                        help="pixels decoded at once per worker process, across its threads and decode processes; "
                             "bounds decoding memory (default %(default)s: one image of --max-pixels' default)")
    parser.add_argument("--threads", type=int, default=64, help="concurrent downloads per worker (default 64)")
    parser.add_argument("--decode-processes", default="auto",
                        help="processes per worker that decode and resize images: auto (one per core when the "
                             "whole run is this one process, else 0 = in the download threads) or a number")
    FetchPolicy.add_arguments(parser)


def run_download(inputs: list[str], out_dir: str, policy: FetchPolicy, image_options: ImageOptions,
                 samples_per_shard: int = 10_000, threads: int = 64, beam_argv: list[str] | None = None,
                 input_format: str = "auto", url_col: str = "url", caption_col: str = "auto",
                 show_progress: bool = True, decode_processes: int | str = 0) -> dict:
    global _progress
    if samples_per_shard <= 0:
        raise ValueError(f"--samples-per-shard must be positive, got {samples_per_shard}")
    if threads <= 0:
        raise ValueError(f"--threads must be positive, got {threads}")
    image_options.validate()
    policy.validate()
    options = pipeline_options(beam_argv)
    decode_processes = resolve_decode_processes(decode_processes, options)
    paths = files.expand_inputs(inputs, "--candidates/--url-list", INPUT_DIRECTORY)
    check_harvest_finished(paths)
    started = time.monotonic()
    specs = plan_shards(paths, out_dir, samples_per_shard, input_format, url_col, caption_col)
    pending = [spec for spec in specs if not shard_complete(out_dir, spec.shard_id)]
    remove_unfinished(out_dir)
    total_rows = sum(spec.rows for spec in pending)
    _progress = Progress("download", total_rows) if show_progress else None
    try:
        if pending:
            with make_pipeline(options) as pipeline:
                (pipeline
                 | "PendingShards" >> beam.Create(pending, reshuffle=False)
                 | "Download" >> Download(out_dir, policy, image_options, threads, samples_per_shard,
                                          decode_processes))
            stop_if_dry_run(pipeline.options)
    finally:
        _progress = None
    elapsed = time.monotonic() - started
    extra = {"input_rows": sum(spec.rows for spec in specs),
             "shards_planned": len(specs), "shards_resumed": len(specs) - len(pending),
             "seconds_this_run": round(elapsed, 2),
             "rows_per_second_this_run": round(total_rows / elapsed, 2) if elapsed else None}
    totals = write_totals(out_dir, extra)
    warning = private_address_warning(totals)
    if warning:
        totals = write_totals(out_dir, {**extra, "warning": warning})
    return totals


def private_address_warning(totals: dict) -> str | None:
    """A pointer to --allow-private-networks when most rows were refused for their address
    (typically a test or intranet list on loopback or private addresses)."""
    refused = totals["status"].get("private_address", 0)
    if not refused or refused * 2 <= totals["count"]:
        return None
    return (f"{refused:,} of {totals['count']:,} rows were refused as private_address (their hosts are not "
            "globally routable: loopback, private, link-local, ...); pass --allow-private-networks "
            "to download from such addresses")


def main(args, beam_argv) -> int:
    files.lock_out(args.out, "download")
    image_options = ImageOptions(image_size=args.image_size, resize_mode=args.resize_mode,
                                 resize_only_if_bigger=args.resize_only_if_bigger, min_image_size=args.min_image_size,
                                 max_aspect_ratio=args.max_aspect_ratio, encode_format=args.encode_format,
                                 encode_quality=args.encode_quality, max_pixels=args.max_pixels,
                                 decode_pixel_budget=args.decode_pixel_budget)
    totals = run_download(args.inputs, args.out, FetchPolicy.from_args(args), image_options,
                          samples_per_shard=args.samples_per_shard, threads=args.threads, beam_argv=beam_argv,
                          input_format=args.input_format, url_col=args.url_col, caption_col=args.caption_col,
                          decode_processes=args.decode_processes)
    # write_totals already wrote OUT/stats.json with these numbers.
    print(console.format_summary("wit download", totals))
    return 0
