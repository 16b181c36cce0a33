"""Exact nearest-neighbour search of eval images against a stream of dataset blocks.

The eval set is small and fixed; the dataset arrives block by block (one shard's
embeddings at a time) and is never held whole. For each block we keep, per eval image:
its top-k most similar dataset samples (cosine similarity of unit vectors), its nearest
sample by pHash Hamming distance, and every (eval, sample) pair over the similarity
threshold or within the pHash distance. Per-block results merge associatively
(`NearestState.merge`), so a Beam combiner assembles the global answer.

Speed without losing exactness: similarities are first computed with a bfloat16 matrix
product (about 5x faster than float32 on CPUs with AVX512-BF16/AMX, and the fast path on
GPUs), which is used only to pick candidates: every pair whose bf16 score is within
`BF16_MARGIN` of the threshold, and the top 2k per eval row. The candidates are then
rescored in float32. bf16 keeps 8 significant bits, so for unit vectors the error of a
dot product is below 2^-8 (inputs) + 2^-9 (output rounding) < 0.006 < BF16_MARGIN:
a pair at or over the threshold is never missed and the reported scores are float32.

The `faiss` backend does the same with faiss's exact inner-product index (float32 BLAS,
`search` for top-k and `range_search` for the threshold), without materialising the
eval x block matrix.

With `threshold=None` the embedding detector is off (pHash-only runs, see `dedup.weights`):
only pHash distances are computed, and torch is never imported.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: pHash-only runs never import torch
    import torch

from dedup import phash as phash_lib

BF16_MARGIN = 0.01
NO_DISTANCE = phash_lib.HASH_BITS + 1  # "no pHash neighbour seen yet"
BACKENDS = ("auto", "torch", "faiss")
# Chunk sizes bound the memory of one similarity matrix (rows x cols x 4 bytes).
EVAL_CHUNK = 16384
BLOCK_CHUNK = 8192
RESCORE_ROWS = 512


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: str = "cpu") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"--search-backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "faiss" and not faiss_available():
        raise ValueError("--search-backend faiss needs the faiss-cpu (or faiss-gpu) package")
    if backend == "auto":
        # bench/nn_search.py: the bf16 torch path beats faiss's float32 flat index on CPUs with
        # bf16 instructions and on GPUs; faiss only where torch has no fast bf16 matmul.
        return "torch" if device.startswith("cuda") or _cpu_has_fast_bf16() or not faiss_available() else "faiss"
    return backend


def _cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclasses.dataclass
class NearestState:
    """Per eval image: top-k (score, key) by similarity, and the nearest key by pHash."""

    scores: np.ndarray       # [E, k] float32, descending; -inf where empty
    keys: np.ndarray         # [E, k] numpy unicode; "" where empty
    phash_distance: np.ndarray  # [E] int16; NO_DISTANCE where none
    phash_key: np.ndarray    # [E] numpy unicode

    @classmethod
    def empty(cls, n_eval: int, k: int) -> "NearestState":
        return cls(np.full((n_eval, k), -np.inf, dtype=np.float32), np.full((n_eval, k), "", dtype=str),
                   np.full(n_eval, NO_DISTANCE, dtype=np.int16), np.full(n_eval, "", dtype=str))

    @property
    def k(self) -> int:
        return self.scores.shape[1]

    def merge(self, other: "NearestState") -> "NearestState":
        """Associative and commutative: ties are broken by the smaller key."""
        k = self.k
        scores = np.concatenate([self.scores, other.scores], axis=1)
        keys = np.concatenate([np.asarray(self.keys, dtype=str), np.asarray(other.keys, dtype=str)], axis=1)
        order = np.lexsort((keys, -scores), axis=1)[:, :k]
        scores = np.take_along_axis(scores, order, axis=1)
        keys = np.take_along_axis(keys, order, axis=1)
        take_other = (other.phash_distance < self.phash_distance) | (
            (other.phash_distance == self.phash_distance) & (other.phash_key != "")
            & ((self.phash_key == "") | (other.phash_key < self.phash_key)))
        return NearestState(scores.astype(np.float32), keys,
                            np.where(take_other, other.phash_distance, self.phash_distance).astype(np.int16),
                            np.where(take_other, other.phash_key, self.phash_key))


@dataclasses.dataclass(frozen=True)
class Match:
    eval_index: int
    key: str
    similarity: float
    phash_distance: int


def pairs_above(a: torch.Tensor, b: torch.Tensor, threshold: float, device: str = "cpu"
                ) -> list[tuple[int, int, float]]:
    """(row in a, row in b, float32 cosine) for every pair with similarity >= threshold."""
    import torch

    out = []
    for i0 in range(0, len(a), EVAL_CHUNK):
        a_chunk = a[i0:i0 + EVAL_CHUNK].to(device)
        a_low = a_chunk.to(torch.bfloat16)
        for j0 in range(0, len(b), BLOCK_CHUNK):
            b_chunk = b[j0:j0 + BLOCK_CHUNK].to(device)
            approx = a_low @ b_chunk.to(torch.bfloat16).T
            rows, cols = torch.nonzero(approx >= threshold - BF16_MARGIN, as_tuple=True)
            if len(rows) == 0:
                continue
            exact = (a_chunk[rows].float() * b_chunk[cols].float()).sum(dim=1)
            keep = exact >= threshold
            for r, c, s in zip((rows[keep] + i0).tolist(), (cols[keep] + j0).tolist(), exact[keep].tolist()):
                out.append((r, c, s))
    return out


def _search_torch(eval_emb: torch.Tensor, block_emb: torch.Tensor, k: int, threshold: float, device: str):
    """One bf16 product per (eval chunk, block) serves both questions:

    - top-k: the 2k best bf16 candidates per eval row, all returned rescored in float32
      ([E, min(2k, B)] scores and block indices; the caller's merge keeps the top k with
      ties broken by key);
    - threshold: pairs whose bf16 score is within BF16_MARGIN of it, rescored, kept if
      >= threshold. A row whose 2k-th candidate is still below threshold - margin has all
      its qualifying pairs among the candidates; only the other (rare) rows are scanned.
    """
    import torch

    k_cand = min(2 * k, len(block_emb))
    low = threshold - BF16_MARGIN
    all_scores, all_index, pairs = [], [], []
    block = block_emb.to(device)
    block_low = block.to(torch.bfloat16)
    for i0 in range(0, len(eval_emb), EVAL_CHUNK):
        chunk = eval_emb[i0:i0 + EVAL_CHUNK].to(device)
        approx = chunk.to(torch.bfloat16) @ block_low.T
        top = approx.topk(k_cand, dim=1)
        cand = top.indices
        # Rescoring gathers [rows, 2k, D]: in slices that stay in cache.
        exact = torch.cat([
            torch.bmm(block.index_select(0, cand[r:r + RESCORE_ROWS].reshape(-1)).view(-1, k_cand, block.shape[1]),
                      chunk[r:r + RESCORE_ROWS, :, None])[..., 0]
            for r in range(0, len(chunk), RESCORE_ROWS)])
        saturated = top.values[:, -1] >= low
        rows, slots = torch.nonzero((top.values >= low) & ~saturated[:, None], as_tuple=True)
        keep = exact[rows, slots] >= threshold
        pairs.extend(zip((rows[keep] + i0).tolist(), cand[rows[keep], slots[keep]].tolist(),
                         exact[rows[keep], slots[keep]].tolist()))
        if saturated.any():
            # More than 2k near matches (many copies): scan the whole row in float32 from
            # low - margin, which holds every true top-2k member, so the threshold pairs are
            # complete and the top-k ties resolve by key (index order) like everywhere else.
            exact, cand = exact.cpu().clone(), cand.cpu().clone()
            full_rows = torch.nonzero(saturated, as_tuple=True)[0].tolist()
            per_row: dict[int, list[tuple[float, int]]] = {}
            for r, c, sim in pairs_above(chunk[full_rows], block, low - BF16_MARGIN, device):
                per_row.setdefault(full_rows[r], []).append((-sim, c))
                if sim >= threshold:
                    pairs.append((full_rows[r] + i0, c, sim))
            for r, hits in per_row.items():
                best = sorted(hits)[:k_cand]
                exact[r, :len(best)] = torch.tensor([-s for s, _ in best])
                cand[r, :len(best)] = torch.tensor([c for _, c in best])
        all_scores.append(exact.cpu())
        all_index.append(cand.cpu())
    return torch.cat(all_scores).numpy(), torch.cat(all_index).numpy(), pairs


def _search_faiss(eval_emb: np.ndarray, block_emb: np.ndarray, k: int, threshold: float):
    import faiss

    index = faiss.IndexFlatIP(block_emb.shape[1])
    index.add(block_emb)
    scores, idx = index.search(eval_emb, min(k, len(block_emb)))
    lims, sims, cols = index.range_search(eval_emb, threshold)
    rows = np.repeat(np.arange(len(eval_emb)), np.diff(lims.astype(np.int64)))
    return scores, idx, list(zip(rows.tolist(), cols.tolist(), sims.tolist()))


def search_block(eval_emb: np.ndarray, eval_phash: np.ndarray, block_keys: list[str],
                 block_emb: np.ndarray, block_phash: np.ndarray, *, k: int, threshold: float | None,
                 phash_distance: int, backend: str = "torch", device: str = "cpu"
                 ) -> tuple[NearestState, list[Match]]:
    """Nearest neighbours and matches of every eval image within one dataset block.

    Embeddings are unit vectors (any float dtype); pHashes uint64. Rows of the block
    that have no embedding or pHash (undecodable images) must be left out by the caller.
    `threshold=None`: no embedding search; top-k lists stay empty and every match's
    similarity is NaN.
    """
    n_eval, n_block = len(eval_phash), len(block_keys)
    if n_eval == 0 or n_block == 0:
        return NearestState.empty(n_eval, k), []
    # Sorted by key, so that "first minimum" below means "smallest key".
    order = np.argsort(np.asarray(block_keys, dtype=str), kind="stable")
    keys = np.asarray(block_keys, dtype=str)[order]
    block_phash = np.asarray(block_phash)[order]
    state = NearestState.empty(n_eval, k)
    sim_pairs = []
    if threshold is not None:
        e32 = np.ascontiguousarray(eval_emb, dtype=np.float32)
        b32 = np.ascontiguousarray(np.asarray(block_emb)[order], dtype=np.float32)
        if backend == "faiss":
            scores, idx, sim_pairs = _search_faiss(e32, b32, 2 * k, threshold)
        else:
            import torch

            scores, idx, sim_pairs = _search_torch(torch.from_numpy(e32), torch.from_numpy(b32), k, threshold,
                                                   device)
        candidates = NearestState(scores.astype(np.float32), keys[idx], np.full(n_eval, NO_DISTANCE, np.int16),
                                  np.full(n_eval, "", dtype=str))
        # Top k of the candidates by (score desc, key asc): equal scores resolve the same way always.
        state = state.merge(candidates)

    nearest_distance, nearest, (p_rows, p_cols, p_dists) = phash_lib.nearest_and_matches(
        eval_phash, block_phash, phash_distance)
    state.phash_distance = nearest_distance.astype(np.int16)
    state.phash_key = keys[nearest]

    matched: dict[tuple[int, int], list] = {(r, c): [s, None] for r, c, s in sim_pairs}
    for r, c, d in zip(p_rows.tolist(), p_cols.tolist(), p_dists.tolist()):
        matched.setdefault((r, c), [None, None])[1] = d
    missing_sim = [rc for rc, (s, _) in matched.items() if s is None]
    if threshold is None:
        for rc in missing_sim:
            matched[rc][0] = float("nan")
    elif missing_sim:
        r_idx = np.array([r for r, _ in missing_sim])
        c_idx = np.array([c for _, c in missing_sim])
        for rc, s in zip(missing_sim, (e32[r_idx] * b32[c_idx]).sum(axis=1).tolist()):
            matched[rc][0] = s
    missing_distance = [rc for rc, (_, d) in matched.items() if d is None]
    for rc in missing_distance:
        matched[rc][1] = phash_lib.hamming(int(eval_phash[rc[0]]), int(block_phash[rc[1]]))
    matches = [Match(r, str(keys[c]), float(s), int(d)) for (r, c), (s, d) in sorted(matched.items())]
    return state, matches
