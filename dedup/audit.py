"""`wit audit`: overlap between shards and eval sets, reported, nothing filtered.

The detection is shared with `wit dedup` and runs as two Beam pipelines:

1. `ComputeFeatures` — decode every image not yet embedded (dataset shards and eval
   sets alike), compute sha256 + pHash, embed with RunInference, and write one feature
   table per shard next to it (`00042.emb-<model tag>.npz`) and one per eval set into
   the cache (named by its content hash). Skipped entirely when everything is cached.
2. `DetectOverlap` (+ `FindDuplicates` for dedup) — stream the shard tables past the
   eval tables (a side input), merge per-eval nearest neighbours with a combiner, and
   collect the (eval image, sample) matches; group sha256s and pHash LSH bands for
   duplicates inside the set.

The driver then writes `report.json` / `report.html` from the pipeline's outputs, and
runs the optional zero-shot evaluation of a checkpoint on All/Clean/Overlap.

With `--clip-pretrained none` nothing is embedded (see `dedup.weights`): phase 1 computes
sha256 and pHash only, and torch is never imported. Flags and input paths are checked
(`config_from_args`, `check_inputs`) before anything imports torch or reads an image.
A damaged shard never stops the run: what could not be read is recorded per shard
(`shards.reader.read_samples`) and reported.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import apache_beam as beam
import pyarrow as pa

from dedup import features as features_lib, search

from wit_pipeline.clip import evalsets
from dedup.store import FeatureTable, eval_cache_path, shard_embedding_path
from dedup.weights import (EMBEDDINGS_OFF_REASON, check_device, download_failed_message, is_random_init,
                           phash_only_tag)
from shards.reader import ReadProblem
from wit_pipeline.core import counters, files
from wit_pipeline.core.options import is_local_runner, make_pipeline, pipeline_options, stop_if_dry_run
from wit_pipeline.clip.checkpoints import resolve_checkpoint


DEFAULT_SIMILARITY_THRESHOLD = 0.95
DEFAULT_PHASH_DISTANCE = 4


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wit", "eval-embeddings")


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "openai"
    device: str = "auto"       # resolved where the work runs (workers may have a GPU the driver lacks)
    batch_size: int = 64
    share_model_across_processes: bool = False
    similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD
    phash_distance: int = DEFAULT_PHASH_DISTANCE
    top_k: int = 5
    search_backend: str = "torch"
    cache_dir: str = ""

    @property
    def embeddings(self) -> bool:
        """Whether embeddings decide anything: only with real weights (see `dedup.weights`)."""
        return not is_random_init(self.clip_pretrained)

    @property
    def similarity(self) -> float | None:
        """The cosine threshold in force; None when the embedding detector is off."""
        return self.similarity_threshold if self.embeddings else None

    def validate(self) -> None:
        if not -1.0 <= self.similarity_threshold <= 1.0:
            raise ValueError(f"--similarity-threshold is a cosine similarity in [-1, 1], got {self.similarity_threshold}")
        if not 0 <= self.phash_distance < 64:
            raise ValueError(f"--phash-distance must be in 0..63, got {self.phash_distance}")
        if self.top_k < 1:
            raise ValueError(f"--top-k must be >= 1, got {self.top_k}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")


# ---------------------------------------------------------------- phase 1: features

@dataclasses.dataclass(frozen=True)
class FeatureWork:
    """One feature table to build: a shard tar, or an eval set's parts."""

    out_path: str
    shard: str | None = None
    eval_part: evalsets.EvalPart | None = None


def read_work_images(work: FeatureWork):
    """(out_path, key, image bytes, original pixels, label) per image, or (out_path,
    ReadProblem, None, None, None) per sample of a shard that could not be read; a None
    row first so that a unit with no image still yields its (empty) table."""
    yield work.out_path, None, None, None, None
    if work.shard is not None:
        from shards.reader import read_samples

        for sample in read_samples(work.shard):
            if isinstance(sample, ReadProblem):
                yield work.out_path, sample, None, None, None
                continue
            meta = sample.meta
            width, height = meta.get("original_width"), meta.get("original_height")
            pixels = width * height if isinstance(width, int) and isinstance(height, int) else None
            yield work.out_path, sample.key, sample.image, pixels, None
    else:
        for image in evalsets.read_part(work.eval_part):
            yield work.out_path, image.eval_id, image.data, None, image.label


