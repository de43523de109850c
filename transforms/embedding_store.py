"""The embedding store: one language's vectors as float16 shard files of bounded size, keyed by sentence id,
under a path naming the encoder and its version; and the content-addressed embedding cache.

Later stages stream shards one at a time, so no worker ever holds a whole language.
"""
from __future__ import annotations

import io
import math
import re
import uuid
import zlib
from typing import Iterable, Iterator, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadFromParquet

from parabeam import schemas
from parabeam.transforms import stages
from parabeam.transforms.accounting import COUNTS_TAG, StageFn, Staged
from parabeam.transforms.dedup import sentence_id
from parabeam.transforms.embed import Embed, to_float16_row
from parabeam.transforms.encoders import get_encoder, l2_normalise
from parabeam.transforms.write import write_parquet

# A shard is searched while a second one is in memory, both as float32, plus FAISS's working space.
BYTES_PER_VALUE_IN_FLIGHT = 4 * 8
MIN_ROWS_PER_SHARD = 64


def encoder_slug(name: str, version: str) -> str:
    """`st:/models/LaBSE` + `1.2` -> `st-LaBSE-1.2`: a path component naming the encoder and its version."""
    kind, sep, path = name.partition(":")
    base = f"{kind}-{path.rstrip('/').rsplit('/', 1)[-1]}" if sep else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{base}-{version}")


def rows_per_shard(dim: int, memory_budget: int) -> int:
    """How many vectors one shard may hold so that search stays within the per-worker memory budget."""
    return max(MIN_ROWS_PER_SHARD, memory_budget // (dim * BYTES_PER_VALUE_IN_FLIGHT))


def shard_of(sentence_id: str, num_shards: int) -> int:
    """Deterministic shard assignment that does not depend on the id's format (content hash or user id)."""
    return zlib.crc32(sentence_id.encode()) % num_shards


def write_npz(path: str, **arrays: np.ndarray) -> None:
    """Arrays to one .npz file on any Beam filesystem."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with FileSystems.create(path) as handle:
        handle.write(buffer.getvalue())


def read_npz(path: str, *names: str) -> dict[str, np.ndarray]:
    """The arrays of one .npz file (only `names`, when given)."""
    with FileSystems.open(path) as handle, np.load(io.BytesIO(handle.read()), allow_pickle=False) as data:
        return {name: data[name] for name in names or data.files}


def write_shard(path: str, ids: list[str], vectors: np.ndarray) -> None:
    write_npz(path, ids=np.asarray(ids, dtype=str), vectors=vectors.astype(np.float16))


def stored_vector(vector: np.ndarray) -> np.ndarray:
    """A vector as the search sees it after a round trip through a shard (float16, renormalised)."""
    return l2_normalise(np.asarray(vector, dtype=np.float16)[None])[0]


def read_shard(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, unit-length float32 vectors) of one shard, rows in id order."""
    data = read_npz(path)
    return data["ids"], l2_normalise(data["vectors"])


class Shard(NamedTuple):
    """One embedding shard file of one language: rows in id order."""
    lang: str
    path: str
    rows: int


class _WriteShard(beam.DoFn):
    def __init__(self, root: str):
        self.root = root

    def process(self, item: tuple[tuple[str, int], Iterable[dict]], num_shards: dict[str, int]) -> Iterator[Shard]:
        (lang, shard), rows = item
        rows = sorted(rows, key=lambda row: row["id"])
        path = FileSystems.join(self.root, lang, f"shard-{shard:05d}-of-{num_shards[lang]:05d}.npz")
        write_shard(path, [row["id"] for row in rows], np.stack([row["vector"] for row in rows]))
        yield Shard(lang, path, len(rows))


class ShardEmbeddings(beam.PTransform):
    """Embedding rows of every language -> shard files `root/<lang>/shard-*.npz` (float16, rows sorted by id),
    as `Shard` elements; each language gets as many shards as the memory budget needs."""

    def __init__(self, root: str, dim: int, memory_budget: int):
        super().__init__()
        self.root, self.limit = root, rows_per_shard(dim, memory_budget)

    def expand(self, rows):
        num_shards = beam.pvalue.AsDict(
            rows | "Langs" >> beam.Map(lambda row: row["lang"]) | "Count" >> beam.combiners.Count.PerElement()
            | "NumShards" >> beam.MapTuple(lambda lang, n, limit=self.limit: (lang, max(1, math.ceil(n / limit)))))
        return (rows
                | "Key" >> beam.Map(lambda row, n: ((row["lang"], shard_of(row["id"], n[row["lang"]])), row),
                                    num_shards)
                | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteShard(self.root), num_shards))


