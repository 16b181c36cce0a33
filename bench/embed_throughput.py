"""Embedding throughput of `wit dedup`/`wit audit`'s feature pass, decode included.

Ours: the Beam feature pipeline (`ComputeFeatures`: read tar, decode, sha256, pHash,
model preprocessing, RunInference with the open_clip handler, write the per-shard
embedding table) on generated 256px JPEG shards. Anchor, side by side on the same
images: a plain loop decoding with Pillow, preprocessing and calling
`model.encode_image` in batches of the same size — the floor any pipeline pays.

    .venv/bin/python bench/embed_throughput.py                       # ViT-B-32, random init, CPU

`--pretrained none` measures a seeded random-init model: its weights are saved to a file
and passed as weights, since `wit dedup --clip-pretrained none` embeds nothing (pHash only).
    .venv/bin/python bench/embed_throughput.py --device cuda --images 20000 --batch-size 256
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

# The repository root: `tests.dedup.fixtures` and this checkout's `dedup` (tests/ itself holds a
# `dedup` package too, the tests of this one).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_shards(directory: str, n: int, per_shard: int) -> list[bytes]:
    from tests.dedup.fixtures import scene, write_shards

    images = []
    for i in range(n):
        buffer = io.BytesIO()
        scene(i, size=(256, 192)).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    write_shards(directory, images, per_shard=per_shard)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=384)
    parser.add_argument("--per-shard", type=int, default=128)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--pretrained", default="none")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("beam_args", nargs="*", help="Beam options after --, e.g. -- --direct_num_workers 2")
    args = parser.parse_args()

    from dedup.embed import create_embedding_model, precision_for, resolve_device
    from dedup.features import decode
    from dedup.weights import is_random_init
    from dedup import phases
    from dedup.config import DetectionConfig
    from wit_pipeline.clip.models import save_checkpoint

    device = resolve_device(args.device)
    work = tempfile.mkdtemp(prefix="wit-embed-bench-")
    try:
        images = make_shards(os.path.join(work, "shards"), args.images, args.per_shard)
        print(f"{args.images} JPEG images 256x192 in {args.images // args.per_shard} shard(s); model {args.model} "
              f"({args.pretrained}), device {device} ({precision_for(device)}), batch {args.batch_size}, "
              f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}", flush=True)

        model, preprocess = create_embedding_model(args.model, args.pretrained, device)
        weights = args.pretrained
        if is_random_init(weights):
            weights = os.path.join(work, "random-init.pt")
            save_checkpoint(weights, model, args.model)
        started = time.perf_counter()
        for start in range(0, len(images), args.batch_size):
            batch = torch.stack([preprocess(decode(data)) for data in images[start:start + args.batch_size]])
            batch = batch.to(device).half() if device.startswith("cuda") else batch
            with torch.inference_mode():
                F.normalize(model.encode_image(batch).float(), dim=-1).cpu().numpy().astype(np.float16)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        anchor = time.perf_counter() - started
        del model

        config = DetectionConfig(shards=(os.path.join(work, "shards"),), clip_model=args.model,
                                 clip_pretrained=weights, device=device, batch_size=args.batch_size,
                                 cache_dir=os.path.join(work, "cache"))
        prep = phases.prepare(phases.check_inputs(config), config)
        started = time.perf_counter()
        phases.run_features(prep, args.beam_args)
        ours = time.perf_counter() - started
        print(f"\nanchor (plain decode + encode_image loop): {args.images / anchor:7.1f} img/s ({anchor:.1f} s)")
        print(f"ours   (Beam ComputeFeatures, incl. pipeline start, sha256, pHash, table writes): "
              f"{args.images / ours:7.1f} img/s ({ours:.1f} s)")
        print(f"ratio ours/anchor throughput: {anchor / ours:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
