"""The automatic per-pair threshold in Beam (MarginMine with threshold AUTO) chooses what the in-memory
mining chooses and keeps what it keeps; the choice (threshold, estimated precision, histogram of every
best candidate) is written for run.json. Synthetic vectors: planted translations among random sentences."""
from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from parabeam.transforms.embedding_store import ShardEmbeddings, stored_vector
from parabeam.transforms.knn import BuildIndex, NearestNeighbours, knn
from parabeam.transforms.margin import (AUTO, Best, MarginMine, best_candidates, chosen_threshold, mine,
                                        neighbourhood_means)

DIM = 32
BUDGET = 100 * DIM * 32   # 100 rows per shard


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def planted(n_gold: int, n_other: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x and y: the first n_gold rows translate each other (noisy copies), the rest are unrelated."""
    rng = np.random.default_rng(seed)
    gold = rng.normal(size=(n_gold, DIM))
    x = unit(np.concatenate([gold + 0.35 * rng.normal(size=gold.shape), rng.normal(size=(n_other, DIM))]))
    y = unit(np.concatenate([gold + 0.35 * rng.normal(size=gold.shape), rng.normal(size=(n_other, DIM))]))
    stored = lambda v: np.stack([stored_vector(row) for row in v])   # what the search sees after the store
    return stored(x), stored(y)


def with_isolated_pairs(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y moved out of their last 2n dimensions, with n rows appended to each: row i of each lies mostly in
    two of those dimensions of its own, at cosine ~0.4-0.5 to its partner and less to everything else. Such a
    pair is its own nearest neighbourhood, so its margin is high (~1.6-1.9) while its cosine is far below the
    translations' (~0.9)."""
    rng = np.random.default_rng(11)
    free = DIM - 2 * n
    store = lambda rows: np.stack([stored_vector(row) for row in unit(rows)])
    x, y = (np.concatenate([v[:, :free], np.zeros((len(v), 2 * n))], axis=1) for v in (x, y))
    extra = []
    for sign in (1, -1):
        rows = np.concatenate([0.5 * unit(rng.normal(size=(n, free))), np.zeros((n, 2 * n))], axis=1)
        rows[np.arange(n), free + 2 * np.arange(n)] = 1.0
        rows[np.arange(n), free + 2 * np.arange(n) + 1] = sign * np.linspace(0.45, 0.6, n)
        extra.append(rows)
    return store(np.concatenate([x, extra[0]])), store(np.concatenate([y, extra[1]]))


def bests(x, y, k=4) -> tuple[Best, Best]:
    xs, xi = knn(x, y, k)
    ys, yi = knn(y, x, k)
    xm, ym = neighbourhood_means(xs), neighbourhood_means(ys)
    return best_candidates(xs, xi, xm, ym, "ratio"), best_candidates(ys, yi, ym, xm, "ratio")


def same_ids(want):
    def check(got):
        assert sorted((pair.src_id, pair.tgt_id) for pair in got) == want
    return check


def test_auto_threshold_in_memory_keeps_the_planted_translations():
    x, y = planted(100, 200)
    threshold = chosen_threshold(*bests(x, y), AUTO, fallback=1.4)
    pairs = mine(x, y, threshold=AUTO, fallback=1.4)
    assert all(p.score > threshold for p in pairs)
    hits = sum(p.src == p.tgt < 100 for p in pairs)
    assert hits >= 95 and hits / len(pairs) >= 0.9


def test_too_few_sentences_fall_back():
    x, y = planted(5, 10)
    assert chosen_threshold(*bests(x, y), AUTO, fallback=1.4) == 1.4


def test_beam_auto_threshold_equals_in_memory(tmp_path):
    x, y = planted(100, 200, seed=3)
    want_threshold = chosen_threshold(*bests(x, y), AUTO, fallback=1.4)
    want = sorted((f"de{p.src:04d}", f"en{p.tgt:04d}") for p in mine(x, y, threshold=AUTO, fallback=1.4))
    rows = ([{"id": f"de{i:04d}", "lang": "de", "vector": v} for i, v in enumerate(x)]
            + [{"id": f"en{i:04d}", "lang": "en", "vector": v} for i, v in enumerate(y)])
    choices = tmp_path / "thresholds.jsonl"
    with TestPipeline(runner="FnApiRunner") as p:
        shards = p | beam.Create(rows) | ShardEmbeddings(str(tmp_path / "embeddings"), DIM, BUDGET)
        indexes = shards | BuildIndex(str(tmp_path / "index"), "flat")
        blocks = (shards, indexes) | NearestNeighbours([("de", "en")], k=4, nprobe=1)
        mined = (blocks | MarginMine([("de", "en")], "ratio", "max", AUTO, fallback=1.4,
                                     choices_path=str(choices))).pairs

        assert_that(mined, same_ids(want))
    choice, = [json.loads(line) for line in choices.read_text().splitlines()]
    assert choice["pair"] == "de-en" and choice["chosen"] == "auto"
    assert abs(choice["threshold"] - want_threshold) < 1e-3 and choice["estimated_precision"] > 0.9
    assert choice["best_candidates"] == len(x) + len(y) and sum(choice["histogram"]["counts"]) == len(x) + len(y)


def test_beam_fixed_threshold_records_its_estimated_precision(tmp_path):
    x, y = planted(60, 240, seed=4)
    rows = ([{"id": f"de{i:04d}", "lang": "de", "vector": v} for i, v in enumerate(x)]
            + [{"id": f"en{i:04d}", "lang": "en", "vector": v} for i, v in enumerate(y)])
    choices = tmp_path / "thresholds.jsonl"
    want = sorted((f"de{p.src:04d}", f"en{p.tgt:04d}") for p in mine(x, y, threshold=1.3))
    with TestPipeline(runner="FnApiRunner") as p:
        shards = p | beam.Create(rows) | ShardEmbeddings(str(tmp_path / "embeddings"), DIM, BUDGET)
        indexes = shards | BuildIndex(str(tmp_path / "index"), "flat")
        blocks = (shards, indexes) | NearestNeighbours([("de", "en")], k=4, nprobe=1)
        mined = (blocks | MarginMine([("de", "en")], "ratio", "max", 1.3, fallback=1.4,
                                     choices_path=str(choices))).pairs
        assert_that(mined, same_ids(want))
    choice, = [json.loads(line) for line in choices.read_text().splitlines()]
    assert choice["chosen"] == "fixed" and choice["threshold"] == 1.3 and 0 < choice["estimated_precision"] <= 1


def test_the_cosine_floor_drops_isolated_pairs_in_memory_and_in_beam_alike(tmp_path):
    """Pairs that score far above the margin threshold only because nothing else is near them (cosine 0.4-0.6
    among translations at ~0.9) are mined at a fixed threshold and dropped by the automatic one's cosine floor (as are chance pairs of
    random sentences above it);
    Beam keeps what mine() keeps and records the floor and how many it dropped."""
    x, y = with_isolated_pairs(*planted(100, 200, seed=5), n=3)
    isolated = {(i, i) for i in range(300, 303)}
    threshold = chosen_threshold(*bests(x, y), AUTO, fallback=1.4)
    fixed = {(p.src, p.tgt): p for p in mine(x, y, threshold=threshold)}
    assert isolated <= fixed.keys()
    assert all(fixed[key].cosine < 0.6 and fixed[key].score > threshold + 0.3 for key in isolated)
    kept = mine(x, y, threshold=AUTO, fallback=1.4)
    dropped = fixed.keys() - {(p.src, p.tgt) for p in kept}
    assert isolated <= dropped and not any(src == tgt < 100 for src, tgt in dropped)   # no translation is lost
    below, lowest_kept = max(fixed[key].cosine for key in dropped), min(p.cosine for p in kept)
    rows = ([{"id": f"de{i:04d}", "lang": "de", "vector": v} for i, v in enumerate(x)]
            + [{"id": f"en{i:04d}", "lang": "en", "vector": v} for i, v in enumerate(y)])
    choices = tmp_path / "thresholds.jsonl"
    with TestPipeline(runner="FnApiRunner") as p:
        shards = p | beam.Create(rows) | ShardEmbeddings(str(tmp_path / "embeddings"), DIM, BUDGET)
        indexes = shards | BuildIndex(str(tmp_path / "index"), "flat")
        blocks = (shards, indexes) | NearestNeighbours([("de", "en")], k=4, nprobe=1)
        mined = (blocks | MarginMine([("de", "en")], "ratio", "max", AUTO, fallback=1.4,
                                     choices_path=str(choices))).pairs
        assert_that(mined, same_ids(sorted((f"de{p.src:04d}", f"en{p.tgt:04d}") for p in kept)))
    choice, = [json.loads(line) for line in choices.read_text().splitlines()]
    assert below < choice["cosine_floor"] <= lowest_kept and choice["below_cosine_floor"] == len(dropped)
