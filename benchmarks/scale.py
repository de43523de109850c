"""How the search and mining stages scale: wall time and peak memory against sentences per side.

    python -m benchmarks.scale [--sizes 100000,300000,1000000] [--memory-budget 4GB] [--index auto] [--nprobe 128]

Vectors are synthetic but shaped like real ones (corpus.synthetic around the real mUSE vectors of the
shared data: non-English around non-English, English around English), with translations of 3% of the
source vectors planted on the target side (corpus.plant_translations), as on a web crawl. Each size is
written as embedding shards exactly as ShardEmbeddings lays them out (float16, ids of 16 hex characters,
crc32 shard choice, rows sorted by id, rows_per_shard(512, --memory-budget) rows at most), by a child process
that exits before the measurement starts; then one Beam pipeline on the
`local` runner profile (as `parabeam mine`) runs BuildIndex + NearestNeighbours both ways + MarginMine,
wired as pipeline/build.py wires them (all shards of both languages in one collection, keyed by
language). Wall time and the peak resident memory of this process and all its children (the Beam workers)
are measured while it runs. kNN worker-seconds are the KNN stage's (coarse assignment + search + top-k
merge), summed over workers; index building (training included) is reported apart as Index. recall@4 is
measured on ~1,000 queries a direction sampled from the pipeline's own neighbour lists, against exact
search over the stored (float16) vectors of the whole other side. The memory budget is per worker, as in `parabeam
mine`; the default 4GB with the local profile's two workers is an 8 GB machine. The growth exponent is the
slope of log(time) or log(memory) against log(size) between consecutive sizes and over all of them.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import math
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics, MetricsFilter

from benchmarks.bucc import LANGS
from benchmarks.corpus import DEFAULT_NOISE, muse_vectors, plant_translations, real_side, synthetic
from benchmarks.monitor import Monitor, stage_seconds, tree_rss
from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline.config import parse_size
from parabeam.transforms.embedding_store import Shard, read_shard, rows_per_shard, shard_of, write_npz, write_shard
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, MUSE_DIM
from parabeam.transforms.knn import NPROBE, BuildIndex, NearestNeighbours, choose_index, default_nlist, knn
from parabeam.transforms.margin import MarginMine

RESULTS = Path(__file__).resolve().parent / "results"
K = 4
PAIR = ("xx", "en")
RECALL_QUERIES = 1000   # per direction


def machine() -> str:
    import platform
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"machine: {platform.machine()} {model}, {os.cpu_count()} cores ({usable} usable), "
            f"load average {load} (1, 5, 15 min, at the end); Python {platform.python_version()}, "
            f"Beam {beam.__version__}")


class Run(NamedTuple):
    size: int
    shards: int
    kind: str
    write_s: float
    wall_s: float
    peak_gb: float
    runner_gb: float   # the main process alone: FnApiRunner holds shuffled data there
    base_gb: float
    pairs: int
    mean_load: float
    stages: dict[str, float]
    recall: float
    nlist: int


def write_side(vectors: np.ndarray, lang: str, directory: Path, limit: int) -> list[dict]:
    """Shard files as ShardEmbeddings writes them -> [{'path', 'rows'}]."""
    ids = np.array([hashlib.blake2b(f"{lang}{i}".encode(), digest_size=8).hexdigest() for i in range(len(vectors))])
    num_shards = max(1, math.ceil(len(vectors) / limit))
    which = np.array([shard_of(ident, num_shards) for ident in ids])
    directory.mkdir(parents=True)
    shards = []
    for shard in range(num_shards):
        rows = np.flatnonzero(which == shard)
        rows = rows[np.argsort(ids[rows])]
        path = str(directory / f"shard-{shard:05d}-of-{num_shards:05d}.npz")
        write_shard(path, ids[rows].tolist(), vectors[rows])
        shards.append({"path": path, "rows": len(rows)})
    return shards


def _keep_sample(item, directory: str, every: int) -> None:
    """Every `every`-th query row of one neighbour block, written for the recall check."""
    (query_lang, target_lang, path), block = item
    rows = slice(0, None, every)
    name = f"{query_lang}-{target_lang}-{Path(path).stem}.npz"
    write_npz(str(Path(directory) / name), ids=block.ids[rows], targets=block.targets[rows])


def mine_shards(shards: dict[str, list[dict]], directory: Path, kind: str, nprobe: int) -> tuple[int, dict]:
    """BuildIndex + NearestNeighbours + MarginMine on written shards, as build.py wires them: (mined pairs,
    worker-seconds per stage). A sample of the neighbour lists goes to directory/recall."""
    pipeline = beam.Pipeline(options=pipeline_options("local", []))
    described = [Shard(lang, shard["path"], shard["rows"]) for lang, side in shards.items() for shard in side]
    every = max(1, sum(shard.rows for shard in described if shard.lang == "en") // RECALL_QUERIES)
    (directory / "recall").mkdir()
    embedded = pipeline | "Shards" >> beam.Create(described)
    indexes = embedded | "Index" >> BuildIndex(str(directory / "index"), kind, nprobe)
    neighbours = (embedded, indexes) | "KNN" >> NearestNeighbours([PAIR], k=K, nprobe=nprobe)
    neighbours | "RecallSample" >> beam.Map(_keep_sample, str(directory / "recall"), every)
    pairs = Metrics.counter("scale", "pairs")
    ((neighbours | "Margin" >> MarginMine([PAIR], "ratio", "max", MUSE_DEFAULT_THRESHOLD)).pairs
     | "CountPairs" >> beam.Map(lambda _pair: pairs.inc()))
    result = pipeline.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_name("pairs"))["counters"]
    detail = {stage: seconds for stage, seconds in stage_seconds(result, depth=2).items()
              if stage.startswith(("KNN/", "Index/"))}
    return sum(counter.committed or 0 for counter in found), {**stage_seconds(result), **detail}


def bases() -> dict[str, np.ndarray]:
    return {"xx": muse_vectors(real_side(sorted(LANGS - {"en"}))), "en": muse_vectors(real_side(["en"]))}


def write_sides(n: int, noise: float, directory: Path, limit: int) -> dict[str, list[dict]]:
    """Both sides' shards for size n. Run in a child process, so that the benchmark process (the Beam runner)
    does not keep the generator's gigabytes while the pipeline it measures runs."""
    base = bases()
    source = synthetic(base["xx"], n, noise, seed=n)
    shards = {"xx": write_side(source, "xx", directory / "embeddings" / "xx", limit)}
    target, _gold = plant_translations(source, synthetic(base["en"], n, noise, seed=n + 1), seed=n)
    del source
    shards["en"] = write_side(target, "en", directory / "embeddings" / "en", limit)
    return shards


