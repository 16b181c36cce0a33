"""Feature tables: the per-shard embedding files written next to the shards, and the
eval-set embedding cache; what phase 1 reads and writes to build them.

One `.npz` per shard (`00042.emb-<model tag>.npz` beside `00042.tar`), rows sorted by
sample key: key, sha256, pHash, original pixel count, label, L2-normalised float16
embedding (none in pHash-only runs: zero columns), and the decode error for images that
failed (their embedding is zero and `ok` is false). Beside the rows, what could not be
read from the shard at all (`shards.reader.ReadProblem`: a cut tar, a sample's bad
`.json`, a success of the shard's parquet missing from the tar), as (key, error). Later
audits with the same model reuse the file instead of decoding and embedding the shard
again; the model tag changes whenever the model or its weights change.

Eval sets are cached the same way under `--cache-dir` (default `OUT/eval-cache`: any
Beam path, so that workers and launcher all see it), named by a hash of their file
listing (`eval_listing_key`: paths, sizes and modification times; the launcher reads no
image to name it): a changed file changes its size or time, hence the name. An eval id
seen twice is recorded in the table as a problem and refused when the table is loaded
(`dedup.overlap.load_eval`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import posixpath

import numpy as np

from dedup.features import ImageFeatures
from shards import layout
from shards.reader import ReadProblem
from wit_pipeline.clip import evalsets
from wit_pipeline.core import files

DUPLICATE_ID = "appears twice"


def _strings(values=()) -> np.ndarray:
    # dtype str even when empty (<U1, not object): np.load never needs pickle.
    return np.array(list(values), dtype=str)


@dataclasses.dataclass
class FeatureTable:
    keys: np.ndarray        # str
    sha256: np.ndarray      # str
    phash: np.ndarray       # uint64
    pixels: np.ndarray      # int64
    labels: np.ndarray      # int64, -1 when unknown
    embeddings: np.ndarray  # float16 [n, D]; D = 0 without embeddings
    errors: np.ndarray      # str, "" when the image decoded
    # Not rows: the shard's samples that could not be read, "" as key when none is known.
    unreadable_keys: np.ndarray = dataclasses.field(default_factory=_strings)
    unreadable_errors: np.ndarray = dataclasses.field(default_factory=_strings)

    ROW_FIELDS = ("keys", "sha256", "phash", "pixels", "labels", "embeddings", "errors")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def ok(self) -> np.ndarray:
        return self.errors == ""

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    @property
    def damaged(self) -> bool:
        return len(self.unreadable_errors) > 0

    @classmethod
    def from_features(cls, rows: list[ImageFeatures], dim: int,
                      problems: list[ReadProblem] = ()) -> "FeatureTable":
        rows = sorted(rows, key=lambda r: r.key)
        keys = [r.key for r in rows]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate keys in one feature table")
        embeddings = np.zeros((len(rows), dim), dtype=np.float16)
        for i, row in enumerate(rows):
            if row.error is None and dim:
                if row.embedding is None:
                    raise ValueError(f"image {row.key} has neither an embedding nor an error")
                embeddings[i] = row.embedding
        return cls(
            keys=np.array(keys, dtype=str),
            sha256=np.array([r.sha256 for r in rows], dtype=str),
            phash=np.array([r.phash or 0 for r in rows], dtype=np.uint64),
            pixels=np.array([r.pixels for r in rows], dtype=np.int64),
            labels=np.array([-1 if r.label is None else r.label for r in rows], dtype=np.int64),
            embeddings=embeddings,
            errors=np.array([r.error or "" for r in rows], dtype=str),
            unreadable_keys=_strings(p.key for p in problems),
            unreadable_errors=_strings(p.error for p in problems),
        )

    def select(self, mask: np.ndarray) -> "FeatureTable":
        """The rows where `mask` holds (the unreadable samples stay with the table)."""
        return dataclasses.replace(self, **{name: getattr(self, name)[mask] for name in self.ROW_FIELDS})

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FeatureTable":
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            # Tables written before unreadable samples were recorded have no such arrays.
            return cls(**{f.name: npz[f.name] for f in dataclasses.fields(cls) if f.name in npz.files})

    def save(self, path: str) -> None:
        files.write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str) -> "FeatureTable":
        return cls.from_bytes(files.read_bytes(path))


def shard_embedding_path(tar_path: str, model_tag: str) -> str:
    return layout.sibling(tar_path, f".emb-{model_tag}.npz")


def eval_cache_path(cache_dir: str, content_hash: str, model_tag: str) -> str:
    return files.join(cache_dir, f"eval-{content_hash[:32]}-{model_tag}.npz")


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


def write_table(out_path: str, entries, dim: int) -> tuple[str, int, int]:
    """Writes one feature table from its rows and read problems; (path, rows, undecodable).

    A key seen twice (an eval set naming two images alike) keeps its first row in key
    order and is recorded as a problem."""
    rows = sorted((e for e in entries if isinstance(e, ImageFeatures)), key=lambda r: (r.key, r.sha256))
    # Grouping order is not fixed: sorted, the table is the same on every run.
    problems = sorted((e for e in entries if isinstance(e, ReadProblem)), key=lambda p: (p.key, p.error))
    unique = []
    for row in rows:
        if unique and unique[-1].key == row.key:
            problems.append(ReadProblem(row.key, f"id {row.key!r} {DUPLICATE_ID}"))
        else:
            unique.append(row)
    table = FeatureTable.from_features(unique, dim, problems)
    table.save(out_path)
    failed = int((~table.ok).sum())
    notes = [f"{failed} undecodable"] if failed else []
    notes += [f"{len(problems)} unreadable"] if problems else []
    print(f"  {'embedded' if dim else 'hashed'} {len(table):,} images -> {out_path}"
          + (f" ({', '.join(notes)})" if notes else ""), flush=True)
    return out_path, len(table), failed


def load_keys(path: str) -> list[str]:
    """The keys of a stored table (its rows' keys only: not the embeddings)."""
    with np.load(io.BytesIO(files.read_bytes(path)), allow_pickle=False) as npz:
        return npz["keys"].tolist()


def existing_tables(shards: list[str], model_tag: str) -> set[str]:
    """The shards' feature tables that exist: one listing per shard directory, not one
    request per shard."""
    found = set()
    for directory in sorted({posixpath.dirname(tar) for tar in shards}):
        found.update(files.match(files.join(directory, f"*.emb-{model_tag}.npz")))
    return found


def eval_listing_key(eval_set: evalsets.EvalSet) -> str:
    """Names an eval set's cache file from its listing: each part's path, id and label, and
    each file's size and modification time (one listing per image folder)."""
    paths = sorted({part.path for part in eval_set.parts})
    if eval_set.kind == "image_folder":
        listed = {}
        for root in sorted({posixpath.dirname(posixpath.dirname(path)) for path in paths}):
            listed.update({entry["path"]: entry for entry in files.match_identity(files.join(root, "*", "*"))})
        stamps = [listed.get(path, {"path": path}) for path in paths]
    else:
        stamps = files.file_identity(paths)
    parts = sorted((p.kind, p.path, p.eval_id or "", -1 if p.label is None else p.label) for p in eval_set.parts)
    return hashlib.sha256(json.dumps([eval_set.kind, parts, stamps], sort_keys=True).encode()).hexdigest()
