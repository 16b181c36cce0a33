"""`wit download`: url lists or harvest candidates -> WebDataset shards (SPEC command 3).

flags -> DownloadConfig (frozen, checked once) -> run: the launcher plans input rows into
shard pieces (plan.py), then the pipeline (pipeline.py) downloads the pending shards.
Each shard is written by one DoFn call and becomes visible only complete, so a re-run
on the same OUT skips finished shards and redoes the rest with the same keys.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
import uuid

from shards.writer import remove_unfinished, shard_complete, write_totals
from wit_pipeline.core import console, files
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download.images import ImageOptions
from wit_pipeline.download.plan import INPUT_DIRECTORY, plan_shards
from wit_pipeline.harvest.schema import check_harvest_finished


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
    show_progress: bool = True

    def validate(self) -> "DownloadConfig":
        if self.samples_per_shard <= 0:
            raise ValueError(f"--samples-per-shard must be positive, got {self.samples_per_shard}")
        if self.threads <= 0:
            raise ValueError(f"--threads must be positive, got {self.threads}")
        if self.decode_processes != "auto":
            _decode_process_count(self.decode_processes)
        self.image.validate()
        self.policy.validate()
        return self

    @classmethod
    def from_args(cls, args) -> "DownloadConfig":
        image = ImageOptions(image_size=args.image_size, resize_mode=args.resize_mode,
                             resize_only_if_bigger=args.resize_only_if_bigger, min_image_size=args.min_image_size,
                             max_aspect_ratio=args.max_aspect_ratio, encode_format=args.encode_format,
                             encode_quality=args.encode_quality, max_pixels=args.max_pixels)
        return cls(inputs=tuple(args.inputs), out=args.out, input_format=args.input_format, url_col=args.url_col,
                   caption_col=args.caption_col, samples_per_shard=args.samples_per_shard, threads=args.threads,
                   decode_processes=args.decode_processes, image=image,
                   policy=FetchPolicy.from_args(args)).validate()


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
    parser.add_argument("--threads", type=int, default=64, help="concurrent downloads per worker (default 64)")
    parser.add_argument("--decode-processes", default="auto",
                        help="processes per worker that decode and resize images: auto (one per core when the "
                             "whole run is this one process, else 0 = in the download threads) or a number")
    FetchPolicy.add_arguments(parser)


def run(config: DownloadConfig, beam_argv: list[str] | None = None) -> dict:
    """Download what OUT is missing; returns the totals written to OUT/stats.json."""
    import apache_beam as beam

    from wit_pipeline.core.options import make_pipeline, pipeline_options, stop_if_dry_run
    from wit_pipeline.download.pipeline import DownloadShards, WorkerSettings

    options = pipeline_options(beam_argv)
    out = config.out
    paths = files.expand_inputs(list(config.inputs), "--candidates/--url-list", INPUT_DIRECTORY)
    check_harvest_finished(paths)
    started = time.monotonic()
    specs = plan_shards(paths, out, config.samples_per_shard, config.input_format, config.url_col,
                        config.caption_col)
    pending = [spec for spec in specs if not shard_complete(out, spec.shard_id)]
    remove_unfinished(out)
    total_rows = sum(spec.rows for spec in pending)
    if pending:
        settings = WorkerSettings(out_dir=out, samples_per_shard=config.samples_per_shard, image=config.image,
                                  policy=config.policy, threads=config.threads,
                                  decode_processes=resolve_decode_processes(config.decode_processes, options),
                                  run_id=uuid.uuid4().hex, one_process=one_process(options),
                                  show_progress=config.show_progress, progress_total=total_rows)
        with make_pipeline(options) as pipeline:
            (pipeline
             | "PendingShards" >> beam.Create(pending, reshuffle=False)
             | "Download" >> DownloadShards(settings))
        stop_if_dry_run(pipeline.options)
    elapsed = time.monotonic() - started
    extra = {"input_rows": sum(spec.rows for spec in specs),
             "shards_planned": len(specs), "shards_resumed": len(specs) - len(pending),
             "seconds_this_run": round(elapsed, 2),
             "rows_per_second_this_run": round(total_rows / elapsed, 2) if elapsed else None}
    totals = write_totals(out, extra)
    warning = private_address_warning(totals)
    if warning:
        totals = write_totals(out, {**extra, "warning": warning})
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
    config = DownloadConfig.from_args(args)
    files.lock_out(config.out, "download")
    totals = run(config, beam_argv)
    # run already wrote OUT/stats.json with these numbers.
    print(console.format_summary("wit download", totals))
    return 0
