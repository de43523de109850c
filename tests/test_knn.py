import functools

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parabeam.transforms import knn as knn_module
from parabeam.transforms.knn import (MIN_POINTS_PER_CENTROID, TRAIN_POINTS_PER_LIST, TRAIN_SAMPLE, Neighbours,
                                    TopK, assign, build_index, choose_index, default_nlist, knn, merge_topk,
                                    search, train_index, train_memory_bytes, train_size_for,
                                    two_level_centroids)

# Small integer vectors: every inner product is exact in float32, whatever order FAISS sums in, and ties
# are frequent, so results can be compared exactly.
DIM = 3


def int_vectors(min_rows: int, max_rows: int):
    return st.integers(min_rows, max_rows).flatmap(
        lambda n: arrays(np.float32, (n, DIM), elements=st.integers(-2, 2).map(float)))


def reference_topk(queries, targets, k, mask=0.0):
    """Exact top-k by inner product, ties to the lower index; `mask` (-inf) hides targets from a query."""
    sims = queries @ targets.T + mask
    ids = np.broadcast_to(np.arange(len(targets)), sims.shape)
    order = np.lexsort((ids, -sims), axis=-1)[:, :k]
    return np.take_along_axis(sims, order, axis=-1), order


def test_ties_go_to_the_lower_target_index():
    targets = np.ones((100, DIM), dtype=np.float32)
    queries = np.ones((30, DIM), dtype=np.float32)
    sims, ids = knn(queries, targets, 5)
    assert (ids == np.arange(5)).all() and (sims == DIM).all()
    assert sims.dtype == np.float32 and ids.dtype == np.int64


def test_tie_reaching_past_the_slack_is_searched_again():
    targets = np.concatenate([np.full((40, DIM), 1.0), np.full((60, DIM), 2.0)]).astype(np.float32)
    _sims, ids = knn(np.ones((1, DIM), dtype=np.float32), targets[::-1].copy(), 3)
    assert ids.tolist() == [[0, 1, 2]]   # the 60 equal best are rows 0..59 after reversing


@settings(max_examples=60, deadline=None)
@given(queries=int_vectors(1, 25), targets=int_vectors(1, 40), k=st.integers(1, 10))
def test_knn_is_exact_with_id_tie_break(queries, targets, k):
    sims, ids = knn(queries, targets, k)
    want_sims, want_ids = reference_topk(queries, targets, k)
    np.testing.assert_array_equal(sims, want_sims)
    np.testing.assert_array_equal(ids, want_ids)


@settings(max_examples=60, deadline=None)
@given(queries=int_vectors(1, 6), targets=int_vectors(1, 40), k=st.integers(1, 8), data=st.data())
def test_merging_shard_topk_equals_topk_of_union(queries, targets, k, data):
    shard_of = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(targets), max_size=len(targets))))
    parts = []
    for shard in np.unique(shard_of):
        members = np.flatnonzero(shard_of == shard)
        sims, local = knn(queries, targets[members], k)
        parts.append((sims, members[local]))
    merged = merge_topk(parts, k)
    whole = knn(queries, targets, k)
    np.testing.assert_array_equal(merged[0], whole[0])
    np.testing.assert_array_equal(merged[1], whole[1])
    for q in range(len(queries)):   # one query at a time, as 1-D lists
        one = merge_topk([(sims[q], ids[q]) for sims, ids in parts], k)
        np.testing.assert_array_equal(one[1], whole[1][q])


