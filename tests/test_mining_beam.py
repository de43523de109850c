"""The Beam mining transforms (sharded kNN, margin, one-to-one selection) give exactly what the in-memory
LASER-equivalent `margin.mine` gives on the same real embeddings, in every retrieval mode and margin."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.embedding_store import ShardEmbeddings, rows_per_shard, stored_vector
from parabeam.transforms.encoders import load_encoder
from parabeam.transforms.knn import BuildIndex, NearestNeighbours, knn
from parabeam.transforms.margin import (NEAR, NEAR_SAMPLE, RETRIEVALS, MarginMine, MinedPair, OneToOne, _one_to_one,
                                       above, best_candidates, mine, neighbourhood_means)
from tests.helpers import SHARED_DATA

FLORES = SHARED_DATA / "flores200_devtest"
DIM = 512
BUDGET = 64 * DIM * 32          # 64 rows per shard: each side spans three shards
MARGINS = ("ratio", "distance", "absolute")
CASES = [(4, margin, retrieval) for margin in MARGINS for retrieval in RETRIEVALS] + [(1, "ratio", "max")]


@pytest.fixture(scope="module")
def sides():
    """120 German/English FLORES translations, each side padded with 40 lines untranslated on the other."""
    if not FLORES.is_dir():
        pytest.skip("needs ../shared/data")
    de = (FLORES / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()
    en = (FLORES / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    encoder = load_encoder("muse")
    x = encoder.encode(de[:120] + de[500:540])
    y = encoder.encode(en[:120] + en[700:740])
    # What the search sees after the float16 store; ids sort like row numbers so tie rules coincide.
    return ([{"id": f"de{i:04d}", "lang": "de", "vector": stored_vector(v)} for i, v in enumerate(x)],
            [{"id": f"en{i:04d}", "lang": "en", "vector": stored_vector(v)} for i, v in enumerate(y)])


def expected(src_rows, tgt_rows, k, margin, retrieval):
    x = np.stack([row["vector"] for row in src_rows])
    y = np.stack([row["vector"] for row in tgt_rows])
    return [(src_rows[p.src]["id"], tgt_rows[p.tgt]["id"], p.direction, p.score) for p in
            mine(x, y, k, margin, retrieval, threshold=-np.inf)]


def same_pairs(want):
    def check(got):
        got = sorted((p.src_id, p.tgt_id, p.direction, p.score) for p in got)
        assert [g[:3] for g in got] == [w[:3] for w in sorted(want)]
        np.testing.assert_allclose([g[3] for g in got], [w[3] for w in sorted(want)], rtol=0, atol=1e-5)
    return check


def shards_and_indexes(p, sides, tmp_path, kind: str):
    """Both sides' embedding shards (three each) and index shards of `kind`: one transform for both languages."""
    rows = p | "Rows" >> beam.Create(sides[0] + sides[1])
    shards = rows | "Shard" >> ShardEmbeddings(str(tmp_path / "embeddings"), DIM, BUDGET)
    return shards, shards | "Index" >> BuildIndex(str(tmp_path / "index"), kind)


def test_sharded_beam_mining_equals_in_memory_mining(sides, tmp_path):
    src_rows, tgt_rows = sides
    assert rows_per_shard(DIM, BUDGET) == 64
    with TestPipeline(runner="FnApiRunner") as p:
        shards, indexes = shards_and_indexes(p, sides, tmp_path, "flat")
        for k in sorted({case[0] for case in CASES}):
            blocks = (shards, indexes) | f"KNN[{k}]" >> NearestNeighbours([("de", "en")], k=k, nprobe=1)
            for _, margin, retrieval in (case for case in CASES if case[0] == k):
                label = f"{k}-{margin}-{retrieval}"
                mined = (blocks | f"Mine[{label}]" >> MarginMine([("de", "en")], margin, retrieval,
                                                                 threshold=-np.inf)).pairs
                assert_that(mined, same_pairs(expected(src_rows, tgt_rows, k, margin, retrieval)),
                            label=f"Check[{label}]")
    assert len(list((tmp_path / "embeddings" / "de").glob("shard-*-of-00003.npz"))) == 3


