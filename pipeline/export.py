"""`parabeam export`: a run's Parquet bitext or scores -> the plain formats MT toolkits read (TSV, Moses, JSONL).

A mining run's rows come out best first (score descending, then src_id, tgt_id) so that `head -n N` gives the
top N; a score run's come out in the order of its input (by `row`).
The sort is an external merge sort: a pair is read in runs of at most RUN_ROWS rows, each run is sorted
and spilled to a local temporary Parquet file, and the runs are merged reading MERGE_BATCH rows of each at
a time. Memory is therefore bounded by RUN_ROWS + (number of runs x MERGE_BATCH) rows, not by the pair;
local temporary disk holds one compressed copy of the pair's needed columns.
"""
from __future__ import annotations

import heapq
import json
import os
import tempfile
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from parabeam import schemas
from parabeam.pipeline.layout import RunLayout
from parabeam.pipeline.scores import score_pair, score_parts

FORMATS = ("tsv", "moses", "jsonl")
RUN_ROWS = 500_000
MERGE_BATCH = 4_096
ORDER = [("score", "descending"), ("src_id", "ascending"), ("tgt_id", "ascending")]
INPUT_ORDER = [("row", "ascending")]
# Tabs and everything Python or a line-based tool may take for a line break become spaces.
_ONE_LINE = str.maketrans({c: " " for c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})
# JSON escapes control characters itself but leaves these raw, and str.splitlines() splits on them.
_JSON_LINE = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})


def dataset_parts(output_dir: str, dataset: str) -> dict[str, list[str]]:
    """Part files of each key (language pair, stage, language) of a run's dataset folder, e.g.
    `dataset_parts(run, "bitext") == {"en-de": [path, ...]}`, keys and paths sorted.

    Only files directly inside `<dataset>/<key>/` count: on object stores a glob `*` also crosses `/`,
    which would otherwise pick up a killed job's `beam-temp-*` leftovers.
    """
    root = RunLayout(output_dir).join(dataset)
    found = FileSystems.match([FileSystems.join(root, "*", "part-*.parquet")])[0].metadata_list
    parts: dict[str, list[str]] = {}
    for meta in found:
        relative = meta.path[len(root):].lstrip("/").split("/")
        if len(relative) == 2:
            parts.setdefault(relative[0], []).append(meta.path)
    return {key: sorted(paths) for key, paths in sorted(parts.items())}


def one_line(text: str) -> str:
    return text.translate(_ONE_LINE)


def _sort_key(order: list[tuple[str, str]]) -> Callable[[dict], tuple]:
    """The merge key of a pyarrow sort order (descending columns must be numeric)."""
    return lambda row: tuple(-row[name] if way == "descending" else row[name] for name, way in order)


def _batches(paths: Iterable[str], columns: list[str]) -> Iterator[pa.RecordBatch]:
    for path in paths:
        with FileSystems.open(path) as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=MERGE_BATCH, columns=columns)


def _spill(batches: list[pa.RecordBatch], order: list[tuple[str, str]], directory: str, number: int) -> str:
    path = os.path.join(directory, f"run-{number:05d}.parquet")
    pq.write_table(pa.Table.from_batches(batches).sort_by(order), path)
    return path


def _runs(paths: list[str], columns: list[str], order: list[tuple[str, str]], directory: str,
          run_rows: int) -> list[str]:
    """Sorted runs of at most run_rows rows (one batch more at worst), spilled under `directory`."""
    runs, pending, rows = [], [], 0
    for batch in _batches(paths, columns):
        pending.append(batch)
        rows += batch.num_rows
        if rows >= run_rows:
            runs.append(_spill(pending, order, directory, len(runs)))
            pending, rows = [], 0
    if pending:
        runs.append(_spill(pending, order, directory, len(runs)))
    return runs


def _rows(path: str) -> Iterator[dict]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=MERGE_BATCH):
        yield from batch.to_pylist()


