"""What `wit audit` and `wit dedup` both run before and around detection.

- `check_inputs`: the shards and eval sets named on the command line, found and parsed
  (no image read yet);
- `prepare`: the weights loaded once on the launcher (a missing file or failed download
  is one clear line before any pipeline starts), the model tag, the eval cache names;
- `run_features`: phase 1 (`dedup.pipeline.ComputeFeatures`) for every table not yet
  written;
- `run_pipeline`: one Beam pipeline built by the caller from `dedup.pipeline`'s transforms.

With `--clip-pretrained none` nothing is embedded (see `dedup.weights`): phase 1 computes
sha256 and pHash only, and torch is never imported. A damaged shard never stops the run:
what could not be read is recorded per shard (`shards.reader.read_samples`) and reported.
"""
from __future__ import annotations

import dataclasses
import time

from dedup import overlap
from dedup.config import DetectionConfig
from dedup.store import (DUPLICATE_ID, FeatureWork, eval_cache_path, eval_listing_key, existing_tables,
                         shard_embedding_path)
from dedup.weights import EMBEDDINGS_OFF_REASON, download_failed_message, phash_only_tag
from wit_pipeline.clip import evalsets
from wit_pipeline.core import counters, files
from wit_pipeline.core.options import is_local_runner, make_pipeline, pipeline_options, stop_if_dry_run


@dataclasses.dataclass
class Inputs:
    """The shards and eval sets named on the command line, found and parsed (no image read yet)."""

    shards: list[str]
    eval_sets: dict[str, evalsets.EvalSet]


def check_inputs(config: DetectionConfig) -> Inputs:
    from shards.reader import find_shards

    shards = find_shards(list(config.shards))
    eval_sets: dict[str, evalsets.EvalSet] = {}
    for arg in config.evals:
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


def check_device_present(config: DetectionConfig, beam_argv) -> None:
    """A local run asking for a GPU it lacks is a clear error now, not a worker traceback
    (this imports torch: call it after the cheap checks)."""
    if config.embeddings and is_local_runner(pipeline_options(list(beam_argv))):
        from dedup.embed import resolve_device

        resolve_device(config.device)


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
        digest = eval_listing_key(eval_set)
        eval_cache[name] = eval_cache_path(config.cache_dir, digest, tag)
        print(f"eval set {name}: {len(eval_set.parts)} part(s), listing {digest[:12]}", flush=True)
    return Prepared(config, inputs.shards, inputs.eval_sets, tag, dim, preprocess, eval_cache)


def run_pipeline(beam_argv: list[str], build, label: str) -> dict[str, int]:
    """Runs one pipeline whose transforms `build(pipeline)` applies; stops on a dry run.
    Returns its `wit.dedup` counters."""
    started = time.time()
    with make_pipeline(pipeline_options(beam_argv)) as p:
        build(p)
    stop_if_dry_run(p.options)
    print(f"{label}: done in {time.time() - started:.1f}s", flush=True)
    return counters.read_counters(p.result, "dedup")


def run_features(prep: Prepared, beam_argv: list[str]) -> dict:
    """Phase 1 for everything not cached; returns counts of what was computed."""
    from dedup.pipeline import ComputeFeatures

    work = []
    written = existing_tables(prep.shards, prep.tag)
    for tar in prep.shards:
        path = shard_embedding_path(tar, prep.tag)
        if path not in written:
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
        run_pipeline(beam_argv, lambda p: p | "Features" >> ComputeFeatures(work, prep.config, prep.preprocess,
                                                                              prep.dim), "features")
    return {"shards_embedded": todo_shards, "shards_cached": len(prep.shards) - todo_shards,
            "eval_sets_embedded": todo_evals, "eval_sets_cached": len(prep.eval_cache) - todo_evals}


def load_eval_features(prep: Prepared) -> dict[str, overlap.EvalFeatures]:
    """The eval tables phase 1 wrote; an eval set naming two images alike, or holding no
    image, is refused here (the launcher reads no eval image to know it earlier)."""
    evals = {}
    for name, path in prep.eval_cache.items():
        _, evals[name] = overlap.load_eval(name, path)
        twice = [error for error in evals[name].problems if error.endswith(DUPLICATE_ID)]
        if twice:
            raise ValueError(f"eval set {name}: {twice[0]}")
        if len(evals[name].table) + len(evals[name].undecodable) == 0:
            raise ValueError(f"eval set {name}: {prep.eval_sets[name].path!r} holds no image")
    return evals
