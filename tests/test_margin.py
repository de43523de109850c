from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oracle import laser_mine
from parabeam.transforms.encoders import load_encoder
from parabeam.transforms.margin import RETRIEVALS, Best, Pair, margin_fn, mine, score_candidates, select

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLORES = DATA / "flores200_devtest"
N_PARALLEL = 300
MARGINS = ("ratio", "distance", "absolute")


@pytest.fixture(scope="session")
def flores_vectors():
    """300 German/English translation pairs (line i = line i), each side padded with 100 FLORES lines that
    have no translation on the other side. Embedded once per session."""
    if not FLORES.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    de = (FLORES / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()
    en = (FLORES / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    encoder = load_encoder("muse")
    x = encoder.encode(de[:N_PARALLEL] + de[400:500])
    y = encoder.encode(en[:N_PARALLEL] + en[600:700])
    return x, y


def on_grid(vectors: np.ndarray) -> np.ndarray:
    """Round to multiples of 2**-10: every product is then a multiple of 2**-20 and every partial sum of a
    unit-vector inner product fits float32's 24-bit mantissa, so FAISS and numpy compute identical cosines
    whatever order they sum in, and exact ties (k=1 makes every mutual best score exactly 1 under ratio,
    0 under distance) are decided by the tie rules alone, not by rounding."""
    return (np.round(vectors * 1024) / 1024).astype(np.float32)


def threshold_between(scores: list[float]) -> float:
    """A threshold in the widest gap between scores of the middle half: keeps about half the pairs, and
    no score sits within rounding distance of it."""
    middle = np.unique(np.quantile(scores, np.linspace(0.25, 0.75, 21), method="nearest"))
    widest = np.argmax(np.diff(middle))
    return float(middle[widest:widest + 2].mean())


def assert_same(got: list[Pair], want: list[tuple]):
    assert [(p.src, p.tgt, p.direction) for p in got] == [(s, t, d) for s, t, _sc, _c, d in want]
    np.testing.assert_allclose([p.score for p in got], [w[2] for w in want], rtol=0, atol=1e-6)
    np.testing.assert_allclose([p.cosine for p in got], [w[3] for w in want], rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("retrieval", RETRIEVALS)
def test_mine_equals_laser_oracle_on_flores(flores_vectors, retrieval, margin, k):
    x, y = map(on_grid, flores_vectors)
    unfiltered = mine(x, y, k, margin, retrieval, -np.inf)
    median = float(np.median([p.score for p in unfiltered]))
    for threshold in (-np.inf, 0.0, median):
        assert_same(mine(x, y, k, margin, retrieval, threshold), laser_mine(x, y, k, margin, retrieval, threshold))


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("retrieval", RETRIEVALS)
def test_mine_equals_laser_oracle_on_raw_float_vectors(flores_vectors, retrieval, margin):
    """Unrounded vectors, where FAISS and numpy cosines may differ in the last bit: k=4 has no exact ties,
    so the pairs must still match exactly, and scores to 1e-6."""
    x, y = flores_vectors
    threshold = threshold_between([p.score for p in mine(x, y, 4, margin, retrieval, -np.inf)])
    for threshold in (-np.inf, threshold):
        assert_same(mine(x, y, 4, margin, retrieval, threshold), laser_mine(x, y, 4, margin, retrieval, threshold))


def test_max_ratio_mining_recovers_the_hidden_translations(flores_vectors):
    x, y = flores_vectors
    pairs = mine(x, y, k=4, margin="ratio", retrieval="max", threshold=1.06)
    true = sum(p.src == p.tgt < N_PARALLEL for p in pairs)
    assert true >= 0.9 * N_PARALLEL and true >= 0.9 * len(pairs)
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)


def test_exact_ties_resolve_to_lower_indices():
    """Every similarity is equal: each side's best is the other side's row 0 (kNN and argmax ties to the
    lower index); in max mode the pool is (0,0)fwd, (1,0)fwd, (0,0)bwd, (0,1)bwd, all with one score;
    equal scores go by lower source then target index, so (0,0) wins and blocks the rest."""
    x = np.tile(np.array([[0.6, 0.8]], dtype=np.float32), (2, 1))
    y = x.copy()
    assert mine(x, y, k=2, retrieval="max") == [Pair(0, 0, 1.0, pytest.approx(1.0), "both")]
    assert [(p.src, p.tgt, p.direction) for p in mine(x, y, k=2, retrieval="fwd")] == [(0, 0, "both"), (1, 0, "fwd")]
    assert [(p.src, p.tgt, p.direction) for p in mine(x, y, k=2, retrieval="bwd")] == [(0, 0, "both"), (0, 1, "bwd")]
    assert [(p.src, p.tgt) for p in mine(x, y, k=2, retrieval="intersect")] == [(0, 0)]


def test_equal_scores_in_max_mode_go_by_source_then_target_index():
    """Conflicting pairs with one score: the lower source index wins, not chance or pool position."""
    fwd = Best(np.array([1, 1]), np.array([2.0, 2.0], dtype=np.float32), np.array([0.9, 0.9], dtype=np.float32))
    bwd = Best(np.array([0, 1]), np.array([2.0, 2.0], dtype=np.float32), np.array([0.9, 0.9], dtype=np.float32))
    assert [(p.src, p.tgt) for p in select(fwd, bwd, "max", 1.0)] == [(0, 0), (1, 1)]


def int_vectors(n_min, n_max):
    return st.integers(n_min, n_max).flatmap(
        lambda n: arrays(np.float32, (n, 3), elements=st.integers(1, 3).map(float)))


@settings(max_examples=80, deadline=None)
@given(x=int_vectors(1, 12), y=int_vectors(1, 12), k=st.integers(1, 5), margin=st.sampled_from(MARGINS),
       retrieval=st.sampled_from(RETRIEVALS), threshold=st.sampled_from([0.0, 1.0, 5.0]))
def test_mine_equals_oracle_under_heavy_ties(x, y, k, margin, retrieval, threshold):
    """Positive small-integer vectors: exact inner products and many exact ties, so any tie handling that
    differs from the documented one shows up as a different pair list."""
    got = mine(x, y, k, margin, retrieval, threshold)
    want = laser_mine(x, y, k, margin, retrieval, threshold)
    assert [tuple(p) for p in got] == want


@settings(max_examples=50, deadline=None)
@given(x=int_vectors(1, 12), y=int_vectors(1, 12), k=st.integers(1, 5), threshold=st.floats(0.5, 1.5))
def test_thresholding_before_the_greedy_equals_thresholding_after(x, y, k, threshold):
    everything = mine(x, y, k, "ratio", "max", -np.inf)
    assert mine(x, y, k, "ratio", "max", threshold) == [p for p in everything if p.score > threshold]


def test_margin_functions_and_candidate_scores():
    a, b = np.float32(0.8), np.float32(0.5)
    assert (margin_fn("ratio")(a, b), margin_fn("distance")(a, b), margin_fn("absolute")(a, b)) == (
        a / b, a - b, a)
    scores = score_candidates(np.array([0.4], np.float32), np.array([[0.6, 0.2]], np.float32),
                              np.array([[0.9, 0.3]], np.float32), "ratio")
    np.testing.assert_allclose(scores, [[0.9 / 0.5, 0.3 / 0.3]], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown margin"):
        margin_fn("cosine")
    with pytest.raises(ValueError, match="unknown retrieval"):
        mine(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), retrieval="both")
    assert mine(np.empty((0, 2), np.float32), np.eye(2, dtype=np.float32)) == []


def test_threshold_is_compared_in_float64_as_laser():
    """float32(1.2) is 1.2000000477: above a 1.2 threshold for LASER, equal to it in float32."""
    score = np.array([1.2, 1.1], dtype=np.float32)
    best = Best(np.array([0, 1]), score, score)
    assert [(p.src, p.tgt) for p in select(best, best, "fwd", 1.2)] == [(0, 0)]
    assert [(p.src, p.tgt) for p in select(best, best, "max", 1.2)] == [(0, 0)]
