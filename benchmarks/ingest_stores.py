"""Snapshot of what the ingest stages make of an input, to compare code versions: the sentence store, the
error rejects and the summed counts.

    python -m benchmarks.ingest_stores --out FILE.json [--compare OLD.json]

Inputs: the shared WET excerpt and the fault corpus (tests/faults, generated into a temp dir; its shard paths
are made relative so two runs compare). Runs read -> LID (every language) -> split (sentence checks on) ->
dedup on the in-process runner. `--compare` prints the differences against an older snapshot and exits 1 when
the sentence stores or the error rejects differ. Counts are shown side by side, not compared: a deliberate
change (paragraphs too short for LID are no longer identified, so their language is empty) moves them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import apache_beam as beam

from parabeam.transforms.accounting import ROUTINE_REASONS
from parabeam.transforms.dedup import Deduplicate
from parabeam.transforms.lid import IdentifyLanguage
from parabeam.transforms.read import ReadDocuments
from parabeam.transforms.split import SplitSentences

DEFAULT_WET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"


def _lines(directory: str, name: str) -> list[str]:
    """JSON lines: split at "\n" only (json.dumps leaves U+0085 and U+2028 raw, and str.splitlines cuts there)."""
    return [line for path in sorted(Path(directory).glob(f"{name}*")) for line in path.read_text().split("\n") if line]


def snapshot(patterns: list[str], root: str = "") -> dict:
    with tempfile.TemporaryDirectory(prefix="parabeam-snapshot-") as out:
        p = beam.Pipeline(runner="FnApiRunner")
        read = p | "Read" >> ReadDocuments(patterns)
        lid = read.main | "LID" >> IdentifyLanguage(None)
        split = lid.main | "Split" >> SplitSentences()
        dedup = split.main | "Dedup" >> Deduplicate()
        allr = [s.rejects for s in (read, lid, split, dedup)] | "R" >> beam.Flatten()
        allc = [s.counts for s in (read, lid, split, dedup)] | "C" >> beam.Flatten()
        for name, pcoll in (("store", dedup.main), ("rejects", allr), ("counts", allc)):
            (pcoll | f"J{name}" >> beam.Map(lambda r: json.dumps(r if isinstance(r, dict) else list(r), sort_keys=True,
                                                               ensure_ascii=False))
             | f"W{name}" >> beam.io.WriteToText(f"{out}/{name}"))
        p.run().wait_until_finish()
        store, rejects, counts = (_lines(out, name) for name in ("store", "rejects", "counts"))
    summed = Counter()
    for line in counts:
        stage, what, lang, n = json.loads(line)
        summed[f"{stage}/{what}/{lang}"] += n
    errors = []
    for line in rejects:
        row = json.loads(line)
        if row[1] not in ROUTINE_REASONS:
            row[3], row[6] = (row[3].replace(root, ""), row[6].replace(root, "")) if root else (row[3], row[6])
            errors.append(row)
    return {"store": sorted(store),
            "error_rejects": sorted(json.dumps(r) for r in errors),
            "counts": dict(sorted(summed.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wet", type=Path, default=DEFAULT_WET)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.faults.make_faults import make_fault_corpus
    result = {"excerpt": snapshot([str(args.wet)])}
    with tempfile.TemporaryDirectory(prefix="parabeam-faults-") as tmp:
        corpus = make_fault_corpus(tmp)
        result["faults"] = snapshot(corpus["patterns"], root=tmp)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    for name, snap in result.items():
        print(f"{name}: {len(snap['store'])} store rows, {len(snap['error_rejects'])} error rejects")
    if not args.compare:
        return 0
    old, same = json.loads(args.compare.read_text()), True
    for name, snap in result.items():
        for part in ("store", "error_rejects"):
            before, after = set(old[name][part]), set(snap[part])
            if before != after:
                same = False
                print(f"{name} {part}: {len(before - after)} gone, {len(after - before)} new")
                for row in sorted(before - after)[:10]:
                    print("  -", row[:200])
                for row in sorted(after - before)[:10]:
                    print("  +", row[:200])
            else:
                print(f"{name} {part}: identical ({len(after)})")
        keys = sorted(set(old[name]["counts"]) | set(snap["counts"]))
        moved = [(k, old[name]["counts"].get(k), snap["counts"].get(k)) for k in keys
                 if old[name]["counts"].get(k) != snap["counts"].get(k)]
        print(f"{name} counts that moved: {len(moved)}")
        for key, before, after in moved[:40]:
            print(f"  {key}: {before} -> {after}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