@settings(max_examples=60, deadline=None)
@given(queries=int_vectors(1, 6), targets=int_vectors(1, 40), k=st.integers(1, 8), data=st.data())
def test_topk_combiner_over_shard_blocks_equals_topk_of_union(queries, targets, k, data):
    """The Beam combiner, fed per-shard neighbour blocks (string ids) in any order and grouping, gives the
    top-k of one search over all targets, and says which shard each neighbour is in."""
    shard_of = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(targets), max_size=len(targets))))
    names = np.array([f"t{i:03d}" for i in range(len(targets))])
    query_ids = np.array([f"q{i}" for i in range(len(queries))])
    blocks = []
    for shard in np.unique(shard_of):
        members = np.flatnonzero(shard_of == shard)
        sims, local = knn(queries, targets[members], k)
        blocks.append(Neighbours(query_ids, sims, names[members][local], np.zeros(local.shape, np.int16),
                                 (f"shard-{shard}",)))
    order = data.draw(st.permutations(range(len(blocks))))
    split = data.draw(st.integers(0, len(blocks)))
    combine = TopK(k)
    parts = [functools.reduce(combine.add_input, [blocks[i] for i in part], combine.create_accumulator())
             for part in (order[:split], order[split:])]
    merged = combine.extract_output(combine.merge_accumulators(parts))
    want_sims, want = knn(queries, targets, k)
    np.testing.assert_array_equal(merged.sims, want_sims)
    np.testing.assert_array_equal(merged.targets, names[want])
    np.testing.assert_array_equal(merged.ids, query_ids)
    assert [[merged.shards[o] for o in row] for row in merged.origin] == \
        [[f"shard-{shard_of[i]}" for i in row] for row in want]


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_search_over_lists_assigned_once_equals_plain_search(kind):
    """The pipeline assigns each query shard to IVF lists once and scans every index shard with them."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((10_000, 64)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = build_index(data, kind, nlist=32, m=8, nprobe=4)
    queries = data[:300] + 0.1 * rng.standard_normal((300, 64)).astype(np.float32)
    want_sims, want_ids = search(index, queries, 4)
    sims, ids = search(index, queries, 4, assign(index, queries, 4))
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(sims, want_sims, rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(queries=int_vectors(1, 30), targets=int_vectors(1, 60), k=st.integers(1, 6), nprobe=st.integers(1, 4),
       masked=st.integers(0, 3), batch=st.sampled_from([1, 3, 1000]), data=st.data())
def test_scan_by_list_is_the_exact_topk_of_the_probed_lists(queries, targets, k, nprobe, masked, batch, data):
    """An IVF-Flat index searched with its lists assigned in advance (list by list, in batches of queries) returns
    the top-k of the vectors in the probed lists, ties to the lower id, padded with -inf / -1, as an exact search
    over those vectors; lists masked to -1 (another index shard's range) are not scanned."""
    nlist = 4
    quantizer = faiss.IndexFlatIP(DIM)
    quantizer.add(np.eye(DIM + 1, DIM, dtype=np.float32)[:nlist] - np.float32(0.5))
    index = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    index.add(targets)
    probed = np.array([data.draw(st.permutations(range(nlist)))[:nprobe] for _ in queries], dtype=np.int64)
    probed[probed < masked] = -1   # as assign's lists are masked to another index shard's range
    _dist, lists = quantizer.search(targets, 1)
    reachable = (lists[:, 0][None, :, None] == probed[:, None, :]).any(axis=2)
    want_sims, want_ids = reference_topk(queries, targets, min(k, len(targets)), np.where(reachable, 0, -np.inf))
    want_ids = np.where(np.isinf(want_sims), -1, want_ids)
    saved, knn_module.SCAN_BATCH_BYTES = knn_module.SCAN_BATCH_BYTES, batch * 8 * nprobe * k
    try:
        got_sims, got_ids = search(index, queries, k, (np.zeros(probed.shape, dtype=np.float32), probed))
    finally:
        knn_module.SCAN_BATCH_BYTES = saved
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got_sims, want_sims.astype(np.float32))


def test_k_is_capped_by_the_number_of_targets():
    targets = np.eye(DIM, dtype=np.float32)
    sims, ids = knn(targets, targets, 10)
    assert sims.shape == ids.shape == (DIM, DIM)
    assert (ids[:, 0] == np.arange(DIM)).all()
    assert knn(targets, targets[:0], 4)[1].shape == (DIM, 0)
    with pytest.raises(ValueError):
        merge_topk([], 3)


def test_index_choice_follows_stopes_table():
    assert choose_index(10_000) == "flat"
    assert choose_index(10_001) == "ivf"
    # stopes' table, capped only by the corpus (39 points a list): 10,001 -> 256 lists, 250,001 -> 6,410
    assert [default_nlist(n) for n in (10_001, 80_000, 80_001, 250_001, 4_000_001, 500_000_001)] == [
        256, 1024, 2048, 6410, 32768, 262144]