def sorted_rows(paths: list[str], columns: list[str], run_rows: int = RUN_ROWS,
                order: list[tuple[str, str]] = ORDER) -> Iterator[dict]:
    """The rows of `paths` (only `columns`, which must include the sort keys) in `order` (default: best
    first), streamed."""
    with tempfile.TemporaryDirectory(prefix="parabeam-export-") as directory:
        runs = _runs(paths, columns, order, directory, run_rows)
        yield from heapq.merge(*(_rows(run) for run in runs), key=_sort_key(order))


def _write_lines(path: str, rows: Iterable[dict], line: Callable[[dict], str]) -> int:
    n = 0
    with FileSystems.create(path, mime_type="text/plain") as handle:
        for row in rows:
            handle.write((line(row) + "\n").encode("utf-8"))
            n += 1
    return n


def _tsv(rows: Iterator[dict], dest: str, pair: str) -> int:
    return _write_lines(FileSystems.join(dest, f"{pair}.tsv"), rows,
                        lambda row: f"{row['score']:.6f}\t{one_line(row['src_text'])}\t{one_line(row['tgt_text'])}")


def _scores_tsv(rows: Iterator[dict], dest: str, pair: str) -> int:
    return _write_lines(FileSystems.join(dest, f"{pair}.tsv"), rows,
                        lambda row: f"{row['row']}\t{row['score']:.6f}\t{row['cosine']:.6f}\t"
                                    f"{one_line(row['src_text'])}\t{one_line(row['tgt_text'])}")


def _jsonl(rows: Iterator[dict], dest: str, pair: str) -> int:
    return _write_lines(FileSystems.join(dest, f"{pair}.jsonl"), rows,
                        lambda row: json.dumps(row, ensure_ascii=False).translate(_JSON_LINE))


def _moses(rows: Iterator[dict], dest: str, pair: str) -> int:
    """Two line-aligned files, `<pair>.<src>` and `<pair>.<tgt>`, written side by side in one pass."""
    src, tgt = pair.split("-", 1)
    n = 0
    with FileSystems.create(FileSystems.join(dest, f"{pair}.{src}"), mime_type="text/plain") as src_out, \
            FileSystems.create(FileSystems.join(dest, f"{pair}.{tgt}"), mime_type="text/plain") as tgt_out:
        for row in rows:
            src_out.write((one_line(row["src_text"]) + "\n").encode("utf-8"))
            tgt_out.write((one_line(row["tgt_text"]) + "\n").encode("utf-8"))
            n += 1
    return n


_WRITERS = {"tsv": _tsv, "moses": _moses, "jsonl": _jsonl}
_TEXTS = ["score", "src_id", "tgt_id", "src_text", "tgt_text"]
_COLUMNS = {"tsv": _TEXTS, "moses": _TEXTS, "jsonl": schemas.BITEXT.names}
_SCORE_WRITERS = {"tsv": _scores_tsv, "moses": _moses, "jsonl": _jsonl}
_SCORE_TEXTS = ["row", "score", "cosine", "src_text", "tgt_text"]
_SCORE_COLUMNS = {"tsv": _SCORE_TEXTS, "moses": _SCORE_TEXTS, "jsonl": schemas.SCORES.names}


def export(output_dir: str, fmt: str, dest: str) -> dict[str, int]:
    """Write every pair of the run in `output_dir` to `dest` in `fmt`; returns rows written per pair.

    tsv: `<pair>.tsv` of score<TAB>src<TAB>tgt (a score run: row<TAB>score<TAB>cosine<TAB>src<TAB>tgt). moses:
    `<pair>.<src>` and `<pair>.<tgt>`. jsonl: `<pair>.jsonl`, one object per row with every column. Tabs and
    line breaks inside texts become spaces in tsv and moses so that lines stay aligned.
    """
    if fmt not in _WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    parts = dataset_parts(output_dir, "bitext")
    if parts:
        return {pair: _WRITERS[fmt](sorted_rows(paths, _COLUMNS[fmt]), dest, pair) for pair, paths in parts.items()}
    scores = score_parts(output_dir)
    if scores:
        pair = score_pair(output_dir)
        rows = sorted_rows(scores, _SCORE_COLUMNS[fmt], order=INPUT_ORDER)
        return {pair: _SCORE_WRITERS[fmt](rows, dest, pair)}
    raise FileNotFoundError(f"no bitext or scores under {output_dir}")
