"""The Beam side of `wit audit` and `wit dedup`: one composite PTransform per step.

- `ComputeFeatures` (phase 1): decode every image not yet embedded (dataset shards and
  eval sets alike), compute sha256 + pHash, embed with RunInference
  (`dedup.inference.pipeline.EmbedImages`), and write one feature table per shard next to
  it and one per eval set into the cache.
- `ReadFeatureTables`: the shard tables, one block per shard.
- `Audit` = `DetectOverlap` (shard tables streamed past the eval tables, a side input;
  per-eval nearest neighbours merged by a combiner) + `WriteOverlap` + `WriteDatasetCounts`.
- `FindDuplicates`: duplicate groups inside the set and the samples they remove (candidate
  pairs by grouping, `EmbeddingPairs` by k-means partition, `ConnectedComponents` by
  large-star/small-star rounds).
- `WriteRemovals`: every removed sample with its reason, one file per input shard.
- `WriteFilteredShards`: the kept samples re-sharded.

`wit audit` runs `ComputeFeatures`, then `ReadFeatureTables | Audit`; `wit dedup` chains
`FindDuplicates` and `WriteRemovals` onto the same blocks and the audit's matches, then
runs `WriteFilteredShards`. The logic lives in plain modules; these only wire it.
"""
from __future__ import annotations

import apache_beam as beam

from dedup import candidates, clusters, features as features_lib, overlap, phash as phash_lib, removals, reshard
from dedup import semantic
from dedup.config import DetectionConfig
from dedup.store import FeatureWork, read_work_images, write_table
from shards.reader import ReadProblem
from shards.writer import sum_stats
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

def _count_unsettled(item):
    counters.count("dedup", "unsettled_pairs")
    return item[1]


class ConnectedComponents(beam.PTransform):
    """(node, node) pairs -> (node, survivor) for every node whose group's smallest node
    is another: `rounds` large-star/small-star rounds (`dedup.clusters`), then union-find
    over the pairs still touching an unsettled node (none, unless a chain is very long)."""

    def __init__(self, rounds: int = clusters.ROUNDS):
        super().__init__()
        self._rounds = rounds

    def expand(self, pairs):
        both_ways = pairs | "Both ways" >> beam.FlatMap(lambda pair: (pair, pair[::-1]))
        for round_ in range(self._rounds):
            both_ways = (both_ways | f"Group {round_}L" >> beam.GroupByKey()
                         | f"Large star {round_}" >> beam.FlatMap(clusters.large_star)
                         | f"Group {round_}S" >> beam.GroupByKey()
                         | f"Small star {round_}" >> beam.FlatMap(clusters.small_star))
        settled = (both_ways | "Group settled" >> beam.GroupByKey()
                   | "Settle" >> beam.FlatMap(clusters.settle))
        remaining = (settled | "Open pairs" >> beam.Filter(lambda item: item[0] == "open")
                     | "Pairs" >> beam.Map(_count_unsettled)
                     | "Gather open pairs" >> beam.combiners.ToList()
                     | "Union-find" >> beam.Map(clusters.resolve_remaining))
        leaves = settled | "Leaves" >> beam.Filter(lambda item: item[0] == "leaf")
        once = pairs.pipeline | "Remaining once" >> beam.Create([("remaining", None)])
        return ((leaves, once) | "Leaves and remaining" >> beam.Flatten()
                | "Survivors" >> beam.FlatMap(clusters.survivors, beam.pvalue.AsSingleton(remaining)))