class _Featurize(beam.DoFn):
    def __init__(self, preprocess):
        self._preprocess = preprocess
        self._undecodable = counters.counter("dedup", "undecodable_images")
        self._unreadable = counters.counter("dedup", "unreadable_samples")

    def process(self, row):
        out_path, key, data, pixels, label = row
        if key is None:
            yield beam.pvalue.TaggedOutput("marker", (out_path, None))
            return
        if isinstance(key, ReadProblem):
            self._unreadable.inc()
            yield beam.pvalue.TaggedOutput("unreadable", (out_path, key))
            return
        feats = features_lib.featurize(key, data, self._preprocess, pixels=pixels, label=label)
        if feats.error is not None:
            self._undecodable.inc()
            yield beam.pvalue.TaggedOutput("failed", (out_path, feats))
        else:
            yield (out_path, feats)


def _write_table(item, dim: int):
    out_path, entries = item
    rows = [e for e in entries if isinstance(e, features_lib.ImageFeatures)]
    # Grouping order is not fixed: sorted, the table is the same on every run.
    problems = sorted((e for e in entries if isinstance(e, ReadProblem)), key=lambda p: (p.key, p.error))
    table = FeatureTable.from_features(rows, dim, problems)
    table.save(out_path)
    failed = int((~table.ok).sum())
    notes = [f"{failed} undecodable"] if failed else []
    notes += [f"{len(problems)} unreadable"] if problems else []
    print(f"  {'embedded' if dim else 'hashed'} {len(table):,} images -> {out_path}"
          + (f" ({', '.join(notes)})" if notes else ""), flush=True)
    return out_path, len(table), failed


class ComputeFeatures(beam.PTransform):
    """FeatureWork -> (table path, images, undecodable) after writing each table."""

    def __init__(self, config: DetectionConfig, preprocess, dim: int):
        super().__init__()
        self._config = config
        self._preprocess = preprocess
        self._dim = dim

    def expand(self, work):
        config = self._config
        rows = work | "Read images" >> beam.FlatMap(read_work_images)
        decoded = rows | "Decode and preprocess" >> beam.ParDo(_Featurize(self._preprocess)).with_output_types(
            tuple[str, features_lib.ImageFeatures]).with_outputs(
            "failed", "marker", "unreadable", main="ok")
        featurized = decoded.ok
        if config.embeddings:
            from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

            from dedup.embed import OpenClipImageHandler

            handler = KeyedModelHandler(OpenClipImageHandler(
                config.clip_model, config.clip_pretrained, config.device, config.batch_size,
                config.share_model_across_processes))
            featurized = (
                decoded.ok
                | "Key by image" >> beam.Map(lambda kv: ((kv[0], kv[1].without_tensor()), kv[1].tensor))
                | "Embed" >> RunInference(handler)
                | "Attach embedding" >> beam.MapTuple(
                    lambda key, emb: (key[0], dataclasses.replace(key[1], embedding=emb))))
        return (
            (featurized, decoded.failed, decoded.marker, decoded.unreadable)
            | "Merge" >> beam.Flatten()
            | "Group by table" >> beam.GroupByKey()
            | "Write tables" >> beam.Map(_write_table, dim=self._dim))


# ---------------------------------------------------------------- phase 2: detection

@dataclasses.dataclass(frozen=True)
class EvalFeatures:
    name: str
    table: FeatureTable        # decodable images only
    undecodable: tuple[tuple[str, str], ...]


def load_block(tar: str, tag: str) -> tuple[str, FeatureTable]:
    return tar, FeatureTable.load(shard_embedding_path(tar, tag))


