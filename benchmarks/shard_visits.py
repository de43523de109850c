"""Per-query IVF search cost against list size, index shards and quantizer, one FAISS thread (CPU seconds).

`python -m benchmarks.shard_visits --out benchmarks/results/shard-visits.txt`

One trained IVF index (knn.train_index) over N synthetic muse-shaped vectors (corpus.synthetic) is filled
whole, or split by rows into 2 or 5 index shards that share its quantizer, as BuildIndex fills them; 2,000
queries are assigned once (as _Assign does) and searched in every shard (as _SearchPair does), then merged.
Every shard holds the same lists, so a query visits nprobe lists in each shard: the vectors scanned are the
same whatever the shard count, the list visits are not. Also the assignment's cost with the flat quantizer
and with an HNSW32 graph over the same centroids (efSearch 128 and 256), and recall@4 against exact search.
"""
from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from benchmarks.corpus import DEFAULT_NOISE, synthetic
from benchmarks.publish import publish
from benchmarks.scale import bases
from parabeam.transforms.knn import NPROBE, knn, merge_topk, search, train_index

QUERIES = 2_000
K = 4


def per_query_ms(seconds: float) -> str:
    return f"{1000 * seconds / QUERIES:.3f}"


def recall(ids: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, exact)]))


def measure(targets: np.ndarray, queries: np.ndarray, exact: np.ndarray, nlist: int) -> list[str]:
    trained = train_index(targets, "ivf", len(targets), nlist=nlist)
    quantizer = faiss.extract_index_ivf(trained).quantizer
    clock = time.process_time
    started = clock()
    coarse = quantizer.search(queries, NPROBE)
    lines = [f"{len(targets):,} vectors, {nlist:,} lists ({len(targets) / nlist:.0f} a list): flat assignment "
             f"{per_query_ms(clock() - started)} ms a query"]
    for shards in (1, 2, 5):
        parts = []
        for shard in range(shards):
            rows = np.arange(shard, len(targets), shards)
            index = faiss.clone_index(trained)
            index.add(targets[rows])
            parts.append((index, rows))
        started = clock()
        found = [search(index, queries, K, coarse) for index, _rows in parts]
        seconds = clock() - started
        ids = merge_topk([(sims, rows[positions]) for (sims, positions), (_i, rows) in zip(found, parts)], K)[1]
        lines.append(f"  {shards} index shard(s): list scans {per_query_ms(seconds)} ms a query, "
                     f"{NPROBE * shards} list visits, recall@4 {recall(ids, exact):.3f}")
    lists = quantizer.assign(targets, 1)[:, 0]
    for shards in (2, 5):
        parts = []
        for low, high in zip(np.linspace(0, nlist, shards + 1).astype(int)[:-1], np.linspace(0, nlist, shards + 1).astype(int)[1:]):
            rows = np.flatnonzero((lists >= low) & (lists < high))
            index = faiss.clone_index(trained)
            index.add(targets[rows])
            masked = np.where((coarse[1] >= low) & (coarse[1] < high), coarse[1], -1)
            parts.append((index, rows, (coarse[0], masked)))
        started = clock()
        found = [search(index, queries, K, masked) for index, _rows, masked in parts]
        seconds = clock() - started
        ids = merge_topk([(sims, rows[positions]) for (sims, positions), (_i, rows, _m) in zip(found, parts)], K)[1]
        lines.append(f"  {shards} index shard(s) by list range: list scans {per_query_ms(seconds)} ms a query, "
                     f"{NPROBE} list visits, recall@4 {recall(ids, exact):.3f}")
    graph = faiss.IndexHNSWFlat(targets.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    graph.add(quantizer.reconstruct_n(0, nlist))
    whole = faiss.clone_index(trained)
    whole.add(targets)
    for ef in (128, 256):
        graph.hnsw.efSearch = ef
        started = clock()
        assigned = graph.search(queries, NPROBE)
        seconds = clock() - started
        ids = search(whole, queries, K, assigned)[1]
        lines.append(f"  HNSW32 quantizer, efSearch {ef}: assignment {per_query_ms(seconds)} ms a query, "
                     f"recall@4 {recall(ids, exact):.3f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250_000, help="vectors in the index")
    parser.add_argument("--lists", default="6250,4096", help="comma-separated list counts")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    base = bases()
    targets = synthetic(base["en"], args.n, DEFAULT_NOISE, seed=1).astype(np.float32)
    queries = synthetic(base["xx"], QUERIES, DEFAULT_NOISE, seed=7).astype(np.float32)
    exact = knn(queries, targets, K)[1]
    lines = [line for nlist in map(int, args.lists.split(",")) for line in measure(targets, queries, exact, nlist)]
    publish("shard_visits", "\n".join(lines), args.out)


if __name__ == "__main__":
    main()
