"""`wit dedup`: remove duplicates inside the set and every sample overlapping an eval set.

Detection is `wit audit`'s (see `dedup.audit`), plus `FindDuplicates` inside the
set; then `WriteFilteredShards` re-shards what is kept into `OUT/shards/`, original keys
and metadata rows carried over. `OUT/audit/` holds the audit of the input (report,
overlap and nearest parquet per eval set) and `removed.parquet`: every removed key with
its reason.

Removal reasons, one per key, the first that applies:
`unreadable` > `undecodable` > `eval_overlap` > `exact_duplicate` > `near_duplicate_phash` >
`near_duplicate_embedding`. `unreadable`: the sample could not be read from its damaged
shard (see `shards.reader.read_samples`); the run goes on with everything else.

Resuming: `OUT/shards/_dedup.json` (the plan) is written before the first output shard:
a hash of the command (inputs and every flag that shapes the output) and of
`removed.parquet`. A re-run finding its own plan keeps the output shards that are
complete (`NNNNN_stats.json` is written last) when both hashes match, and otherwise
deletes its earlier output and writes it again; a plan with `finished` marks a completed
re-shard, which a run of other inputs or settings refuses to overwrite.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa

from dedup import clusters, phash as phash_lib, search
from dedup.store import FeatureTable, shard_embedding_path
from shards.layout import SHARD_NAME_RE
from dedup import audit
from wit_pipeline.core import files
from wit_pipeline.core.options import make_pipeline, pipeline_options

REASON_ORDER = ("unreadable", "undecodable", "eval_overlap") + clusters.REASONS
DEFAULT_SAMPLES_PER_SHARD = 10_000
PLAN_NAME = "_dedup.json"


# ---------------------------------------------------------------- duplicates inside the set

def _sha_entries(block):
    tar, table = block
    for key, sha, pixels, ok in zip(table.keys, table.sha256, table.pixels, table.ok):
        if ok:
            yield str(sha), (str(key), tar, int(pixels))


def _exact_edges(item):
    _, members = item
    members = sorted(members)
    first = members[0]
    for other in members[1:]:
        yield clusters.Edge(first[0], other[0], "exact_duplicate", 0.0), first, other


def _band_entries(block, layout):
    tar, table = block
    for key, value, pixels, ok in zip(table.keys, table.phash, table.pixels, table.ok):
        if ok:
            # Hex, not int: Beam's integer coder is signed 64-bit.
            for band in phash_lib.band_values(int(value), layout):
                yield band, (str(key), phash_lib.to_hex(int(value)), tar, int(pixels))


def _phash_edges(item, max_distance):
    _, members = item
    info = {m[0]: (m[0], m[2], m[3]) for m in members}
    edges = phash_lib.near_edges_in_bucket([(m[0], phash_lib.parse_hex(m[1])) for m in members], max_distance)
    for a, b, distance in edges:
        yield clusters.Edge(a, b, "near_duplicate_phash", float(distance)), info[a], info[b]


def _embedding_edges(pair, tag, threshold, device):
    tar_a, tar_b = pair
    a = FeatureTable.load(shard_embedding_path(tar_a, tag))
    a = a.select(a.ok)
    b = a if tar_b == tar_a else FeatureTable.load(shard_embedding_path(tar_b, tag))
    b = b.select(b.ok)
    import torch

    from dedup.embed import resolve_device

    hits = search.pairs_above(torch.from_numpy(a.embeddings.astype(np.float32)),
                              torch.from_numpy(b.embeddings.astype(np.float32)),
                              threshold, resolve_device(device), upper_only=tar_a == tar_b)
    for i, j, sim in hits:
        yield (clusters.Edge(str(a.keys[i]), str(b.keys[j]), "near_duplicate_embedding", float(sim)),
               (str(a.keys[i]), tar_a, int(a.pixels[i])), (str(b.keys[j]), tar_b, int(b.pixels[j])))


def _resolve(edges):
    """Edges with node info -> (key, (reason, shard, detail)) for every non-survivor."""
    info = {}
    plain = []
    for edge, node_a, node_b in edges:
        plain.append(edge)
        info[node_a[0]] = node_a
        info[node_b[0]] = node_b
    pixels = {key: node[2] for key, node in info.items()}
    for removal in clusters.resolve(plain, pixels):
        yield removal.key, (removal.reason, info[removal.key][1], removal.duplicate_of)


class FindDuplicates(beam.PTransform):
    """Shard feature tables -> (key, (reason, shard, survivor key)) for each duplicate removed.

    sha256 groups and pHash LSH buckets are GroupByKeys; the (few) edges they produce are
    gathered in one place to form clusters transitively. The optional embedding pass
    compares every pair of shards (quadratic in shards; exact).
    """

    def __init__(self, phash_distance: int, within_similarity: float | None = None, shards=(), tag="",
                 device="cpu"):
        super().__init__()
        self._phash_distance = phash_distance
        self._within_similarity = within_similarity
        self._shards = list(shards)
        self._tag = tag
        self._device = device

    def expand(self, blocks):
        layout = phash_lib.band_layout(self._phash_distance)
        exact = (blocks | "sha256" >> beam.FlatMap(_sha_entries)
                 | "Group sha256" >> beam.GroupByKey()
                 | "Exact edges" >> beam.FlatMap(_exact_edges))
        near = (blocks | "pHash bands" >> beam.FlatMap(_band_entries, layout=layout)
                | "Group bands" >> beam.GroupByKey()
                | "pHash edges" >> beam.FlatMap(_phash_edges, max_distance=self._phash_distance))
        edges = [exact, near]
        if self._within_similarity is not None:
            pairs = list(itertools.combinations_with_replacement(self._shards, 2))
            edges.append(blocks.pipeline | "Shard pairs" >> beam.Create(pairs)
                         | "Embedding edges" >> beam.FlatMap(_embedding_edges, tag=self._tag,
                                                             threshold=self._within_similarity,
                                                             device=self._device))
        return (edges | "All edges" >> beam.Flatten()
                | "Gather edges" >> beam.combiners.ToList()
                | "Clusters" >> beam.FlatMap(_resolve))


# ---------------------------------------------------------------- removal list

def _overlap_removals(item):
    name, matches = item
    for eval_id, key, tar, similarity, distance in matches:
        yield key, ("eval_overlap", tar, f"{name}:{eval_id}")


def _undecodable_removals(block):
    tar, table = block
    for key, error in zip(table.keys[~table.ok], table.errors[~table.ok]):
        yield str(key), ("undecodable", tar, str(error))


def _unreadable_removals(block):
    tar, table = block
    for key, error in zip(table.unreadable_keys.tolist(), table.unreadable_errors.tolist()):
        if key:  # "" is the tar itself (where reading stopped): no sample to name
            yield key, ("unreadable", tar, error)


def _first_reason(candidates):
    return min(candidates, key=lambda c: (REASON_ORDER.index(c[0]), c[2]))


def removed_table(rows) -> pa.Table:
    rows = sorted(rows)
    return pa.table({
        "key": pa.array([r[0] for r in rows], pa.string()),
        "shard": pa.array([r[1][1] for r in rows], pa.string()),
        "reason": pa.array([r[1][0] for r in rows], pa.string()),
        "detail": pa.array([r[1][2] for r in rows], pa.string()),
    })


# ---------------------------------------------------------------- re-sharding

def _kept_keys(item):
    tar, grouped = item
    table_keys = grouped["keys"]
    removed = set(grouped["removed"])
    keys = sorted(k for k in (table_keys[0] if table_keys else []) if k not in removed)
    return tar, keys


def _offsets(counts):
    """Prefix sums of kept counts in shard order: the global rank of each shard's first kept sample."""
    offsets, total = {}, 0
    for tar, count in sorted(counts):
        offsets[tar] = total
        total += count
    return offsets


