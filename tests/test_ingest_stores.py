"""The ingest (read -> LID -> split with sentence checks -> dedup) makes the same sentence store and the same
error rejects as before its speed-ups (commit e937466), on the fault corpus and on the real WET excerpt.

tests/data/ingest_stores.json holds digests of what e937466 made, updated on purpose when normalisation
stopped decomposing Thai SARA AM, when the sentence checks gained control_chars, navigation and lists with a
lead-in (excerpt store 6632 -> 6476 rows), and when splitting rejoined lower case after abbreviations, ordinals
and ellipses, split before Dutch ,,quotes and let slashed sentences with long items pass the menu rule
(6476 -> 6466). benchmarks/ingest_stores.py also prints a row-by-row comparison of two snapshots."""
import hashlib
import json
from pathlib import Path

import pytest

from benchmarks.ingest_stores import snapshot
from tests.faults.make_faults import make_fault_corpus
from tests.helpers import SHARED_DATA

EXPECTED = json.loads((Path(__file__).parent / "data" / "ingest_stores.json").read_text())
EXCERPT = SHARED_DATA / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"


def _digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def _check(name: str, snap: dict) -> None:
    expected = EXPECTED[name]
    assert len(snap["store"]) == expected["store_rows"]
    assert _digest(snap["store"]) == expected["store_sha256"]
    assert len(snap["error_rejects"]) == expected["error_rejects"]
    assert _digest(snap["error_rejects"]) == expected["error_rejects_sha256"]


def _balanced(counts: dict) -> None:
    """in = out + rejects per stage, over all languages (too-short paragraphs now count under no language)."""
    totals: dict = {}
    for key, n in counts.items():
        stage, what, _lang = key.split("/")
        totals[(stage, what.split(":")[0])] = totals.get((stage, what.split(":")[0]), 0) + n
    assert totals[("lid", "in")] == totals[("lid", "out")] + totals.get(("lid", "reject"), 0)


def test_fault_corpus_store_and_error_rejects_are_unchanged(tmp_path):
    corpus = make_fault_corpus(tmp_path)
    snap = snapshot(corpus["patterns"], root=str(tmp_path))
    _check("faults", snap)
    _balanced(snap["counts"])


@pytest.mark.skipif(not EXCERPT.exists(), reason="needs ../shared/data")
def test_wet_excerpt_store_is_unchanged():
    snap = snapshot([str(EXCERPT)])
    _check("excerpt", snap)
    _balanced(snap["counts"])
    assert snap["counts"]["lid/reject:too_short/"] > 0   # refused before LID, under no language
