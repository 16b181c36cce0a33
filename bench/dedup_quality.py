"""Near-duplicate detection quality on real photographs, per transform.

Queries: the photographs bundled with scikit-image and scikit-learn (no download). Each
is copied into the "dataset" under nine transforms (resize 50%, JPEG quality 30, 90%
centre crop, rotation by +-10 degrees, brightness +-20%, grayscale, horizontal flip,
text overlay, and what `wit download` stores by default: 256 px with letterbox bars)
and hidden among >= 5000 distractors: scikit-learn's digits (upscaled),
scikit-image's LFW faces, random windows of the bundled texture photos (brick, grass,
gravel) and generated scenes. Features are `wit audit`'s own (`dedup.features.featurize`)
and so is matching (`dedup.search.search_block`), with the given thresholds.

Precision and recall per transform (each transform scored on its own: dataset =
distractors + that transform's copies of every query) for pHash alone, embeddings
alone, and both (a pair counts when either fires — the rule `wit audit` applies).
"in-set R": the share of copies `wit dedup` groups with their original when both are
inside the set (pHash only: identical hashes, then the multi-index buckets).

With `--clip-pretrained none` (the default: no weights ship with the project) the
embeddings come from a randomly initialised network and say little; run with real
weights for the real figure:

    .venv/bin/python bench/dedup_quality.py                                  # random init, ViT-B-32
    .venv/bin/python bench/dedup_quality.py --clip-pretrained PATH/open_clip_pytorch_model.bin
    .venv/bin/python bench/dedup_quality.py --phash-only                     # pHash columns, seconds
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

# The repository root: `tests.dedup.fixtures` and this checkout's `dedup` (tests/ itself holds a
# `dedup` package too, the tests of this one).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

QUERY_IMAGES = ["astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field", "immunohistochemistry",
                "moon", "rocket", "retina", "clock", "page", "text"]
TEXTURES = ["brick", "grass", "gravel"]


def _rgb(array) -> Image.Image:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    img = Image.fromarray(array)
    return img.convert("RGB")


def queries() -> dict[str, Image.Image]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    found = {}
    for name in QUERY_IMAGES:
        try:
            found[name] = _rgb(getattr(skimage.data, name)())
        except Exception as exc:  # some need an optional download: skip, never fetch
            print(f"  skipping skimage.data.{name}: {type(exc).__name__}", flush=True)
    sample = load_sample_images()
    for filename, array in zip(sample.filenames, sample.images):
        found[os.path.splitext(os.path.basename(filename))[0]] = _rgb(array)
    return found


def _text_overlay(img: Image.Image, i: int) -> Image.Image:
    img = img.copy()
    draw = ImageDraw.Draw(img)
    size = max(12, img.size[1] // 12)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    draw.text((img.size[0] // 20, img.size[1] - 2 * size), f"(c) stock photo #{1000 + i}", fill=(255, 255, 0),
              font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def _downloaded(img: Image.Image) -> Image.Image:
    """What `wit download` stores with its defaults: 256 px, border mode (white bars)."""
    from dedup.features import decode
    from wit_pipeline.download.images import ImageOptions, process_image

    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return decode(process_image(buffer.getvalue(), ImageOptions()).data)


def _center_crop(img: Image.Image, fraction: float) -> Image.Image:
    w, h = img.size
    cw, ch = int(w * fraction), int(h * fraction)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


TRANSFORMS = {
    "resize_50": lambda img, i: img.resize((img.size[0] // 2, img.size[1] // 2), Image.Resampling.LANCZOS),
    "jpeg_q30": lambda img, i: img,  # the encoding below does it
    "crop_90": lambda img, i: _center_crop(img, 0.9),
    "rotate_10": lambda img, i: img.rotate(10 if i % 2 else -10, resample=Image.Resampling.BICUBIC, expand=False),
    "brightness_20": lambda img, i: ImageEnhance.Brightness(img).enhance(1.2 if i % 2 else 0.8),
    "grayscale": lambda img, i: ImageOps.grayscale(img).convert("RGB"),
    "hflip": lambda img, i: ImageOps.mirror(img),
    "text_overlay": _text_overlay,
    "letterbox_256": lambda img, i: _downloaded(img),
}


def jpeg(img: Image.Image, quality=90) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def distractors(n: int, rng: np.random.Generator) -> list[bytes]:
    import skimage.data
    from sklearn.datasets import load_digits

    from tests.dedup.fixtures import scene

    out = []
    for digit in load_digits().images:
        out.append(jpeg(Image.fromarray((digit * 255 / 16).astype(np.uint8)).resize((64, 64)).convert("RGB")))
    try:
        for face in skimage.data.lfw_subset():
            out.append(jpeg(Image.fromarray((face * 255).astype(np.uint8)).resize((100, 100)).convert("RGB")))
    except Exception as exc:
        print(f"  skipping lfw_subset: {type(exc).__name__}", flush=True)
    textures = [_rgb(getattr(skimage.data, name)()) for name in TEXTURES]
    for i in range(1000):
        tex = textures[i % len(textures)]
        side = int(rng.integers(96, 256))
        x, y = int(rng.integers(0, tex.size[0] - side)), int(rng.integers(0, tex.size[1] - side))
        out.append(jpeg(tex.crop((x, y, x + side, y + side))))
    seed = 0
    while len(out) < n:
        out.append(jpeg(scene(10_000 + seed, size=(256, 192))))
        seed += 1
    return out


def featurize_all(datas: list[bytes], model=None, preprocess=None, batch_size: int = 64, device: str = "cpu"):
    """pHashes and (with a model) embeddings through `wit audit`'s own per-image step
    (`dedup.features.featurize`: decode, letterbox crop, pHash, model preprocessing),
    batch by batch so that only one batch of tensors is ever held."""
    from dedup.features import featurize

    hashes, out = [], []
    for start in range(0, len(datas), batch_size):
        feats = [featurize(f"{i:07d}", d, preprocess) for i, d in enumerate(datas[start:start + batch_size], start)]
        hashes += [f.phash for f in feats]
        if model is None:
            continue
        batch = torch.stack([f.tensor for f in feats]).to(device)
        if device.startswith("cuda"):
            batch = batch.half()
        with torch.inference_mode():
            out.append(F.normalize(model.encode_image(batch).float(), dim=-1).cpu().numpy().astype(np.float16))
        if (start // batch_size) % 20 == 0:
            print(f"  embedded {min(start + batch_size, len(datas)):,}/{len(datas):,}", flush=True)
    # Without a model no similarity can reach a threshold: only the pHash rule fires.
    embeddings = np.concatenate(out) if out else np.zeros((len(datas), 1), np.float16)
    return np.array(hashes, dtype=np.uint64), embeddings


def in_set_recall(originals, copies, noise, max_distance: int) -> float:
    """Share of the copies `wit dedup` joins with their original inside one set: identical
    hashes grouped, then its multi-index buckets (`dedup.phash.bucket_pairs`)."""
    from collections import defaultdict

    from dedup import clusters, phash

    values = [int(v) for v in list(noise) + list(originals) + list(copies)]
    nodes = [(0, f"{i:07d}", 0) for i in range(len(values))]
    by_hash = defaultdict(list)
    for value, node in zip(values, nodes):
        by_hash[value].append(node)
    pairs = [pair for members in by_hash.values() for pair in clusters.star_pairs(members)]
    masks = phash.band_pairs(phash.band_layout(max_distance))
    buckets = defaultdict(list)
    for value, members in by_hash.items():
        for key in phash.index_keys(value, masks):
            buckets[key].append((value, min(members)))
    for (number, _), members in buckets.items():
        pairs += phash.bucket_pairs(members, number, masks, max_distance)
    root = clusters.resolve_remaining(pairs)
    first = len(noise)
    joined = [root.get(nodes[first + q], 0) == root.get(nodes[first + len(originals) + q], 1)
              for q in range(len(originals))]
    return sum(joined) / len(originals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip-model", default="ViT-B-32")
    parser.add_argument("--clip-pretrained", default="none", help="local weights path, or none (random init)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--distractors", type=int, default=5000)
    parser.add_argument("--similarity-threshold", type=float, default=0.95)
    parser.add_argument("--phash-distance", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--phash-only", action="store_true",
                        help="skip the model: pHash columns only (seconds instead of minutes on a CPU)")
    args = parser.parse_args()

    from dedup import phash as phash_lib, search
    from dedup.embed import create_embedding_model, resolve_device

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    started = time.time()
    photos = queries()
    names = sorted(photos)
    query_bytes = []
    for name in names:
        buffer = io.BytesIO()
        photos[name].save(buffer, "PNG")
        query_bytes.append(buffer.getvalue())
    copies = {t: [jpeg(fn(photos[name], i), 30 if t == "jpeg_q30" else 90) for i, name in enumerate(names)]
              for t, fn in TRANSFORMS.items()}
    noise = distractors(args.distractors, rng)
    print(f"{len(names)} query photographs x {len(TRANSFORMS)} transforms among {len(noise):,} distractors; "
          + ("no model (--phash-only)" if args.phash_only else
             f"model {args.clip_model} ({args.clip_pretrained}) on {device}"), flush=True)

    all_data = noise + [c for t in TRANSFORMS for c in copies[t]]
    preprocess = model = None
    if not args.phash_only:
        model, preprocess = create_embedding_model(args.clip_model, args.clip_pretrained, device)
    t0 = time.time()
    q_hash, q_emb = featurize_all(query_bytes, model, preprocess, args.batch_size, device)
    d_hash, d_emb = featurize_all(all_data, model, preprocess, args.batch_size, device)
    embed_s = time.time() - t0

    n_noise, nq = len(noise), len(names)
    rows = []
    for ti, t in enumerate(TRANSFORMS):
        cols = list(range(n_noise)) + [n_noise + ti * nq + q for q in range(nq)]
        keys = [f"{c:07d}" for c in cols]
        truth = {(q, f"{n_noise + ti * nq + q:07d}") for q in range(nq)}
        _, matches = search.search_block(q_emb, q_hash, keys, d_emb[cols], d_hash[cols], k=5,
                                         threshold=args.similarity_threshold,
                                         phash_distance=args.phash_distance)
        result = {"transform": t}
        for rule, fires in (("phash", lambda m: m.phash_distance <= args.phash_distance),
                            ("embedding", lambda m: m.similarity >= args.similarity_threshold),
                            ("both", lambda m: True)):
            flagged = {(m.eval_index, m.key) for m in matches if fires(m)}
            tp = len(flagged & truth)
            result[rule] = (tp / len(flagged) if flagged else float("nan"), tp / nq)
        sims = (q_emb.astype(np.float32) @ d_emb[cols].astype(np.float32).T)
        true_cols = np.arange(n_noise, n_noise + nq)
        result["pos_sim"] = float(np.median(sims[np.arange(nq), true_cols]))
        result["max_noise_sim"] = float(sims[:, :n_noise].max())
        result["pos_dist"] = float(np.median([phash_lib.hamming(int(q_hash[q]), int(d_hash[cols][n_noise + q]))
                                              for q in range(nq)]))
        result["in_set"] = in_set_recall(q_hash, d_hash[cols][n_noise:], d_hash[:n_noise], args.phash_distance)
        rows.append(result)

    print(f"\nthresholds: pHash distance <= {args.phash_distance}, cosine >= {args.similarity_threshold}; "
          f"{'featurizing' if args.phash_only else 'featurizing and embedding'} {len(all_data) + nq:,} images took "
          f"{embed_s:.0f} s ({(len(all_data) + nq) / embed_s:.1f} img/s)")
    header = (f"{'transform':<15}{'pHash P/R':>14}{'embed P/R':>14}{'both P/R':>14}{'med dist':>10}{'med cos':>9}"
              f"{'max noise cos':>15}{'in-set R':>10}")
    print(header)
    print("-" * len(header))
    for r in rows:
        cells = "".join((f"{r[rule][0]:>7.2f}" if r[rule][0] == r[rule][0] else f"{'n/a':>7}") + f"/{r[rule][1]:<6.2f}"
                        if rule == "phash" or not args.phash_only else f"{'-':>8}{'':6}"
                        for rule in ("phash", "embedding", "both"))
        cosines = f"{'-':>9}{'-':>15}" if args.phash_only else f"{r['pos_sim']:>9.3f}{r['max_noise_sim']:>15.3f}"
        print(f"{r['transform']:<15}{cells}{r['pos_dist']:>10.0f}{cosines}{r['in_set']:>10.2f}")
    if args.phash_only:
        print("\n--phash-only: no model ran; the embedding columns are empty.")
    elif args.clip_pretrained.lower() == "none":
        print("\nNOTE: random-init embeddings: 'embed' columns measure a random network, not CLIP. "
              "Pass --clip-pretrained PATH for the real figure.")
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
