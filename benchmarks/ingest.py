"""Ingest throughput: read -> LID -> split -> dedup as a Beam pipeline, against the raw stage speeds.

    python -m benchmarks.ingest [--wet PATH] [--repeat N]

The WET file is linked N times into a temp dir, so the input is N shards. The pipeline runs on the
FnApiRunner with two worker processes (multi_processing) and writes the sentence store; it keeps
every language, as the raw split below does. The raw numbers are one process calling the pure stage
functions on the same data, with models loaded and every splitter warmed up beforehand (untimed):
LID, split (with the sentence checks, sentence LID included) and LID+split, the two run document by
document as a worker runs them (so it is not the sum of the two rows above it: the split stage reuses
the paragraph LID of a sentence that is its whole paragraph). The "ideal" is twice one process's rate; the
row "2 raw LID+split processes at once" measures two such processes side by side, which on a 2-core VM run
slower each than one alone (shared caches and memory bandwidth), so it is what two workers can reach. The
gap to the pipeline is Beam's cost: worker start-up, encoding, shuffles, the dedup combine and
the Parquet writes. A second, one-shard pipeline run measures the start-up, so the marginal rate of
the other N-1 shards is shown too. Repeated shards are duplicates, so dedup folds them: the store
holds one shard's unique sentences. Nothing is asserted on time; the machine may be shared.

This VM's speed drifts by tens of percent within minutes, so the raw LID+split pass, the 2 processes at once and
both pipelines run in ROUNDS interleaved rounds, and each of those rows is its median round (the marginal row:
the median of the rounds' own N-shard minus 1-shard differences); every round's ratios are listed below the table,
and the median of the rounds' own marginal shares of the ideal after them (each round's pipeline against the raw
pass of the same round, minutes apart rather than rounds apart).
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from parabeam import schemas
from parabeam.pipeline.accounts import stage_accounts
from parabeam.transforms.checks import sentence_reason
from parabeam.transforms.dedup import Deduplicate
from parabeam.transforms.lid import DEFAULT_MIN_CHARS, DEFAULT_THRESHOLD, IdentifyLanguage, identify_paragraphs, load_lid_model
from parabeam.transforms.read import ReadDocuments, read_records
from parabeam.transforms.split import SplitSentences, length_reason, split_sentences
from parabeam.transforms.write import write_parquet

DEFAULT_WET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"
WORKERS = 2
ROUNDS = 5


class Timing(NamedTuple):
    what: str
    seconds: float
    docs: int
    paragraphs: int   # paragraphs entering LID (for split: the kept ones it splits)
    sentences: int    # sentences kept by the length filter and the sentence checks
    peak_mb: float = 0.0   # peak resident memory of the process tree (pipeline rows)
    cpu: float = 0.0       # CPU seconds (user + system) of this process and its finished workers


def cpu_seconds() -> float:
    """CPU time so far of this process and of its children that have ended (the pipeline's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(what: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of calling `what`."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = what()
    return result, time.perf_counter() - start, cpu_seconds() - cpu


def shards(wet: Path, repeat: int, directory: Path) -> list[str]:
    """`repeat` links to the WET file, named so the reader sees WET."""
    directory.mkdir()
    paths = []
    for i in range(repeat):
        link = directory / f"shard-{i:04d}.warc.wet.gz"
        link.symlink_to(wet.resolve())
        paths.append(str(link))
    return paths


def read_documents(paths: list[str]) -> list[dict]:
    documents = []
    for path in paths:
        with open(path, "rb") as f:
            documents += [item for item in read_records(path, f) if isinstance(item, dict)]
    return documents


DECIDE = {"langs": None, "threshold": DEFAULT_THRESHOLD, "thresholds": {}, "min_chars": DEFAULT_MIN_CHARS}


def lid_pass(model, documents: list[dict]) -> tuple[int, list[tuple[str, str]]]:
    """(paragraphs seen, the kept (lang, paragraph)s), as IdentifyLanguage with every language kept."""
    seen, kept = 0, []
    for doc in documents:
        for text, lang, _prob, reason in identify_paragraphs(model, doc["text"], DECIDE):
            seen += 1
            if not reason:
                kept.append((lang, text))
    return seen, kept


def lid_split_pass(model, documents: list[dict]) -> tuple[int, int, int]:
    """LID and split document by document, as one worker runs them (fused): (paragraphs seen, kept,
    sentences kept)."""
    seen = kept = sentences = 0
    for doc in documents:
        paragraph_seen, paragraphs_kept = lid_pass(model, [doc])
        seen, kept = seen + paragraph_seen, kept + len(paragraphs_kept)
        sentences += split_pass(paragraphs_kept, model)
    return seen, kept, sentences


def split_pass(kept: list[tuple[str, str]], model) -> int:
    """Sentences kept, as SplitSentences: the length filter, then the sentence checks (with sentence LID)."""
    return sum(1 for lang, text in kept for sentence in split_sentences(lang, text)
               if not (length_reason(lang, sentence) or sentence_reason(lang, sentence, model)))


def lid_split_timing(paths: list[str]) -> Timing:
    """LID and split alone again, one process, over all shards (documents already read)."""
    model, documents = load_lid_model(), read_documents(paths)
    (seen, _kept, sentences), seconds, cpu = timed(lambda: lid_split_pass(model, documents))
    return Timing("raw LID+split", seconds, len(documents), seen, sentences, cpu=cpu)


def concurrent_timing(paths: list[str]) -> Timing:
    """WORKERS raw LID+split processes at once, each over all shards: what WORKERS processes can do on this
    machine, where processes running side by side share caches and memory bandwidth (measured: each is ~10%
    slower than one alone). Its docs/s is the sum of the processes' rates."""
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork")) as pool:
        runs = list(pool.map(lid_split_timing, [paths] * WORKERS))
    return Timing(f"{WORKERS} raw LID+split processes at once", sum(run.docs for run in runs) / sum(
        run.docs / run.seconds for run in runs), sum(run.docs for run in runs), sum(run.paragraphs for run in runs),
        sum(run.sentences for run in runs), cpu=sum(run.cpu for run in runs))


def median(timings: list[Timing]) -> Timing:
    """The timing of the median round (by seconds)."""
    return sorted(timings, key=lambda timing: timing.seconds)[len(timings) // 2]


def marginal(pipeline: Timing, single: Timing) -> Timing:
    """What the shards after the first cost: the N-shard run less the 1-shard run."""
    return Timing("pipeline marginal (all shards but one)", pipeline.seconds - single.seconds,
                  pipeline.docs - single.docs, pipeline.paragraphs - single.paragraphs,
                  pipeline.sentences - single.sentences, cpu=pipeline.cpu - single.cpu)


def raw_timings(paths: list[str]) -> list[Timing]:
    """The reader, LID and the splitter alone, one process, over all shards."""
    model = load_lid_model()
    split_pass(lid_pass(model, read_documents(paths[:1]))[1], model)   # warm-up: lazy splitter rules, Thai dictionary
    documents, read_s, read_cpu = timed(lambda: read_documents(paths))
    (seen, kept), lid_s, lid_cpu = timed(lambda: lid_pass(model, documents))
    sentences, split_s, split_cpu = timed(lambda: split_pass(kept, model))
    both, both_s, both_cpu = timed(lambda: lid_split_pass(model, documents))
    docs = len(documents)
    assert both == (seen, len(kept), sentences), (both, seen, len(kept), sentences)
    return [Timing("raw read", read_s, docs, 0, 0, cpu=read_cpu),
            Timing("raw LID", lid_s, docs, seen, 0, cpu=lid_cpu),
            Timing("raw split", split_s, docs, len(kept), sentences, cpu=split_cpu),
            Timing("raw LID+split", both_s, docs, seen, sentences, cpu=both_cpu)]


def counters(result) -> dict[str, int]:
    """The job's Beam counters (StageFn increments one per tally), `stage/what[/lang]` -> value."""
    totals: dict[str, int] = {}
    for counter in result.metrics().query()["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return totals


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for task in os.listdir(f"/proc/{pid}/task")
                for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _tree_rss(root: int) -> int:
    """Resident bytes of process `root` and all its descendants (from /proc; 0 where there is none)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += _children(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


class PeakRSS:
    """Samples the resident memory of this process and its workers every `every` seconds; `.peak` in bytes."""

    def __init__(self, every: float = 0.25):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pipeline_timing(paths: list[str], store: Path, what: str) -> Timing:
    """Wall time of the Beam job, start-up included, and its counts."""
    options = PipelineOptions(flags=[], runner="FnApiRunner", direct_running_mode="multi_processing",
                              direct_num_workers=WORKERS)
    start, cpu = time.perf_counter(), cpu_seconds()
    rss = PeakRSS().__enter__()
    pipeline = beam.Pipeline(options=options)
    documents = (pipeline | "Read" >> ReadDocuments(paths)).main
    kept = (documents | "LID" >> IdentifyLanguage(None)).main
    sentences = (kept | "Split" >> SplitSentences()).main
    unique = (sentences | "Dedup" >> Deduplicate()).main
    write_parquet(unique, str(store), schemas.SENTENCES, "WriteStore")
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    rss.__exit__()
    cpu = cpu_seconds() - cpu
    stages = stage_accounts(counters(result))
    return Timing(what, seconds, stages["read"]["out"], stages["lid"]["in"], stages["split"]["out"],
                  rss.peak / 2**20, cpu)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 and count else "-"


def report(raw: list[Timing], together: Timing, pipeline: Timing, single: Timing | None, extra: Timing | None,
           command: str) -> list[str]:
    both = raw[-1]
    ideal = both._replace(what=f"ideal {WORKERS} x raw LID+split", seconds=both.seconds / WORKERS)
    rows, compared = [*raw, ideal, together, pipeline], [pipeline]
    if single and extra:
        rows += [single, extra]
        compared.append(extra)
    lines = [f"command: {command}", machine(), "",
             f"{'':44}{'docs':>8}{'paragraphs':>12}{'sentences':>11}{'seconds':>10}"
             f"{'docs/s':>9}{'para/s':>10}{'sent/s':>9}{'peak MB':>9}{'CPU s':>8}"]
    for row in rows:
        lines.append(f"{row.what:44}{row.docs:>8,}{row.paragraphs:>12,}{row.sentences:>11,}{row.seconds:>10.2f}"
                     f"{rate(row.docs, row.seconds):>9}{rate(row.paragraphs, row.seconds):>10}"
                     f"{rate(row.sentences, row.seconds):>9}"
                     + (f"{row.peak_mb:>9,.0f}" if row.peak_mb else f"{'':>9}") + f"{row.cpu:>8.1f}")
    lines += ["", "pipeline docs/s as a share of the raw LID+split docs/s (1 process), of the ideal "
              f"{WORKERS}-process speed ({WORKERS} x raw) and of {WORKERS} raw processes run at once:"]
    for row in compared:
        lines.append(f"  {row.what:42} {shares(row, both, together)}")
    lines += ["", "CPU seconds per document, raw LID+split over pipeline (1.00: Beam costs no CPU beyond the stage "
              "functions; on a shared machine a better guide than wall time, which depends on the cores we got):"]
    for row in compared:
        if row.cpu > 0 and both.cpu > 0:
            lines.append(f"  {row.what:42} {cpu_share(row, both):6.2f}")
    return lines


def shares(row: Timing, both: Timing, together: Timing) -> str:
    """`row`'s docs/s as a share of one raw process, of the ideal and of WORKERS raw processes at once."""
    speed = row.docs / row.seconds if row.seconds > 0 else float("nan")
    raw_speed = both.docs / both.seconds
    return (f"{speed / raw_speed:6.2f} x raw   {ideal_share(row, both):6.2f} x ideal"
            f"   {speed * together.seconds / together.docs:6.2f} x at once")


def ideal_share(row: Timing, both: Timing) -> float:
    """`row`'s docs/s over the ideal (WORKERS x one raw process)."""
    if row.seconds <= 0:
        return float("nan")
    return (row.docs / row.seconds) / (WORKERS * both.docs / both.seconds)


def cpu_share(row: Timing, both: Timing) -> float:
    return (both.cpu / both.docs) / (row.cpu / row.docs)


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"machine: {platform.machine()} {_cpu_model()}, {os.cpu_count()} cores ({usable} usable), "
            f"load average {load} (1, 5, 15 min, at the end); Python {platform.python_version()}, Beam {beam.__version__}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wet", type=Path, default=DEFAULT_WET, help="WET file (default: the shared excerpt)")
    parser.add_argument("--repeat", type=int, default=8, help="how many times the file is read (as shards)")
    args = parser.parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)   # workers' start-up warnings
    command = shlex.join([sys.executable, "-m", "benchmarks.ingest", *(sys.argv[1:] if argv is None else argv)])
    with tempfile.TemporaryDirectory(prefix="parabeam-ingest-") as tmp:
        paths = shards(args.wet, args.repeat, Path(tmp) / "input")
        raw = raw_timings(paths)
        rounds = []
        for number in range(ROUNDS):
            pipeline = pipeline_timing(paths, Path(tmp) / f"store-{number}",
                                       f"pipeline, {WORKERS} workers ({args.repeat} shards)")
            single = (pipeline_timing(paths[:1], Path(tmp) / f"store-1-{number}",
                                      f"pipeline, {WORKERS} workers (1 shard)") if args.repeat > 1 else None)
            rounds.append((lid_split_timing(paths), concurrent_timing(paths), pipeline, single,
                           marginal(pipeline, single) if single else None))
    columns = list(zip(*rounds))
    raw[-1], together, pipeline = median(columns[0]), median(columns[1]), median(columns[2])
    single, extra = (median(columns[3]), median(columns[4])) if args.repeat > 1 else (None, None)
    print("\n".join(report(raw, together, pipeline, single, extra, command)))
    print(f"\nrounds (raw LID+split s, {WORKERS} at once docs/s, pipeline s, 1 shard s; marginal share; CPU share):")
    for number, (both, at_once, whole, one, rest) in enumerate(rounds, 1):
        row = rest or whole
        print(f"  {number}: {both.seconds:.2f} s, {rate(at_once.docs, at_once.seconds)} docs/s, {whole.seconds:.2f} s, "
              + (f"{one.seconds:.2f} s; " if one else "-; ")
              + f"{shares(row, both, at_once).strip()}; CPU {cpu_share(row, both):.2f}")
    ideal_shares = sorted(ideal_share(rest or whole, both) for both, _, whole, _, rest in rounds)
    print(f"  median of the rounds' own shares of the ideal: {ideal_shares[len(ideal_shares) // 2]:.2f}")


if __name__ == "__main__":
    main()