def load_eval(name: str, path: str) -> tuple[str, EvalFeatures]:
    """An eval set's cached feature table, split into decodable images and failures."""
    table = FeatureTable.load(path)
    ok = table.ok
    undecodable = tuple((str(k), str(e)) for k, e in zip(table.keys[~ok], table.errors[~ok]))
    return name, EvalFeatures(name, table.select(ok), undecodable)


class _SearchEvalSets(beam.DoFn):
    def __init__(self, config: DetectionConfig):
        self._config = config

    def setup(self):
        self._device = self._backend = None
        if self._config.embeddings:
            from dedup.embed import resolve_device

            self._device = resolve_device(self._config.device)
            self._backend = search.resolve_backend(self._config.search_backend, self._device)

    def process(self, block, evals):
        tar, table = block
        valid = table.select(table.ok)
        for name, ev in evals.items():
            if len(ev.table) == 0:
                continue
            state, matches = search.search_block(
                ev.table.embeddings, ev.table.phash, list(valid.keys), valid.embeddings, valid.phash,
                k=self._config.top_k, threshold=self._config.similarity,
                phash_distance=self._config.phash_distance, backend=self._backend, device=self._device)
            yield name, state
            eval_ids = ev.table.keys
            for m in matches:
                yield beam.pvalue.TaggedOutput("matches", (name, (str(eval_ids[m.eval_index]), m.key, tar,
                                                                   m.similarity, m.phash_distance)))


class MergeNearest(beam.CombineFn):
    """Merges per-block `NearestState`s of one eval set (None is the empty accumulator)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, state):
        if state is None:
            return acc
        return state if acc is None else acc.merge(state)

    def merge_accumulators(self, accs):
        result = None
        for acc in accs:
            if acc is not None:
                result = acc if result is None else result.merge(acc)
        return result

    def extract_output(self, acc):
        return acc


class DetectOverlap(beam.PTransform):
    """Shard feature tables -> {"nearest": (name, NearestState | None), "matches": (name, [match...]),
    "evals": one {name: EvalFeatures} dict}; a match is (eval_id, key, shard, similarity, pHash distance).

    The eval tables are read from their cache files by the workers (a side input), not
    shipped inside the pipeline graph. Every eval set gets an output even when no shard
    matched it (the seeds below); its nearest state is None when there was no shard at all.
    """

    def __init__(self, config: DetectionConfig, eval_paths: dict[str, str]):
        super().__init__()
        self._config = config
        self._eval_paths = eval_paths

    def expand(self, blocks):
        p = blocks.pipeline
        evals = (p | "Eval tables" >> beam.Create(sorted(self._eval_paths.items()))
                 | "Load eval tables" >> beam.MapTuple(load_eval)
                 | "Eval dict" >> beam.combiners.ToDict())
        evals_side = beam.pvalue.AsSingleton(evals)
        searched = blocks | "Search" >> beam.ParDo(_SearchEvalSets(self._config), evals_side).with_output_types(
            tuple[str, search.NearestState]).with_outputs(
            "matches", main="nearest")
        seeds_nearest = p | "Seed nearest" >> beam.Create([(name, None) for name in sorted(self._eval_paths)])
        nearest = ((searched.nearest, seeds_nearest) | "All nearest" >> beam.Flatten()
                   | "Merge nearest" >> beam.CombinePerKey(MergeNearest()))
        seeds_matches = p | "Seed matches" >> beam.Create([(name, None) for name in sorted(self._eval_paths)])
        matches = ((searched.matches, seeds_matches) | "All matches" >> beam.Flatten()
                   | "Matches per eval set" >> beam.GroupByKey()
                   | "Sort matches" >> beam.MapTuple(
                       lambda name, ms: (name, sorted((m for m in ms if m is not None), key=lambda m: (m[0], m[1])))))
        return {"nearest": nearest, "matches": matches, "evals": evals}


def _count_block(block):
    """The block's counts; a damaged shard also gives its entry of the `damaged` list."""
    tar, table = block
    unreadable_samples = int((table.unreadable_keys != "").sum())
    damaged = []
    if table.damaged:
        damaged.append({"shard": tar, "samples_read": len(table), "unreadable_samples": unreadable_samples,
                        "problems": len(table.unreadable_errors),
                        "first_problems": table.unreadable_errors[:3].tolist()})
    return {"samples": len(table), "undecodable": int((~table.ok).sum()), "unreadable_samples": unreadable_samples,
            "damaged": damaged}


