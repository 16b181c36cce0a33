"""`wit audit`: overlap between shards and eval sets, reported, nothing filtered.

Flags -> `AuditConfig` (checked before torch loads or any image is read) -> two Beam
pipelines: phase 1 computes what is not cached (`dedup.phases.run_features`), phase 2
runs `ReadFeatureTables | Audit` (`dedup.pipeline`). The launcher then writes
`report.json` / `report.html` from the pipeline's outputs (`dedup.report`), and runs the
optional zero-shot evaluation of a checkpoint on All/Clean/Overlap.
"""
from __future__ import annotations

import argparse
import dataclasses

from dedup import phases
from dedup.config import DetectionConfig, add_detection_arguments
from wit_pipeline.core import files
from wit_pipeline.clip.checkpoints import resolve_checkpoint


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    detection: DetectionConfig
    zero_shot_checkpoint: str | None = None   # resolved: a checkpoint file

    @classmethod
    def from_args(cls, args) -> "AuditConfig":
        detection = DetectionConfig.from_args(args)
        # The forms `wit eval --checkpoint` takes: a file, or a training OUT (its latest checkpoint).
        checkpoint = resolve_checkpoint(args.zero_shot_checkpoint) if args.zero_shot_checkpoint else None
        return cls(detection, checkpoint)


def run_detection(prep: phases.Prepared, out_dir: str, beam_argv: list[str]) -> None:
    """Phase 2: `Audit` over every shard table."""
    from dedup.pipeline import Audit, ReadFeatureTables

    files.makedirs(out_dir)
    print(f"detect: {len(prep.shards)} shard(s) against {len(prep.eval_cache)} eval set(s)", flush=True)
    phases.run_pipeline(beam_argv, lambda p: (p | "Shard tables" >> ReadFeatureTables(prep.shards, prep.tag)
                                              | "Audit" >> Audit(prep.config, prep.eval_cache, out_dir)), "detect")


def main(args, beam_argv: list[str]) -> int:
    from wit_pipeline.core.console import finish

    config = AuditConfig.from_args(args)
    inputs = phases.check_inputs(config.detection)
    files.lock_out(config.detection.out, "audit")
    # Only now the heavy imports and the long work.
    from dedup import report as report_lib

    phases.check_device_present(config.detection, beam_argv)
    if config.zero_shot_checkpoint is not None:
        from wit_pipeline.clip.models import read_checkpoint

        read_checkpoint(config.zero_shot_checkpoint)  # a file that is no checkpoint fails now, not after detection
    prep = phases.prepare(inputs, config.detection)
    feature_counts = phases.run_features(prep, beam_argv)
    evals = phases.load_eval_features(prep)
    run_detection(prep, config.detection.out, beam_argv)
    report = report_lib.build_report(config.detection.out, prep, evals,
                                     zero_shot_checkpoint=config.zero_shot_checkpoint,
                                     report_pairs=config.detection.report_pairs, features=feature_counts)
    finish(config.detection.out, "wit audit", report_lib.summary_stats(report))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detection_arguments(parser, eval_required=True)
    parser.add_argument("--zero-shot-checkpoint", metavar="CKPT",
                        help="a `wit train` checkpoint file or training OUT directory (its latest checkpoint): "
                             "zero-shot accuracy on All/Clean/Overlap of every image-folder eval set, with a "
                             "one-sided binomial test")
