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

from parabeam import schemas
from parabeam.transforms import stages
from parabeam.transforms.accounting import COUNTS_TAG, StageFn, Staged
from parabeam.transforms.dedup import text_id
from parabeam.transforms.embed import Embed, to_float16_row
from parabeam.transforms.encoders import get_encoder, l2_normalise

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


# ---- the embedding cache ----
# Entries (key, float16 vector) live in `cache_dir/<folder>/bucket-BB.parquet`: one folder per run that embedded
# something (run-<uuid>) or per compaction (compact-<uuid>), each file holding one key bucket (crc32 of the
# key mod CACHE_BUCKETS), rows sorted by key in row groups of write.ROWS_PER_GROUP. A lookup reads, per bucket,
# only that bucket's files and in them only the row groups whose key range holds a key it asks for.
# Runs before this layout wrote `run-<uuid>/part-*.parquet` (unsorted, every bucket): still read, with every
# row group scanned, until a compaction folds them in.
CACHE_BUCKETS = 16
COMPACT_AFTER_PARTS = 4 * CACHE_BUCKETS  # CachedEmbed compacts first when the cache has more files than this
LOOKUP_CHUNK = 50_000                    # sentences looked up together (one pass over a bucket's row groups)


def cache_bucket(key: str) -> int:
    return zlib.crc32(key.encode()) % CACHE_BUCKETS


def _bucket_name(bucket: int) -> str:
    return f"bucket-{bucket:02d}.parquet"


def cache_parts(cache_dir: str) -> dict[int | None, list[str]]:
    """Cache files by bucket (None: files of the old layout, any bucket), in path order."""
    found = FileSystems.match([FileSystems.join(cache_dir, "*", "*.parquet")])[0].metadata_list
    parts: dict[int | None, list[str]] = {}
    for path in sorted(meta.path for meta in found):
        name = path.rsplit("/", 1)[-1]
        match = re.fullmatch(r"bucket-(\d+)\.parquet", name)
        parts.setdefault(int(match.group(1)) if match else None, []).append(path)
    return parts


def _parts_of(parts: dict[int | None, list[str]], bucket: int) -> list[str]:
    return parts.get(bucket, []) + parts.get(None, [])


