"""Accounting as data: every stage emits its counts and its rejects as elements, so that in = out + rejects
(+ merged + skipped) can be checked exactly on any runner.

Beam counters are attempted, not committed, on Flink and Spark (a retried bundle counts twice) and absent on
some runners; data outputs are exactly-once everywhere. So each stage's DoFn tallies its counts in memory and
emits them once per bundle, in `finish_bundle`, as `Tally` elements on a tagged output; the job sums them per
(stage, what, lang) and writes them with the run. Beam counters are still incremented, for monitoring UIs.

`StageFn` is the base DoFn of every counting stage; `Filter` is the shared helper for stages that only decide
keep-or-reject per element: the stage supplies a pure function and gets counting, reject rows and the split.

Reject rows: errors in the input (damaged files, bad records, undecodable text, failures) are always written
in full. Routine filter outcomes (ROUTINE_REASONS: too short, unwanted language, low confidence, junk, the
sentence checks) are always counted exactly, but written as rows only up to `reject_sample` per (reason,
shard) per DoFn bundle, REJECT_SAMPLE by default; `reject_sample=None` writes them all.
"""
from __future__ import annotations

import functools
import time
from collections import Counter
from itertools import repeat
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from parabeam.transforms import heap

REJECTS_TAG = "rejects"
COUNTS_TAG = "counts"
EXCERPT_CHARS = 200
NAMESPACE = "parabeam"
# Milliseconds of the bundles a stage ran in (start to finish; a fused bundle counts for each stage in it).
BUSY = "busy_ms"
# Filter outcomes that are the normal work of a stage, not faults in the input: sampled, not written in full.
ROUTINE_REASONS = frozenset({
    "too_short", "too_long", "unwanted_lang", "low_confidence", "duplicate", "junk", "boilerplate",
    "script_mismatch", "lid_mismatch", "control_chars", "navigation", "menu", "list", "all_caps",   # checks
    "glued_words", "url", "code",
})
REJECT_SAMPLE = 20   # reject rows written per routine reason and shard, per bundle

# Every process that runs a stage (each worker, and the launching process on the in-process runner) imports this
# module: its exit skips the collector's walk of the whole heap (see heap).
heap.freeze_at_exit()


class Reject(NamedTuple):
    """A record a stage refused (schemas.REJECTS): why, and where it came from."""
    stage: str
    reason: str
    lang: str = ""
    shard: str = ""
    record: int = -1
    url: str = ""
    excerpt: str = ""


class Tally(NamedTuple):
    """`n` records of one stage: `what` is in, out, produced, reject:<reason>, merged:<why>, skipped:<kind>,
    or another count (hit, miss); `lang` is a language, a pair (de-en) or empty."""
    stage: str
    what: str
    lang: str
    n: int


class Staged(NamedTuple):
    """What a stage returns: its main output, its rejects and its counts."""
    main: Any
    rejects: Any
    counts: Any


def excerpt_of(value: Any) -> str:
    if isinstance(value, bytes):
        value = value[:EXCERPT_CHARS].decode("utf-8", "replace")
    return str(value)[:EXCERPT_CHARS]


@functools.lru_cache(maxsize=4096)
def _counter(name: str):
    return Metrics.counter(NAMESPACE, name)