def recall_at_k(shards: dict[str, list[dict]], directory: Path) -> float:
    """|pipeline top-k ∩ exact top-k| / k over the sampled queries of both directions. Exact search runs
    over one side at a time, in a child process (its vectors are not counted in the pipeline's peak)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_recall, (shards, str(directory)))


def _recall(shards: dict[str, list[dict]], directory: str) -> float:
    found = []
    for query_lang, target_lang in (PAIR, PAIR[::-1]):
        queries, got = {}, {}
        for path in sorted(Path(directory, "recall").glob(f"{query_lang}-{target_lang}-*.npz")):
            data = np.load(path)
            got.update(zip(data["ids"].tolist(), data["targets"].tolist()))
        for shard in shards[query_lang]:
            ids, vectors = read_shard(shard["path"])
            keep = np.isin(np.char.encode(ids), list(got))
            queries.update(zip(np.char.encode(ids[keep]).tolist(), vectors[keep]))
        order = sorted(queries)
        query_vectors = np.stack([queries[ident] for ident in order])
        target_ids, target_vectors = zip(*(read_shard(shard["path"]) for shard in shards[target_lang]))
        target_ids = np.char.encode(np.concatenate(target_ids))
        _sims, exact = knn(query_vectors, np.concatenate(target_vectors), K)
        found += [len(set(got[ident]) & set(target_ids[row].tolist())) / K for ident, row in zip(order, exact)]
    return float(np.mean(found))


def run_size(n: int, args: argparse.Namespace, tmp: Path) -> Run:
    limit = rows_per_shard(MUSE_DIM, parse_size(args.memory_budget))
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        shards = pool.apply(write_sides, (n, args.noise, tmp, limit))
    write_s = time.perf_counter() - started
    base_gb = tree_rss(os.getpid()) / 1e9
    with Monitor() as monitor:
        started = time.perf_counter()
        pairs, stages = mine_shards(shards, tmp, args.index, args.nprobe)
        wall_s = time.perf_counter() - started
    kind = choose_index(n) if args.index == "auto" else args.index
    return Run(n, len(shards["en"]), kind, write_s, wall_s, monitor.peak_rss / 1e9, monitor.peak_root_rss / 1e9,
               base_gb, pairs, monitor.mean_load, stages, recall_at_k(shards, tmp),
               default_nlist(n) if kind != "flat" else 0)


def exponent(a: float, b: float, n_a: int, n_b: int) -> float:
    return math.log(b / a) / math.log(n_b / n_a)


def fitted_exponent(sizes: list[int], values: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def report(runs: list[Run], command: str, args: argparse.Namespace) -> list[str]:
    lines = [f"command: {command}",
             f"index {args.index}, nprobe {args.nprobe}, k {K}, memory budget {args.memory_budget} "
             f"({rows_per_shard(MUSE_DIM, parse_size(args.memory_budget)):,} rows per shard), noise {args.noise}", "",
             "peak RSS: this process and the Beam workers; runner: this process alone; before: this process "
             "before the pipeline (shards written)",
             f"{'per side':>10}{'shards':>8}{'index':>7}{'nlist':>7}{'write s':>9}{'pipeline s':>12}"
             f"{'kNN w-s':>9}{'Index w-s':>10}{'recall@4':>9}{'peak RSS GB':>13}{'runner':>8}{'before':>8}"
             f"{'pairs':>9}{'load':>6}"]
    for run in runs:
        lines.append(f"{run.size:>10,}{run.shards:>8}{run.kind:>7}{run.nlist:>7}{run.write_s:>9.1f}"
                     f"{run.wall_s:>12.1f}{knn_seconds(run):>9.0f}{run.stages.get('Index', 0):>10.0f}"
                     f"{run.recall:>9.3f}{run.peak_gb:>13.2f}{run.runner_gb:>8.2f}{run.base_gb:>8.2f}"
                     f"{run.pairs:>9,}{run.mean_load:>6.1f}")
    lines += ["", "worker-seconds per stage (summed over worker processes):"]
    for run in runs:
        top = sorted(((stage, seconds) for stage, seconds in run.stages.items() if "/" not in stage),
                     key=lambda item: -item[1])
        lines.append(f"{run.size:>10,}: " + ", ".join(f"{stage} {seconds:.0f}" for stage, seconds in top
                                                     if seconds >= 0.5))
    lines += ["", "inside KNN and Index (worker-seconds):"]
    for run in runs:
        top = sorted(((stage, seconds) for stage, seconds in run.stages.items() if "/" in stage),
                     key=lambda item: -item[1])
        lines.append(f"{run.size:>10,}: " + ", ".join(f"{stage} {seconds:.0f}" for stage, seconds in top
                                                     if seconds >= 0.5))
    if len(runs) > 1:
        lines.append("")
        for a, b in zip(runs, runs[1:]):
            lines.append(f"growth {a.size:,} -> {b.size:,}: kNN worker-s x{knn_seconds(b) / knn_seconds(a):.2f} "
                         f"(exponent {exponent(knn_seconds(a), knn_seconds(b), a.size, b.size):.2f}), "
                         f"time x{b.wall_s / a.wall_s:.2f} (exponent "
                         f"{exponent(a.wall_s, b.wall_s, a.size, b.size):.2f}), peak RSS x{b.peak_gb / a.peak_gb:.2f} "
                         f"(exponent {exponent(a.peak_gb, b.peak_gb, a.size, b.size):.2f})")
        sizes = [run.size for run in runs]
        lines.append(f"fitted exponent over all sizes: time {fitted_exponent(sizes, [r.wall_s for r in runs]):.2f},"
                     f" peak RSS {fitted_exponent(sizes, [r.peak_gb for r in runs]):.2f}")
    lines.append(machine())
    first, last = runs[0], runs[-1]
    growth = exponent(knn_seconds(first), knn_seconds(last), first.size, last.size) if len(runs) > 1 else float("nan")
    return lines + [f"scale: sizes {first.size},{last.size}; knn worker-s {knn_seconds(first):.0f},"
                    f"{knn_seconds(last):.0f}; exponent {growth:.2f}; recall@4 {last.recall:.3f}; "
                    f"peak RSS {last.peak_gb:.2f} GB"]


def knn_seconds(run: Run) -> float:
    """Worker-seconds of the kNN search stage (both directions)."""
    return run.stages.get("KNN", 0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,300000,1000000", help="comma-separated sentences per side")
    parser.add_argument("--memory-budget", default="4GB", help="as `parabeam mine --memory-budget`")
    parser.add_argument("--index", default="auto", choices=["auto", "flat", "ivf", "ivfpq"])
    parser.add_argument("--nprobe", type=int, default=NPROBE, help="as `parabeam mine --nprobe` (its default)")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="synthetic noise scale")
    parser.add_argument("--out", type=Path, help="report file (default: results/scale-<index>.txt)")
    args = parser.parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    command = shlex.join(["python", "-m", "benchmarks.scale", *(sys.argv[1:] if argv is None else argv)])
    bases()   # embeds and caches the real vectors once, before any timing
    out = args.out or RESULTS / f"scale-{args.index}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="parabeam-scale-") as tmp:
            runs.append(run_size(size, args, Path(tmp)))
        lines = report(runs, command, args)   # rewritten after every size, so a long run leaves its curve so far
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