def _sum_counts(counts):
    """Associative (Beam may combine partial sums): numbers add up, damaged lists concatenate."""
    total = {"samples": 0, "undecodable": 0, "unreadable_samples": 0, "damaged": []}
    for c in counts:
        for k in total:
            total[k] += c[k]
    return total


def _dataset_counts(total) -> dict:
    damaged = sorted(total["damaged"], key=lambda d: d["shard"])
    return {"samples": total["samples"], "undecodable": total["undecodable"], "damaged_shards": len(damaged),
            "unreadable_samples": total["unreadable_samples"], "damaged": damaged}


def _unreadable_rows(block):
    tar, table = block
    for key, error in zip(table.unreadable_keys.tolist(), table.unreadable_errors.tolist()):
        yield tar, key, error


def _undecodable_rows(block):
    tar, table = block
    for key, error in zip(table.keys[~table.ok], table.errors[~table.ok]):
        yield str(key), tar, str(error)


def overlap_table(matches) -> pa.Table:
    return pa.table({
        "eval_id": pa.array([m[0] for m in matches], pa.string()),
        "key": pa.array([m[1] for m in matches], pa.string()),
        "similarity": pa.array([float(m[3]) for m in matches], pa.float32()),
        "phash_distance": pa.array([int(m[4]) for m in matches], pa.int16()),
        "shard": pa.array([m[2] for m in matches], pa.string()),
    })


def nearest_table(ev: EvalFeatures, state: search.NearestState | None, k: int) -> pa.Table:
    if state is None:
        state = search.NearestState.empty(len(ev.table), k)
    found = state.keys != ""
    return pa.table({
        "eval_id": pa.array([str(x) for x in ev.table.keys], pa.string()),
        "label": pa.array(ev.table.labels.tolist(), pa.int64()),
        "nearest_keys": pa.array([[str(k) for k, f in zip(row, fr) if f] for row, fr in zip(state.keys, found)],
                                 pa.list_(pa.string())),
        "nearest_similarities": pa.array([[float(s) for s, f in zip(row, fr) if f]
                                          for row, fr in zip(state.scores, found)], pa.list_(pa.float32())),
        "phash_nearest_key": pa.array([str(k) if k else None for k in state.phash_key], pa.string()),
        "phash_nearest_distance": pa.array([int(d) if k else None for d, k in zip(state.phash_distance, state.phash_key)],
                                           pa.int16()),
    })


class WriteOverlap(beam.PTransform):
    """Writes `overlap-NAME.parquet` and `nearest-NAME.parquet` per eval set into out_dir."""

    def __init__(self, out_dir: str, k: int):
        super().__init__()
        self._out_dir = out_dir
        self._k = k

    def expand(self, detected):
        out_dir, k = self._out_dir, self._k

        def write_overlap(name, matches):
            files.write_parquet(files.join(out_dir, f"overlap-{name}.parquet"), overlap_table(matches))
            return name

        def write_nearest(item, evals):
            name, state = item
            files.write_parquet(files.join(out_dir, f"nearest-{name}.parquet"), nearest_table(evals[name], state, k))
            return name

        return ((detected["matches"] | "Write overlap" >> beam.MapTuple(write_overlap)),
                (detected["nearest"] | "Write nearest" >> beam.Map(write_nearest, evals=beam.pvalue.AsSingleton(detected["evals"]))))