def _assign(item, offsets, samples_per_shard):
    tar, keys = item
    start = offsets[tar]
    for i, key in enumerate(keys):
        rank = start + i
        yield rank // samples_per_shard, (rank, tar, key)


def _write_shard(item, out_dir):
    from shards.reader import ReadProblem, read_samples
    from shards.writer import ShardWriter, shard_complete

    shard_id, members = item
    if shard_complete(out_dir, shard_id):  # finished by an interrupted run with the same plan
        return shard_id, len(members)
    members = sorted(members)
    wanted_by_tar: dict[str, set[str]] = {}
    for _, tar, key in members:
        wanted_by_tar.setdefault(tar, set()).add(key)
    samples = {}
    for tar, wanted in wanted_by_tar.items():
        for sample in read_samples(tar):  # kept keys were all readable; problems are known already
            if not isinstance(sample, ReadProblem) and sample.key in wanted:
                samples[sample.key] = sample
    first = samples[members[0][2]]
    with ShardWriter(out_dir, shard_id, image_ext=first.image_ext) as writer:
        for _, tar, key in members:
            sample = samples[key]
            row = dict(sample.meta) if sample.meta else {}
            row.setdefault("caption", sample.text)
            row["key"], row["status"] = key, row.get("status") or "success"
            writer.add(row, sample.image)
    return shard_id, len(members)


