"""k-nearest-neighbour search by inner product (cosine on unit vectors) with FAISS.

Results are deterministic: equal similarities are ordered by lower target id, both inside one search and when
per-shard results are merged, so a sharded search returns exactly what one search over all targets would.
(With float inputs this holds as far as FAISS computes the same inner product for a pair each time.)

Pure functions (numpy + FAISS) only, above the marker at the end; Beam wiring for sharded search goes below it.
"""
from __future__ import annotations

import contextlib
import math
import os
import zlib
from typing import Iterable, Iterator, NamedTuple

# FAISS's OpenMP threads spin while idle by default; on workers whose cores are shared with Beam's own threads
# (or other jobs) that spinning made index training ~10x slower in our measurements. Read when FAISS loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
import apache_beam as beam  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402

from parabeam.transforms.embedding_store import Shard, read_npz, read_shard, write_npz  # noqa: E402

# stopes (stopes/utils/mining_utils.py: determine_faiss_index_type): sentence count above which each IVF
# size is used, always as OPQ64,IVFn,PQ64; at 10,000 sentences or fewer an exact flat index is faster and
# k-means clustering would fail for lack of points. Tried instead (benchmarks/results/scale-list40.txt): one
# list per 40 sentences with an HNSW quantizer from 16,384 lists. Cheaper at 100k and 400k, no cheaper at 1M
# (per-query scans still grew 0.89 -> 1.34 ms from 400k to 1M: what grew was the number of index shards each
# query visited, benchmarks/shard_visits.py, now one range of lists each), HNSW assignment dearer than flat at
# 25,000 lists, recall lower.
STOPES_NLIST = ((500_000_000, 262_144), (100_000_000, 131_072), (10_000_000, 65_536), (4_000_000, 32_768),
                (700_000, 16_384), (250_000, 8_192), (160_000, 4_096), (80_000, 2_048), (10_000, 1_024))
PQ_M = 64                  # stopes' OPQ64/PQ64: 64 sub-quantisers
NPROBE = 128               # stopes' num_probe for mining (mine_indexes/base.yaml)
TRAIN_SAMPLE = 40_000_000  # stopes' training sample size (TrainFAISSIndexConfig.sample_sz): the cap
MIN_POINTS_PER_CENTROID = 39  # below this FAISS warns that k-means is under-trained
# The training sample grows with the list count: 64 points per list (above FAISS's 39), TRAIN_SAMPLE at most.
TRAIN_POINTS_PER_LIST = 64
# Kept for callers that want the old fixed sample; BuildIndex's default is train_size_for(default_nlist(n)).
DEFAULT_TRAIN_SIZE = 200_000
# Coarse quantizer: flat (one BLAS matrix product per query batch: at 16,384 lists 0.15-0.18 ms a query on one
# core, below the 0.36 ms of scanning 128 lists, benchmarks/results/scale-1m.txt) up to HNSW_FROM_NLIST lists;
# from there (corpora above 10M, where a flat quantizer would cost more than the scan and grow with the corpus)
# an HNSW graph over the centroids (FAISS's IVFn_HNSW32), whose cost grows ~log(nlist). Its efSearch is
# HNSW_EF_PER_PROBE x nprobe.
# Measured at 100k (2,048 lists, synthetic muse, niced on a loaded 2-core machine): flat assign 0.09 ms/query,
# HNSW 0.20 ms/query and 8x slower to add vectors; so HNSW only where the flat one stops being cheap.
HNSW_FROM_NLIST = 65_536
HNSW_M = 32
HNSW_EF_PER_PROBE = 2
# A flat quantizer's cost grows with nlist (the list scans do not), so from PROJECT_FROM_NLIST lists an IVF-Flat
# index trained on CPU scores its centroids in their top dim / 2 singular directions (the uncentred SVD of the
# centroids, where their inner products have their energy); vectors and queries are assigned the same way.
# Measured (synthetic muse-shaped vectors, one core): assignment 0.091 -> 0.059 ms a query at 8,192 lists and
# 0.176 -> 0.105 at 16,384; recall@4 at 400k (8,192 lists, nprobe 128) 0.9866 -> 0.9851. Below 4,096 lists the
# exact assignment costs a fifth of the scan or less. Not for PQ codes (their residuals need the exact centroid)
# nor on GPUs (FAISS's GPU cloner copies flat quantizers only; there the flat assignment is cheap).
PROJECT_FROM_NLIST = 4_096
# Extra neighbours fetched so that ties at the k-th similarity can be resolved by id without re-searching.
TIE_SLACK = 8
# IVF-Flat lists assigned in advance are scanned list by list: every query of a batch that probes a list meets
# it in one matrix product, instead of FAISS's query-by-query scan, which reads each probed list from memory
# once per query and is bound by memory bandwidth (two workers on one machine slow each other down). Measured
# (250k vectors, 4,096 lists, nprobe 128, one core): 0.71 -> 0.33 ms a query, the same neighbours. A batch
# holds this many bytes of candidates (nprobe x k of them a query, similarity and position, 8 bytes each).
SCAN_BATCH_BYTES = 128 * 2**20


