import numpy as np
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.embedding_store import (ShardEmbeddings, encoder_slug, read_shard, rows_per_shard,
                                                 shard_of)


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
