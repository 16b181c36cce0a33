"""The Beam side of `wit audit` and `wit dedup`: one composite PTransform per step.

- `ComputeFeatures` (phase 1): decode every image not yet embedded (dataset shards and
  eval sets alike), compute sha256 + pHash, embed with RunInference
  (`dedup.inference.pipeline.EmbedImages`), and write one feature table per shard next to
  it and one per eval set into the cache.
- `ReadFeatureTables`: the shard tables, one block per shard.
- `Audit` = `DetectOverlap` (shard tables streamed past the eval tables, a side input;
  per-eval nearest neighbours merged by a combiner) + `WriteOverlap` + `WriteDatasetCounts`.
- `FindDuplicates`: duplicate groups inside the set and the samples they remove.
- `WriteRemovals`: every removed sample with its reason.
- `WriteFilteredShards`: the kept samples re-sharded.

`wit audit` runs `ComputeFeatures`, then `ReadFeatureTables | Audit`; `wit dedup` chains
`FindDuplicates` and `WriteRemovals` onto the same blocks and the audit's matches, then
runs `WriteFilteredShards`. The logic lives in plain modules; these only wire it.
"""
from __future__ import annotations

import itertools

import apache_beam as beam

from dedup import candidates, features as features_lib, overlap, removals, reshard
from dedup.config import DetectionConfig
from dedup.store import FeatureTable, FeatureWork, read_work_images, shard_embedding_path, write_table
from shards.reader import ReadProblem
from wit_pipeline.core import counters, files

# ---------------------------------------------------------------- phase 1: features


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


class ComputeFeatures(beam.PTransform):
    """The pipeline root -> (table path, images, undecodable) after writing each table of `work`."""

    def __init__(self, work: list[FeatureWork], config: DetectionConfig, preprocess, dim: int):
        super().__init__()
        self._work = work
        self._config = config
        self._preprocess = preprocess
        self._dim = dim

    def expand(self, root):
        config = self._config
        rows = root | "Work" >> beam.Create(self._work) | "Read images" >> beam.FlatMap(read_work_images)
        decoded = rows | "Decode and preprocess" >> beam.ParDo(_Featurize(self._preprocess)).with_output_types(
            tuple[str, features_lib.ImageFeatures]).with_outputs(
            "failed", "marker", "unreadable", main="ok")
        featurized = decoded.ok
        if config.embeddings:
            from dedup.inference.pipeline import EmbedImages  # imports torch: only with real weights

            featurized = decoded.ok | "Embed" >> EmbedImages(config)
        return (
            (featurized, decoded.failed, decoded.marker, decoded.unreadable)
            | "Merge" >> beam.Flatten()
            | "Group by table" >> beam.GroupByKey()
            | "Write tables" >> beam.Map(lambda item, dim: write_table(*item, dim), dim=self._dim))


# ---------------------------------------------------------------- phase 2: detection

class ReadFeatureTables(beam.PTransform):
    """The pipeline root -> (tar, FeatureTable) per shard."""

    def __init__(self, shards: list[str], tag: str):
        super().__init__()
        self._shards, self._tag = shards, tag

    def expand(self, root):
        return (root | "Shards" >> beam.Create(self._shards)
                | "Load features" >> beam.Map(overlap.load_block, tag=self._tag))


class _SearchEvalSets(beam.DoFn):
    def __init__(self, config: DetectionConfig):
        self._config = config

    def setup(self):
        self._device = self._backend = None
        if self._config.embeddings:
            from dedup import search
            from dedup.embed import resolve_device

            self._device = resolve_device(self._config.device)
            self._backend = search.resolve_backend(self._config.search_backend, self._device)

    def process(self, block, evals):
        for kind, value in overlap.search_eval_sets(block, evals, self._config, self._backend, self._device):
            yield value if kind == "nearest" else beam.pvalue.TaggedOutput(kind, value)