def write_dataset_counts(blocks, out_dir: str):
    """`_dataset.json`: sample, undecodable and unreadable counts and the damaged shards;
    `undecodable.parquet` and `unreadable.parquet`: which and why."""
    counts = (blocks | "Count" >> beam.Map(_count_block)
              | "Sum counts" >> beam.CombineGlobally(_sum_counts))
    counts | "Write counts" >> beam.Map(
        lambda c: files.write_json(files.join(out_dir, "_dataset.json"), _dataset_counts(c)))
    (blocks | "Unreadable" >> beam.FlatMap(_unreadable_rows)
     | "All unreadable" >> beam.combiners.ToList()
     | "Write unreadable" >> beam.Map(lambda rows: files.write_parquet(
         files.join(out_dir, "unreadable.parquet"),
         pa.table({"shard": pa.array([r[0] for r in sorted(rows)], pa.string()),
                   "key": pa.array([r[1] for r in sorted(rows)], pa.string()),
                   "error": pa.array([r[2] for r in sorted(rows)], pa.string())}))))
    (blocks | "Undecodable" >> beam.FlatMap(_undecodable_rows)
     | "All undecodable" >> beam.combiners.ToList()
     | "Write undecodable" >> beam.Map(lambda rows: files.write_parquet(
         files.join(out_dir, "undecodable.parquet"),
         pa.table({"key": pa.array([r[0] for r in sorted(rows)], pa.string()),
                   "shard": pa.array([r[1] for r in sorted(rows)], pa.string()),
                   "error": pa.array([r[2] for r in sorted(rows)], pa.string())}))))


# ---------------------------------------------------------------- driver

@dataclasses.dataclass
class Inputs:
    """The shards and eval sets named on the command line, found and parsed (no image read yet)."""

    shards: list[str]
    eval_sets: dict[str, evalsets.EvalSet]


def check_inputs(shard_globs: list[str], eval_args: list[str]) -> Inputs:
    from shards.reader import find_shards

    shards = find_shards(shard_globs)
    eval_sets: dict[str, evalsets.EvalSet] = {}
    for arg in eval_args or []:
        name, path = evalsets.parse_eval_arg(arg)
        if name in eval_sets:
            raise ValueError(f"--eval name {name!r} given twice")
        eval_sets[name] = evalsets.discover(name, path)
    return Inputs(shards, eval_sets)


@dataclasses.dataclass
class Prepared:
    config: DetectionConfig
    shards: list[str]
    eval_sets: dict[str, evalsets.EvalSet]
    tag: str
    dim: int                 # embedding width; 0 when the embedding detector is off
    preprocess: object       # the model's eval transform; None when nothing is embedded
    eval_cache: dict[str, str]


def _embedding_model(config: DetectionConfig) -> tuple[str, int, object]:
    """(model tag, embedding width, preprocess) of the configured weights, loaded once here
    so that missing weights are a clear error before any pipeline starts."""
    from dedup.embed import create_embedding_model, model_tag
    from wit_pipeline.clip.models import WeightsUnavailable, resolve_model_spec

    spec = resolve_model_spec(config.clip_model)
    try:
        _, preprocess = create_embedding_model(config.clip_model, config.clip_pretrained, "cpu")
    except WeightsUnavailable as exc:
        raise FileNotFoundError(download_failed_message(config.clip_pretrained, spec["name"], exc.cause)) from None
    return model_tag(config.clip_model, config.clip_pretrained), int(spec["config"]["embed_dim"]), preprocess


def prepare(inputs: Inputs, config: DetectionConfig) -> Prepared:
    if config.embeddings:
        tag, dim, preprocess = _embedding_model(config)
    else:
        print(f"embedding detector off ({EMBEDDINGS_OFF_REASON})", flush=True)
        tag, dim, preprocess = phash_only_tag(), 0, None
    eval_cache = {}
    for name, eval_set in inputs.eval_sets.items():
        started = time.time()
        digest = evalsets.content_hash(eval_set)
        eval_cache[name] = eval_cache_path(config.cache_dir, digest, tag)
        print(f"eval set {name}: {len(eval_set.parts)} part(s), content {digest[:12]} "
              f"({time.time() - started:.1f}s)", flush=True)
    return Prepared(config, inputs.shards, inputs.eval_sets, tag, dim, preprocess, eval_cache)


