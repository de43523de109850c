"""Embedding throughput through the pipeline (CachedEmbed: cache join + RunInference, fresh cache) against
the raw mUSE encoder on the same sentences, in one run.

    python -m benchmarks.embed_throughput [--n 8000] [--batch-chars 20000]

The sentences are a seeded sample of the real German and English sentences in the shared data. The raw
encoder (load_encoder("muse"), as the workers load it) is one process calling encode() once on all of
them, model loaded beforehand (untimed); then two such processes side by side, half the sentences each,
the most the local profile's two workers could do. The pipeline runs on the `local` runner profile
(FnApiRunner, one worker process per core, as `parabeam mine`) and is timed from construction to finish,
so worker start-up and each worker's model load are in it; a second run on a few sentences measures that
fixed cost, so the marginal throughput is shown too.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam

from benchmarks.corpus import real_sentences
from benchmarks.ingest import machine
from benchmarks.monitor import Monitor, stage_seconds
from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline.accounts import counters, stage_accounts
from parabeam.transforms.dedup import sentence_id
from parabeam.transforms.embed import DEFAULT_BATCH_CHARS
from parabeam.transforms.embedding_store import CachedEmbed
from parabeam.transforms.encoders import load_encoder

RESULTS = Path(__file__).resolve().parent / "results"
STARTUP_SENTENCES = 20


def sample(n: int, seed: int = 0) -> list[dict]:
    """n sentence-store rows, German and English real sentences mixed."""
    pool = [(lang, text) for lang in ("de", "en") for text in real_sentences(lang)]
    chosen = random.Random(seed).sample(pool, min(n, len(pool)))
    return [{"id": sentence_id(text), "lang": lang, "text": text, "count": 1, "urls": []} for lang, text in chosen]


def raw_seconds(texts: list[str]) -> float:
    """encode() time of one call on all `texts`, model loaded first (untimed)."""
    encoder = load_encoder("muse")
    started = time.perf_counter()
    encoder.encode(texts)
    return time.perf_counter() - started


def parallel_seconds(texts: list[str], processes: int) -> float:
    """raw_seconds of the slowest of `processes` fresh processes, each encoding its share at the same time."""
    shares = [texts[i::processes] for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return max(pool.map(raw_seconds, shares))


def with_load(fn, *args) -> tuple[float, float]:
    """fn(*args) and the mean 1-minute load average while it ran."""
    with Monitor() as monitor:
        value = fn(*args)
    return value, monitor.mean_load


def pipeline_seconds(rows: list[dict], batch_chars: int) -> tuple[float, int, float, float, dict[str, float]]:
    """(wall seconds, sentences embedded, peak RSS of the process tree in GB, mean load, worker-seconds per
    step) of CachedEmbed on a fresh cache."""
    with tempfile.TemporaryDirectory(prefix="parabeam-embed-") as cache, Monitor() as monitor:
        started = time.perf_counter()
        pipeline = beam.Pipeline(options=pipeline_options("local", []))
        vectors, _rejects = pipeline | beam.Create(rows) | CachedEmbed("muse", cache, batch_chars)
        vectors | beam.combiners.Count.Globally()
        result = pipeline.run()
        result.wait_until_finish()
        seconds = time.perf_counter() - started
    embedded = stage_accounts(counters(result))["embed"]["out"]
    return seconds, embedded, monitor.peak_rss / 1e9, monitor.mean_load, stage_seconds(result, depth=3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8000, help="sentences (default 8000)")
    parser.add_argument("--batch-chars", type=int, default=DEFAULT_BATCH_CHARS)
    parser.add_argument("--out", type=Path, default=RESULTS / "embed_throughput.txt")
    args = parser.parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    command = shlex.join(["python", "-m", "benchmarks.embed_throughput", *(sys.argv[1:] if argv is None else argv)])
    rows = sample(args.n)
    texts = [row["text"] for row in rows]
    chars = sum(map(len, texts))
    (raw, raw_load), (two_processes, two_load) = with_load(raw_seconds, texts), with_load(parallel_seconds, texts, 2)
    wall, embedded, peak_gb, mean_load, steps = pipeline_seconds(rows, args.batch_chars)
    startup, few, *_ = pipeline_seconds(rows[:STARTUP_SENTENCES], args.batch_chars)
    raw_rate, two_rate, rate = len(rows) / raw, len(rows) / two_processes, embedded / wall
    marginal = (embedded - few) / (wall - startup)
    lines = [f"command: {command}",
             f"{len(rows):,} sentences (German and English, {chars / len(rows):.0f} characters on average)", "",
             f"raw muse encoder, 1 process, one encode() call:  {raw:8.1f} s  {raw_rate:7.1f} sentences/s  "
             f"(load {raw_load:.1f})",
             f"raw muse encoder, 2 processes, half each:        {two_processes:8.1f} s  {two_rate:7.1f} sentences/s  "
             f"(load {two_load:.1f})",
             f"pipeline CachedEmbed, local profile, wall:       {wall:8.1f} s  {rate:7.1f} sentences/s  "
             f"({embedded:,} embedded, peak RSS {peak_gb:.1f} GB, load {mean_load:.1f})",
             f"pipeline on {STARTUP_SENTENCES} sentences (start-up, model loads): {startup:8.1f} s",
             f"pipeline marginal (wall minus start-up):         {wall - startup:8.1f} s  {marginal:7.1f} sentences/s",
             "", f"ratio pipeline / raw throughput: {rate / raw_rate:.2f} (wall), {marginal / raw_rate:.2f} "
             f"(marginal); against 2 raw processes: {rate / two_rate:.2f} (wall), {marginal / two_rate:.2f} (marginal)",
             "", "pipeline worker-seconds per step (summed over worker processes):"]
    lines += [f"  {step:<40}{seconds:8.1f}" for step, seconds in sorted(steps.items(), key=lambda item: -item[1])
              if seconds >= 0.1]
    lines.append(machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