class EmbeddingPairs(beam.PTransform):
    """Shard tars -> (node, node, kind) pairs of embeddings at least `threshold` similar,
    searched exactly inside k-means clusters (`dedup.semantic`). Each step reads the shard
    tables itself, so no whole table passes through a shuffle; only the clusters do."""

    def __init__(self, tag: str, shard_index: dict[str, int], threshold: float, device: str,
                 cluster_size: int = semantic.CLUSTER_SIZE):
        super().__init__()
        self._tag, self._shard_index, self._threshold = tag, shard_index, threshold
        self._device, self._cluster_size = device, cluster_size

    def expand(self, tars):
        tag, cluster_size = self._tag, self._cluster_size
        total = (tars | "Count embedded" >> beam.Map(candidates.count_embedded, tag=tag)
                 | "Total" >> beam.CombineGlobally(sum))
        centroids = (tars | "Sample" >> beam.FlatMap(candidates.sample_rows, tag=tag, cluster_size=cluster_size,
                                                     total=beam.pvalue.AsSingleton(total))
                     | "Gather sample" >> beam.combiners.ToList()
                     | "k-means" >> beam.Map(semantic.train_centroids, total=beam.pvalue.AsSingleton(total),
                                           cluster_size=cluster_size))
        return (tars | "Assign" >> beam.FlatMap(candidates.assigned_rows, tag=tag, shard_index=self._shard_index,
                                                centroids=beam.pvalue.AsSingleton(centroids))
                | "Group clusters" >> beam.GroupByKey()
                | "Search clusters" >> beam.FlatMap(candidates.cluster_pairs, threshold=self._threshold,
                                                    device=self._device))


class FindDuplicates(beam.PTransform):
    """Shard blocks -> ((key, shard index), (reason, survivor key)) for each duplicate removed.

    Candidate pairs come from groupings (sha256, identical pHash, multi-index pHash buckets,
    embedding clusters; `dedup.candidates`), their groups from `ConnectedComponents`; no
    step holds more than one group, bucket or cluster.
    """

    def __init__(self, shards: list[str], tag: str, phash_distance: int, within_similarity: float | None = None,
                 device: str = "cpu", rounds: int = clusters.ROUNDS, cluster_size: int = semantic.CLUSTER_SIZE):
        super().__init__()
        self._shards, self._tag = list(shards), tag
        self._shard_index = {tar: index for index, tar in enumerate(self._shards)}
        self._phash_distance, self._within_similarity = phash_distance, within_similarity
        self._device, self._rounds, self._cluster_size = device, rounds, cluster_size

    def expand(self, blocks):
        masks = phash_lib.band_pairs(phash_lib.band_layout(self._phash_distance))
        exact = (blocks | "sha256" >> beam.FlatMap(candidates.sha_entries, shard_index=self._shard_index)
                 | "Group sha256" >> beam.GroupByKey())
        identical = (blocks | "pHash" >> beam.FlatMap(candidates.phash_entries, shard_index=self._shard_index)
                     | "Group pHash" >> beam.GroupByKey())
        near = (identical | "Representatives" >> beam.Map(candidates.representative)
                | "Bucket keys" >> beam.FlatMap(candidates.bucket_entries, pair_masks=masks)
                | "Group buckets" >> beam.GroupByKey()
                | "Bucket pairs" >> beam.FlatMap(candidates.bucket_pairs, pair_masks=masks,
                                                 max_distance=self._phash_distance))
        pairs = [exact | "Exact pairs" >> beam.FlatMap(candidates.group_pairs, kind=clusters.EXACT),
                 identical | "Identical pHash pairs" >> beam.FlatMap(candidates.group_pairs, kind=clusters.PHASH),
                 near]
        if self._within_similarity is not None:
            pairs.append(blocks | "Tars" >> beam.Map(lambda block: block[0])
                         | "Embeddings" >> EmbeddingPairs(self._tag, self._shard_index, self._within_similarity,
                                                          self._device, self._cluster_size))
        pairs = pairs | "All pairs" >> beam.Flatten()
        kinds = pairs | "Kinds" >> beam.FlatMap(candidates.reason_entries)
        roots = (pairs | "Nodes" >> beam.Map(lambda pair: pair[:2])
                 | "Groups" >> ConnectedComponents(self._rounds))
        return ({"root": roots, "kind": kinds} | "Join" >> beam.CoGroupByKey()
                | "Removals" >> beam.FlatMap(candidates.removal))