def run_features(prep: Prepared, beam_argv: list[str]) -> dict:
    """Phase 1 for everything not cached; returns counts of what was computed."""
    work = []
    for tar in prep.shards:
        path = shard_embedding_path(tar, prep.tag)
        if not files.exists(path):
            work.append(FeatureWork(path, shard=tar))
    todo_shards = len(work)
    todo_evals = 0
    for name, path in prep.eval_cache.items():
        if not files.exists(path):
            files.makedirs(prep.config.cache_dir)
            todo_evals += 1
            # All parts of one eval set feed one table: out_path groups them.
            work.extend(FeatureWork(path, eval_part=part) for part in prep.eval_sets[name].parts)
    work_name = f"embedding (model tag {prep.tag}, device {prep.config.device})" if prep.dim else \
        f"hashing (pHash only, tag {prep.tag})"
    print(f"features: {todo_shards} of {len(prep.shards)} shard(s) and {todo_evals} of {len(prep.eval_cache)} "
          f"eval set(s) need {work_name}", flush=True)
    if work:
        started = time.time()
        with make_pipeline(pipeline_options(beam_argv)) as p:
            (p | "Work" >> beam.Create(work)
             | "Features" >> ComputeFeatures(prep.config, prep.preprocess, prep.dim))
        stop_if_dry_run(p.options)
        print(f"features: done in {time.time() - started:.1f}s", flush=True)
    return {"shards_embedded": todo_shards, "shards_cached": len(prep.shards) - todo_shards,
            "eval_sets_embedded": todo_evals, "eval_sets_cached": len(prep.eval_cache) - todo_evals}


def load_eval_features(prep: Prepared) -> dict[str, EvalFeatures]:
    return dict(load_eval(name, path) for name, path in prep.eval_cache.items())


