"""Check shards against their parquet: counts, keys, decodable images, no duplicates."""
from __future__ import annotations

import dataclasses
import io

from PIL import Image

from shards import layout
from shards.reader import find_shards, iter_members
from shards.schema import METADATA_COLUMNS, SUCCESS
from wit_pipeline.core import files


@dataclasses.dataclass
class VerifyReport:
    shards: int = 0
    rows: int = 0
    samples: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def verify_shard(tar_path: str, report: VerifyReport, seen_keys: set[str]) -> None:
    parquet_path = layout.sibling(tar_path, ".parquet")
    if not files.exists(parquet_path):
        report.errors.append(f"{tar_path}: missing {parquet_path}")
        return
    table = files.read_parquet(parquet_path)
    missing_columns = [c for c in METADATA_COLUMNS if c not in table.column_names]
    if missing_columns:
        report.errors.append(f"{parquet_path}: missing columns {missing_columns}")
        return
    keys = table.column("key").to_pylist()
    statuses = table.column("status").to_pylist()
    report.rows += len(keys)
    if len(set(keys)) != len(keys):
        report.errors.append(f"{parquet_path}: duplicate keys in parquet")
    expected = {k for k, s in zip(keys, statuses) if s == SUCCESS}
    found: set[str] = set()
    try:
        for key, parts in iter_members(tar_path):
            report.samples += 1
            if key in found or key in seen_keys:
                report.errors.append(f"{tar_path}: key {key} appears more than once")
            found.add(key)
            image_ext = next((ext for ext in layout.IMAGE_EXTENSIONS if ext in parts), None)
            if image_ext is None or "txt" not in parts or "json" not in parts:
                report.errors.append(f"{tar_path}: sample {key} lacks image/txt/json ({sorted(parts)})")
                continue
            try:
                with Image.open(io.BytesIO(parts[image_ext])) as img:
                    img.load()
            except Exception as exc:  # any decoder failure is a verification error
                report.errors.append(f"{tar_path}: sample {key} image does not decode: {exc}")
    except Exception as exc:
        report.errors.append(f"{tar_path}: unreadable tar: {exc}")
        return
    seen_keys.update(found)
    if found != expected:
        only_tar = sorted(found - expected)[:5]
        only_parquet = sorted(expected - found)[:5]
        report.errors.append(
            f"{tar_path}: {len(found)} samples in tar vs {len(expected)} successes in parquet"
            f" (only in tar: {only_tar}, only in parquet: {only_parquet})")
    if not files.exists(layout.sibling(tar_path, "_stats.json")):
        report.errors.append(f"{tar_path}: missing {layout.sibling(tar_path, '_stats.json')}")


def verify_shards(patterns) -> VerifyReport:
    report = VerifyReport()
    seen: set[str] = set()
    for tar_path in find_shards(patterns, flag="verify"):
        report.shards += 1
        verify_shard(tar_path, report, seen)
    return report