def test_sharded_ivf_mining_probing_every_list_equals_in_memory_mining(sides, tmp_path):
    """The IVF path end to end (training sample files, index shards, each query shard's lists assigned once
    and reused for every index shard): probing every list is an exact search, so it mines what the
    in-memory mining does."""
    src_rows, tgt_rows = sides
    with TestPipeline(runner="FnApiRunner") as p:
        shards, indexes = shards_and_indexes(p, sides, tmp_path, "ivf")
        # nprobe capped at the list count: every list
        blocks = (shards, indexes) | "KNN" >> NearestNeighbours([("de", "en")], k=4, nprobe=1024)
        mined = (blocks | "Mine" >> MarginMine([("de", "en")], "ratio", "max", threshold=-np.inf)).pairs
        assert_that(mined, same_pairs(expected(src_rows, tgt_rows, 4, "ratio", "max")))
    for lang, other in (("de", "en"), ("en", "de")):
        index = tmp_path / "index" / lang
        assert len(list((index / "sample").glob("shard-*.npz"))) == 3
        assert len(list(index.glob("lists-*.faiss"))) == 3 and not list((index / "pieces").glob("*"))
        assert len(list((index / "coarse").glob(f"shard-*.{other}.coarse.npz"))) == 3


def test_max_mode_recovers_hidden_translations_in_beam(sides):
    """Sanity on the data itself: most hidden translations are each other's mutual best pair."""
    src_rows, tgt_rows = sides
    pairs = expected(src_rows, tgt_rows, 4, "ratio", "max")
    found = sum(s[2:] == t[2:] and int(s[2:]) < 120 for s, t, _d, _sc in pairs)
    assert found >= 110


@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_distributed_one_to_one_equals_the_greedy(rounds):
    """Random candidate pairs of two language pairs with many equal scores (and the same sentence ids in both):
    the dominant-pair rounds plus the final greedy select exactly what LASER's single greedy pass selects, for
    each language pair on its own."""
    rng = np.random.default_rng(rounds)
    edges = []
    for src, tgt in (("de", "en"), ("fr", "en")):
        pairs = {(f"s{rng.integers(40):02d}", f"t{rng.integers(40):02d}") for _ in range(400)}
        edges += [MinedPair(src, tgt, s, t, float(rng.integers(5)), 0.0, "fwd") for s, t in sorted(pairs)]
    want = sorted((p.pair, p.src_id, p.tgt_id) for name in ("de-en", "fr-en")
                  for p in _one_to_one(name, [e for e in edges if e.pair == name]))
    with TestPipeline(runner="FnApiRunner") as p:
        got = p | beam.Create(edges) | OneToOne(rounds) | beam.Map(lambda e: (e.pair, e.src_id, e.tgt_id))
        assert_that(got, equal_to(want))


def test_candidates_just_below_the_threshold_are_kept_as_a_sample(sides, tmp_path):
    """Mined(pairs, near): `near` holds each sentence's best candidate scoring within NEAR below the threshold
    (what the report shows as "just below"), never one above it, the NEAR_SAMPLE closest per language pair."""
    src_rows, tgt_rows = sides
    x = np.stack([row["vector"] for row in src_rows])
    y = np.stack([row["vector"] for row in tgt_rows])
    x2y, y2x = knn(x, y, 4), knn(y, x, 4)
    x_mean, y_mean = neighbourhood_means(x2y[0]), neighbourhood_means(y2x[0])
    fwd, bwd = best_candidates(*x2y, x_mean, y_mean, "ratio"), best_candidates(*y2x, y_mean, x_mean, "ratio")
    threshold = float(np.median(np.concatenate([fwd.score, bwd.score])))
    window = {(src_rows[s]["id"], tgt_rows[t]["id"]): score
              for s, t, score in [*zip(range(len(x)), fwd.idx, fwd.score), *zip(bwd.idx, range(len(y)), bwd.score)]
              if threshold - NEAR <= score <= threshold and not above(score, threshold)}
    want = sorted(sorted(window, key=lambda pair: -window[pair])[:NEAR_SAMPLE])
    with TestPipeline(runner="FnApiRunner") as p:
        shards, indexes = shards_and_indexes(p, sides, tmp_path, "flat")
        blocks = (shards, indexes) | "KNN" >> NearestNeighbours([("de", "en")], k=4, nprobe=1)
        mined = blocks | "Mine" >> MarginMine([("de", "en")], "ratio", "max", threshold=threshold)
        assert_that(mined.near | beam.Map(lambda pair: (pair.src_id, pair.tgt_id)), equal_to(want), label="near")
        assert_that(mined.pairs | beam.Filter(lambda pair: not above(pair.score, threshold)), equal_to([]),
                    label="above")
    assert 0 < len(want)