def add_detection_arguments(parser: argparse.ArgumentParser, eval_required: bool) -> None:
    parser.add_argument("--shards", required=True, action="append", metavar="GLOB",
                        help="shard tars: a glob, a .tar or a directory (repeatable)")
    parser.add_argument("--eval", action="append", default=[], required=eval_required, metavar="NAME=PATH",
                        help="eval set: image-folder tree CLASS/IMAGE, WebDataset tars, or parquet with "
                             "image bytes (repeatable)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--clip-model", default="ViT-B-32",
                        help="open_clip architecture, project config name (wit-tiny) or JSON config path")
    parser.add_argument("--clip-pretrained", default="openai",
                        help="local weights file (open_clip or `wit train` checkpoint), an open_clip pretrained "
                             "tag (open_clip downloads it: needs network), or 'none' for pHash-only detection: "
                             "no model, sha256 and pHash decide (default: openai)")
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda (auto: CUDA fp16 when present, else CPU fp32)")
    parser.add_argument("--phash-distance", type=int, default=DEFAULT_PHASH_DISTANCE,
                        help="max pHash Hamming distance (of 64 bits) counted as a duplicate (default 4)")
    parser.add_argument("--similarity-threshold", type=float, default=None,
                        help="min cosine similarity of CLIP embeddings counted as overlap (default 0.95; "
                             "not with --clip-pretrained none)")
    parser.add_argument("--top-k", type=int, default=5, help="nearest dataset samples kept per eval image (default 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="embedding batch size (default 64)")
    parser.add_argument("--search-backend", default="auto", choices=search.BACKENDS,
                        help="exact search: torch (bf16 candidates, fp32 rescoring) or faiss (flat IP index)")
    parser.add_argument("--cache-dir", default=default_cache_dir(),
                        help="eval-set embedding cache (default ~/.cache/wit/eval-embeddings)")
    parser.add_argument("--share-model-across-processes", action="store_true",
                        help="one model per machine instead of per worker process (Beam's multi-process sharing)")
    parser.add_argument("--report-pairs", type=int, default=50,
                        help="overlapping pairs shown per eval set in report.html (default 50)")


def config_from_args(args) -> DetectionConfig:
    """The detection flags, checked; imports nothing heavy (see `check_device_present`)."""
    device = check_device(args.device)
    search.resolve_backend(args.search_backend, "cpu")  # validates the name and faiss availability
    threshold = args.similarity_threshold
    if threshold is not None and is_random_init(args.clip_pretrained):
        raise ValueError("--similarity-threshold needs real weights: with --clip-pretrained none the "
                         "embedding detector is off (sha256 and pHash only)")
    config = DetectionConfig(
        clip_model=args.clip_model, clip_pretrained=args.clip_pretrained, device=device,
        batch_size=args.batch_size, share_model_across_processes=args.share_model_across_processes,
        similarity_threshold=DEFAULT_SIMILARITY_THRESHOLD if threshold is None else threshold,
        phash_distance=args.phash_distance, top_k=args.top_k,
        search_backend=args.search_backend, cache_dir=args.cache_dir)
    config.validate()
    return config


def check_device_present(config: DetectionConfig, beam_argv) -> None:
    """A local run asking for a GPU it lacks is a clear error now, not a worker traceback
    (this imports torch: call it after the cheap checks)."""
    if config.embeddings and is_local_runner(pipeline_options(list(beam_argv))):
        from dedup.embed import resolve_device

        resolve_device(config.device)


class Audit(beam.PTransform):
    """Shard feature tables -> overlap/nearest parquet per eval set and dataset counts in out_dir."""

    def __init__(self, config: DetectionConfig, eval_paths: dict[str, str], out_dir: str):
        super().__init__()
        self._config, self._eval_paths, self._out_dir = config, eval_paths, out_dir

    def expand(self, blocks):
        write_dataset_counts(blocks, self._out_dir)
        detected = blocks | "Overlap" >> DetectOverlap(self._config, self._eval_paths)
        detected | "Write" >> WriteOverlap(self._out_dir, self._config.top_k)
        return detected


def run_detection(prep: Prepared, out_dir: str, beam_argv: list[str], extra=None) -> None:
    """Phase 2: `Audit` over every shard table, plus `extra(blocks, detected)` (dedup's removals)."""
    files.makedirs(out_dir)
    started = time.time()
    print(f"detect: {len(prep.shards)} shard(s) against {len(prep.eval_cache)} eval set(s)", flush=True)
    with make_pipeline(pipeline_options(beam_argv)) as p:
        blocks = (p | "Shards" >> beam.Create(prep.shards)
                  | "Load features" >> beam.Map(load_block, tag=prep.tag))
        detected = blocks | "Audit" >> Audit(prep.config, prep.eval_cache, out_dir)
        if extra is not None:
            extra(blocks, detected)
    stop_if_dry_run(p.options)
    print(f"detect: done in {time.time() - started:.1f}s", flush=True)


def main(args, beam_argv: list[str]) -> int:
    from wit_pipeline.core.console import finish

    config = config_from_args(args)
    # The forms `wit eval --checkpoint` takes: a file, or a training OUT (its latest checkpoint).
    checkpoint = resolve_checkpoint(args.zero_shot_checkpoint) if args.zero_shot_checkpoint else None
    inputs = check_inputs(args.shards, args.eval)
    files.lock_out(args.out, "audit")
    # Only now the heavy imports and the long work.
    from dedup import report as report_lib

    check_device_present(config, beam_argv)
    if checkpoint is not None:
        from wit_pipeline.clip.models import read_checkpoint

        read_checkpoint(checkpoint)  # a file that is no `wit train` checkpoint fails now, not after detection
    prep = prepare(inputs, config)
    feature_counts = run_features(prep, beam_argv)
    run_detection(prep, args.out, beam_argv)
    evals = load_eval_features(prep)
    report = report_lib.build_report(args.out, prep, evals, zero_shot_checkpoint=checkpoint,
                                     report_pairs=args.report_pairs, features=feature_counts)
    finish(args.out, "wit audit", report_lib.summary_stats(report))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detection_arguments(parser, eval_required=True)
    parser.add_argument("--zero-shot-checkpoint", metavar="CKPT",
                        help="a `wit train` checkpoint file or training OUT directory (its latest checkpoint): "
                             "zero-shot accuracy on All/Clean/Overlap of every image-folder eval set, with a "
                             "one-sided binomial test")