def _f32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _best_first(sims: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best of each row: similarity descending (NaN, a missing neighbour, last), then id
    ascending (ids may be numbers or strings)."""
    return np.lexsort((ids, -sims), axis=-1)[..., :k]


def _top(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row: similarity descending, then id ascending."""
    order = _best_first(sims, ids, k)
    return np.take_along_axis(sims, order, axis=-1).astype(np.float32), np.take_along_axis(ids, order, axis=-1)


def _k_best(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`_top` for wide rows: argpartition, then a full sort only for rows whose k-th similarity is tied with one
    left out. `ids` has the shape of `sims`."""
    if sims.shape[1] <= k:
        return _top(sims, ids, k)
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    best_sims, best_ids = np.take_along_axis(sims, part, 1), np.take_along_axis(ids, part, 1)
    tied = (sims >= best_sims.min(axis=1, keepdims=True)).sum(axis=1) > k
    best_sims, best_ids = _top(best_sims, best_ids, k)
    if tied.any():
        best_sims[tied], best_ids[tied] = _top(sims[tied], ids[tied], k)
    return best_sims, best_ids


def _ivf_or_none(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF part of `index` (behind a rotation, if any), downcast; None for an index without lists."""
    try:
        return faiss.downcast_index(faiss.extract_index_ivf(index))
    except (RuntimeError, ValueError):
        return None


def _flat_lists(index: faiss.Index) -> faiss.IndexIVFFlat | None:
    """The IVF-Flat inner-product CPU index `index` is, whose lists `_scan_by_list` reads; None for any other
    (PQ codes, a rotation in front, a GPU index)."""
    ivf = None if isinstance(index, faiss.IndexPreTransform) else _ivf_or_none(index)
    return ivf if type(ivf) is faiss.IndexIVFFlat and ivf.metric_type == faiss.METRIC_INNER_PRODUCT else None


def _scan_by_list(ivf: faiss.IndexIVFFlat, queries: np.ndarray, probed: np.ndarray, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (similarity descending, then id ascending) of each query among the vectors of the lists it probes
    (`probed`, from assign; -1: none), as search_preassigned finds them, scanned one list at a time for a batch of
    queries (SCAN_BATCH_BYTES). Rows with fewer than k candidates end in similarity -inf and id -1.
    Only the probes that are not -1 take candidate slots: an index shard of a list range (in_range) pays for
    the probes in its range, not for all nprobe of them."""
    invlists, dim, nprobe = ivf.invlists, ivf.d, probed.shape[1]
    sims = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    if not k:
        return sims, ids
    batch = max(1, SCAN_BATCH_BYTES // (8 * nprobe * k))
    for start in range(0, len(queries), batch):
        valid = probed[start:start + batch] >= 0
        width = int(valid.sum(axis=1).max(initial=0))
        if not width:
            continue
        slot_in_row = np.cumsum(valid, axis=1) - 1   # each row's probes in range, numbered from 0
        positions = np.flatnonzero(valid)
        numbers = probed[start:start + batch].ravel()[positions]
        order = np.argsort(numbers, kind="stable")
        positions, numbers = positions[order], numbers[order]
        rows_of, slots_of = positions // nprobe, slot_in_row.ravel()[positions]
        cand_sims = np.full((len(valid), width * k), -np.inf, dtype=np.float32)
        cand_ids = np.full((len(valid), width * k), -1, dtype=np.int64)
        bounds = np.flatnonzero(np.diff(numbers)) + 1
        for first, end in zip(np.r_[0, bounds], np.r_[bounds, len(numbers)]):
            number = int(numbers[first])
            size = invlists.list_size(number)
            if not size:
                continue
            vectors = faiss.rev_swig_ptr(invlists.get_codes(number), size * dim * 4).view(np.float32).reshape(size, dim)
            list_ids = faiss.rev_swig_ptr(invlists.get_ids(number), size)
            rows = rows_of[first:end]
            found_sims, found_ids = _k_best(queries[start + rows] @ vectors.T,
                                            np.broadcast_to(list_ids, (len(rows), size)), k)
            columns = slots_of[first:end, None] * k + np.arange(found_sims.shape[1])
            cand_sims[rows[:, None], columns], cand_ids[rows[:, None], columns] = found_sims, found_ids
        sims[start:start + batch], ids[start:start + batch] = _k_best(cand_sims, cand_ids, k)
    return sims, ids


def _on_gpus(index: faiss.Index, kind: str) -> faiss.Index:
    """Every visible GPU, as LASER's knnGPU does; PQ codes need fp16 lookup tables to fit GPU shared memory.
    An index with a projected quantizer (trained on a CPU) stays on the CPU, where its lists are scanned."""
    if faiss.get_num_gpus() == 0 or _projected(index):
        return index
    options = faiss.GpuMultipleClonerOptions()
    options.useFloat16 = kind == "ivfpq"
    return faiss.index_cpu_to_all_gpus(index, options)


def _rotated(index: faiss.Index, queries: np.ndarray) -> np.ndarray:
    """Queries as the IVF part of `index` sees them (after OPQ's rotation, when there is one)."""
    if isinstance(index, faiss.IndexPreTransform):
        for step in range(index.chain.size()):
            queries = index.chain.at(step).apply(queries)
    return queries


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """FAISS and BLAS on one thread: Beam runs one worker process per core, and two workers with two threads
    each slowed a flat assignment by 22% (8,192 lists, 2 cores)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1, "blas"):
            yield
    finally:
        faiss.omp_set_num_threads(threads)


def assign(index: faiss.Index, queries: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
    """The IVF lists each query probes: (similarities, list numbers) [n, nprobe]. Every index shard of a
    language shares one trained quantizer, so this is computed once per query shard, not once per pair."""
    ivf = faiss.extract_index_ivf(index)
    with one_thread():
        return ivf.quantizer.search(_rotated(index, _f32(queries)), min(nprobe, ivf.nlist))


def list_ranges(nlist: int, parts: int) -> list[tuple[int, int]]:
    """`parts` consecutive ranges [first, end) of an index's nlist lists, as equal in count as can be."""
    bounds = np.linspace(0, nlist, min(parts, nlist) + 1).round().astype(int).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def range_of(lists: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Which of `ranges` (list_ranges) holds each list number."""
    return np.searchsorted([end for _first, end in ranges], lists, side="right")


def in_range(coarse: tuple[np.ndarray, np.ndarray], lists: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An assignment (assign) limited to the lists [first, end): the others become -1, which FAISS skips."""
    sims, probed = coarse
    return sims, np.where((probed >= lists[0]) & (probed < lists[1]), probed, -1)


def add_preassigned(index: faiss.Index, vectors: np.ndarray, lists: np.ndarray) -> None:
    """Add vectors to the lists they were assigned to (assign with nprobe 1) without assigning them again."""
    ivf = faiss.extract_index_ivf(index)
    rotated = _f32(_rotated(index, _f32(vectors)))
    assigned = np.ascontiguousarray(lists, dtype=np.int64)   # held here: swig_ptr keeps no reference
    ivf.add_core(len(rotated), faiss.swig_ptr(rotated), None, faiss.swig_ptr(assigned))
    index.ntotal = ivf.ntotal


def search(index: faiss.Index, queries: np.ndarray, k: int,
           coarse: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of `queries` in `index` with ties broken by lower id. Fetches a few more than k; rows whose tie
    at the k-th similarity reaches past what was fetched are searched again with twice as many. With
    `coarse` (from assign) an IVF index scans those lists instead of searching its quantizer again: an
    IVF-Flat one list by list for a batch of queries (`_scan_by_list`, exact top-k), others through FAISS."""
    queries = _f32(queries)
    flat_ivf = _flat_lists(index) if coarse is not None else None
    if flat_ivf is not None:
        with one_thread():
            return _scan_by_list(flat_ivf, queries, coarse[1], min(k, index.ntotal))
    if coarse is None:
        def fetch_top(rows, fetch):
            return index.search(queries[rows], fetch)
    else:
        ivf, rotated = faiss.extract_index_ivf(index), _rotated(index, queries)
        lists = coarse[1].astype(np.int64)

        def fetch_top(rows, fetch):
            return ivf.search_preassigned(rotated[rows], fetch, lists[rows], coarse[0][rows])
    k = min(k, index.ntotal)
    sims = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    todo = np.arange(len(queries))
    fetch = min(k + TIE_SLACK, index.ntotal)
    while len(todo) and k:
        got_sims, got_ids = _top(*fetch_top(todo, fetch), fetch)
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
    ids = np.concatenate([np.asarray(part[1]) for part in parts], axis=-1)
    return _top(sims, ids, k)


class Neighbours(NamedTuple):
    """The k nearest neighbours of one query shard's sentences: one block of arrays, so that millions of
    queries travel as a few elements. Rows follow the shard (id order), neighbours best first; a missing
    neighbour (an IVF search that found fewer than k) has similarity NaN."""
    ids: np.ndarray          # [n] query sentence ids, UTF-8 bytes (a quarter of numpy's str; same order)
    sims: np.ndarray         # [n, k] float32
    targets: np.ndarray      # [n, k] the neighbours' sentence ids, UTF-8 bytes
    origin: np.ndarray       # [n, k] int16: the embedding shard each neighbour is in, as a position in `shards`
    shards: tuple[str, ...]  # embedding shard paths


def merge_neighbours(a: Neighbours, b: Neighbours, k: int) -> Neighbours:
    """The same queries' neighbours from two disjoint sets of target shards -> the top-k over their union,
    ties by lower target id."""
    shards = a.shards + tuple(shard for shard in b.shards if shard not in a.shards)
    renumber = np.array([shards.index(shard) for shard in b.shards], dtype=np.int16)
    sims = np.concatenate([a.sims, b.sims], axis=1)
    targets = np.concatenate([a.targets, b.targets], axis=1)
    order = _best_first(sims, targets, k)
    origin = np.concatenate([a.origin, renumber[b.origin]], axis=1)
    return Neighbours(a.ids, *(np.take_along_axis(part, order, axis=1) for part in (sims, targets, origin)),
                      shards)


def default_nlist(n: int) -> int:
    """IVF list count for a corpus of n sentences: stopes' table (its smallest, 1024, below its flat cutoff),
    capped at n / MIN_POINTS_PER_CENTROID so that every list can get enough training points. Nothing else
    caps it: the training sample grows with it (train_size_for). Lists hold ~30-60 vectors at every size
    past 80k, so at a fixed nprobe a query scans about the same number of vectors however large the corpus."""
    nlist = next((nlist for above, nlist in STOPES_NLIST if n > above), STOPES_NLIST[-1][1])
    return max(1, min(nlist, n // MIN_POINTS_PER_CENTROID))


def train_size_for(nlist: int) -> int:
    """Training sample for nlist lists: TRAIN_POINTS_PER_LIST per list, at most stopes' TRAIN_SAMPLE."""
    return min(TRAIN_SAMPLE, TRAIN_POINTS_PER_LIST * nlist)


def train_memory_bytes(sample_rows: int, dim: int, nlist: int) -> int:
    """Peak memory of train_index on CPU, stated: the sample as float16 as the shards hold it (2 bytes a
    value), its float32 copy (4 bytes) while k-means runs, the labels, and the centroids. At 1M sentences
    (16,384 lists, 1M-row sample, 512-d) ~3 GB; at stopes' 100M (131,072 lists, 8.4M rows) ~26 GB, which is
    where GPU training (or a smaller TRAIN_POINTS_PER_LIST, >= 39) is meant to take over."""
    return sample_rows * dim * (2 + 4) + sample_rows * 16 + 2 * nlist * dim * 4


def choose_index(n: int) -> str:
    """Exact `flat` up to 10,000 sentences (stopes' cut-off), `ivf` (IVF<default_nlist>,Flat; an HNSW
    quantizer from HNSW_FROM_NLIST lists) above.

    stopes switches to OPQ64,IVFn,PQ64 there; we keep full vectors because on real muse embeddings (21.7k x
    11.3k, benchmarks/recall.py) IVF-Flat reaches recall@4 0.985 and 99.9% of exact mining's pairs at
    nprobe 128, and sharding by --memory-budget already bounds each worker's memory. `--index ivfpq` trades
    recall for a 32x smaller index when the index store, not worker memory, is what limits."""
    return "ivf" if n > STOPES_NLIST[-1][0] else "flat"


def _factory(kind: str, nlist: int, m: int) -> str:
    quantizer = f"IVF{nlist}_HNSW{HNSW_M}" if nlist >= HNSW_FROM_NLIST else f"IVF{nlist}"
    if kind == "flat":
        return "Flat"
    if kind == "ivf":
        return f"{quantizer},Flat"
    if kind == "ivfpq":
        return f"OPQ{m},{quantizer},PQ{m}np"  # np: skip polysemous training, which plain search never uses
    raise ValueError(f"unknown index kind {kind!r}; expected flat, ivf or ivfpq")


def _projected_quantizer(centroids: np.ndarray) -> faiss.Index:
    """A flat inner-product quantizer over `centroids` that scores them in their top dim / 2 singular
    directions (PROJECT_FROM_NLIST)."""
    dim = centroids.shape[1]
    directions = np.linalg.svd(centroids, full_matrices=False)[2][:dim // 2]
    projection = faiss.LinearTransform(dim, dim // 2, False)
    faiss.copy_array_to_vector(_f32(directions).ravel(), projection.A)
    projection.is_trained = True
    quantizer = faiss.IndexPreTransform(projection, faiss.IndexFlatIP(dim // 2))
    quantizer.add(_f32(centroids))
    return quantizer


def _projected(index: faiss.Index) -> bool:
    """Whether `index` is an IVF index with a projected quantizer (_projected_quantizer)."""
    ivf = _ivf_or_none(index)
    return ivf is not None and isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexPreTransform)


def _spherical_kmeans(x: np.ndarray, k: int, seed: int, niter: int = 20, gpu: bool = False) -> np.ndarray:
    """k unit centroids of the rows of x (inner product)."""
    k = max(1, min(k, len(x)))
    kmeans = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, gpu=gpu,
                          max_points_per_centroid=256, verbose=False)
    kmeans.train(_f32(x))
    return kmeans.centroids


def _labels(x: np.ndarray, centroids: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Nearest centroid (inner product) of every row, chunk by chunk (memory: one float32 chunk)."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    return np.concatenate([index.search(_f32(x[i:i + chunk]), 1)[1][:, 0] for i in range(0, len(x), chunk)])


def two_level_centroids(x: np.ndarray, nlist: int, seed: int = 0) -> np.ndarray:
    """nlist centroids by two-level (hierarchical) spherical k-means, FAISS's CPU recipe for large nlist:
    sqrt(nlist) level-1 clusters, then each cluster split into lists in proportion to its rows. Cost per
    iteration ~ rows x 2 sqrt(nlist) x dim instead of rows x nlist x dim; memory is the sample plus one
    cluster's float32 copy at a time (train_memory_bytes)."""
    level1 = round(math.sqrt(nlist))
    if nlist <= 256:
        return _spherical_kmeans(x, nlist, seed)
    labels = _labels(x, _spherical_kmeans(x, level1, seed))
    sizes = np.bincount(labels, minlength=level1)
    # lists per cluster: proportional to its rows (largest remainder), none for an empty cluster
    share = sizes * nlist / sizes.sum()
    alloc = np.floor(share).astype(np.int64)
    for cluster in np.argsort(-(share - alloc), kind="stable")[:nlist - alloc.sum()]:
        alloc[cluster] += 1
    alloc = np.minimum(alloc, sizes)   # never more lists than rows
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = [_spherical_kmeans(x[order[bounds[c]:bounds[c + 1]]], int(alloc[c]), seed + 1 + c)
             for c in range(level1) if alloc[c]]
    centroids = _f32(np.concatenate(parts))
    if len(centroids) < nlist:   # only when clusters had fewer rows than lists: repeat centroids (empty lists)
        centroids = np.concatenate([centroids, centroids[:nlist - len(centroids)]])
    return centroids


def train_index(sample: np.ndarray, kind: str, n_total: int, nlist: int | None = None, m: int | None = None,
                nprobe: int = NPROBE, seed: int = 0) -> faiss.Index:
    """An empty inner-product index of `kind` for a corpus of `n_total` vectors, trained on `sample` (a seeded
    subset of at most train_size_for(nlist) rows is used). nlist defaults to default_nlist(n_total), capped
    only by what the sample can train (MIN_POINTS_PER_CENTROID per list); nprobe is the number of lists
    searched. The lists' centroids come from spherical k-means: flat on GPU when FAISS sees one, two-level
    on CPU (two_level_centroids; memory train_memory_bytes); an IVF-Flat index trained on CPU with
    PROJECT_FROM_NLIST lists or more assigns in a projection (_projected_quantizer)."""
    n, dim = sample.shape
    nlist = nlist or max(1, min(default_nlist(n_total), n // MIN_POINTS_PER_CENTROID))
    index = faiss.index_factory(dim, _factory(kind, nlist, m or PQ_M), faiss.METRIC_INNER_PRODUCT)
    if index.is_trained:
        return index
    rows = np.random.default_rng(seed).choice(n, size=min(n, train_size_for(nlist)), replace=False)
    sample = _f32(sample[np.sort(rows)])
    if isinstance(index, faiss.IndexPreTransform):   # OPQ: train the rotation, then work in rotated space
        for step in range(index.chain.size()):
            transform = index.chain.at(step)
            transform.train(sample)
            sample = transform.apply(sample)
    gpu = faiss.get_num_gpus() > 0
    centroids = _spherical_kmeans(sample, nlist, seed, gpu=True) if gpu else two_level_centroids(sample, nlist, seed)
    if kind == "ivf" and PROJECT_FROM_NLIST <= nlist < HNSW_FROM_NLIST and not gpu:
        index = faiss.IndexIVFFlat(_projected_quantizer(centroids), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        ivf = faiss.extract_index_ivf(index)
        ivf.quantizer.reset()
        ivf.quantizer.add(centroids)
        ivf.quantizer.is_trained = True
        ivf.train(sample)   # the quantizer is full (FAISS skips its clustering): trains PQ codes only, if any
        index.is_trained = True
    set_nprobe(index, nprobe)
    return index


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Lists searched per query by an IVF index (capped at its list count), and the HNSW quantizer's search
    breadth to match; flat indexes have none."""
    ivf = _ivf_or_none(index)
    if ivf is None:
        return
    ivf.nprobe = min(nprobe, ivf.nlist)
    quantizer = faiss.downcast_index(ivf.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        quantizer.hnsw.efSearch = max(64, HNSW_EF_PER_PROBE * ivf.nprobe)


def build_index(vectors: np.ndarray, kind: str = "flat", nlist: int | None = None, m: int | None = None,
                nprobe: int = NPROBE, seed: int = 0) -> faiss.Index:
    """An inner-product index holding `vectors` (ids = row numbers), on all GPUs when FAISS sees any."""
    index = train_index(vectors, kind, len(vectors), nlist, m, nprobe, seed)
    index.add(_f32(vectors))
    return _on_gpus(index, kind)


# ---- incremental refresh (pure part) ----
# Retrain rule: an index trained for n sentences keeps its quantizer while the corpus grows, new vectors going
# into new shards of the same trained index, until stopes' table asks for at least RETRAIN_LIST_GROWTH times
# as many lists (or another kind): lists then hold up to ~2x the vectors they were trained for, so a query at
# fixed nprobe scans at most ~2x as many, and a 10%-a-release corpus retrains about every 7 releases.
RETRAIN_LIST_GROWTH = 2


def needs_retrain(trained_for: int, n_now: int, kind: str = "auto") -> bool:
    """Whether a language's index trained for `trained_for` sentences must be retrained at `n_now`."""
    if kind == "auto" and choose_index(trained_for) != choose_index(n_now):
        return True
    if (choose_index(n_now) if kind == "auto" else kind) == "flat":
        return False
    return default_nlist(n_now) >= RETRAIN_LIST_GROWTH * default_nlist(trained_for)


def search_parts(parts: Iterable[tuple[faiss.Index, np.ndarray]], queries: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of `queries` over index shards [(index, global ids of its rows)], merged (ties by lower id).
    Missing neighbours (an IVF search that found fewer than k) are dropped as NaN / -1."""
    found = []
    for index, ids in parts:
        sims, positions = search(index, queries, k)
        ok = positions >= 0
        found.append((np.where(ok, sims, np.float32(np.nan)), np.where(ok, ids[np.maximum(positions, 0)], -1)))
    sims, ids = merge_topk(found, k)
    return sims, np.where(np.isnan(sims), -1, ids)


def refresh_lists(stored: tuple[np.ndarray, np.ndarray], old_queries: np.ndarray, new_queries: np.ndarray,
                  old_parts: list[tuple[faiss.Index, np.ndarray]], new_parts: list[tuple[faiss.Index, np.ndarray]],
                  k: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """One direction of an incremental refresh: the old queries' stored top-k (over the old targets) merged
    with their top-k over the new targets only, and the new queries' top-k over everything. The index shards
    of old and new targets are filled from one trained index, and an IVF query probes the same lists in every
    shard, so both results equal one search over all targets with that index (exact for flat)."""
    fresh = search_parts(new_parts, old_queries, k)
    stored_sims = np.where(stored[1] < 0, np.float32(np.nan), stored[0])
    sims, ids = merge_topk([(stored_sims, stored[1]), (np.where(fresh[1] < 0, np.nan, fresh[0]), fresh[1])], k)
    return (sims, np.where(np.isnan(sims), -1, ids)), search_parts(old_parts + new_parts, new_queries, k)


# ---- end of pure functions; Beam wiring below ----

def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as handle:
        return handle.read()


def _write_index(path: str, index: faiss.Index) -> None:
    with FileSystems.create(path) as handle:
        handle.write(faiss.serialize_index(index).tobytes())


def _load_index(path: str) -> faiss.Index:
    return faiss.deserialize_index(np.frombuffer(_read_bytes(path), dtype=np.uint8))


def write_block(path: str, block: Neighbours) -> None:
    """One query shard's neighbour block to an .npz file (a release keeps them for the next refresh)."""
    write_npz(path, ids=block.ids, sims=block.sims, targets=block.targets, origin=block.origin,
              shards=np.asarray(block.shards, dtype=str))


def read_block(path: str) -> Neighbours:
    data = read_npz(path)
    return Neighbours(data["ids"], data["sims"], data["targets"], data["origin"],
                      tuple(data["shards"].tolist()))


class IndexShard(NamedTuple):
    """A part of one language's index. Flat: one embedding shard (`path`), `index` None (an exact index is
    rebuilt from its vectors when searched). IVF: `index` holds every vector of the language (of this release)
    whose list is in `lists` [first, end), `path` their ids in the order added (ascending); `trained` is the
    empty trained index every shard of the language was filled from, whose quantizer assigns queries to lists.
    Splitting by list range rather than by rows, a query visits its nprobe lists once in all, not in every
    shard (benchmarks/shard_visits.py). `lists` None: every list (states written before list ranges).
    `sources`: the embedding shards its vectors come from (a neighbour found in it is in one of them, which
    is what margin scoring asks and what a stored block records as covered); empty: `path` itself."""
    lang: str
    path: str
    rows: int
    kind: str
    index: str | None
    trained: str | None
    lists: tuple[int, int] | None = None
    sources: tuple[str, ...] = ()

    @property
    def holds(self) -> tuple[str, ...]:
        """The embedding shards whose vectors this index shard holds."""
        return self.sources or (self.path,)


class Plan(NamedTuple):
    """One language's index: its kind and, for IVF kinds, the trained empty index."""
    lang: str
    kind: str
    template: str | None


class Query(NamedTuple):
    """A query shard on its way to the index shards of `target` (one language direction): `coarse` is a file
    of the IVF lists its queries probe in that language's index (None for flat)."""
    shard: Shard
    target: str
    coarse: str | None


def _sample(shard: Shard, totals: dict[str, int], kind: str, train_size: int | None, root: str
            ) -> Iterator[tuple[str, str]]:
    """This shard's share of its language's training sample (train_size rows in all; by default
    train_size_for the language's list count), drawn with a seed derived from the shard's name and written
    beside the index as float16: only its path travels through the pipeline. None for flat languages."""
    total = totals[shard.lang]
    if (choose_index(total) if kind == "auto" else kind) != "flat":
        train_size = train_size or train_size_for(default_nlist(total))
        _ids, vectors = read_shard(shard.path)
        want = min(len(vectors), math.ceil(train_size * len(vectors) / max(total, 1)))
        rows = np.random.default_rng(zlib.crc32(shard.path.encode())).choice(len(vectors), want, replace=False)
        path = FileSystems.join(root, shard.lang, "sample", shard.path.rsplit("/", 1)[-1])
        write_npz(path, vectors=vectors[np.sort(rows)].astype(np.float16))
        yield shard.lang, path


def _plan(item: tuple[str, Iterable[str]], totals: dict[str, int], kind: str, root: str, nprobe: int) -> Plan:
    """Train one language's IVF index once (on its samples, in shard order) and write it empty."""
    lang, samples = item
    total = totals[lang]
    kind = choose_index(total) if kind == "auto" else kind
    index = train_index(np.concatenate([read_npz(path)["vectors"] for path in sorted(samples)]), kind, total,
                        nprobe=nprobe)
    path = FileSystems.join(root, lang, f"trained-{kind}.faiss")
    _write_index(path, index)
    return Plan(lang, kind, path)


def _untrained(shard: Shard, stored: dict[str, Plan]) -> bool:
    return shard.lang not in stored


def _route(shard: Shard, plans: dict[str, Plan], parts: dict[str, int], root: str) -> Iterator:
    """Embedding shard -> flat: its IndexShard (tagged "flat"); IVF: its vectors assigned to lists and written
    as one piece per list range, ((lang, range number), piece path), to be filled into that range's shard."""
    plan = plans.get(shard.lang)
    if plan is None:
        yield beam.pvalue.TaggedOutput("flat", IndexShard(shard.lang, shard.path, shard.rows, "flat", None, None))
        return
    template = _load_index(plan.template)
    ids, vectors = read_shard(shard.path)
    lists = assign(template, vectors, 1)[1][:, 0]
    part_of = range_of(lists, list_ranges(faiss.extract_index_ivf(template).nlist, parts[shard.lang]))
    stem = shard.path.rsplit("/", 1)[-1].removesuffix(".npz")
    for part in np.unique(part_of).tolist():
        rows = np.flatnonzero(part_of == part)
        path = FileSystems.join(root, shard.lang, "pieces", f"{stem}.{part:05d}.npz")
        write_npz(path, ids=ids[rows], vectors=vectors[rows], lists=lists[rows].astype(np.int32))
        yield (shard.lang, part), (path, shard.path)


def _fill(item: tuple[tuple[str, int], Iterable[tuple[str, str]]], plans: dict[str, Plan], parts: dict[str, int],
          root: str) -> IndexShard:
    """One list range's pieces (piece path, embedding shard path) -> its index shard: the trained index filled
    with their vectors in id order (so positions follow ids, which breaks ties as one search over everything
    would); beside it, their ids and the embedding shard each came from."""
    (lang, part), pieces = item
    plan = plans[lang]
    index = _load_index(plan.template)
    first, end = list_ranges(faiss.extract_index_ivf(index).nlist, parts[lang])[part]
    pieces = sorted(pieces)
    sources = sorted({source for _path, source in pieces})
    data = [read_npz(path) for path, _source in pieces]
    ids = np.concatenate([piece["ids"] for piece in data])
    origin = np.concatenate([np.full(len(piece["ids"]), sources.index(source), dtype=np.int16)
                             for piece, (_path, source) in zip(data, pieces)])
    order = np.argsort(ids, kind="stable")
    add_preassigned(index, np.concatenate([piece["vectors"] for piece in data])[order],
                    np.concatenate([piece["lists"] for piece in data])[order])
    name = FileSystems.join(root, lang, f"lists-{first:06d}-{end:06d}")
    _write_index(f"{name}.faiss", index)
    write_npz(f"{name}.npz", ids=ids[order], origin=origin[order])
    return IndexShard(lang, f"{name}.npz", len(ids), plan.kind, f"{name}.faiss", plan.template, (first, end),
                      tuple(sources))


def _remove_pieces(_start, shards: list[IndexShard], root: str) -> None:
    """Once every range is filled (`shards` as a side input waits for them), the piece files go: removed in
    the fill itself, a retried fill would find them gone."""
    patterns = sorted({FileSystems.join(root, shard.lang, "pieces", "*.npz") for shard in shards if shard.lists})
    found = [meta.path for result in FileSystems.match(patterns) for meta in result.metadata_list] if patterns else []
    if found:
        FileSystems.delete(found)


class BuildIndex(beam.PTransform):
    """Embedding shards of every language -> index shards `root/<lang>/...` (IndexShard).

    The kind follows each language's corpus size (stopes' table) unless forced. IVF kinds are trained once per
    language, languages in parallel, on a sample drawn evenly from its shards that grows with the list count
    (train_size_for(default_nlist(rows)) unless `train_size` is given), then populated shard by shard in
    parallel.

    With `stored` (a PCollection of Plan: trained indexes kept from an earlier release, at most one per
    language), the shards of those languages are populated from the stored trained index instead: nothing is
    sampled or trained for them, so their new index shards share the old shards' quantizer (a refresh).

    An IVF language's index shards split its lists into as many ranges as it has embedding shards (so one
    holds about an embedding shard's vectors): each embedding shard's vectors are assigned to lists once and
    routed to their ranges as piece files, and each range is filled from its pieces.
    """

    def __init__(self, root: str, kind: str = "auto", nprobe: int = NPROBE, train_size: int | None = None,
                 stored: beam.PCollection | None = None):
        super().__init__()
        self.root, self.kind, self.nprobe, self.train_size = root, kind, nprobe, train_size
        self.stored = stored

    def expand(self, shards):
        to_train = shards
        if self.stored is not None:
            stored = self.stored | "StoredByLang" >> beam.Map(lambda plan: (plan.lang, plan))
            to_train = shards | "Untrained" >> beam.Filter(_untrained, beam.pvalue.AsDict(stored))
        totals = beam.pvalue.AsDict(to_train | "Rows" >> beam.Map(lambda shard: (shard.lang, shard.rows))
                                    | "Total" >> beam.CombinePerKey(sum))
        plans = (to_train
                 | "Sample" >> beam.FlatMap(_sample, totals, self.kind, self.train_size, self.root)
                 | "Samples" >> beam.GroupByKey()
                 | "Train" >> beam.Map(_plan, totals, self.kind, self.root, self.nprobe)
                 | "ByLang" >> beam.Map(lambda plan: (plan.lang, plan)))
        if self.stored is not None:
            plans = (plans, stored) | "AllPlans" >> beam.Flatten()
        plans = beam.pvalue.AsDict(plans)
        parts = beam.pvalue.AsDict(shards | "PerLang" >> beam.Map(lambda shard: (shard.lang, 1))
                                   | "Parts" >> beam.CombinePerKey(sum))
        routed = shards | "Route" >> beam.FlatMap(_route, plans, parts, self.root).with_outputs("flat", main="pieces")
        filled = (routed.pieces | "ByRange" >> beam.GroupByKey()
                  | "Fill" >> beam.Map(_fill, plans, parts, self.root))
        _ = (shards.pipeline | "Once" >> beam.Create([None])
             | "RemovePieces" >> beam.Map(_remove_pieces, beam.pvalue.AsList(filled), self.root))
        return (routed.flat, filled) | "IndexShards" >> beam.Flatten()


def to_search(query: Query, index_shards: Iterable[IndexShard], covered: dict) -> list[IndexShard]:
    """The index shards of the query's target language that its stored neighbour block (if any: `covered`
    maps (query lang, target lang, query shard path) to the target shards a kept block was searched
    against) does not cover yet."""
    done = set(covered.get((query.shard.lang, query.target, query.shard.path), ()))
    return [index for index in index_shards if index.lang == query.target and not set(index.holds) <= done]


class _Assign(beam.DoFn):
    """Query shard -> one Query per language it is searched against, with its IVF list assignment in that
    language's index written beside it (assign), or under `coarse_root` when given (a refresh: the trained
    index is an earlier release's, whose folder is left alone). A direction whose stored block already covers
    every index shard of the target gets no Query."""

    def __init__(self, nprobe: int, directions: tuple[tuple[str, str], ...], coarse_root: str | None = None):
        self.nprobe, self.directions, self.coarse_root = nprobe, directions, coarse_root

    def process(self, shard: Shard, index_shards: list[IndexShard], covered: dict) -> Iterator[Query]:
        for source, target in self.directions:
            if source != shard.lang or not to_search(Query(shard, target, None), index_shards, covered):
                continue
            trained = {index.trained for index in index_shards if index.lang == target} - {None}
            if not trained:
                yield Query(shard, target, None)
                continue
            (template,) = trained
            sims, lists = assign(_load_index(template), read_shard(shard.path)[1], self.nprobe)
            if self.coarse_root is None:
                name = shard.path.rsplit("/", 1)[-1].replace(".npz", f".{shard.lang}.coarse.npz")
                path = FileSystems.join(FileSystems.split(template)[0], "coarse", name)
            else:   # query shards of several releases may share a file name: the path's hash tells them apart
                name = shard.path.rsplit("/", 1)[-1].replace(
                    ".npz", f".{shard.lang}.{zlib.crc32(shard.path.encode()):08x}.coarse.npz")
                path = FileSystems.join(self.coarse_root, target, "coarse", name)
            write_npz(path, sims=sims, lists=lists.astype(np.int32))
            yield Query(shard, target, path)


class _SearchPair(beam.DoFn):
    """One query shard against one index shard -> ((query lang, target lang, query shard path), Neighbours).
    Keeps the last shards it loaded, in case work items arrive grouped."""

    def __init__(self, k: int, nprobe: int):
        self.k, self.nprobe = k, nprobe

    def setup(self):
        self._queries: tuple = (None, None)
        self._index: tuple = (None, None)

    def process(self, item: tuple[Query, IndexShard]) -> Iterator[tuple[tuple[str, str, str], Neighbours]]:
        query, index_shard = item
        if self._queries[0] != (query.shard.path, query.coarse):
            self._queries = (None, None)   # let the last shard go before the next one is read
            coarse = None
            if query.coarse:
                data = read_npz(query.coarse)
                coarse = (data["sims"], data["lists"])
            query_ids, queries = read_shard(query.shard.path)
            self._queries = ((query.shard.path, query.coarse), (np.char.encode(query_ids), queries, coarse))
        if self._index[0] != index_shard.path:
            self._index = (None, None)
            origin = None   # the source of each vector, where the shard holds several embedding shards
            if index_shard.index:
                data = read_npz(index_shard.path, *(("ids", "origin") if index_shard.sources else ("ids",)))
                target_ids, origin = data["ids"], data.get("origin")
                index = _load_index(index_shard.index)
                set_nprobe(index, self.nprobe)
                index = _on_gpus(index, index_shard.kind)
            else:
                target_ids, vectors = read_shard(index_shard.path)
                index = build_index(vectors, "flat")
            self._index = (index_shard.path, (np.char.encode(target_ids), origin, index))
        query_ids, queries, coarse = self._queries[1]
        target_ids, origin, index = self._index[1]
        # coarse lists exist only for IVF indexes; a GPU searches its own quantizer fast, except in a shard of a
        # list range, which must see only the query's lists in its range
        if index_shard.lists is not None:
            coarse = in_range(coarse, index_shard.lists)
        elif faiss.get_num_gpus():
            coarse = None
        sims, positions = search(index, queries, self.k, coarse)
        found = positions >= 0
        yield (query.shard.lang, query.target, query.shard.path), Neighbours(
            query_ids, np.where(found, sims, np.float32(np.nan)), np.where(found, target_ids[positions], b""),
            np.zeros(positions.shape, dtype=np.int16) if origin is None else np.where(found, origin[positions], 0),
            index_shard.holds)


class TopK(beam.CombineFn):
    """Merge one query shard's neighbours from every index shard (merge_neighbours)."""

    def __init__(self, k: int):
        self.k = k

    def create_accumulator(self) -> Neighbours | None:
        return None

    def add_input(self, accumulator: Neighbours | None, neighbours: Neighbours) -> Neighbours:
        return neighbours if accumulator is None else merge_neighbours(accumulator, neighbours, self.k)

    def merge_accumulators(self, accumulators) -> Neighbours | None:
        merged = None
        for accumulator in accumulators:
            if accumulator is not None:
                merged = self.add_input(merged, accumulator)
        return merged

    def extract_output(self, accumulator: Neighbours | None) -> Neighbours | None:
        return accumulator


def directions_of(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Both search directions of every pair, each once: (query language, target language)."""
    return tuple(sorted({direction for src, tgt in pairs for direction in ((src, tgt), (tgt, src))}))


class NearestNeighbours(beam.PTransform):
    """(embedding shards, index shards), every language -> ((query lang, target lang, query shard path),
    Neighbours of that shard's sentences in the target language, at most k each), for both directions of
    every pair.

    Work items (direction, query shard, index shard) are generated from the shard lists, so the graph is the
    same for any number of languages and pairs; every item is its own element, so the search fans out over
    workers; only shard descriptions travel as side inputs, never vectors. With an `accelerator` hint the
    search step asks for GPU workers, where FAISS uses every GPU it sees.

    With `stored` (a refresh), a PCollection of ((query lang, target lang, query shard path), Neighbours)
    kept from an earlier release: such a block already holds its queries' top-k over the target shards it
    names (Neighbours.shards), so only the other index shards are searched for that query shard, and the
    block joins the same top-k merge. Old query shards thus meet only new index shards, and new query shards
    meet every index shard; the merged blocks equal a search over all of them (with an IVF index: every shard
    filled from one trained index, as BuildIndex's `stored` plans do). `coarse_root` is where IVF list
    assignments are written (default: beside the trained index).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]], k: int, nprobe: int, accelerator: str | None = None,
                 stored: beam.PCollection | None = None, coarse_root: str | None = None):
        super().__init__()
        self.directions, self.k, self.nprobe = directions_of(pairs), k, nprobe
        self.hints = {"accelerator": accelerator} if accelerator else {}
        self.stored, self.coarse_root = stored, coarse_root

    def expand(self, pcolls):
        query_shards, index_shards = pcolls
        indexes = beam.pvalue.AsList(index_shards)
        covered = {} if self.stored is None else beam.pvalue.AsDict(
            self.stored | "Covered" >> beam.MapTuple(lambda key, block: (key, block.shards)))
        searched = (query_shards
                    | "Apart" >> beam.Reshuffle()   # not fused with the shard writer: searches wait on indexes
                    | "Assign" >> beam.ParDo(_Assign(self.nprobe, self.directions, self.coarse_root), indexes,
                                             covered)
                    | "WorkItems" >> beam.FlatMap(
                        lambda query, indexes, covered: [(query, index)
                                                         for index in to_search(query, indexes, covered)],
                        indexes, covered)
                    | "Spread" >> beam.Reshuffle()
                    | "Search" >> beam.ParDo(_SearchPair(self.k, self.nprobe)).with_resource_hints(**self.hints))
        if self.stored is not None:
            searched = (searched, self.stored) | "WithStored" >> beam.Flatten()
        return searched | "Merge" >> beam.CombinePerKey(TopK(self.k))
