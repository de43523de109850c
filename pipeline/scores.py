"""A `parabeam score` run read back: its part files, its language pair, and the summary printed on the terminal.

The job writes DIR/scores/part-*.parquet in whatever order its workers finish; the `row` column (the input's
1-based line or row number) restores the input order on the reading side (`parabeam export`).
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from parabeam.pipeline.layout import RunLayout

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def score_parts(run_dir: str) -> list[str]:
    """The finished part files of a score run, sorted; only files directly in DIR/scores count (a killed
    job's beam-temp-* folders do not, and on object stores `*` also crosses `/`)."""
    root = RunLayout(run_dir).scores
    found = FileSystems.match([FileSystems.join(root, "part-*.parquet")])[0].metadata_list
    return sorted(meta.path for meta in found if "/" not in meta.path[len(root):].lstrip("/"))


def score_pair(run_dir: str) -> str:
    """`src-tgt` of a finished score run, from its run.json."""
    path = RunLayout(run_dir).run_json
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"{run_dir} holds no finished run (no run.json)")
    with FileSystems.open(path) as handle:
        (src, tgt), = json.loads(handle.read())["parameters"]["pairs"]
    return f"{src}-{tgt}"


def _column(paths: list[str], name: str) -> np.ndarray:
    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            tables.append(pq.read_table(pa.BufferReader(handle.read()), columns=[name]))
    return np.concatenate([table.column(name).to_numpy() for table in tables] or [np.empty(0)])


def summary(run_dir: str) -> str:
    """How many pairs were scored and the quartiles of their margin and cosine, as a small table."""
    paths = score_parts(run_dir)
    columns = {"margin": _column(paths, "score"), "cosine": _column(paths, "cosine")}
    lines = [f"{score_pair(run_dir)}: {len(columns['margin'])} pairs scored -> {FileSystems.join(run_dir, 'scores')} "
             f"(in input order: parabeam export {run_dir} --dest DIR)"]
    if len(columns["margin"]):
        lines.append(f"{'':>8}" + "".join(f"{label:>9}" for label in ("min", "25%", "median", "75%", "max")))
        for name, values in columns.items():
            lines.append(f"{name:>8}" + "".join(f"{q:>9.4f}" for q in np.quantile(values, QUANTILES)))
    return "\n".join(lines)
