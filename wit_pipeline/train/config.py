"""`TrainConfig`: the flags of `wit train`, checked once, and the inputs they name.

No torch here: `wit train` builds the config before the trainer loads torch, so a bad
flag or a missing input answers at once.
"""
from __future__ import annotations

import argparse
import dataclasses

from wit_pipeline.clip import checkpoints, evalsets
from wit_pipeline.core import files


def shard_paths(patterns: list[str]) -> list[str]:
    """Shard tars for `--shards` values: globs, directories, and open_clip's spellings,
    brace ranges `{00000..00099}.tar` and `a.tar::b.tar` lists."""
    from braceexpand import braceexpand

    from shards.reader import find_shards

    return find_shards([path for pattern in patterns for part in pattern.split("::") for path in braceexpand(part)])


def check_device_flag(device: str) -> None:
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The flags of `wit train` (same names, lists as tuples), and what they name."""

    shards: tuple[str, ...]
    out: str
    steps: int | None
    epochs: float | None
    resampled: bool
    shuffle_buffer: int
    workers: int
    seed: int
    model: str
    pretrained: str | None
    grad_checkpointing: bool
    compile: bool
    batch_size: int
    accum_freq: int
    lr: float
    min_lr: float
    warmup: int | None
    wd: float
    beta1: float
    beta2: float
    eps: float
    grad_clip_norm: float | None
    precision: str
    device: str
    resume: bool
    save_every: int
    keep_checkpoints: int
    log_every: int
    zero_shot: tuple[str, ...]
    zero_shot_every: int
    zero_shot_templates: str | None
    # Found while checking the flags:
    shard_files: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    eval_sets: tuple[tuple[str, evalsets.ImageFolder], ...] = dataclasses.field(default=(), repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainConfig":
        """The checked config; ValueError/FileNotFoundError naming the flag otherwise."""
        flags = {name: tuple(value) if isinstance(value, list) else value
                 for name, value in vars(args).items() if name in _FLAG_NAMES}
        for name in ("batch_size", "accum_freq", "save_every", "log_every"):
            if flags[name] < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if args.steps is not None and args.steps < 1:
            raise ValueError("--steps must be >= 1")
        if args.epochs is not None and args.epochs <= 0:
            raise ValueError("--epochs must be > 0")
        if args.workers < 0 or args.shuffle_buffer < 1:
            raise ValueError("--workers must be >= 0 and --shuffle-buffer >= 1")
        check_device_flag(args.device)
        shard_files = tuple(shard_paths(args.shards))
        eval_sets = tuple(evalsets.image_folder_sets(args.zero_shot, "--zero-shot"))
        if args.zero_shot_templates and not files.exists(args.zero_shot_templates):
            raise FileNotFoundError(f"template file {args.zero_shot_templates!r} does not exist")
        latest = checkpoints.latest_checkpoint(args.out)
        if latest and not args.resume:
            raise ValueError(f"{args.out} already holds a training run ({latest}); pass --resume to continue "
                             "it or choose another --out")
        return cls(**flags, shard_files=shard_files, eval_sets=eval_sets)

    def flags(self) -> dict:
        """The flag values as the command line gave them (kept in every checkpoint)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in ((name, getattr(self, name)) for name in _FLAG_NAMES)}


_FLAG_NAMES = tuple(field.name for field in dataclasses.fields(TrainConfig)
                    if field.name not in ("shard_files", "eval_sets"))