class MergeNearest(beam.CombineFn):
    """Merges per-block `NearestState`s of one eval set (None is the empty accumulator)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, state):
        return overlap.merge_states([acc, state])

    def merge_accumulators(self, accs):
        return overlap.merge_states(accs)

    def extract_output(self, acc):
        return acc


class DetectOverlap(beam.PTransform):
    """Shard blocks -> {"nearest": (name, NearestState | None), "matches": (name, [match...]),
    "evals": one {name: EvalFeatures} dict}.

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
                 | "Load eval tables" >> beam.MapTuple(overlap.load_eval)
                 | "Eval dict" >> beam.combiners.ToDict())
        searched = blocks | "Search" >> beam.ParDo(_SearchEvalSets(self._config), beam.pvalue.AsSingleton(
            evals)).with_outputs("matches", main="nearest")
        seeds_nearest = p | "Seed nearest" >> beam.Create([(name, None) for name in sorted(self._eval_paths)])
        nearest = ((searched.nearest, seeds_nearest) | "All nearest" >> beam.Flatten()
                   | "Merge nearest" >> beam.CombinePerKey(MergeNearest()))
        seeds_matches = p | "Seed matches" >> beam.Create([(name, None) for name in sorted(self._eval_paths)])
        matches = ((searched.matches, seeds_matches) | "All matches" >> beam.Flatten()
                   | "Matches per eval set" >> beam.GroupByKey()
                   | "Sort matches" >> beam.MapTuple(
                       lambda name, ms: (name, sorted((m for m in ms if m is not None), key=lambda m: (m[0], m[1])))))
        return {"nearest": nearest, "matches": matches, "evals": evals}


class WriteOverlap(beam.PTransform):
    """Writes `overlap-NAME.parquet` and `nearest-NAME.parquet` per eval set into out_dir."""

    def __init__(self, out_dir: str, k: int):
        super().__init__()
        self._out_dir = out_dir
        self._k = k

    def expand(self, detected):
        out_dir, k = self._out_dir, self._k

        def write_overlap(name, matches):
            files.write_parquet(files.join(out_dir, f"overlap-{name}.parquet"), overlap.overlap_table(matches))

        def write_nearest(item, evals):
            name, state = item
            files.write_parquet(files.join(out_dir, f"nearest-{name}.parquet"),
                                overlap.nearest_table(evals[name], state, k))

        detected["matches"] | "Write overlap" >> beam.MapTuple(write_overlap)
        detected["nearest"] | "Write nearest" >> beam.Map(write_nearest,
                                                          evals=beam.pvalue.AsSingleton(detected["evals"]))


class WriteDatasetCounts(beam.PTransform):
    """`_dataset.json`: sample, undecodable and unreadable counts and the damaged shards;
    `undecodable.parquet` and `unreadable.parquet`: which and why."""

    def __init__(self, out_dir: str):
        super().__init__()
        self._out_dir = out_dir

    def expand(self, blocks):
        out_dir = self._out_dir
        (blocks | "Count" >> beam.Map(overlap.count_block)
         | "Sum counts" >> beam.CombineGlobally(overlap.sum_counts)
         | "Write counts" >> beam.Map(
             lambda c: files.write_json(files.join(out_dir, "_dataset.json"), overlap.dataset_counts(c))))
        for name, rows, columns in (("unreadable", overlap.unreadable_rows, ("shard", "key", "error")),
                                    ("undecodable", overlap.undecodable_rows, ("key", "shard", "error"))):
            (blocks | f"{name.capitalize()} rows" >> beam.FlatMap(rows)
             | f"All {name}" >> beam.combiners.ToList()
             | f"Write {name}" >> beam.Map(lambda found, name=name, columns=columns: files.write_parquet(
                 files.join(out_dir, f"{name}.parquet"), overlap.problem_table(found, columns))))


class Audit(beam.PTransform):
    """Shard blocks -> overlap/nearest parquet per eval set and dataset counts in out_dir;
    returns `DetectOverlap`'s outputs for what follows (dedup's removals)."""

    def __init__(self, config: DetectionConfig, eval_paths: dict[str, str], out_dir: str):
        super().__init__()
        self._config, self._eval_paths, self._out_dir = config, eval_paths, out_dir

    def expand(self, blocks):
        blocks | "Dataset counts" >> WriteDatasetCounts(self._out_dir)
        detected = blocks | "Overlap" >> DetectOverlap(self._config, self._eval_paths)
        detected | "Write" >> WriteOverlap(self._out_dir, self._config.top_k)
        return detected


# ---------------------------------------------------------------- duplicates and removals

