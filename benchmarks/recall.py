"""Recall of the sharded approximate kNN search against exact search, and agreement of the mined pairs.

    python -m benchmarks.recall [--nprobe 4,8,16,...] [--kinds ivf,ivfpq] [--shards 4] [--synthetic 100000,300000]

Real part: mUSE vectors of every real sentence in the shared data, all non-English sentences (9 languages)
as the source side, all English ones as the target side (embeddings cached in a temp .npy); --fractions
adds random subsamples of both sides. The IVF list count grows with the corpus (stopes' table, capped at
1/39 of the corpus), so the subsamples show how recall at a fixed nprobe moves as lists multiply.
Synthetic part (--synthetic): larger sides sampled around the real vectors (corpus.synthetic, whose noise
makes IVF recall at the real sizes match the real recall), with 3% of the target side replaced by
translations of source vectors (corpus.plant_translations). Far beyond the real vectors' count, synthetic
points crowd around the real ones they were drawn from, so IVF finds their neighbours more easily than in
a real corpus of that size: synthetic recall there is optimistic (it rises with size where real recall
does not), a check on the machinery and on the mined-pair agreement more than an estimate of recall.

The approximate search is what BuildIndex + NearestNeighbours compute: one index trained on a sample
(knn.train_size_for(default_nlist(n)) rows at most, as BuildIndex draws) for the whole target side, copied into every target shard and filled
with that shard's vectors; each shard searched with the same nprobe; per-shard top-k merged (merge_topk).
Vectors go through the store's float16 round trip first, as the pipeline's do, for exact and approximate
search alike. recall@k is |approximate top-k ∩ exact top-k| / k per query, averaged, in both directions.
Pair overlap compares LASER max-mode mining (k=4, ratio margin, mUSE's default threshold) on the
approximate neighbours with the same mining on exact ones: |both| / |exact| and |both| / |approximate|.
IVF-PQ returns approximate similarities too, so its margins, not only its neighbour lists, differ.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.bucc import LANGS
from benchmarks.corpus import DEFAULT_NOISE, muse_vectors, plant_translations, real_side, synthetic
from benchmarks.ingest import machine
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, l2_normalise
from parabeam.transforms.knn import (default_nlist, knn, merge_topk, search, set_nprobe, train_index,
                                     train_size_for)
from parabeam.transforms.margin import best_candidates, select

K = 4
RESULTS = Path(__file__).resolve().parent / "results"

Knn = tuple[np.ndarray, np.ndarray]


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """What read_shard returns for these vectors: float16 storage, renormalised."""
    return l2_normalise(vectors.astype(np.float16))


def sharded_index(targets: np.ndarray, kind: str, shards: int, seed: int = 0) -> list[tuple[int, faiss.Index]]:
    """[(first row, index)] per target shard: one trained index, copied and filled shard by shard."""
    rng = np.random.default_rng(seed)
    sample = targets[np.sort(rng.choice(len(targets), min(len(targets), train_size_for(default_nlist(len(targets)))), replace=False))]
    trained = train_index(sample, kind, len(targets))
    parts, offset = [], 0
    for block in np.array_split(targets, shards):
        index = faiss.clone_index(trained)
        index.add(block)
        parts.append((offset, index))
        offset += len(block)
    return parts


def sharded_search(parts: list[tuple[int, faiss.Index]], queries: np.ndarray, nprobe: int) -> Knn:
    found = []
    for offset, index in parts:
        set_nprobe(index, nprobe)
        sims, positions = search(index, queries, K)
        found.append((sims, np.where(positions >= 0, positions + offset, -1)))
    sims, ids = merge_topk(found, K)
    if (ids < 0).any():
        raise RuntimeError(f"nprobe={nprobe}: some queries found fewer than {K} neighbours")
    return sims, ids


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    hits = (approx[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits / exact.size)


def mined(x2y: Knn, y2x: Knn, threshold: float) -> set[tuple[int, int]]:
    """margin.mine's max-mode selection on given neighbour lists."""
    x_mean, y_mean = x2y[0].mean(axis=1), y2x[0].mean(axis=1)
    fwd = best_candidates(*x2y, x_mean, y_mean, "ratio")
    bwd = best_candidates(*y2x, y_mean, x_mean, "ratio")
    return {(pair.src, pair.tgt) for pair in select(fwd, bwd, "max", threshold)}


def cosine_profile(x: np.ndarray, y: np.ndarray, n: int = 2000) -> str:
    """Mean exact top-1 and top-4 cosine of n source queries: how crowded the space is."""
    sims, _ = knn(x[:n], y, K)
    return f"top-1 cosine {sims[:, 0].mean():.3f}, top-{K} {sims[:, -1].mean():.3f}"


