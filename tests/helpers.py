"""Small helpers shared by the end-to-end tests."""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.transforms.core import RestrictionProvider

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def bitext_rows(output: Path, pair: str, dataset: str = "bitext") -> list[dict]:
    """All rows of one pair's bitext (or of another dataset in the bitext schema), in a stable order."""
    rows = [row for part in sorted((output / dataset / pair).glob("*.parquet"))
            for row in pq.read_table(part).to_pylist()]
    return sorted(rows, key=lambda row: (row["src_id"], row["tgt_id"]))


def text_pairs(output: Path, pair: str) -> set[tuple[str, str]]:
    return {(row["src_text"], row["tgt_text"]) for row in bitext_rows(output, pair)}


def counted(counts):
    """A stage's Tally elements, summed, as (`stage/what[/lang]`, n): what run.json's accounts are made of."""
    from parabeam.transforms.accounting import BUSY, SumCounts, count_name
    return (counts | "SumCounts" >> SumCounts() | "NotTimes" >> beam.Filter(lambda tally: tally.what != BUSY)
            | "Named" >> beam.Map(lambda tally: (count_name(tally), tally.n)))


class _Offsets(RestrictionProvider):
    def initial_restriction(self, n: int) -> OffsetRange:
        return OffsetRange(0, n)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, _n: int, restriction: OffsetRange) -> int:
        return restriction.size()


class OnePerBundle(beam.DoFn):
    """0..n-1, one number per bundle: each call defers the rest, which the runner runs as a new bundle."""

    def process(self, n: int, tracker=beam.DoFn.RestrictionParam(_Offsets())):
        position = tracker.current_restriction().start
        if tracker.try_claim(position):
            yield position
            tracker.defer_remainder()
