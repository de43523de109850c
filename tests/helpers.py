"""Small helpers shared by the end-to-end tests."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def bitext_rows(output: Path, pair: str) -> list[dict]:
    """All rows of one pair's bitext, in a stable order."""
    rows = [row for part in sorted((output / "bitext" / pair).glob("*.parquet"))
            for row in pq.read_table(part).to_pylist()]
    return sorted(rows, key=lambda row: (row["src_id"], row["tgt_id"]))


def text_pairs(output: Path, pair: str) -> set[tuple[str, str]]:
    return {(row["src_text"], row["tgt_text"]) for row in bitext_rows(output, pair)}


def counted(counts):
    """A stage's Tally elements, summed, as (`stage/what[/lang]`, n): what run.json's accounts are made of."""
    import apache_beam as beam

    from parabeam.transforms.accounting import SumCounts, count_name
    return counts | "SumCounts" >> SumCounts() | "Named" >> beam.Map(lambda tally: (count_name(tally), tally.n))
