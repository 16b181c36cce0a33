"""Re-sharding what `wit dedup` keeps, and resuming it after an interruption.

Kept samples keep their keys and their order (input shard order, then key order); each
output shard holds `--samples-per-shard` of them. An input shard's kept keys are its
feature table's keys minus its own removal file (`dedup.removals`); their counts' prefix
sums (`offsets`) give each output shard its range of ranks, so the writer of output
shard j finds the input shards it copies from by itself, reads just their keys, removal
files and tars, and no key or image passes through a shuffle.

Resuming: `OUT/shards/_dedup.json` (the plan) is written before the first output shard:
a hash of the command (inputs and every flag that shapes the output) and the digest of
the removal files (from their summary). A re-run finding its own plan keeps the output
shards that are complete (`NNNNN_stats.json` is written last) when both hashes match,
and otherwise deletes its earlier output and writes it again; a plan with `finished`
marks a completed re-shard, which a run of other inputs or settings refuses to overwrite.
"""
from __future__ import annotations

import bisect
import hashlib
import json

from dedup import removals
from dedup.store import load_keys, shard_embedding_path
from shards.layout import SHARD_NAME_RE, stats_name
from wit_pipeline.core import files

PLAN_NAME = "_dedup.json"


def kept_keys(shard_index: int, tar: str, tag: str, audit_dir: str) -> list[str]:
    removed = removals.removed_keys(audit_dir, shard_index)
    return sorted(key for key in load_keys(shard_embedding_path(tar, tag)) if key not in removed)


def offsets(counts: list[tuple[int, int]]) -> list[int]:
    """Prefix sums of kept counts in input shard order: [rank of each input shard's first
    kept sample, ..., total kept]."""
    result = [0]
    for _, count in sorted(counts):
        result.append(result[-1] + count)
    return result


def output_shard_ids(starts: list[int], samples_per_shard: int) -> range:
    return range(-(-starts[-1] // samples_per_shard))


def output_members(shard_id: int, starts: list[int], shards: list[str], tag: str, audit_dir: str,
                   samples_per_shard: int) -> list[tuple[str, str]]:
    """(input tar, key) of the samples of output shard `shard_id`, in rank order."""
    first, end = shard_id * samples_per_shard, min((shard_id + 1) * samples_per_shard, starts[-1])
    members = []
    index = bisect.bisect_right(starts, first) - 1
    while index < len(shards) and starts[index] < end:
        if starts[index + 1] > first:
            keys = kept_keys(index, shards[index], tag, audit_dir)
            members += [(shards[index], key) for key in keys[max(0, first - starts[index]):end - starts[index]]]
        index += 1
    return members


def write_output_shard(shard_id: int, members: list[tuple[str, str]], out_dir: str) -> dict:
    """Writes `out_dir/NNNNN.tar` (+ parquet, stats) from the input tars; returns its stats.
    A shard an interrupted run with the same plan completed is kept as it is."""
    from shards.reader import ReadProblem, read_samples
    from shards.writer import ShardWriter

    done = files.join(out_dir, stats_name(shard_id))
    if files.exists(done):
        return files.read_json(done)
    wanted_by_tar: dict[str, set[str]] = {}
    for tar, key in members:
        wanted_by_tar.setdefault(tar, set()).add(key)
    samples = {}
    for tar, wanted in wanted_by_tar.items():
        for sample in read_samples(tar):  # kept keys were all readable; problems are known already
            if not isinstance(sample, ReadProblem) and sample.key in wanted:
                samples[sample.key] = sample
    first = samples[members[0][1]]
    with ShardWriter(out_dir, shard_id, image_ext=first.image_ext) as writer:
        for _, key in members:
            sample = samples[key]
            row = dict(sample.meta) if sample.meta else {}
            row.setdefault("caption", sample.text)
            row["key"], row["status"] = key, row.get("status") or "success"
            writer.add(row, sample.image)
    return writer.stats()


def _shard_files(shards_out: str) -> list[str]:
    """Everything a re-shard writes into shards_out, finished or not (the plan aside)."""
    found = files.match(files.join(shards_out, ".tmp-*"))  # "*" skips dot files on local disks
    for path in files.match(files.join(shards_out, "*")):
        name = path.rsplit("/", 1)[-1]
        if name == "stats.json" or SHARD_NAME_RE.match(name) or _is_shard_side_file(name):
            found.append(path)
    return sorted(found)


def _is_shard_side_file(name: str) -> bool:
    for suffix in (".parquet", "_stats.json"):
        if name.endswith(suffix) and SHARD_NAME_RE.match(name[: -len(suffix)] + ".tar"):
            return True
    return False


def command_key(shaping: dict) -> str:
    """Hash of what shapes the output shards besides input content: inputs and flags."""
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def check_output(shards_out: str, command: str) -> None:
    """Before the long work: OUT/shards must be empty, or hold this command's own output
    (finished or not), or the unfinished output of an earlier dedup (redone later)."""
    plan_path = files.join(shards_out, PLAN_NAME)
    if not files.exists(plan_path):
        if _shard_files(shards_out):
            raise ValueError(f"{shards_out} already holds shards that no wit dedup plan ({PLAN_NAME}) "
                             "accounts for; use an empty --out")
        return
    plan = files.read_json(plan_path)
    if plan.get("finished") and plan.get("command") != command:
        raise ValueError(f"{shards_out} already holds shards of a finished wit dedup with other inputs or "
                         "settings; use a new --out")


def start_reshard(shards_out: str, plan: dict) -> int:
    """Clears what an earlier run left that this plan cannot reuse, then records the plan.

    Same plan: only unfinished pieces go (temporary files, the totals, tars and parquets
    without their `NNNNN_stats.json`); complete shards stay. Another plan: everything
    goes. Returns how many files were deleted.
    """
    plan_path = files.join(shards_out, PLAN_NAME)
    earlier = files.read_json(plan_path) if files.exists(plan_path) else None
    same = earlier is not None and {k: earlier.get(k) for k in plan} == {k: plan[k] for k in plan}
    stale = _shard_files(shards_out)
    if same:
        complete = {path[: -len("_stats.json")] for path in stale if path.endswith("_stats.json")}
        stale = [path for path in stale if path.rsplit(".", 1)[0] not in complete
                 and not path.endswith("_stats.json")]
    if stale:
        files.remove_all(stale)
        print(f"reshard: removed {len(stale)} file(s) an interrupted or different earlier run left in "
              f"{shards_out}", flush=True)
    files.makedirs(shards_out)
    files.write_json(plan_path, {**plan, "finished": False})
    return len(stale)


def finish_reshard(shards_out: str, plan: dict) -> None:
    files.write_json(files.join(shards_out, PLAN_NAME), {**plan, "finished": True})