class WriteFilteredShards(beam.PTransform):
    """(tar, all keys) and (tar, removed key) -> `out_dir/NNNNN.tar` of the kept samples.

    Kept samples keep their keys and their order (shard order, then key order); each output
    shard holds `samples_per_shard` of them. Writers re-read the input tars they need,
    so images never pass through a shuffle.
    """

    def __init__(self, out_dir: str, samples_per_shard: int):
        super().__init__()
        self._out_dir = out_dir
        self._samples_per_shard = samples_per_shard

    def expand(self, inputs):
        all_keys, removed = inputs
        kept = ({"keys": all_keys, "removed": removed} | "Join" >> beam.CoGroupByKey()
                | "Kept keys" >> beam.Map(_kept_keys))
        offsets = (kept | "Counts" >> beam.MapTuple(lambda tar, keys: (tar, len(keys)))
                   | "All counts" >> beam.combiners.ToList()
                   | "Offsets" >> beam.Map(_offsets))
        return (kept | "Assign" >> beam.FlatMap(_assign, offsets=beam.pvalue.AsSingleton(offsets),
                                                samples_per_shard=self._samples_per_shard)
                | "Group by output shard" >> beam.GroupByKey()
                | "Write shards" >> beam.Map(_write_shard, out_dir=self._out_dir))


# ---------------------------------------------------------------- resuming

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


def command_key(args, config, shards: list[str]) -> str:
    """Hash of what shapes the output shards besides input content: inputs and flags."""
    shaping = {"shards": shards, "eval": sorted(args.eval), "embeddings": config.embeddings,
               "clip_model": config.clip_model, "clip_pretrained": config.clip_pretrained,
               "similarity": config.similarity, "phash_distance": config.phash_distance,
               "within_similarity": args.within_similarity, "samples_per_shard": args.samples_per_shard}
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


def _removed_digest(audit_dir: str) -> str:
    return hashlib.sha256(files.read_bytes(files.join(audit_dir, "removed.parquet"))).hexdigest()


def start_reshard(shards_out: str, plan: dict) -> int:
    """Clears what an earlier run left that this plan cannot reuse, then records the plan.

    Same plan: only unfinished pieces go (temporary files, the totals, tars and parquets
    without their `NNNNN_stats.json`); complete shards stay. Another plan: everything
    goes. Returns how many files were deleted.
    """
    from apache_beam.io.filesystems import FileSystems

    plan_path = files.join(shards_out, PLAN_NAME)
    earlier = files.read_json(plan_path) if files.exists(plan_path) else None
    same = earlier is not None and {k: earlier.get(k) for k in plan} == {k: plan[k] for k in plan}
    stale = _shard_files(shards_out)
    if same:
        complete = {path[: -len("_stats.json")] for path in stale if path.endswith("_stats.json")}
        stale = [path for path in stale if path.rsplit(".", 1)[0] not in complete
                 and not path.endswith("_stats.json")]
    if stale:
        FileSystems.delete(stale)
        print(f"reshard: removed {len(stale)} file(s) an interrupted or different earlier run left in "
              f"{shards_out}", flush=True)
    files.makedirs(shards_out)
    files.write_json(plan_path, {**plan, "finished": False})
    return len(stale)


# ---------------------------------------------------------------- driver

def run_dedup(prep, audit_dir, beam_argv, phash_distance, within_similarity):
    """Phase 2 of dedup: the audit plus duplicates, writing `removed.parquet`."""
    tag = prep.tag

    def extra(blocks, detected):
        duplicates = blocks | "Duplicates" >> FindDuplicates(phash_distance, within_similarity, prep.shards, tag,
                                                             prep.config.device)
        undecodable = blocks | "Undecodable" >> beam.FlatMap(_undecodable_removals)
        unreadable = blocks | "Unreadable keys" >> beam.FlatMap(_unreadable_removals)
        overlapping = detected["matches"] | "Overlapping keys" >> beam.FlatMap(_overlap_removals)
        ((duplicates, overlapping, undecodable, unreadable) | "All removals" >> beam.Flatten()
         | "One reason per key" >> beam.CombinePerKey(_first_reason)
         | "Gather removals" >> beam.combiners.ToList()
         | "Write removed" >> beam.Map(lambda rows: files.write_parquet(
             files.join(audit_dir, "removed.parquet"), removed_table(rows))))

    audit.run_detection(prep, audit_dir, beam_argv, extra=extra)


