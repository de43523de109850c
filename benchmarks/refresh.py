"""What an incremental refresh costs against mining the grown corpus from scratch, and whether its bitext is
the same.

    python -m benchmarks.refresh [--n 100000] [--new 0.1] [--nprobe 128]
    python -m benchmarks.refresh --pipeline [--n 10000] [--new 0.1] [--index auto] [--nprobe 128]

With --pipeline it measures the real `parabeam refresh` (below); without, the numpy/FAISS core:

N synthetic muse-shaped sentences a side (corpus.synthetic around the real mUSE vectors, 3% planted
translations, float16 round trip as the store does) are mined as a release: each side's index trained
(auto kind and list count, knn.train_index) and filled, k=4 neighbours both ways, LASER max-mode ratio-margin
mining at mUSE's threshold. Then N x --new sentences a side arrive (their translations planted among
themselves too) and two things are timed in the same process:

- refresh: the new vectors go into new index shards of the release's trained indexes (needs_retrain says
  no at 10%: stopes' table keeps the list count); knn.refresh_lists searches the old queries against the
  new shards only and merges with their stored lists, and the new queries against all shards; margins and
  the max selection are recomputed from the merged lists.
- from scratch: training an index for the grown corpus, filling it, searching every query both ways, the
  same margins and selection.

The bitext comparison is against a from-scratch mine that uses the release's trained quantizer (what "the
same index" returns; its search is the timed one); the retraining is timed apart and counted in from-scratch
time. This is the numpy/FAISS core of the refresh (one process, FAISS on one thread, so wall time equals
worker-seconds), not the Beam graph.

--pipeline: German/English pages as JSONL crawl shards: FLORES devtest and Tatoeba translations (when
../shared/data holds them) among generated sentences (benchmarks/template_text.py), ~22,500 a side at most; `parabeam refresh` makes a first release of N a side (not timed), then the timed one adds
N x --new a side (incremental: new shards of the same index, old queries x new shards, new queries x all);
from scratch is `parabeam mine` over every shard with a copy of the embedding cache as it was before the
refresh, so both embed the same new sentences. Both on the local profile with the machine's workers; the
bitext is compared pair by pair (scores within 1e-4), as tests/test_refresh.py does.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.bucc import LANGS  # noqa: E402
from benchmarks.corpus import DEFAULT_NOISE, muse_vectors, plant_translations, real_side, synthetic  # noqa: E402
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, l2_normalise  # noqa: E402
from parabeam.transforms.knn import (NPROBE, choose_index, default_nlist, needs_retrain, refresh_lists,  # noqa: E402
                                     search_parts, set_nprobe, train_index)
from parabeam.transforms.margin import best_candidates, select  # noqa: E402

K = 4
RESULTS = Path(__file__).resolve().parent / "results"


def sides(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    xx, en = muse_vectors(real_side(sorted(LANGS - {"en"}))), muse_vectors(real_side(["en"]))
    x = synthetic(xx, n, DEFAULT_NOISE, seed=seed)
    y, _gold = plant_translations(x, synthetic(en, n, DEFAULT_NOISE, seed=seed + 1), seed=seed)
    return l2_normalise(x.astype(np.float16)), l2_normalise(y.astype(np.float16))


def filled(trained: faiss.Index, vectors: np.ndarray, rows: np.ndarray, nprobe: int):
    index = faiss.clone_index(trained)
    index.add(vectors[rows])
    set_nprobe(index, nprobe)
    return [(index, rows.astype(np.int64))]


def mine(x2y, y2x) -> list[tuple[int, int, float]]:
    x_mean, y_mean = x2y[0].mean(axis=1), y2x[0].mean(axis=1)
    fwd = best_candidates(*x2y, x_mean, y_mean, "ratio")
    bwd = best_candidates(*y2x, y_mean, x_mean, "ratio")
    return sorted((pair.src, pair.tgt, round(float(pair.score), 5))
                  for pair in select(fwd, bwd, "max", MUSE_DEFAULT_THRESHOLD))


def write_jsonl(path: Path, pages: list[tuple[str, str]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"url": url, "text": text}) + "\n" for url, text in pages))
    return str(path)


def bitext_rows(output: Path) -> list[dict]:
    import pyarrow.parquet as pq
    rows = [row for part in sorted((output / "bitext").glob("*/*.parquet")) for row in pq.read_table(part).to_pylist()]
    return sorted(rows, key=lambda row: (row["src_lang"], row["src_id"], row["tgt_id"]))


def same_bitext(left: list[dict], right: list[dict], tolerance: float = 1e-4) -> bool:
    """Same pairs, texts and directions; scores and cosines within `tolerance` (the encoder's output for a
    sentence depends slightly on its batch)."""
    scores = ("score", "cosine")
    if len(left) != len(right) or not left:
        return False
    return all({k: v for k, v in a.items() if k not in scores} == {k: v for k, v in b.items() if k not in scores}
               and all(abs(a[f] - b[f]) <= tolerance for f in scores) for a, b in zip(left, right))


def real_pairs() -> list[tuple[str, str]]:
    """FLORES devtest and Tatoeba English-German translations (../shared/data), when present: the generated
    sentences are too alike for any to clear the margin threshold, so these are the bitext."""
    from benchmarks.bucc import DATA, flores_path, read_lines
    found = []
    if flores_path(DATA, "en").exists():
        found += list(zip(read_lines(flores_path(DATA, "en")), read_lines(flores_path(DATA, "de"))))
    tatoeba = DATA / "tatoeba" / "tatoeba.deu-eng"
    if tatoeba.with_suffix(".deu-eng.eng").exists():
        found += list(zip(read_lines(tatoeba.with_suffix(".deu-eng.eng")), read_lines(tatoeba.with_suffix(".deu-eng.deu"))))
    return found


def run_pipeline(args, command: str) -> list[str]:
    """The real `parabeam refresh` against `parabeam mine` of the grown corpus (module docstring)."""
    import shutil
    import tempfile

    from benchmarks.template_text import pages, sentence_pairs
    from parabeam.pipeline.cli import main as parabeam

    n, added = args.n, round(args.n * args.new)
    pairs = real_pairs() + sentence_pairs()
    random.Random(11).shuffle(pairs)
    if n + added > len(pairs):
        raise SystemExit(f"--pipeline has {len(pairs):,} generated sentences a side; asked for {n + added:,}")
    work = Path(tempfile.mkdtemp(prefix="refresh-bench-"))
    per_shard = 3_000
    old = [write_jsonl(work / "crawl" / f"old-{i // per_shard:04d}.jsonl", pages(pairs[i:min(i + per_shard, n)], i))
           for i in range(0, n, per_shard)]
    new = [write_jsonl(work / "crawl" / "new-0000.jsonl", pages(pairs[n:n + added], n))]
    listings = [work / "first.txt", work / "second.txt"]
    listings[0].write_text("\n".join(old) + "\n")
    listings[1].write_text("\n".join(old + new) + "\n")
    state, scratch = work / "state", work / "scratch"
    mining = ["--langs", "de,en", "--index", args.index, "--nprobe", str(args.nprobe)]

    def refresh(listing: Path) -> None:
        assert parabeam(["refresh", "--listing", str(listing), "--crawl-root", str(work), "--state", str(state),
                         *mining, "--quiet"]) == 0

    refresh(listings[0])
    shutil.copytree(state / "embedding-cache", work / "scratch-cache")
    clock = time.perf_counter
    started = clock()
    refresh(listings[1])
    refresh_s = clock() - started
    started = clock()
    assert parabeam(["mine", *[arg for path in old + new for arg in ("--input", path)], "--output", str(scratch),
                     "--embedding-cache", str(work / "scratch-cache"), *mining, "--quiet"]) == 0
    scratch_s = clock() - started
    modes = json.loads((state / "releases" / "r0002" / "run.json").read_text())["refresh"]
    identical = same_bitext(bitext_rows(state / "releases" / "r0002"), bitext_rows(scratch))
    pairs_written = len(bitext_rows(scratch))
    shutil.rmtree(work)
    return [f"command: {command}",
            f"real pipeline: `parabeam refresh` of {n:,} + {added:,} generated sentences a side (--index {args.index}, "
            f"nprobe {args.nprobe}) against `parabeam mine` of all of them; local profile; wall seconds",
            "modes: " + "; ".join(f"{lang} {'full (' + m['reason'] + ')' if m['full'] else 'incremental'}, "
                                  f"{m['new']} new of {m['sentences']}" for lang, m in sorted(modes.items())),
            f"refresh (read new shards, merge store, embed new, search new x all + old x new, margins): "
            f"{refresh_s:.1f} s; from scratch (mine everything, same cache): {scratch_s:.1f} s; "
            f"{pairs_written:,} pairs",
            machine(),
            f"refresh: {n} sentences per side, {round(100 * args.new)}% new; refresh {refresh_s:.1f} s, from "
            f"scratch {scratch_s:.1f} s, share {refresh_s / scratch_s:.3f}; bitext identical: "
            f"{'yes' if identical else 'no'}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="sentences per side in the first release")
    parser.add_argument("--new", type=float, default=0.1, help="share of new sentences the refresh adds")
    parser.add_argument("--nprobe", type=int, default=NPROBE)
    parser.add_argument("--pipeline", action="store_true",
                        help="time the real `parabeam refresh` against `parabeam mine` (generated crawl text)")
    parser.add_argument("--index", default="auto", help="--pipeline: the index kind (auto, flat, ivf)")
    parser.add_argument("--out", type=Path, help="report file (default: results/refresh-<n>.txt, "
                                                 "refresh-pipeline-<n>.txt with --pipeline)")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.refresh", *(sys.argv[1:] if argv is None else argv)])
    if args.pipeline:
        lines = run_pipeline(args, command)
        out = args.out or RESULTS / f"refresh-pipeline-{args.n}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        return
    faiss.omp_set_num_threads(1)
    n, added = args.n, round(args.n * args.new)
    old_x, old_y = sides(n, seed=n)
    new_x, new_y = sides(added, seed=n + 7)
    x, y = np.concatenate([old_x, new_x]), np.concatenate([old_y, new_y])
    old, new, grown = np.arange(n), np.arange(n, n + added), np.arange(n + added)
    kind = choose_index(n)
    assert not needs_retrain(n, n + added, kind="auto"), "this refresh would retrain: not an incremental one"

    # the release: trained indexes, filled index shards and stored lists (not timed)
    trained = {"x": train_index(old_x, kind, n, nprobe=args.nprobe),
               "y": train_index(old_y, kind, n, nprobe=args.nprobe)}
    old_parts = {"x": filled(trained["x"], x, old, args.nprobe), "y": filled(trained["y"], y, old, args.nprobe)}
    directions = (("x2y", x, "y", y), ("y2x", y, "x", x))
    stored = {name: search_parts(old_parts[side], queries[old], K) for name, queries, side, _t in directions}

    clock = time.perf_counter
    started = clock()
    lists = {}
    for name, queries, side, targets in directions:
        new_part = filled(trained[side], targets, new, args.nprobe)
        merged, fresh = refresh_lists(stored[name], queries[old], queries[new], old_parts[side], new_part, K)
        lists[name] = tuple(np.concatenate(pair) for pair in zip(merged, fresh))
    refreshed = mine(lists["x2y"], lists["y2x"])
    refresh_s = clock() - started

    started = clock()
    for side, vectors in (("x", x), ("y", y)):
        train_index(vectors, kind, n + added, nprobe=args.nprobe)
    train_s = clock() - started
    started = clock()
    full = {name: search_parts(filled(trained[side], targets, grown, args.nprobe), queries, K)
            for name, queries, side, targets in directions}
    scratch = mine(full["x2y"], full["y2x"])
    scratch_s = clock() - started + train_s
    lists_equal = all((lists[name][1] == full[name][1]).all() for name in full)
    identical = refreshed == scratch
    share = refresh_s / scratch_s
    lines = [f"command: {command}",
             f"{n:,} sentences a side mined ({kind}, {default_nlist(n) if kind != 'flat' else 0} lists, nprobe "
             f"{args.nprobe}, k {K}), then {added:,} new a side; FAISS on one thread, so seconds are "
             f"worker-seconds",
             f"refresh: add new vectors to new shards of the release's indexes, search old queries x new "
             f"vectors + new queries x all, merge, margins: {refresh_s:.1f} s",
             f"from scratch: retrain both indexes {train_s:.1f} s + fill, search all x all, margins "
             f"{scratch_s - train_s:.1f} s = {scratch_s:.1f} s",
             f"merged neighbour lists equal the full search's: {'yes' if lists_equal else 'no'}; pairs: "
             f"{len(refreshed):,} refreshed, {len(scratch):,} from scratch",
             machine(),
             f"refresh: {n} sentences per side, {round(100 * args.new)}% new; refresh {refresh_s:.1f} s, from "
             f"scratch {scratch_s:.1f} s, share {share:.3f}; bitext identical: {'yes' if identical else 'no'}"]
    out = args.out or RESULTS / f"refresh-{n}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load} (1, 5, 15 min, at the end)"


if __name__ == "__main__":
    main()