def evaluate(name: str, x: np.ndarray, y: np.ndarray, kinds: list[str], nprobes: list[int], shards: int,
             queries: int | None, threshold: float) -> list[str]:
    """Table rows for one pair of sides. With `queries`, recall is measured on that many queries per
    direction and the pair overlap is skipped (it needs every query's neighbours, exact ones included)."""
    x, y = as_stored(x), as_stored(y)
    qx = x if queries is None else x[np.random.default_rng(1).choice(len(x), min(queries, len(x)), replace=False)]
    qy = y if queries is None else y[np.random.default_rng(2).choice(len(y), min(queries, len(y)), replace=False)]
    started = time.perf_counter()
    exact_x2y, exact_y2x = knn(qx, y, K), knn(qy, x, K)
    exact_s = time.perf_counter() - started
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    emit(f"{name}: {len(x):,} source x {len(y):,} target vectors, {shards} shards per side, "
         f"{cosine_profile(x, y)}; exact search of {len(qx):,} + {len(qy):,} queries: {exact_s:.1f} s")
    exact_pairs = mined(exact_x2y, exact_y2x, threshold) if queries is None else None
    if exact_pairs is not None:
        emit(f"  exact mining keeps {len(exact_pairs):,} pairs (score > {threshold})")
    emit(f"  {'index (nlist of y / of x)':<34}{'nprobe':>7}{'recall@4 x->y':>15}{'y->x':>8}{'mean':>8}"
         f"{'pairs':>8}{'of exact':>10}{'of approx':>11}{'search s':>10}")
    for kind in kinds:
        started = time.perf_counter()
        y_index, x_index = sharded_index(y, kind, shards), sharded_index(x, kind, shards)
        build_s = time.perf_counter() - started
        nlists = [faiss.extract_index_ivf(index[0][1]).nlist for index in (y_index, x_index)]
        label = f"{kind} {nlists[0]}/{nlists[1]} (built in {build_s:.0f} s)"
        for nprobe in nprobes:
            if nprobe > max(nlists):
                continue
            started = time.perf_counter()
            x2y, y2x = sharded_search(y_index, qx, nprobe), sharded_search(x_index, qy, nprobe)
            search_s = time.perf_counter() - started
            r_xy, r_yx = recall(x2y[1], exact_x2y[1]), recall(y2x[1], exact_y2x[1])
            r_mean = (r_xy * len(qx) + r_yx * len(qy)) / (len(qx) + len(qy))
            if exact_pairs is not None:
                pairs = mined(x2y, y2x, threshold)
                both = len(pairs & exact_pairs)
                overlap = (f"{len(pairs):>8,}{both / max(len(exact_pairs), 1):>10.4f}"
                           f"{both / max(len(pairs), 1):>11.4f}")
            else:
                overlap = f"{'-':>8}{'-':>10}{'-':>11}"
            emit(f"  {label:<34}{nprobe:>7}{r_xy:>15.4f}{r_yx:>8.4f}{r_mean:>8.4f}"
                         f"{overlap}{search_s:>10.1f}")
            label = ""
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nprobe", default="1,4,8,16,32,64,128,256", help="comma-separated nprobe values")
    parser.add_argument("--kinds", default="ivf,ivfpq", help="index kinds (ivf, ivfpq)")
    parser.add_argument("--shards", type=int, default=4, help="index and query shards per side")
    parser.add_argument("--synthetic", default="", help="comma-separated synthetic side sizes, e.g. 100000,300000")
    parser.add_argument("--queries", type=int, default=10_000,
                        help="queries per direction measured on synthetic sides above --overlap-max")
    parser.add_argument("--overlap-max", type=int, default=100_000,
                        help="largest synthetic side that gets full searches and the pair overlap")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="synthetic noise scale")
    parser.add_argument("--no-real", action="store_true", help="skip the real vectors")
    parser.add_argument("--fractions", default="",
                        help="also real subsamples of these fractions of each side, e.g. 0.25,0.5 (list counts "
                             "grow with the corpus: recall at a fixed nprobe as the corpus grows)")
    parser.add_argument("--out", type=Path, default=RESULTS / "recall.txt")
    args = parser.parse_args(argv)
    kinds, nprobes = args.kinds.split(","), [int(n) for n in args.nprobe.split(",")]
    command = shlex.join(["python", "-m", "benchmarks.recall", *(sys.argv[1:] if argv is None else argv)])
    x = muse_vectors(real_side(sorted(LANGS - {"en"})))
    y = muse_vectors(real_side(["en"]))
    lines = [f"command: {command}", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(found: list[str]) -> None:   # after every part, so a long run leaves what it measured so far
        lines.extend(found + [""])
        args.out.write_text("\n".join(lines + [machine()]) + "\n")

    if not args.no_real:
        save(evaluate("real mUSE vectors (source: 9 non-English languages, target: English)",
                      x, y, kinds, nprobes, args.shards, None, MUSE_DEFAULT_THRESHOLD))
    for fraction in (float(f) for f in filter(None, args.fractions.split(","))):
        rng = np.random.default_rng(0)
        xs = x[np.sort(rng.choice(len(x), round(fraction * len(x)), replace=False))]
        ys = y[np.sort(rng.choice(len(y), round(fraction * len(y)), replace=False))]
        save(evaluate(f"real mUSE vectors, a random {fraction:.0%} of each side", xs, ys, kinds, nprobes,
                      args.shards, None, MUSE_DEFAULT_THRESHOLD))
    for n in (int(size) for size in filter(None, args.synthetic.split(","))):
        xs = synthetic(x, n, args.noise, seed=n)
        ys, planted = plant_translations(xs, synthetic(y, n, args.noise, seed=n + 1), seed=n)
        save(evaluate(f"synthetic, noise {args.noise}, {len(planted):,} planted translations", xs, ys, kinds,
                      nprobes, args.shards, None if n <= args.overlap_max else args.queries,
                      MUSE_DEFAULT_THRESHOLD))
    print(machine())


if __name__ == "__main__":
    main()
