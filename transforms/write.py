"""Parquet sinks. A killed job never leaves a complete-looking part file behind: Beam's file sink writes temp
files and renames them; the keyed writer writes each part under a temporary name and renames it."""
from __future__ import annotations

import math
import uuid
import zlib
from typing import Any, Callable, Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

# Rows per part file of one key, and rows per Parquet row group as they are written (bounded memory).
ROWS_PER_PART = 1_000_000
ROWS_PER_GROUP = 10_000


def as_record(row: Any) -> dict:
    """A row as the Parquet writer takes it: NamedTuples (typed edges) become dicts."""
    return row._asdict() if hasattr(row, "_asdict") else row


def write_parquet(pcoll: beam.PCollection, directory: str, schema: pa.Schema, label: str) -> beam.PCollection:
    """Write rows as `directory/part-SSSSS-of-NNNNN.parquet`."""
    return (pcoll | f"{label}Records" >> beam.Map(as_record)
            | label >> WriteToParquet(FileSystems.join(directory, "part"), schema, codec="zstd",
                                      file_name_suffix=".parquet"))


def part_name(part: int, parts: int) -> str:
    return f"part-{part:05d}-of-{parts:05d}.parquet"


def write_part(path: str, rows: Iterable[Any], schema: pa.Schema) -> int:
    """Rows -> one Parquet file at `path`, written under a temporary name beside it and renamed when whole."""
    folder, name = FileSystems.split(path)
    temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    written = 0
    with FileSystems.create(temporary) as handle:
        with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
            batch: list[dict] = []
            for row in rows:
                batch.append(as_record(row))
                if len(batch) == ROWS_PER_GROUP:
                    writer.write_table(pa.Table.from_pylist(batch, schema))
                    written, batch = written + len(batch), []
            if batch or not written:
                writer.write_table(pa.Table.from_pylist(batch, schema))
                written += len(batch)
    if FileSystems.exists(path):   # a retried bundle wrote it before: same rows
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])
    return written


class _WritePart(beam.DoFn):
    def __init__(self, root: str, schema: pa.Schema, order: Callable[[Any], int] | None):
        self.root, self.schema, self.order = root, schema, order

    def process(self, item: tuple[tuple[str, int, int], Iterable[Any]]) -> Iterator[str]:
        (key, part, parts), rows = item
        path = FileSystems.join(self.root, key, part_name(part, parts))
        write_part(path, rows if self.order is None else sorted(rows, key=self.order), self.schema)
        yield path


class WriteByKey(beam.PTransform):
    """Rows -> `root/<key>/part-SSSSS-of-NNNNN.parquet`, one folder per key (a language, a pair, a stage).

    Keys are data: the same few transforms write any number of them. Each key gets ceil(rows / ROWS_PER_PART)
    parts, rows spread over them by a hash of `spread(row)`, so the files do not depend on bundling. With
    `order` (a row number), parts hold consecutive ranges of ROWS_PER_PART numbers, each sorted: the files in
    name order are the rows in order. A key with no rows gets no folder. Returns the paths written."""

    def __init__(self, root: str, key_fn: Callable[[Any], str], schema: pa.Schema,
                 spread: Callable[[Any], str] = repr, order: Callable[[Any], int] | None = None):
        super().__init__()
        self.root, self.key_fn, self.schema, self.spread, self.order = root, key_fn, schema, spread, order

    def expand(self, rows):
        key_fn, spread, order = self.key_fn, self.spread, self.order
        keyed = rows | "Key" >> beam.Map(lambda row: (key_fn(row), row))
        if order is None:
            parts = (keyed | "Rows" >> beam.combiners.Count.PerKey()
                     | "Parts" >> beam.MapTuple(lambda key, n: (key, max(1, math.ceil(n / ROWS_PER_PART)))))
        else:
            parts = (keyed | "Last" >> beam.MapTuple(lambda key, row: (key, order(row)))
                     | "Max" >> beam.CombinePerKey(max)
                     | "Parts" >> beam.MapTuple(lambda key, last: (key, last // ROWS_PER_PART + 1)))

        def to_part(item, parts):
            key, row = item
            n = parts[key]
            part = order(row) // ROWS_PER_PART if order else zlib.crc32(spread(row).encode()) % n
            return (key, part, n), row

        return (keyed | "ToPart" >> beam.Map(to_part, beam.pvalue.AsDict(parts))
                | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WritePart(self.root, self.schema, order)))