def run_reshard(prep, audit_dir, shards_out, samples_per_shard, beam_argv, command: str) -> dict:
    started = time.time()
    plan = {"command": command, "removed_sha256": _removed_digest(audit_dir)}
    start_reshard(shards_out, plan)
    removed_path = files.join(audit_dir, "removed.parquet")
    with make_pipeline(pipeline_options(beam_argv)) as p:
        all_keys = (p | "Shards" >> beam.Create(prep.shards)
                    | "Keys" >> beam.Map(lambda tar: (tar, [str(k) for k in FeatureTable.load(
                        shard_embedding_path(tar, prep.tag)).keys])))
        removed = (p | "Removed file" >> beam.Create([removed_path])
                   | "Removed rows" >> beam.FlatMap(lambda path: (
                       (row["shard"], row["key"]) for row in files.read_parquet(path).to_pylist())))
        (all_keys, removed) | "Filter" >> WriteFilteredShards(shards_out, samples_per_shard)
    from shards.writer import write_totals

    totals = write_totals(shards_out)
    files.write_json(files.join(shards_out, PLAN_NAME), {**plan, "finished": True})
    print(f"reshard: {totals['successes']:,} samples in {totals['shards']} shard(s) -> {shards_out} "
          f"({time.time() - started:.1f}s)", flush=True)
    return totals


def check_arguments(args, config) -> None:
    if args.samples_per_shard < 1:
        raise ValueError(f"--samples-per-shard must be >= 1, got {args.samples_per_shard}")
    if args.within_similarity is not None:
        if not config.embeddings:
            raise ValueError("--within-similarity needs real weights: with --clip-pretrained none the embedding "
                             "detector is off (sha256 and pHash only)")
        if not -1 <= args.within_similarity <= 1:
            raise ValueError(f"--within-similarity is a cosine similarity in [-1, 1], got {args.within_similarity}")


def main(args, beam_argv: list[str]) -> int:
    from wit_pipeline.core.console import finish

    config = audit.config_from_args(args)
    check_arguments(args, config)
    inputs = audit.check_inputs(args.shards, args.eval)
    shards_out = files.join(args.out, "shards")
    command = command_key(args, config, inputs.shards)
    files.lock_out(args.out, "dedup")
    check_output(shards_out, command)
    # Only now the heavy imports and the long work.
    from dedup import report as report_lib

    audit.check_device_present(config, beam_argv)
    prep = audit.prepare(inputs, config)
    feature_counts = audit.run_features(prep, beam_argv)
    audit_dir = files.join(args.out, "audit")
    run_dedup(prep, audit_dir, beam_argv, config.phash_distance, args.within_similarity)
    evals = audit.load_eval_features(prep)
    removed = files.read_parquet(files.join(audit_dir, "removed.parquet"))
    by_reason = {reason: 0 for reason in REASON_ORDER}
    for reason in removed.column("reason").to_pylist():
        by_reason[reason] += 1
    totals = run_reshard(prep, audit_dir, shards_out, args.samples_per_shard, beam_argv, command)
    extra = {
        "duplicates": {"removed": removed.num_rows, "removed_by_reason": by_reason,
                       "within_similarity": args.within_similarity},
        "filtered": {"input_samples": None, "kept": totals["successes"], "shards": totals["shards"],
                     "out": shards_out},
    }
    report = report_lib.build_report(audit_dir, prep, evals, report_pairs=args.report_pairs,
                                     features=feature_counts, extra=extra)
    report["filtered"]["input_samples"] = report["dataset"]["samples"]
    files.write_json(files.join(audit_dir, "report.json"), report)
    finish(args.out, "wit dedup", report_lib.summary_stats(report))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    audit.add_detection_arguments(parser, eval_required=False)
    parser.add_argument("--within-similarity", type=float, default=None, metavar="FLOAT",
                        help="also remove pairs inside the set with CLIP cosine similarity >= FLOAT "
                             "(off by default: compares every pair of shards)")
    parser.add_argument("--samples-per-shard", type=int, default=DEFAULT_SAMPLES_PER_SHARD,
                        help="samples per output shard (default 10000)")