class _Lookup(StageFn):
    """Per content key: cache hit -> embedding rows from the cached vector; miss -> rows to embed."""
    stage = stages.EMBED_CACHE.name

    def process(self, item) -> Iterator:
        key, grouped = item
        cached = next(iter(grouped["cached"]), None)
        for row in grouped["row"]:
            self.count("in", row["lang"])
            if cached is None:
                self.count("miss", row["lang"])
                yield beam.pvalue.TaggedOutput("miss", {**row, "key": key})
            else:
                self.count("hit", row["lang"])
                yield {"id": row["id"], "lang": row["lang"], "vector": np.asarray(cached, dtype=np.float32)}
            self.count("out", row["lang"])


class CachedEmbed(beam.PTransform):
    """Sentence rows -> Staged(embedding rows, rejects, counts), embedding only texts this encoder never embedded before.

    The cache is keyed by the exact text, per encoder name and version, and lives on any Beam filesystem;
    a join (not a side input) matches it against the sentences, so it scales with the corpus. New vectors
    are added as one more Parquet part per run, written through Beam's sink (complete or absent).
    """

    def __init__(self, encoder: str, cache_root: str, batch_chars: int, accelerator: str | None = None):
        super().__init__()
        spec = get_encoder(encoder)
        self.encoder, self.batch_chars, self.accelerator = encoder, batch_chars, accelerator
        self.cache_dir = FileSystems.join(cache_root, encoder_slug(spec.name, spec.version))

    def expand(self, rows):
        pattern = FileSystems.join(self.cache_dir, "*", "*.parquet")   # one folder per run that added vectors
        if FileSystems.match([pattern])[0].metadata_list:
            cached = (rows.pipeline | "ReadCache" >> ReadFromParquet(pattern)
                      | "CacheKeys" >> beam.Map(lambda entry: (entry["key"], entry["vector"])))
        else:
            cached = rows.pipeline | "EmptyCache" >> beam.Create([])
        looked_up = ({"row": rows | "Key" >> beam.Map(lambda row: (sentence_id(row["text"]), row)),
                      "cached": cached}
                     | "Join" >> beam.CoGroupByKey()
                     | "Lookup" >> beam.ParDo(_Lookup()).with_outputs("miss", COUNTS_TAG, main="hit"))
        embedded = looked_up.miss | "Embed" >> Embed(self.encoder, batch_chars=self.batch_chars,
                                                         accelerator=self.accelerator)
        fresh = embedded.main
        stored = fresh | "Float16" >> beam.Map(to_float16_row)
        entries = stored | "Entries" >> beam.Map(lambda row: {"key": row["key"], "vector": row["vector"]})
        write_parquet(entries, FileSystems.join(self.cache_dir, f"run-{uuid.uuid4().hex}"),
                      schemas.EMBEDDING_CACHE, "WriteCache")
        vectors = stored | "WithoutKey" >> beam.Map(
            lambda row: {"id": row["id"], "lang": row["lang"], "vector": row["vector"]})
        return Staged((looked_up.hit, vectors) | "Vectors" >> beam.Flatten(), embedded.rejects,
                      (looked_up[COUNTS_TAG], embedded.counts) | "Counts" >> beam.Flatten())