def test_training_sample_grows_with_the_list_count():
    # the old fixed 200k sample capped every corpus at 5,128 lists; now the sample follows nlist
    assert default_nlist(1_000_000) == 16_384 and default_nlist(100_000_001) == 131_072
    assert train_size_for(16_384) == 16_384 * TRAIN_POINTS_PER_LIST > 200_000
    assert train_size_for(10**6) == TRAIN_SAMPLE
    assert all(train_size_for(default_nlist(n)) >= MIN_POINTS_PER_CENTROID * default_nlist(n)
               for n in (20_000, 300_000, 5_000_000, 50_000_000))
    assert train_memory_bytes(1_000_000, 512, 16_384) < 4e9


def test_two_level_kmeans_gives_every_list_a_unit_centroid(unit_vectors):
    centroids = two_level_centroids(unit_vectors[:12_000], 300)
    assert centroids.shape == (300, 32)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-4)
    index = train_index(unit_vectors[:12_000], "ivf", 12_000, nlist=300)
    assert faiss.extract_index_ivf(index).nlist == 300 and index.is_trained


def test_hnsw_quantizer_probing_every_list_is_exact(unit_vectors, monkeypatch):
    monkeypatch.setattr(knn_module, "HNSW_FROM_NLIST", 16)
    index = build_index(unit_vectors[:4000], "ivf", nlist=32, nprobe=32)
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(index).quantizer)
    assert isinstance(quantizer, faiss.IndexHNSW) and quantizer.hnsw.efSearch >= 64
    queries = unit_vectors[4000:4200]
    got = search(index, queries, 4, assign(index, queries, 32))
    want = knn(queries, unit_vectors[:4000], 4)
    np.testing.assert_array_equal(got[1], want[1])


