"""Parquet sinks. Everything goes through Beam's file sinks (temp files, then rename), so a killed job
never leaves a complete-looking part file behind."""
from __future__ import annotations

from typing import Callable, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet


def write_parquet(pcoll: beam.PCollection, directory: str, schema: pa.Schema, label: str) -> beam.PCollection:
    """Write rows (dicts) as `directory/part-SSSSS-of-NNNNN.parquet`."""
    return pcoll | label >> WriteToParquet(
        FileSystems.join(directory, "part"), schema, codec="zstd", file_name_suffix=".parquet")


class WriteByKey(beam.PTransform):
    """Write rows to one Parquet directory per key (a language, a language pair, a stage).

    The keys are known when the pipeline is built (from --langs/--pairs and the stage list), so a static
    Partition keeps this a plain Beam graph that every runner supports.
    """

    def __init__(self, root: str, keys: Sequence[str], key_fn: Callable[[dict], str], schema: pa.Schema):
        super().__init__()
        self.root, self.keys, self.key_fn, self.schema = root, list(keys), key_fn, schema

    def expand(self, rows):
        index = {key: i for i, key in enumerate(self.keys)}
        parts = rows | "Partition" >> beam.Partition(lambda row, _n: index[self.key_fn(row)], len(self.keys))
        return [write_parquet(part, FileSystems.join(self.root, key), self.schema, f"Write[{key}]")
                for key, part in zip(self.keys, parts)]
