"""Does `wit dedup`'s detection scale? Memory and time at 100k and 400k samples.

Feature tables are synthesized directly, as phase 1 would have written them (pHash,
sha256, 512-d unit float16 embeddings from a mixture of 2,000 topics under 50 subjects;
no model, no image), 10k samples per shard, with 30% of the samples planted as
duplicates of another:

- groups of 2-6 of varied kinds: byte copies (same sha256, pHash and embedding), pHash
  near copies (1-4 bits away, embedding cosine ~0.99), embedding near copies (cosine
  0.96-0.99, pHash unrelated);
- one placeholder seen 10,000 times (one pHash and one embedding, distinct bytes);
- one hot pHash bucket: 20,000 distinct hashes that agree on one bucket key, pairwise
  more than 4 bits apart (not duplicates: none may be removed).

Then `wit dedup`'s detection and removal pipeline (`dedup.command.run_detection`: the
audit, `FindDuplicates` with `--within-similarity 0.95`, `WriteRemovals`) runs in a child
process under `--direct_running_mode multi_processing --direct_num_workers 2`. Printed
per size: wall time, peak RSS of the launcher (the child; under the DirectRunner it is
also the runner, which holds every shuffle in memory) and of the largest worker (polled
with psutil); what passed through the runner (grouped bytes in all, the largest bundle one
worker got: `watch_runner_inputs`); then the time ratio, and whether every planted
duplicate was removed with its reason and nothing else. Last, the recall of the k-means
partition against exact all-pairs search: of the pairs of distinct vectors at cosine
>= 0.95 between 5,000 sampled rows and all 400k, how many fall in a shared cluster.

    .venv/bin/python bench/dedup_scale.py                 # 100k and 400k
    .venv/bin/python bench/dedup_scale.py --sizes 20000 80000 --keep /tmp/scale
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DIM = 512
PER_SHARD = 10_000
THRESHOLD = 0.95
TAG = "bench-scale"
TOP_BIT = np.uint64(1 << 63)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def near_vector(rng, base, cosine):
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise = unit(noise - (noise @ base) * base)
    return unit(cosine * base + np.sqrt(1 - cosine ** 2) * noise)


def far_hashes(rng, n: int, fixed_mask: int, fixed_bits: int) -> np.ndarray:
    """n distinct pHashes that agree on `fixed_mask` and are pairwise more than 4 bits apart."""
    from dedup import phash

    free = np.uint64(((1 << 63) - 1) & ~fixed_mask)
    values = (rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) & free) | np.uint64(fixed_bits) | TOP_BIT
    while True:
        close = set()
        phash._brute_pairs(values, 4, lambda rows, cols: close.update(cols.tolist()))
        if not close:
            return values
        redo = np.array(sorted(close))
        values[redo] = (rng.integers(0, 2**63, len(redo), dtype=np.int64).astype(np.uint64) & free) | \
            np.uint64(fixed_bits) | TOP_BIT


def synthesize(directory: str, n: int, seed: int = 0) -> dict:
    """Feature tables for n samples in shards of PER_SHARD; returns {key: (reason, survivor)}."""
    from dedup import phash
    from dedup.store import FeatureTable, shard_embedding_path
    from shards.layout import sample_key

    rng = np.random.default_rng(seed)
    # Topics grouped under 50 broader subjects: CLIP's embedding space is that clustered.
    subjects = unit(rng.standard_normal((50, DIM)).astype(np.float32))
    topics = unit(0.8 * subjects[rng.integers(0, 50, 2000)] + 0.6 * unit(rng.standard_normal((2000, DIM)).astype(np.float32)))
    common = unit(rng.standard_normal(DIM).astype(np.float32))
    emb = unit(0.5 * common + 0.7 * topics[rng.integers(0, 2000, n)]
               + 0.5 * unit(rng.standard_normal((n, DIM)).astype(np.float32)))
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) | TOP_BIT
    sha = [f"{i:064x}" for i in range(n)]
    pixels = rng.integers(10_000, 1_000_000, n)
    keys = [sample_key(i // PER_SHARD, i % PER_SHARD, PER_SHARD) for i in range(n)]
    expected: dict[str, tuple[str, str]] = {}
    order = rng.permutation(n)  # who plays which part, spread over every shard
    hot_n, placeholder_n = min(20_000, n // 5), min(10_000, n // 10)
    masks = phash.band_pairs(phash.band_layout(4))
    hot = order[:hot_n]
    hashes[hot] = far_hashes(rng, hot_n, masks[0], int(rng.integers(0, 2**62)) & masks[0])
    placeholder = order[hot_n:hot_n + placeholder_n]
    hashes[placeholder] = hashes[placeholder[0]]
    emb[placeholder] = emb[placeholder[0]]
    pixels[placeholder[0]] = 2_000_000
    expected.update({keys[i]: ("near_duplicate_phash", keys[placeholder[0]]) for i in placeholder[1:]})
    planted = int(0.3 * n) - (placeholder_n - 1)
    cursor = hot_n + placeholder_n
    kinds = ("exact_duplicate", "near_duplicate_phash", "near_duplicate_embedding")
    while planted > 0:
        size = min(int(rng.integers(2, 7)), planted + 1)
        group = order[cursor:cursor + size]
        cursor += size
        planted -= size - 1
        original = group[0]
        pixels[original] = 2_000_000
        kind = kinds[int(rng.integers(0, 3))]
        for copy in group[1:]:
            if kind == "exact_duplicate":
                sha[copy], hashes[copy], emb[copy] = sha[original], hashes[original], emb[original]
            elif kind == "near_duplicate_phash":
                flips = rng.choice(63, int(rng.integers(1, 5)), replace=False)
                hashes[copy] = hashes[original] ^ np.uint64(sum(1 << int(b) for b in flips))
                emb[copy] = near_vector(rng, emb[original], 0.99)
            else:
                emb[copy] = near_vector(rng, emb[original], float(rng.uniform(0.96, 0.99)))
            expected[keys[copy]] = (kind, keys[original])
    emb16 = emb.astype(np.float16)
    shards = []
    for start in range(0, n, PER_SHARD):
        rows = slice(start, min(start + PER_SHARD, n))
        tar = os.path.join(directory, f"{start // PER_SHARD:05d}.tar")
        FeatureTable(keys=np.array(keys[rows], dtype=str), sha256=np.array(sha[rows], dtype=str),
                     phash=hashes[rows], pixels=pixels[rows].astype(np.int64),
                     labels=np.full(rows.stop - rows.start, -1, dtype=np.int64), embeddings=emb16[rows],
                     errors=np.array([""] * (rows.stop - rows.start), dtype=str)).save(shard_embedding_path(tar, TAG))
        shards.append(tar)
    np.save(os.path.join(directory, "embeddings.npy"), emb16)
    with open(os.path.join(directory, "plan.json"), "w") as f:
        json.dump({"shards": shards, "expected": expected}, f)
    return expected


def watch_runner_inputs() -> dict:
    """Under the DirectRunner (Beam's FnApiRunner), every stage's whole input is held by
    the runner (the launcher) and cut into one bundle per worker. Records, from the
    encoded bundles the runner hands out: the bytes of all grouped (shuffled) inputs, and
    the largest bundle one worker got, with its stage. A diagnostic of this bench that
    reads Beam internals (2.77), not part of wit."""
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

    seen = {"shuffled": 0, "largest_bundle": 0, "largest_stage": ""}
    original = fn_runner.ParallelBundleManager.process_bundle

    def process_bundle(self, inputs, *args, **kwargs):
        per_worker = [0] * self._num_workers
        for buffer in inputs.values():
            parts = buffer.partition(self._num_workers)  # cached by the buffer: no extra work
            sizes = [sum(len(chunk) for chunk in part) for part in parts]
            if isinstance(buffer, execution.GroupingBuffer):
                seen["shuffled"] += sum(sizes)
            per_worker = [a + b for a, b in zip(per_worker, sizes)]
        if max(per_worker) > seen["largest_bundle"]:
            seen.update(largest_bundle=max(per_worker),
                        largest_stage=self.bundle_context_manager.stage.name.split("/Read)")[0].strip("("))
        return original(self, inputs, *args, **kwargs)

    fn_runner.ParallelBundleManager.process_bundle = process_bundle
    return seen


def run_child(directory: str, workers: int, embeddings: bool) -> None:
    """The launcher: runs the detection pipeline, polls its workers' memory and CPU time,
    prints JSON."""
    import psutil

    from dedup import phases
    from dedup.command import DedupConfig, run_detection
    from dedup.config import DetectionConfig

    with open(os.path.join(directory, "plan.json")) as f:
        shards = json.load(f)["shards"]
    out = os.path.join(directory, "out")
    detection = DetectionConfig(shards=tuple(shards), out=out, clip_pretrained="synthetic", device="cpu",
                                cache_dir=os.path.join(out, "eval-cache"))
    config = DedupConfig(detection, within_similarity=THRESHOLD if embeddings else None)
    prep = phases.Prepared(detection, shards, {}, TAG, DIM, None, {})
    peak_worker, cpu_worker = {}, {}
    done = threading.Event()

    def poll():
        me = psutil.Process()
        while not done.is_set():
            for child in me.children(recursive=True):
                try:
                    peak_worker[child.pid] = max(peak_worker.get(child.pid, 0), child.memory_info().rss)
                    times = child.cpu_times()
                    cpu_worker[child.pid] = times.user + times.system
                except psutil.Error:
                    pass
            done.wait(0.2)

    runner_inputs = watch_runner_inputs()
    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    started = time.perf_counter()
    run_detection(prep, config, ["--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)])
    wall = time.perf_counter() - started
    done.set()
    watcher.join()
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": wall, "launcher_rss": own.ru_maxrss * 1024,
                      "worker_rss": max(peak_worker.values(), default=0),
                      "cpu": own.ru_utime + own.ru_stime + sum(cpu_worker.values()), **runner_inputs}))


def removed(directory: str) -> dict:
    import pyarrow.parquet as pq

    rows = {}
    folder = os.path.join(directory, "out", "audit", "removed")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".parquet"):
            rows.update({r["key"]: (r["reason"], r["detail"]) for r in pq.read_table(os.path.join(folder, name)).to_pylist()})
    return rows


def partition_recall(directory: str, queries: int = 5000) -> tuple[float, int, float]:
    """(recall, true pairs, members per sample) of the k-means partition against exact search."""
    import torch

    from dedup import semantic
    from shards.layout import sample_key

    emb = np.load(os.path.join(directory, "embeddings.npy"))
    n = len(emb)
    keys = [sample_key(i // PER_SHARD, i % PER_SHARD, PER_SHARD) for i in range(n)]  # the pipeline's sample
    clusters_wanted = semantic.cluster_count(n)
    sampled = semantic.in_sample(keys, n, clusters_wanted)
    centroids = semantic.train_centroids([(k, v) for k, v, s in zip(keys, emb, sampled) if s], n)
    member_of = semantic.assign(emb, centroids)
    rng = np.random.default_rng(1)
    rows = rng.choice(n, queries, replace=False)
    everything = torch.from_numpy(emb.astype(np.float32))
    true_pairs = found = 0
    for start in range(0, queries, 500):
        chunk = rows[start:start + 500]
        sims = everything[chunk] @ everything.T
        for r, c in torch.nonzero(sims >= THRESHOLD).tolist():
            a, b = int(chunk[r]), c
            if (emb[a] == emb[b]).all():
                continue  # itself, or a byte copy: the same vector is always in the same cluster
            true_pairs += 1
            found += bool(set(member_of[a]) & set(member_of[b]))
    members = sum(len(m) for m in member_of) / n
    return (found / true_pairs if true_pairs else float("nan")), true_pairs, members


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="write the synthetic tables here and keep them")
    parser.add_argument("--no-embedding-search", action="store_true",
                        help="without --within-similarity: the hash and group part alone (embedding-near "
                             "copies are then expected to stay)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.workers, not args.no_embedding_search)
        return
    base = args.keep or tempfile.mkdtemp(prefix="wit-dedup-scale-")
    results = {}
    try:
        for n in args.sizes:
            directory = os.path.join(base, str(n))
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
            t0 = time.perf_counter()
            expected = synthesize(directory, n)
            print(f"{n:,} samples: {len(expected):,} planted duplicates, tables written in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
            child = subprocess.run([sys.executable, __file__, "--child", directory, "--workers", str(args.workers)]
                                   + (["--no-embedding-search"] if args.no_embedding_search else []),
                                   capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
            if child.returncode:
                sys.exit(f"the pipeline failed:\n{child.stderr[-4000:]}")
            result = json.loads(child.stdout.strip().splitlines()[-1])
            got = removed(directory)
            if args.no_embedding_search:
                expected = {k: v for k, v in expected.items() if v[0] != "near_duplicate_embedding"}
            missed = {k: v for k, v in expected.items() if got.get(k) != v}
            extra = {k: v for k, v in got.items() if k not in expected}
            result.update(planted=len(expected), removed=len(got), wrong=len(missed), extra=len(extra))
            results[n] = result
            print(f"  wall {result['wall']:.1f} s, CPU {result['cpu']:.0f} s; peak RSS launcher {result['launcher_rss'] / 2**20:.0f} MiB, "
                  f"largest worker {result['worker_rss'] / 2**20:.0f} MiB; removed {len(got):,}: "
                  f"{len(expected) - len(missed):,} of {len(expected):,} planted with the right reason and survivor, "
                  f"{len(extra)} not planted", flush=True)
            print(f"  through the runner: {result['shuffled'] / 2**20:,.0f} MiB of grouped (shuffled) input in all; "
                  f"largest bundle to one worker {result['largest_bundle'] / 2**20:,.0f} MiB "
                  f"({result['largest_stage']})", flush=True)
            for key in list(missed)[:5] + list(extra)[:5]:
                print(f"    {key}: expected {expected.get(key)}, got {got.get(key)}")
        if len(args.sizes) >= 2:
            small, large = results[args.sizes[0]], results[args.sizes[-1]]
            factor = args.sizes[-1] / args.sizes[0]
            print(f"\n{factor:.0f}x the data: wall time x{large['wall'] / small['wall']:.2f} (goal <= 4.5 for 4x), "
                  f"CPU time x{large['cpu'] / small['cpu']:.2f}, "
                  f"launcher RSS x{large['launcher_rss'] / small['launcher_rss']:.2f}, "
                  f"largest worker RSS x{large['worker_rss'] / small['worker_rss']:.2f} (goal <= 1.15)")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if args.no_embedding_search:
            return
        recall, pairs, members = partition_recall(os.path.join(base, str(args.sizes[-1])))
        print(f"partition recall vs exact all-pairs search, {args.sizes[-1]:,} samples: {recall:.4f} of {pairs:,} "
              f"pairs at cosine >= {THRESHOLD} (goal >= 0.98); {members:.3f} cluster memberships per sample")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
