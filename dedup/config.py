"""The detection flags `wit audit` and `wit dedup` share, checked once into a frozen config.

Nothing here imports torch or Beam: an argument error is answered at once. The device
is checked for its syntax only (workers may have a GPU the launcher lacks), and real
weights are loaded later, by `dedup.phases.prepare`.
"""
from __future__ import annotations

import argparse
import dataclasses

from dedup import search
from dedup.weights import check_device, is_random_init
from wit_pipeline.core import files

DEFAULT_SIMILARITY_THRESHOLD = 0.95
DEFAULT_PHASH_DISTANCE = 4
# Under OUT by default: a cluster's workers write the eval tables where the launcher and the
# next phase read them, which a worker's own ~/.cache is not.
DEFAULT_CACHE_NAME = "eval-cache"


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    shards: tuple[str, ...] = ()     # globs, .tar paths or directories, as given
    evals: tuple[str, ...] = ()      # NAME=PATH, as given
    out: str = ""
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
    report_pairs: int = 50

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

    @classmethod
    def from_args(cls, args) -> "DetectionConfig":
        """The detection flags, checked; imports nothing heavy."""
        device = check_device(args.device)
        search.resolve_backend(args.search_backend, "cpu")  # validates the name and faiss availability
        threshold = args.similarity_threshold
        if threshold is not None and is_random_init(args.clip_pretrained):
            raise ValueError("--similarity-threshold needs real weights: with --clip-pretrained none the "
                             "embedding detector is off (sha256 and pHash only)")
        config = cls(
            shards=tuple(args.shards), evals=tuple(args.eval or ()), out=args.out,
            clip_model=args.clip_model, clip_pretrained=args.clip_pretrained, device=device,
            batch_size=args.batch_size, share_model_across_processes=args.share_model_across_processes,
            similarity_threshold=DEFAULT_SIMILARITY_THRESHOLD if threshold is None else threshold,
            phash_distance=args.phash_distance, top_k=args.top_k,
            search_backend=args.search_backend, report_pairs=args.report_pairs,
            cache_dir=args.cache_dir or files.join(args.out, DEFAULT_CACHE_NAME))
        config.validate()
        return config


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
    parser.add_argument("--cache-dir", default=None,
                        help="eval-set embedding cache, any path the workers can write and the launcher read "
                             "(local or gs://, s3://, ...; default OUT/eval-cache)")
    parser.add_argument("--share-model-across-processes", action="store_true",
                        help="one model per machine instead of per worker process (Beam's multi-process sharing)")
    parser.add_argument("--report-pairs", type=int, default=50,
                        help="overlapping pairs shown per eval set in report.html (default 50)")
