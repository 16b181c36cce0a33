"""`wit download`: url lists or harvest candidates -> WebDataset shards (SPEC command 3).

flags -> DownloadConfig (frozen, checked once) -> run. The launcher does work that grows
with the number of input files, not rows: it describes the inputs (plan.py), checks them
against the plan OUT holds, lists the finished shards once, and starts the pipeline
(pipeline.py), which plans the shards, downloads the pending ones, reads (or, with
--retry-failed, rewrites) the finished ones and sums the run's totals into one file.
Each shard is written by one DoFn call and becomes visible only complete, so a re-run
on the same OUT skips finished shards and redoes the rest with the same keys.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
import os
import time
import uuid

from shards.writer import remove_unfinished
from wit_pipeline.core import console, files
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download import plan, retry, summary
from wit_pipeline.download.images import ImageOptions
from wit_pipeline.download.worker import WorkerSettings
from wit_pipeline.harvest.schema import check_harvest_finished

DEFAULT_HOST_FAILURE_LIMIT = 5


@dataclasses.dataclass(frozen=True)
class DownloadConfig:
    inputs: tuple[str, ...]
    out: str
    input_format: str = "auto"
    url_col: str = "url"
    caption_col: str = "auto"
    samples_per_shard: int = 10_000
    threads: int = 64
    decode_processes: int | str = "auto"  # auto: see resolve_decode_processes
    image: ImageOptions = ImageOptions()
    policy: FetchPolicy = FetchPolicy()
    host_failure_limit: int = DEFAULT_HOST_FAILURE_LIMIT  # 0: never give up on a host
    retry_statuses: tuple[str, ...] = ()  # --retry-failed: retry these in finished shards
    show_progress: bool = True

    def validate(self) -> "DownloadConfig":
        if self.samples_per_shard <= 0:
            raise ValueError(f"--samples-per-shard must be positive, got {self.samples_per_shard}")
        if self.threads <= 0:
            raise ValueError(f"--threads must be positive, got {self.threads}")
        if self.decode_processes != "auto":
            _decode_process_count(self.decode_processes)
        if self.host_failure_limit < 0:
            raise ValueError(f"--host-failure-limit must be >= 0, got {self.host_failure_limit}")
        if self.retry_statuses:
            retry.parse_statuses(",".join(self.retry_statuses))
        self.image.validate()
        self.policy.validate()
        return self

    @classmethod
    def from_args(cls, args) -> "DownloadConfig":
        image = ImageOptions(image_size=args.image_size, resize_mode=args.resize_mode,
                             resize_only_if_bigger=args.resize_only_if_bigger, min_image_size=args.min_image_size,
                             max_aspect_ratio=args.max_aspect_ratio, encode_format=args.encode_format,
                             encode_quality=args.encode_quality, max_pixels=args.max_pixels,
                             decode_pixel_budget=args.decode_pixel_budget)
        return cls(inputs=tuple(args.inputs), out=args.out, input_format=args.input_format, url_col=args.url_col,
                   caption_col=args.caption_col, samples_per_shard=args.samples_per_shard, threads=args.threads,
                   decode_processes=args.decode_processes, image=image, policy=FetchPolicy.from_args(args),
                   host_failure_limit=args.host_failure_limit,
                   retry_statuses=retry.parse_statuses(args.retry_failed) if args.retry_failed else ()).validate()


def _decode_process_count(value) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--decode-processes must be auto or a number, got {value!r}") from None
    if count < 0:
        raise ValueError(f"--decode-processes must be >= 0, got {count}")
    return count


def one_process(options) -> bool:
    """The whole run happens in this process (the default DirectRunner, not multi_processing)."""
    from apache_beam.options.pipeline_options import DirectOptions

    from wit_pipeline.core.options import is_local_runner

    return is_local_runner(options) and options.view_as(DirectOptions).direct_running_mode != "multi_processing"


def resolve_decode_processes(value: int | str, options) -> int:
    """`auto`: a pool only when one local process runs everything. Pillow releases the GIL
    while decoding, but the GIL hand-offs between its chunks and the download threads' Python
    left about a third of two cores idle; Beam's multi-process and cluster runners already
    run one worker process per core, where a pool would only oversubscribe."""
    if value == "auto":
        cores = os.cpu_count() or 1
        return cores if one_process(options) and cores > 1 else 0
    return _decode_process_count(value)


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
    parser.add_argument("--retry-failed", nargs="?", const=",".join(retry.DEFAULT_RETRY), default=None,
                        metavar="STATUS,...",
                        help="also retry, in finished shards, the rows with these statuses (default "
                             f"{','.join(retry.DEFAULT_RETRY)}; http_5xx and http_4xx name a class); "
                             "each such shard is rewritten atomically under the same keys")
    FetchPolicy.add_arguments(parser)
    parser.add_argument("--host-failure-limit", type=int, default=DEFAULT_HOST_FAILURE_LIMIT,
                        help="within a shard, stop asking a host after this many failures in a row (timeouts, "
                             "connection errors, 429, 503, HTML instead of an image); its other rows get "
                             f"host_backoff (default {DEFAULT_HOST_FAILURE_LIMIT}; 0: never)")


@dataclasses.dataclass(frozen=True)
class Launch:
    """What the launcher hands the pipeline."""

    inputs: list[plan.InputFile]
    finished: set[int]
    settings: WorkerSettings
    totals_path: str
    commits_finished: int  # interrupted --retry-failed commits rolled forward first
    first_shards: list[int] | None  # each file's first shard id, when all row counts are known (parquet)


def launch(config: DownloadConfig, options) -> Launch:
    """Everything before the pipeline, in work that grows with the number of input files
    (their metadata and heads), never with their rows."""
    out = config.out
    paths = files.expand_inputs(list(config.inputs), "--candidates/--url-list", plan.INPUT_DIRECTORY)
    check_harvest_finished(paths)
    identity = files.file_identity(paths)
    signature = plan.plan_signature(identity, config.samples_per_shard, config.url_col, config.caption_col)
    planned_before = plan.check_plan(out, signature)
    inputs = plan.describe_inputs(identity, config.input_format, config.url_col, config.caption_col)
    if not planned_before:
        plan.record_plan(out, signature)
    commits_finished = retry.recover(out)
    finished = plan.finished_shards(out)
    remove_unfinished(out)
    settings = WorkerSettings(out_dir=out, samples_per_shard=config.samples_per_shard, image=config.image,
                              policy=config.policy, threads=config.threads,
                              decode_processes=resolve_decode_processes(config.decode_processes, options),
                              host_failure_limit=config.host_failure_limit, run_id=uuid.uuid4().hex,
                              one_process=one_process(options), show_progress=config.show_progress,
                              # retried rows would count twice against a total
                              progress=None if config.retry_statuses else _row_progress(
                                  inputs, finished, config.samples_per_shard))
    totals_path = files.join(out, plan.PLAN_DIR, "totals.json")
    files.remove(totals_path)
    known = all(file.rows is not None for file in inputs)
    first_shards = plan.first_shards(inputs, config.samples_per_shard) if known else None
    return Launch(inputs, finished, settings, totals_path, commits_finished, first_shards)


def run(config: DownloadConfig, beam_argv: list[str] | None = None) -> dict:
    """Download what OUT is missing; returns the totals written to OUT/stats.json."""
    import apache_beam as beam

    from wit_pipeline.core.options import make_pipeline, pipeline_options, stop_if_dry_run
    from wit_pipeline.download.pipeline import Download

    options = pipeline_options(beam_argv)
    started = time.monotonic()
    launched = launch(config, options)
    with make_pipeline(options) as pipeline:
        (pipeline
         | "InputFiles" >> beam.Create(launched.inputs, reshuffle=False)
         | "Download" >> Download(launched.settings, launched.finished, launched.totals_path,
                                  config.retry_statuses, launched.first_shards))
    stop_if_dry_run(pipeline.options)
    totals = files.read_json(launched.totals_path)
    elapsed = time.monotonic() - started
    rows_this_run = totals.pop("rows_this_run") + totals.get("retried_rows", 0)
    totals.update(seconds_this_run=round(elapsed, 2),
                  rows_per_second_this_run=round(rows_this_run / elapsed, 2) if elapsed else None)
    if launched.commits_finished:
        totals["retry_commits_finished"] = launched.commits_finished
    warning = summary.warning(totals)
    if warning:
        totals["warning"] = warning
    files.write_json(files.join(config.out, "stats.json"), totals)
    return totals


def _row_progress(inputs: list[plan.InputFile], finished: set[int],
                  samples_per_shard: int) -> tuple[int, int] | None:
    """(input rows, rows in finished shards) when the inputs tell without counting (all
    parquet): shard ids follow input order, so the finished ids say which rows they hold."""
    if any(file.rows is None for file in inputs):
        return None
    first_shards = plan.first_shards(inputs, samples_per_shard)
    shards = first_shards[-1] + -(-inputs[-1].rows // samples_per_shard) if inputs else 0
    done = 0
    for shard_id in finished:
        if shard_id < shards:
            index = bisect.bisect_right(first_shards, shard_id) - 1
            piece = shard_id - first_shards[index]
            done += min(samples_per_shard, inputs[index].rows - piece * samples_per_shard)
    return sum(file.rows for file in inputs), done


def main(args, beam_argv) -> int:
    config = DownloadConfig.from_args(args)
    files.lock_out(config.out, "download")
    totals = run(config, beam_argv)
    # run already wrote OUT/stats.json with these numbers.
    print(console.format_summary("wit download", totals))
    return 0
