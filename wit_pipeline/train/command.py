"""`wit train`: train a CLIP model on WebDataset shards with the contrastive objective.

Flags -> `TrainConfig` (config.py): every flag and input path is checked once, before
torch loads (an argument error answers at once); the trainer (`trainer.py`) is imported
after that and gets the config, never the raw flags. One process per device; under
`torchrun` the processes form a DDP group (NCCL on GPUs, gloo on CPU). Checkpoints go
to `OUT/checkpoints/step_NNNNNNNN.pt` with `OUT/checkpoints/latest.json` naming the
newest; the log is `OUT/log.jsonl`; the summary is `OUT/stats.json`.
"""
from __future__ import annotations

import argparse

from wit_pipeline.core import files
from wit_pipeline.train.config import TrainConfig


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


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    # Beam pipeline options are accepted as by every stage (`wit run` passes them to all;
    # the dispatcher refused anything else) and mean nothing to training.
    files.lock_out(args.out, "train")
    config = TrainConfig.from_args(args)
    from wit_pipeline.train.trainer import Trainer

    Trainer(config).run()
    return 0