class StageFn(beam.DoFn):
    """Base DoFn of a stage named `stage`: `self.count(...)` and `self.reject(...)` tally in memory; the bundle's
    tallies leave once, on the COUNTS_TAG output, when the bundle finishes."""

    stage = ""
    reject_sample: int | None = REJECT_SAMPLE   # rows per routine (reason, shard) and bundle; None: all

    def start_bundle(self) -> None:
        self._tally: Counter = Counter()
        self._sampled: Counter = Counter()
        self._started = time.perf_counter()

    def count(self, what: str, lang: str | None = None, n: int = 1) -> None:
        self._tally[(what, lang or "")] += n

    def count_each(self, what: str, langs: Iterable[str]) -> None:
        """`count(what, lang)` for every language in `langs` (one per paragraph or sentence of a document), added
        in one call."""
        self._tally.update(zip(repeat(what), langs))

    def reject(self, reason: str, *, lang: str = "", shard: str = "", record: int = -1, url: str = "",
               excerpt: Any = "") -> tuple[beam.pvalue.TaggedOutput, ...]:
        """Count a refused record and return the reject rows to yield (`yield from self.reject(...)`): its row
        for the REJECTS_TAG output, or none for a routine reason (ROUTINE_REASONS) whose sample of rows for this
        shard and bundle is full. Errors always get their row."""
        self.count(f"reject:{reason}", lang)
        if reason in ROUTINE_REASONS and self.reject_sample is not None:
            key = (reason, shard)
            if self._sampled[key] >= self.reject_sample:
                return ()
            self._sampled[key] += 1
        return (beam.pvalue.TaggedOutput(REJECTS_TAG, Reject(self.stage, reason, lang, shard, record, url,
                                                             excerpt_of(excerpt))),)

    def finish_bundle(self) -> Iterator:
        self._tally[(BUSY, "")] += round(1000 * (time.perf_counter() - self._started))
        for (what, lang), n in self._tally.items():
            tally = Tally(self.stage, what, lang, n)
            _counter(count_name(tally)).inc(n)
            yield beam.pvalue.TaggedOutput(COUNTS_TAG, WindowedValue(tally, MIN_TIMESTAMP, [GlobalWindow()]))
        self._tally.clear()
        self._sampled.clear()


def apply_stage(pcoll, label: str, fn: StageFn, *side_inputs) -> Staged:
    """`pcoll | label >> ParDo(fn)` split into (main, rejects, counts)."""
    result = pcoll | label >> beam.ParDo(fn, *side_inputs).with_outputs(REJECTS_TAG, COUNTS_TAG, main="main")
    return Staged(result.main, result[REJECTS_TAG], result[COUNTS_TAG])


def merge_staged(label: str, main, parts: Iterable[Staged]) -> Staged:
    """One stage made of several steps: their rejects and counts flattened into one of each."""
    parts = list(parts)
    return Staged(main, [part.rejects for part in parts] | f"{label}Rejects" >> beam.Flatten(),
                  [part.counts for part in parts] | f"{label}Counts" >> beam.Flatten())


def count_name(tally: Tally) -> str:
    """`stage/what[/lang]`, the name run.json's accounts and Beam's counters use."""
    return f"{tally.stage}/{tally.what}" + (f"/{tally.lang}" if tally.lang else "")


class SumCounts(beam.PTransform):
    """Tally elements of any number of bundles -> one Tally per (stage, what, lang), summed."""

    def expand(self, counts):
        return (counts | "CountKey" >> beam.Map(lambda tally: (tally[:3], tally.n))
                | "Sum" >> beam.CombinePerKey(sum)
                | "Tallies" >> beam.MapTuple(lambda key, n: Tally(*key, n)))


class _FilterFn(StageFn):
    def __init__(self, stage: str, decide: Callable[[Any], str | None], lang_of: Callable[[Any], str],
                 describe: Callable[[Any], dict], reject_sample: int | None = REJECT_SAMPLE):
        self.stage, self.decide, self.lang_of, self.describe = stage, decide, lang_of, describe
        self.reject_sample = reject_sample

    def process(self, element: Any) -> Iterator:
        lang = self.lang_of(element)
        self.count("in", lang)
        reason = self.decide(element)
        if reason:
            yield from self.reject(reason, lang=lang, **self.describe(element))
            return
        self.count("out", lang)
        yield element


class Filter(beam.PTransform):
    """Keep the elements `decide` returns None for; reject the others with the reason it returns.

    Counts per `lang_of(element)`: in = out + reject:<reason>. `describe` gives the reject row's shard,
    record, url and excerpt; routine reasons are sampled (see StageFn.reject)."""

    def __init__(self, stage: str, decide: Callable[[Any], str | None], lang_of: Callable[[Any], str],
                 describe: Callable[[Any], dict], reject_sample: int | None = REJECT_SAMPLE):
        super().__init__()
        self.fn = _FilterFn(stage, decide, lang_of, describe, reject_sample)

    def expand(self, pcoll) -> Staged:
        return apply_stage(pcoll, "Decide", self.fn)
