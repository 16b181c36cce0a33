"""`wit train`: train a CLIP model on WebDataset shards with the contrastive objective.

This module is the command line: its flags, and the checks of flags and input paths,
which run before torch loads (an argument error answers at once). The trainer itself
(`wit_pipeline.train.trainer`) is imported after them. One process per device; under
`torchrun` the processes form a DDP group (NCCL on GPUs, gloo on CPU). Checkpoints go to
`OUT/checkpoints/step_NNNNNNNN.pt` with `OUT/checkpoints/latest.json` naming the newest;
the log is `OUT/log.jsonl`; the summary is `OUT/stats.json`.
"""
from __future__ import annotations

import argparse
import os

from wit_pipeline.clip import eval_data

from wit_pipeline.core import files
LATEST = "latest.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--shards", action="append", required=True, metavar="GLOB",
                      help="shard tars: glob, directory, {00000..00099}.tar range or a::b list; repeatable; "
                           "local or gs:// s3:// ...")
    data.add_argument("--out", required=True, help="output directory: checkpoints, log.jsonl, stats.json")
    data.add_argument("--steps", type=int, help="optimizer steps to train (default: --epochs worth)")
    data.add_argument("--epochs", type=float,
                      help="passes over the data (default 1 when --steps is not given); the step count "
                           "comes from the shards' NNNNN_stats.json sample counts")
    data.add_argument("--resampled", action="store_true",
                      help="draw shards with replacement: an endless stream instead of epochs")
    data.add_argument("--shuffle-buffer", type=int, default=2000, help="sample shuffle buffer per worker")
    data.add_argument("--workers", type=int, default=2, help="DataLoader worker processes per device")
    data.add_argument("--seed", type=int, default=0, help="model init and data order")

    model = parser.add_argument_group("model")
    model.add_argument("--model", default="ViT-B-32",
                       help="open_clip architecture, a shipped config (wit-tiny, wit-small) or a JSON config path")
    model.add_argument("--pretrained", help="initial weights: local open_clip weights or a wit checkpoint")
    model.add_argument("--grad-checkpointing", action="store_true", help="trade compute for activation memory")
    model.add_argument("--compile", action="store_true", help="torch.compile the model (opt-in)")

    optim = parser.add_argument_group("optimization")
    optim.add_argument("--batch-size", type=int, default=256, help="samples per device per micro-batch")
    optim.add_argument("--accum-freq", type=int, default=1,
                       help="micro-batches per step; negatives span all of them (features are cached)")
    optim.add_argument("--lr", type=float, default=5e-4)
    optim.add_argument("--min-lr", type=float, default=0.0, help="cosine schedule floor")
    optim.add_argument("--warmup", type=int, help="linear warmup steps (default: 10%% of steps, at most 2000)")
    optim.add_argument("--wd", type=float, default=0.2, help="AdamW weight decay (not on gains/biases/temperature)")
    optim.add_argument("--beta1", type=float, default=0.9)
    optim.add_argument("--beta2", type=float, default=0.98)
    optim.add_argument("--eps", type=float, default=1e-6)
    optim.add_argument("--grad-clip-norm", type=float, help="clip the global gradient norm")
    optim.add_argument("--precision", default="auto", choices=["auto", "fp32", "amp", "bf16"],
                       help="auto: bf16 (or amp = fp16 + loss scaling) on GPU, fp32 on CPU")
    optim.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")

    run = parser.add_argument_group("checkpoints, logs, evaluation")
    run.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest.json")
    run.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps (and at the end)")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="newest step checkpoints to keep (0 = all)")
    run.add_argument("--log-every", type=int, default=10, help="log.jsonl record every N steps")
    run.add_argument("--zero-shot", action="append", default=[], metavar="NAME=PATH",
                     help="image-folder eval set (CLASS/IMAGE) for zero-shot accuracy; repeatable")
    run.add_argument("--zero-shot-every", type=int, default=0,
                     help="also evaluate every N steps (default: only after training)")
    run.add_argument("--zero-shot-templates", help="prompt template file, one '{}' template per line")


