"""Crawl-mode benchmark: FLORES documents as web pages in every language, mixed with the real WET excerpt,
mined through the whole pipeline (read, LID, split, checks, dedup, embed, mine) at the default threshold.

`python -m benchmarks.crawl --out benchmarks/results/crawl.txt`

FLORES devtest lines (n-way parallel, in document order) are cut into documents of BLOCK consecutive lines;
each language (LANGS) holds each document with probability SHARE, independently, so every en-X pair has
a part of its documents on both sides and the rest on one side only. A held document becomes one page of
its language, its sentences packed 1-4 per line as retention.py packs them (zh and ja without spaces).
The generated WET file is mined together with the real CC-MAIN excerpt (170 pages of many languages).

Gold for en-X: the FLORES lines of the documents both hold. A mined pair is correct when both sides come
from a same gold FLORES line (LineIndex: by normalised text, the splitter's pieces, or containment where
packing glued or cut lines); recall counts distinct gold lines found. "No gold side": a mined pair
neither of whose sentences belongs to a gold line of that pair (web text, or a document only one side holds);
the table splits them by where their two sides come from: both from excerpt pages (web), one from each
(mixed), both FLORES lines of documents only one side holds (flores).
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.bucc import DATA, WET, flores_path, read_lines
from benchmarks.publish import publish
from benchmarks.retention import pack
from parabeam.pipeline.cli import main as parabeam
from parabeam.pipeline.export import dataset_parts
from parabeam.transforms.dedup import normalise
from parabeam.transforms.split import split_sentences

LANGS = ("en", "de", "fr", "ru", "zh", "ja", "ar")
BLOCK = 10
SHARE = 0.4
SEED = 0
RUN = ["--quiet", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def holdings(n_docs: int, seed: int = SEED) -> dict[str, set[int]]:
    rng = random.Random(seed)
    return {lang: {doc for doc in range(n_docs) if rng.random() < SHARE} for lang in LANGS}


def write_wet(path: Path, lines: dict[str, list[str]], held: dict[str, set[int]], seed: int = SEED) -> None:
    rng = random.Random(seed)
    out = bytearray(b"WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Record-ID: <urn:uuid:0>\r\n"
                    b"Content-Length: 0\r\n\r\n\r\n\r\n")
    n = 0
    for lang in LANGS:
        for doc in sorted(held[lang]):
            sentences = lines[lang][doc * BLOCK:(doc + 1) * BLOCK]
            body = "\n".join(row[0] for row in pack(sentences, lang, rng)).encode()
            n += 1
            out += (f"WARC/1.0\r\nWARC-Type: conversion\r\n"
                    f"WARC-Target-URI: https://flores-{lang}-{doc}.example/page\r\nWARC-Date: 2026-12-01T00:00:00Z\r\n"
                    f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body + b"\r\n\r\n"
    path.write_bytes(bytes(out))


class LineIndex:
    """Which FLORES lines a stored sentence comes from: its normalised text equals a line or a piece the
    splitter makes of one, or, where packing glued lines together or cut one apart differently (zh and ja
    lines have no space between them), the lines it contains or is contained in (pieces of 20+ chars)."""

    def __init__(self, lang: str, lines: list[str]):
        self.lines = [normalise(" ".join(line.split())) for line in lines]
        self.exact: dict[str, int] = {}
        for number, line in enumerate(lines):
            for text in (line, *split_sentences(lang, line)):
                self.exact.setdefault(normalise(" ".join(text.split())), number)

    def __call__(self, text: str) -> set[int]:
        key = normalise(text)
        if key in self.exact:
            return {self.exact[key]}
        return {n for n, line in enumerate(self.lines) if line in key or (len(key) >= 20 and key in line)}


def evaluate(output: Path, lines: dict[str, list[str]], held: dict[str, set[int]]) -> list[dict]:
    parts = dataset_parts(str(output), "bitext")
    rows = []
    for lang in LANGS[1:]:
        pair = f"en-{lang}"
        both = held["en"] & held[lang]
        gold = {n for doc in both for n in range(doc * BLOCK, min((doc + 1) * BLOCK, len(lines["en"])))}
        index = {"en": LineIndex("en", lines["en"]), lang: LineIndex(lang, lines[lang])}
        mined = [row for path in parts.get(pair, []) for row in pq.read_table(path).to_pylist()]
        correct, found, no_gold = 0, set(), Counter()   # no gold side, by kind
        for row in mined:
            src, tgt = index["en"](row["src_text"]), index[lang](row["tgt_text"])
            shared = src & tgt & gold
            if shared:
                correct += 1
                found |= shared
            if not (src | tgt) & gold:
                no_gold[("web", "mixed", "flores")[bool(src) + bool(tgt)]] += 1
        precision = correct / max(len(mined), 1)
        recall = len(found) / max(len(gold), 1)
        rows.append({"pair": pair, "gold": len(gold), "mined": len(mined), "precision": precision, "recall": recall,
                     "f1": 2 * precision * recall / max(precision + recall, 1e-12), "no_gold_side": no_gold})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--thresholds", default="auto,1.4", help="comma-separated --threshold values to run")
    parser.add_argument("--keep", type=Path, help="work here (kept) instead of a temporary folder")
    args = parser.parse_args(argv)
    lines = {lang: read_lines(flores_path(DATA, lang)) for lang in LANGS}
    held = holdings((len(lines["en"]) + BLOCK - 1) // BLOCK, args.seed)
    text = [f"docs of {BLOCK} lines held per language: " + ", ".join(f"{lang} {len(held[lang])}" for lang in LANGS)]
    with tempfile.TemporaryDirectory(prefix="parabeam-crawl-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        write_wet(work / "flores.wet", lines, held, args.seed)
        for threshold in args.thresholds.split(","):
            output = work / f"run-{threshold}"
            code = parabeam(["mine", "--input", str(work / "flores.wet"), str(DATA / WET), "--langs", ",".join(LANGS),
                             "--pairs", ",".join(f"en-{lang}" for lang in LANGS[1:]), "--output", str(output),
                             f"--threshold={threshold}", "--embedding-cache", str(work / "cache"), *RUN])
            if code != 0:
                raise RuntimeError(f"parabeam mine failed ({code})")
            rows = evaluate(output, lines, held)
            chosen = {}
            for line in (output / "thresholds.jsonl").read_text().splitlines():
                row = json.loads(line)
                chosen[row["pair"]] = (row["threshold"], row["chosen"], row["estimated_precision"])
            text.append(f"--threshold {threshold}")
            text.append(f"{'pair':>6} {'gold':>5} {'mined':>5} {'P':>6} {'R':>6} {'F1':>6} {'no gold side':>12} "
                        f"{'web/mixed/flores':>16}  threshold")
            for row in rows:
                t, how, est = chosen.get(row["pair"], (None, None, None))
                kinds = row["no_gold_side"]
                text.append(f"{row['pair']:>6} {row['gold']:>5} {row['mined']:>5} {row['precision']:>6.3f} "
                            f"{row['recall']:>6.3f} {row['f1']:>6.3f} {kinds.total():>12} "
                            f"{'/'.join(str(kinds[kind]) for kind in ('web', 'mixed', 'flores')):>16}  "
                            f"{t:.3f} ({how}, est. P {est if est is None else round(est, 3)})")
            mined = sum(row["mined"] for row in rows)
            kinds = sum((row["no_gold_side"] for row in rows), Counter())
            text.append(f"mean F1 {np.mean([row['f1'] for row in rows]):.3f}; no gold side {kinds.total()} of {mined} "
                        f"mined ({kinds.total() / max(mined, 1):.1%}; web {kinds['web']}, mixed {kinds['mixed']}, "
                        f"flores {kinds['flores']})")
            print("\n".join(text[-len(rows) - 3:]), flush=True)
    publish("crawl", "\n".join(text), args.out)


if __name__ == "__main__":
    main()