class WriteRemovals(beam.PTransform):
    """(blocks, overlap matches, duplicates) -> `removed/NNNNN.parquet` per input shard and
    `removed/_summary.json` (`dedup.removals`): every removed sample with its first reason."""

    def __init__(self, shards: list[str], audit_dir: str):
        super().__init__()
        self._shards, self._audit_dir = list(shards), audit_dir
        self._shard_index = {tar: index for index, tar in enumerate(self._shards)}

    def expand(self, inputs):
        blocks, matches, duplicates = inputs
        index, shards, audit_dir = self._shard_index, self._shards, self._audit_dir
        undecodable = blocks | "Undecodable" >> beam.FlatMap(
            lambda block: (((key, index[block[0]]), why) for key, why in removals.undecodable(*block)))
        unreadable = blocks | "Unreadable" >> beam.FlatMap(
            lambda block: (((key, index[block[0]]), why) for key, why in removals.unreadable(*block)))
        overlapping = matches | "Overlapping" >> beam.FlatMap(
            lambda item: (((key, index[tar]), ("eval_overlap", f"{item[0]}:{eval_id}"))
                          for eval_id, key, tar, _, _ in item[1]))
        seeds = blocks | "Every shard" >> beam.Map(lambda block: (index[block[0]], None))
        by_shard = ((duplicates, overlapping, undecodable, unreadable) | "All removals" >> beam.Flatten()
                    | "One reason per sample" >> beam.CombinePerKey(removals.first_reason)
                    | "By shard" >> beam.MapTuple(lambda sample, why: (sample[1], (sample[0], why))))
        return ((by_shard, seeds) | "With every shard" >> beam.Flatten()
                | "Group by shard" >> beam.GroupByKey()
                | "Write files" >> beam.MapTuple(lambda i, rows: removals.write_shard_removals(
                    audit_dir, i, shards[i], [row for row in rows if row is not None]))
                | "Summary" >> beam.CombineGlobally(removals.merge_summaries)
                | "Write summary" >> beam.Map(lambda merged: removals.write_summary(audit_dir, merged)))


# ---------------------------------------------------------------- re-sharding

class WriteFilteredShards(beam.PTransform):
    """The pipeline root -> `out_dir/NNNNN.tar` (+ parquet, stats) of the kept samples and
    `out_dir/stats.json`: each input shard's keys less its removal file (`dedup.reshard`)."""

    def __init__(self, shards: list[str], tag: str, audit_dir: str, out_dir: str, samples_per_shard: int):
        super().__init__()
        self._shards, self._tag, self._audit_dir = list(shards), tag, audit_dir
        self._out_dir, self._samples_per_shard = out_dir, samples_per_shard

    def expand(self, root):
        shards, tag, audit_dir, out_dir, per_shard = (self._shards, self._tag, self._audit_dir, self._out_dir,
                                                      self._samples_per_shard)
        starts = (root | "Shards" >> beam.Create(list(enumerate(shards)))
                  | "Kept counts" >> beam.MapTuple(lambda i, tar: (i, len(reshard.kept_keys(i, tar, tag, audit_dir))))
                  | "All counts" >> beam.combiners.ToList()
                  | "Offsets" >> beam.Map(reshard.offsets))
        return (starts | "Output shards" >> beam.FlatMap(reshard.output_shard_ids, samples_per_shard=per_shard)
                | "Spread" >> beam.Reshuffle()
                | "Write shards" >> beam.Map(
                    lambda shard_id, starts: reshard.write_output_shard(shard_id, reshard.output_members(
                        shard_id, starts, shards, tag, audit_dir, per_shard), out_dir),
                    starts=beam.pvalue.AsSingleton(starts))
                | "All stats" >> beam.combiners.ToList()
                | "Write totals" >> beam.Map(lambda stats: files.write_json(
                    files.join(out_dir, "stats.json"), sum_stats(stats))))
