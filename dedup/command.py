"""`wit dedup`: remove duplicates inside the set and every sample overlapping an eval set.

Flags -> `DedupConfig` (checked before torch loads or any image is read) -> three Beam
pipelines: phase 1 computes what is not cached (`dedup.phases.run_features`); phase 2 is
`wit audit`'s detection with the duplicates inside the set chained onto it
(`ReadFeatureTables`, then `Audit`, `FindDuplicates` and `WriteRemovals` on the same
blocks); phase 3 re-shards what is kept into `OUT/shards/` (`WriteFilteredShards`),
original keys and metadata rows carried over. `OUT/audit/` holds the audit of the input
(report, overlap and nearest parquet per eval set) and what was removed, with why, one
file per input shard (`dedup.removals`); the launcher reads only their summary. Resuming an interrupted re-shard: `dedup.reshard`.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

from dedup import phases, removals, reshard
from dedup.config import DetectionConfig, add_detection_arguments
from wit_pipeline.core import files

DEFAULT_SAMPLES_PER_SHARD = 10_000


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    detection: DetectionConfig
    within_similarity: float | None = None
    samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD

    @classmethod
    def from_args(cls, args) -> "DedupConfig":
        config = cls(DetectionConfig.from_args(args), args.within_similarity, args.samples_per_shard)
        if config.samples_per_shard < 1:
            raise ValueError(f"--samples-per-shard must be >= 1, got {config.samples_per_shard}")
        if config.within_similarity is not None:
            if not config.detection.embeddings:
                raise ValueError("--within-similarity needs real weights: with --clip-pretrained none the "
                                 "embedding detector is off (sha256 and pHash only)")
            if not -1 <= config.within_similarity <= 1:
                raise ValueError(f"--within-similarity is a cosine similarity in [-1, 1], got "
                                 f"{config.within_similarity}")
        return config

    @property
    def audit_dir(self) -> str:
        return files.join(self.detection.out, "audit")

    @property
    def shards_out(self) -> str:
        return files.join(self.detection.out, "shards")

    def command_key(self, shards: list[str]) -> str:
        """Hash of what shapes the output shards besides input content: inputs and flags."""
        d = self.detection
        return reshard.command_key({
            "shards": shards, "eval": sorted(d.evals), "embeddings": d.embeddings, "clip_model": d.clip_model,
            "clip_pretrained": d.clip_pretrained, "similarity": d.similarity, "phash_distance": d.phash_distance,
            "within_similarity": self.within_similarity, "samples_per_shard": self.samples_per_shard})


def run_detection(prep: phases.Prepared, config: DedupConfig, beam_argv: list[str]) -> None:
    """Phase 2: the audit, plus duplicates inside the set, writing the removal files."""
    from dedup.pipeline import Audit, FindDuplicates, ReadFeatureTables, WriteRemovals

    audit_dir = config.audit_dir
    files.makedirs(audit_dir)
    print(f"detect: {len(prep.shards)} shard(s) against {len(prep.eval_cache)} eval set(s)", flush=True)

    def build(p):
        blocks = p | "Shard tables" >> ReadFeatureTables(prep.shards, prep.tag)
        detected = blocks | "Audit" >> Audit(prep.config, prep.eval_cache, audit_dir)
        duplicates = blocks | "Duplicates" >> FindDuplicates(
            prep.shards, prep.tag, config.detection.phash_distance, config.within_similarity,
            config.detection.device)
        (blocks, detected["matches"], duplicates) | "Removals" >> WriteRemovals(prep.shards, audit_dir)

    unsettled = phases.run_pipeline(beam_argv, build, "detect").get("unsettled_pairs", 0)
    if unsettled:
        print(f"detect: {unsettled:,} pair(s) of long chains were left by the star rounds and joined by "
              "union-find on one worker", flush=True)


def run_reshard(prep: phases.Prepared, config: DedupConfig, beam_argv: list[str], command: str,
                removed_digest: str) -> dict:
    from dedup.pipeline import WriteFilteredShards

    started = time.time()
    plan = {"command": command, "removed_sha256": removed_digest}
    reshard.start_reshard(config.shards_out, plan)
    phases.run_pipeline(beam_argv, lambda p: p | "Filter" >> WriteFilteredShards(
        prep.shards, prep.tag, config.audit_dir, config.shards_out, config.samples_per_shard), "reshard")
    totals = files.read_json(files.join(config.shards_out, "stats.json"))
    reshard.finish_reshard(config.shards_out, plan)
    print(f"reshard: {totals['successes']:,} samples in {totals['shards']} shard(s) -> {config.shards_out} "
          f"({time.time() - started:.1f}s)", flush=True)
    return totals


def main(args, beam_argv: list[str]) -> int:
    from wit_pipeline.core.console import finish

    config = DedupConfig.from_args(args)
    inputs = phases.check_inputs(config.detection)
    command = config.command_key(inputs.shards)
    files.lock_out(config.detection.out, "dedup")
    reshard.check_output(config.shards_out, command)
    # Only now the heavy imports and the long work.
    from dedup import report as report_lib

    phases.check_device_present(config.detection, beam_argv)
    prep = phases.prepare(inputs, config.detection)
    feature_counts = phases.run_features(prep, beam_argv)
    evals = phases.load_eval_features(prep)
    run_detection(prep, config, beam_argv)
    removed = removals.read_summary(config.audit_dir)
    totals = run_reshard(prep, config, beam_argv, command, removed["sha256"])
    extra = {
        "duplicates": {"removed": removed["removed"], "removed_by_reason": removed["removed_by_reason"],
                       "within_similarity": config.within_similarity},
        "filtered": {"input_samples": None, "kept": totals["successes"], "shards": totals["shards"],
                     "out": config.shards_out},
    }
    report = report_lib.build_report(config.audit_dir, prep, evals, report_pairs=config.detection.report_pairs,
                                     features=feature_counts, extra=extra)
    report["filtered"]["input_samples"] = report["dataset"]["samples"]
    files.write_json(files.join(config.audit_dir, "report.json"), report)
    finish(config.detection.out, "wit dedup", report_lib.summary_stats(report))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detection_arguments(parser, eval_required=False)
    parser.add_argument("--within-similarity", type=float, default=None, metavar="FLOAT",
                        help="also remove pairs inside the set with CLIP cosine similarity >= FLOAT, searched "
                             "inside k-means clusters of the embeddings (off by default)")
    parser.add_argument("--samples-per-shard", type=int, default=DEFAULT_SAMPLES_PER_SHARD,
                        help="samples per output shard (default 10000)")