def shard_paths(patterns: list[str]) -> list[str]:
    """Shard tars for `--shards` values: globs, directories, and open_clip's spellings,
    brace ranges `{00000..00099}.tar` and `a.tar::b.tar` lists."""
    from braceexpand import braceexpand

    from shards.reader import find_shards

    return find_shards([path for pattern in patterns for part in pattern.split("::") for path in braceexpand(part)])


def latest_checkpoint(out: str) -> str | None:
    """Path of the newest checkpoint of a training run directory, or None."""
    pointer = files.join(out, "checkpoints", LATEST)
    if not files.exists(pointer):
        return None
    return files.join(out, "checkpoints", files.read_json(pointer)["checkpoint"])


def resolve_checkpoint(path: str) -> str:
    """The checkpoint file a `--checkpoint` value names: a checkpoint file, or a training
    run directory (`wit train --out`; also its `checkpoints/` folder): its latest checkpoint.

    Shared by `wit eval --checkpoint` and `wit audit --zero-shot-checkpoint`; reads no
    checkpoint, so it is cheap to call before the long work.
    """
    run_dir = path.rstrip("/")
    if run_dir.endswith("/checkpoints") or run_dir == "checkpoints":
        run_dir = run_dir[: -len("checkpoints")].rstrip("/") or "."
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        if not files.exists(latest):
            raise FileNotFoundError(f"{path!r}: its checkpoints/{LATEST} names {latest}, which does not exist")
        return latest
    if files.is_local(path) and os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} is neither a checkpoint file nor a training directory with "
                                f"checkpoints/{LATEST}")
    if not files.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    return path


def reject_non_beam_options(beam_argv: list[str]) -> None:
    """Beam pipeline options are accepted like every stage does (`wit run` passes them to
    all stages) and have no effect on training; anything else is a mistyped flag, which
    must not be silently ignored."""
    if not beam_argv:
        return
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(beam_argv)
    unknown = (set(options.get_all_options(retain_unknown_options=True, drop_default=True))
               - set(options.get_all_options(retain_unknown_options=False, drop_default=True)))
    if unknown:
        flags = [arg for arg in beam_argv if arg.startswith("--")
                 and arg[2:].split("=", 1)[0].replace("-", "_") in unknown]
        raise ValueError(f"unrecognized arguments: {' '.join(flags or sorted(unknown))}")


def check_device_flag(device: str) -> None:
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")


def check_eval_sets(values: list[str], flag: str) -> list[tuple[str, eval_data.ImageFolder]]:
    """(name, image folder) per `NAME=PATH`; a ROOT with train/ and test/ uses test/."""
    found = []
    for value in values:
        name, path = eval_data.parse_named_path(value, flag)
        split = eval_data.split_folder(path)
        found.append((name, eval_data.scan_image_folder(split[1] if split else path)))
    return found


def check_arguments(args: argparse.Namespace) -> None:
    """Every flag and input path, before torch loads."""
    for name in ("batch_size", "accum_freq", "save_every", "log_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise ValueError("--steps must be >= 1")
    if args.epochs is not None and args.epochs <= 0:
        raise ValueError("--epochs must be > 0")
    if args.workers < 0 or args.shuffle_buffer < 1:
        raise ValueError("--workers must be >= 0 and --shuffle-buffer >= 1")
    check_device_flag(args.device)
    shard_paths(args.shards)
    check_eval_sets(args.zero_shot, "--zero-shot")
    if args.zero_shot_templates and not files.exists(args.zero_shot_templates):
        raise FileNotFoundError(f"template file {args.zero_shot_templates!r} does not exist")
    latest = latest_checkpoint(args.out)
    if latest and not args.resume:
        raise ValueError(f"{args.out} already holds a training run ({latest}); pass --resume to continue "
                         "it or choose another --out")


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    files.lock_out(args.out, "train")
    reject_non_beam_options(beam_argv)
    check_arguments(args)
    from wit_pipeline.train.trainer import Trainer

    Trainer(args).run()
    return 0
