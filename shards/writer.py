"""WebDataset shard writer: `KEY.<ext>`, `KEY.txt`, `KEY.json` in a tar, plus the
per-shard parquet (every input row, failures included) and `_stats.json`.

Each file is written under a temporary name and renamed when complete; the stats file
goes last, so its presence marks a finished shard and a resumed run can skip it.
"""
from __future__ import annotations

import collections
import contextlib
import io
import json
import tarfile

from shards import layout
from shards.schema import SUCCESS, rows_to_table
from wit_pipeline.core import files


def _tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # fixed, so identical inputs give byte-identical shards
    return info, io.BytesIO(data)


class ShardWriter:
    def __init__(self, out_dir: str, shard_id: int, image_ext: str = "jpg"):
        self.out_dir = out_dir
        self.shard_id = shard_id
        self.image_ext = image_ext
        self.rows: list[dict] = []
        self._keys: set[str] = set()
        self._stack = contextlib.ExitStack()
        files.makedirs(out_dir)
        raw = self._stack.enter_context(files.atomic_writer(files.join(out_dir, layout.tar_name(shard_id))))
        # Stream mode: samples go straight to the (possibly remote) file, never held in memory.
        self._tar = tarfile.open(fileobj=raw, mode="w|", format=tarfile.USTAR_FORMAT)
        self._closed = False

    def add(self, row: dict, image: bytes | None) -> None:
        key = row.get("key")
        if not key:
            raise ValueError("every shard row needs a 'key'")
        if key in self._keys:
            raise ValueError(f"duplicate key {key} in shard {self.shard_id}")
        if row.get("status") is None:
            raise ValueError(f"row {key} has no status")
        self._keys.add(key)
        self.rows.append(row)
        if row["status"] != SUCCESS:
            return
        if image is None:
            raise ValueError(f"successful row {key} has no image bytes")
        caption = row.get("caption") or ""
        for name, data in ((f"{key}.{self.image_ext}", image),
                           (f"{key}.txt", caption.encode("utf-8")),
                           (f"{key}.json", json.dumps(row, sort_keys=True, default=str).encode("utf-8"))):
            self._tar.addfile(*_tar_member(name, data))

    def stats(self) -> dict:
        by_status = collections.Counter(row["status"] for row in self.rows)
        return {
            "shard_id": self.shard_id,
            "count": len(self.rows),
            "successes": by_status.get(SUCCESS, 0),
            "failed": len(self.rows) - by_status.get(SUCCESS, 0),
            "status": dict(sorted(by_status.items())),
        }

    def close(self) -> dict:
        if self._closed:
            return self.stats()
        self._closed = True
        self._tar.close()
        self._stack.close()
        files.write_parquet(files.join(self.out_dir, layout.parquet_name(self.shard_id)), rows_to_table(self.rows))
        stats = self.stats()
        files.write_json(files.join(self.out_dir, layout.stats_name(self.shard_id)), stats)
        return stats

    def abort(self) -> None:
        """Drop the partial shard: nothing of it becomes visible."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._tar.close()
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def shard_complete(out_dir: str, shard_id: int) -> bool:
    return files.exists(files.join(out_dir, layout.stats_name(shard_id)))


def sum_stats(shard_stats) -> dict:
    """The totals of `stats.json` from per-shard stats (`ShardWriter.stats()` dicts)."""
    totals = {"shards": 0, "count": 0, "successes": 0, "failed": 0, "status": collections.Counter()}
    for shard in shard_stats:
        totals["shards"] += 1
        for name in ("count", "successes", "failed"):
            totals[name] += shard[name]
        totals["status"].update(shard["status"])
    totals["status"] = dict(sorted(totals["status"].items()))
    return totals


def write_totals(out_dir: str, extra: dict | None = None) -> dict:
    """Sum every `NNNNN_stats.json` in out_dir into `out_dir/stats.json`."""
    totals = sum_stats(files.read_json(path) for path in files.match(files.join(out_dir, "*_stats.json")))
    totals.update(extra or {})
    files.write_json(files.join(out_dir, "stats.json"), totals)
    return totals


def remove_unfinished(out_dir: str) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    stale = files.match(files.join(out_dir, ".tmp-*"))
    files.remove_all(stale)
    return len(stale)
