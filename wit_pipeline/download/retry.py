"""`wit download --retry-failed [STATUS,...]`: try again, in finished shards, the rows whose
failure may pass (by default timeout, connection_error, http_429, http_5xx, host_backoff).

A shard with such rows is rewritten whole under `OUT/_retry/` — its earlier samples
copied from its tar, the retried rows downloaded again under their own keys — and then
committed: a journal `OUT/_retry/NNNNN.commit` is written, the new parquet, tar and stats
are renamed over the old ones, and the journal is removed. A run killed before the
journal leaves the old shard (its unfinished files are removed by the next run); one
killed after it is rolled forward by the next `wit download` on OUT, which finishes every
journaled commit before anything else. So each shard is the old one or the new one.
Shards without such rows are not touched.
"""
from __future__ import annotations

import re
from typing import Callable

from shards import layout
from shards.reader import iter_members
from shards.schema import SUCCESS
from shards.writer import remove_unfinished
from wit_pipeline.core import files
from wit_pipeline.download.worker import KeyOrderedWriter, ShardWorker

RETRY_DIR = "_retry"
DEFAULT_RETRY = ("timeout", "connection_error", "http_429", "http_5xx", "host_backoff")
FAILURE_STATUSES = (
    "timeout", "connection_error", "dns_error", "truncated", "content_encoding_error", "too_large",
    "too_many_redirects", "redirect_loop", "robots_disallowed", "x_robots_tag", "private_address", "invalid_url",
    "invalid_caption", "invalid_row", "fetch_error", "host_backoff", "not_an_image", "decode_error",
    "decompression_bomb", "image_too_small", "aspect_ratio_too_large", "processing_error")
_HTTP = re.compile(r"http_(\d\d\d|[45]xx)\Z")


def parse_statuses(value: str) -> tuple[str, ...]:
    """`timeout,http_5xx,...` -> the statuses to retry; a clear error for anything else."""
    statuses = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not statuses:
        raise ValueError("--retry-failed needs at least one status")
    for name in statuses:
        if name not in FAILURE_STATUSES and not _HTTP.match(name):
            raise ValueError(f"--retry-failed: {name!r} is not a failure status (http_NNN, http_4xx, http_5xx, "
                             f"{', '.join(FAILURE_STATUSES)})")
    return statuses


def matches(status: str, statuses: tuple[str, ...]) -> bool:
    if status in statuses:
        return True
    return status.startswith("http_") and f"http_{status[5:6]}xx" in statuses


def retry_shard(worker: ShardWorker, shard_id: int, statuses: tuple[str, ...],
                on_row: Callable[[str], None]) -> dict | None:
    """Retry the matching rows of a finished shard and commit the rewritten shard; None (and
    nothing written) when it has no such rows. Returns the new stats, with `retried_rows`."""
    settings = worker.settings
    out = settings.out_dir
    rows = files.read_parquet(files.join(out, layout.parquet_name(shard_id))).to_pylist()
    retried = [row for row in rows if matches(row["status"], statuses)]
    if not retried:
        return None
    by_key = {row["key"]: row for row in rows}
    ext = settings.image.encode_format
    with KeyOrderedWriter(files.join(out, RETRY_DIR), shard_id, image_ext=ext) as writer:
        for key, parts in iter_members(files.join(out, layout.tar_name(shard_id))):
            if ext not in parts:
                found = next((e for e in layout.IMAGE_EXTENSIONS if e in parts), "none")
                raise ValueError(f"shard {layout.shard_name(shard_id)} holds .{found} images; retry it with "
                                 f"--encode-format {found}, as it was written")
            writer.add(by_key[key], parts[ext])
        for row in rows:
            if row["status"] != SUCCESS and not matches(row["status"], statuses):
                writer.add(row, None)
        worker.fill(writer, shard_id, retried, on_row)
    commit(out, shard_id)
    return {**writer.stats(), "retried_rows": len(retried)}


def _journal(out: str, shard_id: int) -> str:
    return files.join(out, RETRY_DIR, f"{layout.shard_name(shard_id)}.commit")


def commit(out: str, shard_id: int) -> None:
    """Replace shard `shard_id` in OUT by the complete one under OUT/_retry."""
    files.write_json(_journal(out, shard_id), {"shard_id": shard_id})
    _roll_forward(out, shard_id)


def _roll_forward(out: str, shard_id: int) -> None:
    # The stats file goes last, as when a shard is first written.
    for name in (layout.parquet_name(shard_id), layout.tar_name(shard_id), layout.stats_name(shard_id)):
        staged = files.join(out, RETRY_DIR, name)
        if files.exists(staged):  # gone: moved before the run that staged it was killed
            files.rename(staged, files.join(out, name))
    files.remove(_journal(out, shard_id))


def recover(out: str) -> int:
    """Finish the commits a killed retry journaled and drop what it had not; returns how many
    shards were rolled forward."""
    retry_dir = files.join(out, RETRY_DIR)
    staged = files.match(files.join(retry_dir, "*"))
    journaled = {int(path.rpartition("/")[2][: -len(".commit")]) for path in staged if path.endswith(".commit")}
    for shard_id in sorted(journaled):
        _roll_forward(out, shard_id)
    files.remove_all([path for path in staged
                      if not path.endswith(".commit") and _shard_of(path) not in journaled])
    remove_unfinished(retry_dir)
    return len(journaled)


def _shard_of(path: str) -> int | None:
    digits = re.match(r"\d+", path.rpartition("/")[2])
    return int(digits.group()) if digits else None