def read_cached(paths: Iterable[str], keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The cached vectors of `keys` found in `paths`: reads only the row groups whose [min, max] key range
    (Parquet statistics; rows sorted by key) holds one of the keys."""
    import pyarrow.parquet as pq
    wanted = set(keys)
    ordered = np.array(sorted(wanted), dtype=str)
    found: dict[str, np.ndarray] = {}
    if not wanted:
        return found
    for path in paths:
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            column = parquet.schema_arrow.get_field_index("key")
            for group in range(parquet.num_row_groups):
                stats = parquet.metadata.row_group(group).column(column).statistics
                if stats is not None and stats.has_min_max and (
                        np.searchsorted(ordered, stats.min, side="left")
                        >= np.searchsorted(ordered, stats.max, side="right")):
                    continue   # no wanted key inside this row group's [min, max]
                table = parquet.read_row_group(group, columns=["key", "vector"])
                table_keys = table.column("key").to_pylist()
                hits = [row for row, key in enumerate(table_keys) if key in wanted and key not in found]
                if hits:
                    for row, vector in zip(hits, table.column("vector").take(hits).to_pylist()):
                        found[table_keys[row]] = np.asarray(vector, dtype=np.float16)
    return found


def _sorted_entries(entries: Iterable[dict]) -> list[dict]:
    """One entry per key (the first), sorted by key."""
    unique: dict[str, dict] = {}
    for entry in entries:
        unique.setdefault(entry["key"], entry)
    return [unique[key] for key in sorted(unique)]


def compact_cache(cache_dir: str) -> int:
    """Merge every cache file into one sorted file per bucket (`compact-<uuid>/`), then delete the old files:
    the new folder is complete before anything is deleted, and a reader that sees both finds equal vectors.
    Memory: one bucket of the whole cache (its size / CACHE_BUCKETS). Returns the number of files removed."""
    import pyarrow.parquet as pq
    from parabeam.transforms.write import write_part
    parts = cache_parts(cache_dir)
    old = sorted({path for paths in parts.values() for path in paths})
    if not old:
        return 0
    folder = FileSystems.join(cache_dir, f"compact-{uuid.uuid4().hex}")
    for bucket in range(CACHE_BUCKETS):
        entries = []
        for path in _parts_of(parts, bucket):
            with FileSystems.open(path) as handle:
                table = pq.read_table(io.BytesIO(handle.read()), columns=["key", "vector"])
            entries += [entry for entry in table.to_pylist() if cache_bucket(entry["key"]) == bucket]
        if entries:
            write_part(FileSystems.join(folder, _bucket_name(bucket)), _sorted_entries(entries),
                       schemas.EMBEDDING_CACHE)
    FileSystems.delete(old)
    for directory in {path.rsplit("/", 1)[0] for path in old}:
        if not FileSystems.match([FileSystems.join(directory, "*")])[0].metadata_list:
            try:
                FileSystems.delete([directory])
            except Exception:   # object stores have no empty folders to delete
                pass
    return len(old)


class _Lookup(StageFn):
    """(bucket, sentence rows) -> cache hit: embedding rows from the cached vector; miss: rows to embed.
    Looks rows up LOOKUP_CHUNK at a time in that bucket's files only (read_cached)."""
    stage = stages.EMBED_CACHE.name

    def __init__(self, parts: dict[int | None, list[str]]):
        self.parts = parts

    def process(self, item) -> Iterator:
        bucket, rows = item
        chunk: list[dict] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == LOOKUP_CHUNK:
                yield from self._look_up(bucket, chunk)
                chunk = []
        yield from self._look_up(bucket, chunk)

    def _look_up(self, bucket: int, rows: list[dict]) -> Iterator:
        cached = read_cached(_parts_of(self.parts, bucket), (row["key"] for row in rows))
        for row in rows:
            self.count("in", row["lang"])
            vector = cached.get(row["key"])
            if vector is None:
                self.count("miss", row["lang"])
                yield beam.pvalue.TaggedOutput("miss", row)
            else:
                self.count("hit", row["lang"])
                yield {"id": row["id"], "lang": row["lang"], "vector": vector.astype(np.float32)}
            self.count("out", row["lang"])


class _WriteBucket(beam.DoFn):
    """(bucket, new cache entries) -> `folder/bucket-BB.parquet`, sorted by key. Only buckets that got
    entries exist, so a run without misses writes nothing."""

    def __init__(self, folder: str):
        self.folder = folder

    def process(self, item) -> Iterator[str]:
        from parabeam.transforms.write import write_part
        bucket, entries = item
        path = FileSystems.join(self.folder, _bucket_name(bucket))
        write_part(path, _sorted_entries(entries), schemas.EMBEDDING_CACHE)
        yield path


class CachedEmbed(beam.PTransform):
    """Sentence rows -> Staged(embedding rows, rejects, counts), embedding only texts this encoder never embedded before.

    The cache is keyed by the id of exactly the text the encoder is given (dedup.text_id), per encoder name and
    version: not by the sentence id, which is of the normalised text, because a text need not be normalised
    (BUCC-format sentence files keep the user's text) and an encoder may embed two texts that normalise alike
    differently. It lives on any Beam filesystem (layout above: sorted files per key bucket). Sentences are
    grouped by bucket and each group reads only its bucket's files, and in them only the row groups that can
    hold its keys. New vectors are added as one folder per run, one sorted file per bucket that got any (none
    when every sentence was a hit). When the cache holds more than COMPACT_AFTER_PARTS files it is compacted
    (compact_cache) before the pipeline is built; `parabeam compact-cache` does it on demand.
    """

    def __init__(self, encoder: str, cache_root: str, batch_chars: int, accelerator: str | None = None,
                 compact_after: int = COMPACT_AFTER_PARTS):
        super().__init__()
        spec = get_encoder(encoder)
        self.encoder, self.batch_chars, self.accelerator = encoder, batch_chars, accelerator
        self.cache_dir = FileSystems.join(cache_root, encoder_slug(spec.name, spec.version))
        self.compact_after = compact_after

    def expand(self, rows):
        parts = cache_parts(self.cache_dir)
        if sum(len(paths) for paths in parts.values()) > self.compact_after:
            compact_cache(self.cache_dir)
            parts = cache_parts(self.cache_dir)
        looked_up = (rows
                     | "Key" >> beam.Map(lambda row: (lambda key: (cache_bucket(key), {**row, "key": key}))(
                         text_id(row["text"])))
                     | "ByBucket" >> beam.GroupByKey()
                     | "Lookup" >> beam.ParDo(_Lookup(parts)).with_outputs("miss", COUNTS_TAG, main="hit"))
        embedded = looked_up.miss | "Embed" >> Embed(self.encoder, batch_chars=self.batch_chars,
                                                         accelerator=self.accelerator)
        fresh = embedded.main
        stored = fresh | "Float16" >> beam.Map(to_float16_row)
        (stored
         | "Entries" >> beam.Map(lambda row: (cache_bucket(row["key"]), {"key": row["key"], "vector": row["vector"]}))
         | "EntriesByBucket" >> beam.GroupByKey()
         | "WriteCache" >> beam.ParDo(_WriteBucket(FileSystems.join(self.cache_dir, f"run-{uuid.uuid4().hex}"))))
        vectors = stored | "WithoutKey" >> beam.Map(
            lambda row: {"id": row["id"], "lang": row["lang"], "vector": row["vector"]})
        return Staged((looked_up.hit, vectors) | "Vectors" >> beam.Flatten(), embedded.rejects,
                      (looked_up[COUNTS_TAG], embedded.counts) | "Counts" >> beam.Flatten())
