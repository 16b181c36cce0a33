"""Training throughput: `wit train` vs open_clip's own trainer, side by side in one run.

Both train the same model on the same shards (written with our ShardWriter) at the same
batch size, precision, device, data workers and thread count. Each side's per-step
wall time (data wait included) comes from its own per-step log: `OUT/log.jsonl`
(`interval_s`) for wit, `out.log` (`Batch (t)`) for open_clip. The first
`--warmup-steps` steps (worker start-up, allocator warm-up, compilation) are left out;
a run's samples/s is the batch size over its median step time. Sides alternate
`--repeats` times and the median samples/s of each is compared.

CPU (default; what CI and laptops have):
    python bench/train_vs_open_clip.py
GPU (ViT-B-32, batch 256, bf16; images written at 256px like `wit download`'s default):
    python bench/train_vs_open_clip.py --gpu
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPEN_CLIP_PRECISION = {"fp32": "fp32", "amp": "amp", "bf16": "amp_bf16"}
BATCH_TIME = re.compile(r"Batch \(t\): ([0-9.]+)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true",
                        help="preset: --model ViT-B-32 --batch-size 256 --precision bf16 --device cuda "
                             "--image-size 256 --workers 8")
    parser.add_argument("--model", default="wit-tiny")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="fp32", choices=sorted(OPEN_CLIP_PRECISION))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--image-size", type=int, default=32, help="stored image size in the shards")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed steps at the start of each run")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers (both sides)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS for both sides (CPU); 0 leaves it unset")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per side")
    parser.add_argument("--shards", help="existing shard directory (default: generate a shapes world)")
    parser.add_argument("--workdir", help="where shards and run outputs go (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.gpu:
        args.model, args.batch_size, args.precision, args.device = "ViT-B-32", 256, "bf16", "cuda"
        args.image_size, args.workers = 256, 8
    return args


def _env(args) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # open_clip_train picks a GPU whenever it sees one
    return env


def _run(command, env, cwd) -> None:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-4000:]}")


def _samples_per_second(step_times: list[float], args) -> float:
    """Batch size over the median step time: on a shared machine a few steps stall on other
    jobs, and the median step is the steady state both trainers reach between stalls."""
    timed = step_times[args.warmup_steps:args.warmup_steps + args.steps]
    if len(timed) < args.steps:
        raise SystemExit(f"only {len(step_times)} steps logged, wanted {args.warmup_steps + args.steps}")
    return args.batch_size / statistics.median(timed)


def run_wit(args, shards: str, out: pathlib.Path) -> float:
    total = args.warmup_steps + args.steps
    _run([sys.executable, "-m", "wit_pipeline.cli", "train", "--shards", shards, "--out", str(out),
          "--model", args.model, "--batch-size", str(args.batch_size), "--precision", args.precision,
          "--device", args.device, "--steps", str(total), "--workers", str(args.workers), "--log-every", "1",
          "--save-every", str(10 ** 9), "--lr", "5e-4", "--warmup", "1"], _env(args), out.parent)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return _samples_per_second([r["interval_s"] for r in records if "interval_s" in r], args)


def run_open_clip(args, shard_paths: list[str], out: pathlib.Path, model: str) -> float:
    total = args.warmup_steps + args.steps
    _run([sys.executable, "-m", "open_clip_train.main", "--dataset-type", "webdataset",
          "--train-data", "::".join(shard_paths), "--train-num-samples", str(total * args.batch_size),
          "--batch-size", str(args.batch_size), "--epochs", "1", "--workers", str(args.workers),
          "--model", model, "--precision", OPEN_CLIP_PRECISION[args.precision], "--lr", "5e-4",
          "--warmup", "1", "--log-every-n-steps", "1", "--save-frequency", "0", "--seed", "0",
          "--logs", str(out.parent), "--name", out.name], _env(args), out.parent)
    times = [float(m.group(1)) for m in BATCH_TIME.finditer((out / "out.log").read_text())]
    return _samples_per_second(times, args)


def main(argv=None) -> int:
    args = parse_args(argv)
    from shards.reader import find_shards
    from wit_pipeline.clip import models
    from wit_pipeline.run.worlds import shapes as shapes_world
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="wit-train-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    needed = (args.warmup_steps + args.steps) * args.batch_size
    if args.shards:
        shards = args.shards
    else:
        shards = str(workdir / "shards")
        per_shard = -(-needed // max(2, args.workers))  # a shard per worker, enough for one pass
        started = time.time()
        shapes_world.write_shards(shards, n_samples=per_shard * max(2, args.workers),
                                  samples_per_shard=per_shard, size=args.image_size,
                                  render_size=min(args.image_size, 64))
        print(f"wrote {per_shard * max(2, args.workers)} samples in {time.time() - started:.0f}s to {shards}")
    shard_paths = find_shards(shards)
    open_clip_model = models.write_open_clip_config(args.model, str(workdir / "model")) \
        if args.model not in models.list_models() or args.model.startswith("wit-") else args.model

    print(f"model {args.model}, batch {args.batch_size}, precision {args.precision}, device {args.device}, "
          f"workers {args.workers}, threads {args.threads or 'default'}, {args.steps} timed steps "
          f"after {args.warmup_steps} warm-up steps, {args.repeats} alternating runs per side", flush=True)
    wit_rates, open_clip_rates = [], []
    for repeat in range(args.repeats):
        wit_rates.append(run_wit(args, shards, workdir / f"wit-{repeat}"))
        print(f"  run {repeat + 1}: wit train        {wit_rates[-1]:8.1f} samples/s", flush=True)
        open_clip_rates.append(run_open_clip(args, shard_paths, workdir / f"open_clip-{repeat}", open_clip_model))
        print(f"  run {repeat + 1}: open_clip_train  {open_clip_rates[-1]:8.1f} samples/s", flush=True)
    wit, open_clip = statistics.median(wit_rates), statistics.median(open_clip_rates)
    # Runs next to each other in time share the machine's load: their ratio cancels slow drifts.
    pairs = [w / o for w, o in zip(wit_rates, open_clip_rates)]
    print(f"wit train:       {wit:.1f} samples/s (median)")
    print(f"open_clip_train: {open_clip:.1f} samples/s (median)")
    print(f"ratio wit/open_clip: {wit / open_clip:.2f}x (target >= 1.0x); per adjacent pair: "
          f"{', '.join(f'{r:.2f}' for r in pairs)} (geometric mean {statistics.geometric_mean(pairs):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