class FindDuplicates(beam.PTransform):
    """Shard blocks -> (key, (reason, shard, survivor key)) for each duplicate removed.

    sha256 groups and pHash LSH buckets are GroupByKeys; the (few) edges they produce are
    gathered in one place to form clusters transitively. The optional embedding pass
    compares every pair of shards (quadratic in shards; exact).
    """

    def __init__(self, phash_distance: int, within_similarity: float | None = None, shards=(), tag="",
                 device="cpu"):
        super().__init__()
        self._phash_distance = phash_distance
        self._within_similarity = within_similarity
        self._shards = list(shards)
        self._tag = tag
        self._device = device

    def expand(self, blocks):
        from dedup import phash as phash_lib

        layout = phash_lib.band_layout(self._phash_distance)
        exact = (blocks | "sha256" >> beam.FlatMap(candidates.sha_entries)
                 | "Group sha256" >> beam.GroupByKey()
                 | "Exact edges" >> beam.FlatMap(candidates.exact_edges))
        near = (blocks | "pHash bands" >> beam.FlatMap(candidates.band_entries, layout=layout)
                | "Group bands" >> beam.GroupByKey()
                | "pHash edges" >> beam.FlatMap(candidates.phash_edges, max_distance=self._phash_distance))
        edges = [exact, near]
        if self._within_similarity is not None:
            pairs = list(itertools.combinations_with_replacement(self._shards, 2))
            edges.append(blocks.pipeline | "Shard pairs" >> beam.Create(pairs)
                         | "Embedding edges" >> beam.FlatMap(candidates.embedding_edges, tag=self._tag,
                                                             threshold=self._within_similarity,
                                                             device=self._device))
        return (edges | "All edges" >> beam.Flatten()
                | "Gather edges" >> beam.combiners.ToList()
                | "Clusters" >> beam.FlatMap(candidates.resolve))


class WriteRemovals(beam.PTransform):
    """(blocks, overlap matches, duplicates) -> `removed.parquet` in out_dir: every removed
    key with its first reason."""

    def __init__(self, out_dir: str):
        super().__init__()
        self._out_dir = out_dir

    def expand(self, inputs):
        blocks, matches, duplicates = inputs
        path = files.join(self._out_dir, "removed.parquet")
        undecodable = blocks | "Undecodable" >> beam.FlatMap(removals.undecodable_removals)
        unreadable = blocks | "Unreadable keys" >> beam.FlatMap(removals.unreadable_removals)
        overlapping = matches | "Overlapping keys" >> beam.FlatMap(removals.overlap_removals)
        return ((duplicates, overlapping, undecodable, unreadable) | "All removals" >> beam.Flatten()
                | "One reason per key" >> beam.CombinePerKey(removals.first_reason)
                | "Gather removals" >> beam.combiners.ToList()
                | "Write removed" >> beam.Map(lambda rows: files.write_parquet(path, removals.removed_table(rows))))


# ---------------------------------------------------------------- re-sharding

class WriteFilteredShards(beam.PTransform):
    """The pipeline root -> `out_dir/NNNNN.tar` of the kept samples: each shard's keys
    (from its feature table) less the removed keys of `removed_path`."""

    def __init__(self, shards: list[str], tag: str, removed_path: str, out_dir: str, samples_per_shard: int):
        super().__init__()
        self._shards, self._tag, self._removed_path = shards, tag, removed_path
        self._out_dir = out_dir
        self._samples_per_shard = samples_per_shard

    def expand(self, root):
        tag = self._tag
        all_keys = (root | "Shards" >> beam.Create(self._shards)
                    | "Keys" >> beam.Map(lambda tar: (tar, [str(k) for k in FeatureTable.load(
                        shard_embedding_path(tar, tag)).keys])))
        removed = (root | "Removed file" >> beam.Create([self._removed_path])
                   | "Removed rows" >> beam.FlatMap(lambda path: (
                       (row["shard"], row["key"]) for row in files.read_parquet(path).to_pylist())))
        kept = ({"keys": all_keys, "removed": removed} | "Join" >> beam.CoGroupByKey()
                | "Kept keys" >> beam.Map(reshard.kept_keys))
        offsets = (kept | "Counts" >> beam.MapTuple(lambda tar, keys: (tar, len(keys)))
                   | "All counts" >> beam.combiners.ToList()
                   | "Offsets" >> beam.Map(reshard.offsets))
        return (kept | "Assign" >> beam.FlatMap(reshard.assign, offsets=beam.pvalue.AsSingleton(offsets),
                                                samples_per_shard=self._samples_per_shard)
                | "Group by output shard" >> beam.GroupByKey()
                | "Write shards" >> beam.Map(reshard.write_shard, out_dir=self._out_dir))
