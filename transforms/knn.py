"""k-nearest-neighbour search by inner product (cosine on unit vectors) with FAISS.

Results are deterministic: equal similarities are ordered by lower target id, both inside one search and when
per-shard results are merged, so a sharded search returns exactly what one search over all targets would.
(With float inputs this holds as far as FAISS computes the same inner product for a pair each time.)

Pure functions (numpy + FAISS) only, above the marker at the end; Beam wiring for sharded search goes below it.
"""
from __future__ import annotations

import os
from typing import Iterable

# FAISS's OpenMP threads spin while idle by default; on workers whose cores are shared with Beam's own threads
# (or other jobs) that spinning made index training ~10x slower in our measurements. Read when FAISS loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

# stopes (stopes/utils/mining_utils.py: determine_faiss_index_type): sentence count above which each IVF
# size is used, always as OPQ64,IVFn,PQ64; at 10,000 sentences or fewer an exact flat index is faster and
# k-means clustering would fail for lack of points.
STOPES_NLIST = ((500_000_000, 262_144), (100_000_000, 131_072), (10_000_000, 65_536), (4_000_000, 32_768),
                (700_000, 16_384), (250_000, 8_192), (160_000, 4_096), (80_000, 2_048), (10_000, 1_024))
PQ_M = 64                  # stopes' OPQ64/PQ64: 64 sub-quantisers
NPROBE = 128               # stopes' num_probe for mining (mine_indexes/base.yaml)
TRAIN_SAMPLE = 40_000_000  # stopes' training sample size (TrainFAISSIndexConfig.sample_sz)
MIN_POINTS_PER_CENTROID = 39  # below this FAISS warns that k-means is under-trained
# Extra neighbours fetched so that ties at the k-th similarity can be resolved by id without re-searching.
TIE_SLACK = 8


def _f32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _top(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row: similarity descending, then id ascending."""
    order = np.lexsort((ids, -sims), axis=-1)[..., :k]
    return (np.take_along_axis(sims, order, axis=-1).astype(np.float32),
            np.take_along_axis(ids, order, axis=-1).astype(np.int64))


def _on_gpus(index: faiss.Index, kind: str) -> faiss.Index:
    """Every visible GPU, as LASER's knnGPU does; PQ codes need fp16 lookup tables to fit GPU shared memory."""
    if faiss.get_num_gpus() == 0:
        return index
    options = faiss.GpuMultipleClonerOptions()
    options.useFloat16 = kind == "ivfpq"
    return faiss.index_cpu_to_all_gpus(index, options)


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of `queries` in `index` with ties broken by lower id. Fetches a few more than k; rows whose tie
    at the k-th similarity reaches past what was fetched are searched again with twice as many."""
    queries = _f32(queries)
    k = min(k, index.ntotal)
    sims = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    todo = np.arange(len(queries))
    fetch = min(k + TIE_SLACK, index.ntotal)
    while len(todo) and k:
        got_sims, got_ids = _top(*index.search(queries[todo], fetch), fetch)
        exhausted = (fetch == index.ntotal) | (got_ids[:, -1] < 0)
        settled = exhausted | (got_sims[:, k - 1] > got_sims[:, -1])
        sims[todo[settled]] = got_sims[settled, :k]
        ids[todo[settled]] = got_ids[settled, :k]
        todo = todo[~settled]
        fetch = min(2 * fetch, index.ntotal)
    return sims, ids


def knn(queries: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k targets of each query by inner product: (sims [n, k'] float32, ids [n, k'] int64) with
    k' = min(k, len(targets)); equal similarities come lower target index first."""
    targets = _f32(targets)
    if len(targets) == 0:
        return np.empty((len(queries), 0), dtype=np.float32), np.empty((len(queries), 0), dtype=np.int64)
    return search(build_index(targets, "flat"), queries, k)


def merge_topk(parts: Iterable[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge top-k lists of disjoint target shards (ids already global) into the top-k over their union,
    ties by lower id. Works on one query ([k_i] arrays) or many ([n, k_i] arrays)."""
    parts = list(parts)
    if not parts:
        raise ValueError("merge_topk needs at least one part")
    sims = np.concatenate([np.asarray(part[0], dtype=np.float32) for part in parts], axis=-1)
    ids = np.concatenate([np.asarray(part[1], dtype=np.int64) for part in parts], axis=-1)
    return _top(sims, ids, k)


def default_nlist(n: int) -> int:
    """stopes' IVF list count for n sentences (its smallest, 1024, below its flat cutoff)."""
    return next((nlist for above, nlist in STOPES_NLIST if n > above), STOPES_NLIST[-1][1])


def choose_index(n: int) -> str:
    """stopes' choice: exact `flat` up to 10,000 sentences, `ivfpq` (OPQ64,IVF<default_nlist>,PQ64) above."""
    return "ivfpq" if n > STOPES_NLIST[-1][0] else "flat"


def _factory(kind: str, nlist: int, m: int) -> str:
    if kind == "flat":
        return "Flat"
    if kind == "ivf":
        return f"IVF{nlist},Flat"
    if kind == "ivfpq":
        return f"OPQ{m},IVF{nlist},PQ{m}np"  # np: skip polysemous training, which plain search never uses
    raise ValueError(f"unknown index kind {kind!r}; expected flat, ivf or ivfpq")


def build_index(vectors: np.ndarray, kind: str = "flat", nlist: int | None = None, m: int | None = None,
                train_sample: int = TRAIN_SAMPLE, nprobe: int = NPROBE, seed: int = 0) -> faiss.Index:
    """An inner-product index holding `vectors` (ids = row numbers), on all GPUs when FAISS sees any.
    IVF kinds train on a seeded sample of at most `train_sample` rows; nlist defaults to stopes' table,
    capped so each list gets enough training points; nprobe is the number of lists searched."""
    vectors = _f32(vectors)
    n, dim = vectors.shape
    nlist = nlist or max(1, min(default_nlist(n), n // MIN_POINTS_PER_CENTROID))
    index = faiss.index_factory(dim, _factory(kind, nlist, m or PQ_M), faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        sample = np.random.default_rng(seed).choice(n, size=min(n, train_sample), replace=False)
        index.train(vectors[np.sort(sample)])
        faiss.extract_index_ivf(index).nprobe = min(nprobe, nlist)
    index.add(vectors)
    return _on_gpus(index, kind)


# ---- end of pure functions; Beam wiring below ----
