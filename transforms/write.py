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
    def __init__(self, root: str, schema: pa.Schema):
        self.root, self.schema = root, schema

    def process(self, item: tuple[tuple[str, int, int], Iterable[Any]]) -> Iterator[str]:
        (key, part, parts), rows = item
        path = FileSystems.join(self.root, key, part_name(part, parts))
        write_part(path, rows, self.schema)
        yield path


class WriteByKey(beam.PTransform):
    """Rows -> `root/<key>/part-SSSSS-of-NNNNN.parquet`, one folder per key (a language, a pair, a stage).

    Keys are data: the same few transforms write any number of them. Each key gets ceil(rows / ROWS_PER_PART)
    parts, rows spread over them by a hash of `spread(row)`, so the files do not depend on bundling. A key
    with no rows gets no folder. Returns the paths written."""

    def __init__(self, root: str, key_fn: Callable[[Any], str], schema: pa.Schema,
                 spread: Callable[[Any], str] = repr):
        super().__init__()
        self.root, self.key_fn, self.schema, self.spread = root, key_fn, schema, spread

    def expand(self, rows):
        key_fn, spread = self.key_fn, self.spread
        keyed = rows | "Key" >> beam.Map(lambda row: (key_fn(row), row))
        parts = (keyed | "Rows" >> beam.combiners.Count.PerKey()
                 | "Parts" >> beam.MapTuple(lambda key, n: (key, max(1, math.ceil(n / ROWS_PER_PART)))))

        def to_part(item, parts):
            key, row = item
            n = parts[key]
            return (key, zlib.crc32(spread(row).encode()) % n, n), row

        return (keyed | "ToPart" >> beam.Map(to_part, beam.pvalue.AsDict(parts))
                | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WritePart(self.root, self.schema)))