def low_rank_unit_vectors(n: int, dim: int, rank: int, seed: int) -> np.ndarray:
    """Unit vectors whose energy lies mostly in `rank` of `dim` directions, as sentence embeddings' does."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, dim)) + 0.3 * rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_projected_quantizer_from_its_list_count_keeps_recall(monkeypatch):
    """From PROJECT_FROM_NLIST lists an IVF-Flat index assigns in the centroids' top dim / 2 directions: it
    survives a write and a load, probing every list is still exact, and at a partial nprobe its recall@4 is
    within 0.01 of the same lists assigned exactly. Below the count, and for PQ codes, the quantizer is flat."""
    vectors = low_rank_unit_vectors(12_000, 64, 12, seed=1)
    targets, queries = vectors[:10_000], vectors[10_000:]
    exact = knn(queries, targets, 4)[1]
    flat = build_index(targets, "ivf", nlist=64, nprobe=8)
    monkeypatch.setattr(knn_module, "PROJECT_FROM_NLIST", 64)
    assert not knn_module._projected(build_index(targets, "ivf", nlist=32, nprobe=8))
    assert not knn_module._projected(train_index(targets, "ivfpq", len(targets), nlist=64, m=8))
    projected = build_index(targets, "ivf", nlist=64, nprobe=8)
    assert knn_module._projected(projected) and not knn_module._projected(flat)
    loaded = faiss.deserialize_index(faiss.serialize_index(projected))
    assert knn_module._projected(loaded)
    np.testing.assert_array_equal(assign(loaded, queries, 8)[1], assign(projected, queries, 8)[1])

    def recall(index, nprobe):
        found = search(index, queries, 4, assign(index, queries, nprobe))[1]
        return np.mean([len(set(a) & set(b)) / 4 for a, b in zip(found, exact)])

    assert recall(projected, 64) == 1.0
    assert recall(projected, 8) >= recall(flat, 8) - 0.01 and recall(flat, 8) < 1.0


@pytest.fixture(scope="module")
def unit_vectors():
    vectors = np.random.default_rng(0).standard_normal((15_000, 32)).astype(np.float32)
    faiss.normalize_L2(vectors)
    return vectors


def test_ivf_searching_every_list_is_exact(unit_vectors):
    index = build_index(unit_vectors[:4000], "ivf", nlist=16, nprobe=16)
    assert faiss.extract_index_ivf(index).nprobe == 16
    queries = unit_vectors[4000:4200]
    got = search(index, queries, 4)
    want = knn(queries, unit_vectors[:4000], 4)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)


def test_ivfpq_finds_near_duplicates(unit_vectors):
    vectors = unit_vectors[:2000]
    index = build_index(vectors, "ivfpq", nlist=8, m=4, nprobe=4)
    assert faiss.extract_index_ivf(index).nprobe == 4 and index.ntotal == len(vectors)
    rng = np.random.default_rng(1)
    queries = vectors[:200] + 0.01 * rng.standard_normal((200, 32)).astype(np.float32)
    _sims, ids = search(index, queries, 1)
    assert (ids[:, 0] == np.arange(200)).mean() > 0.9


def test_default_nlist_is_capped_for_small_sets(unit_vectors):
    index = build_index(unit_vectors, "ivf")
    assert faiss.extract_index_ivf(index).nlist == 15_000 // 39
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index(unit_vectors, "hnsw")


def _mined(x2y, y2x, threshold=1.0):
    from parabeam.transforms.margin import best_candidates, select
    x_mean, y_mean = x2y[0].mean(axis=1), y2x[0].mean(axis=1)
    fwd = best_candidates(*x2y, x_mean, y_mean, "ratio")
    bwd = best_candidates(*y2x, y_mean, x_mean, "ratio")
    return sorted((pair.src, pair.tgt, round(float(pair.score), 6)) for pair in select(fwd, bwd, "max", threshold))


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_refresh_merges_to_a_full_search_and_the_same_bitext(unit_vectors, kind):
    """Old sentences mined, then 10% new on both sides: the old queries' stored lists merged with their
    search over the new vectors only, and the new queries searched over everything, equal one search over
    all targets with the same trained index; margins from them give the same pairs as mining from scratch."""
    from parabeam.transforms.knn import refresh_lists, search_parts
    rng = np.random.default_rng(3)
    x = unit_vectors[:3300]
    y = x + 0.15 * rng.standard_normal(x.shape).astype(np.float32)   # translations of x, noisy
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    y = y[rng.permutation(len(y))]
    old, k = 3000, 4
    template = {side: train_index(v[:old], kind, old, nlist=24, nprobe=6) for side, v in (("x", x), ("y", y))}

    def parts(side, vectors, rows):
        index = faiss.clone_index(template[side])
        index.add(vectors[rows])
        knn_module.set_nprobe(index, 6)
        return [(index, np.asarray(rows, dtype=np.int64))]

    old_rows, new_rows = np.arange(old), np.arange(old, len(x))
    stored = {"x2y": search_parts(parts("y", y, old_rows), x[:old], k),
              "y2x": search_parts(parts("x", x, old_rows), y[:old], k)}
    refreshed = {}
    for name, queries, side, targets in (("x2y", x, "y", y), ("y2x", y, "x", x)):
        merged_old, new = refresh_lists(stored[name], queries[:old], queries[old:], parts(side, targets, old_rows),
                                        parts(side, targets, new_rows), k)
        refreshed[name] = tuple(np.concatenate(pair) for pair in zip(merged_old, new))
        full = search_parts(parts(side, targets, np.arange(len(targets))), queries, k)
        np.testing.assert_array_equal(refreshed[name][1], full[1])
        np.testing.assert_allclose(refreshed[name][0], full[0], atol=1e-6)
    scratch = {name: search_parts(parts(side, t, np.arange(len(t))), q, k)
               for name, q, side, t in (("x2y", x, "y", y), ("y2x", y, "x", x))}
    assert _mined(refreshed["x2y"], refreshed["y2x"]) == _mined(scratch["x2y"], scratch["y2x"])
    assert len(_mined(scratch["x2y"], scratch["y2x"])) > 1000


def test_retrain_rule():
    from parabeam.transforms.knn import needs_retrain
    assert not needs_retrain(400_000, 440_000)          # 10% more: same 8,192 lists
    assert needs_retrain(400_000, 800_000)              # stopes asks for 16,384
    assert needs_retrain(9_000, 11_000)                 # flat -> ivf
    assert not needs_retrain(5_000, 50_000, kind="flat")
    assert not needs_retrain(1_000_000, 3_900_000) and needs_retrain(1_000_000, 4_100_000)


@pytest.mark.parametrize("projected", [False, True])
def test_ivf_index_shards_split_the_lists_and_search_like_one_index(unit_vectors, tmp_path, monkeypatch, projected):
    """BuildIndex over four embedding shards a language: four index shards, each holding every vector of a
    range of lists (together all lists, each vector once; the piece files gone), and NearestNeighbours over
    them, probing 3 lists of 61, returns exactly what the trained index filled with every vector returns,
    also when the quantizer assigns in a projection (vectors routed and queries assigned alike)."""
    monkeypatch.setattr(knn_module, "PROJECT_FROM_NLIST", 16 if projected else knn_module.PROJECT_FROM_NLIST)
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    from parabeam.transforms.embedding_store import ShardEmbeddings, read_shard
    from parabeam.transforms.knn import BuildIndex, NearestNeighbours, _load_index, read_block, set_nprobe, write_block
    dim, n, k, nprobe = unit_vectors.shape[1], 2400, 4, 3
    noisy = unit_vectors[:n] + 0.1 * np.random.default_rng(5).standard_normal((n, dim)).astype(np.float32)
    sides = {"de": unit_vectors[:n], "en": noisy / np.linalg.norm(noisy, axis=1, keepdims=True)}
    rows = [{"id": f"{lang}{i:05d}", "lang": lang, "vector": v} for lang, vectors in sides.items()
            for i, v in enumerate(vectors)]
    blocks_dir = tmp_path / "blocks"
    with TestPipeline(runner="FnApiRunner") as p:
        shards = p | beam.Create(rows) | ShardEmbeddings(str(tmp_path / "embeddings"), dim, 600 * dim * 32)
        indexes = shards | BuildIndex(str(tmp_path / "index"), "ivf")
        blocks = (shards, indexes) | NearestNeighbours([("de", "en")], k=k, nprobe=nprobe)
        _ = blocks | beam.MapTuple(lambda key, block: write_block(
            str(blocks_dir / f"{key[0]}-{key[1]}" / key[2].rsplit("/", 1)[-1]), block))
    for lang in sides:
        folder = tmp_path / "index" / lang
        trained = _load_index(str(folder / "trained-ivf.faiss"))
        nlist = faiss.extract_index_ivf(trained).nlist
        assert knn_module._projected(trained) == projected
        held, seen = np.zeros(nlist, dtype=bool), []
        parts = sorted(folder.glob("lists-*.faiss"))
        assert len(parts) == 4 and nlist == 61 and not list((folder / "pieces").glob("*"))
        for part in parts:
            index = _load_index(str(part))   # held: the inverted lists belong to it
            invlists = faiss.extract_index_ivf(index).invlists
            sizes = np.array([invlists.list_size(number) for number in range(nlist)])
            first, end = (int(bound) for bound in part.stem.split("-")[1:])
            assert not sizes[:first].any() and not sizes[end:].any() and not held[first:end].any()
            held[first:end] = True
            seen.extend(np.load(part.with_suffix(".npz"))["ids"].tolist())
        assert held.all() and sorted(seen) == [f"{lang}{i:05d}" for i in range(n)]
    # the same trained index filled with every English vector, as stored (float16), in id order
    targets = [read_shard(str(path)) for path in sorted((tmp_path / "embeddings" / "en").glob("*.npz"))]
    target_ids = np.concatenate([ids for ids, _vectors in targets])
    whole = _load_index(str(tmp_path / "index" / "en" / "trained-ivf.faiss"))
    whole.add(np.concatenate([vectors for _ids, vectors in targets]))
    set_nprobe(whole, nprobe)
    checked = 0
    for path in sorted((blocks_dir / "de-en").glob("*.npz")):
        block = read_block(str(path))
        _ids, queries = read_shard(str(tmp_path / "embeddings" / "de" / path.name))
        sims, positions = search(whole, queries, k)
        np.testing.assert_array_equal(block.targets, np.char.encode(target_ids[positions]))
        np.testing.assert_allclose(block.sims, sims, atol=1e-6)
        checked += len(queries)
    assert checked == n
