"""The automatic threshold's mixture fit and choice (transforms/threshold.py), on synthetic scores."""
from __future__ import annotations

import numpy as np

from parabeam.transforms.threshold import (MIN_FLOOR_PAIRS, N_BINS, auto_threshold, below_floor, choose,
                                           choose_guarded, cosine_floor, cosine_histogram, dense, fit_mixture,
                                           histogram, precision_at, sparse, trusted)


def two_bumps(n_high: int, n_low: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(np.concatenate([rng.normal(np.log(1.5), 0.05, n_high), rng.normal(np.log(1.05), 0.04, n_low)]))


def test_the_mixture_recovers_share_and_components():
    mixture = fit_mixture(histogram(two_bumps(500, 500)))
    assert abs(mixture.weight - 0.5) < 0.02
    assert abs(np.exp(mixture.high_mean) - 1.5) < 0.01 and abs(np.exp(mixture.low_mean) - 1.05) < 0.01


def test_the_threshold_lies_between_the_bumps_with_high_estimated_precision():
    choice = auto_threshold(two_bumps(100, 900))
    assert 1.15 < choice.threshold < 1.4 and choice.precision > 0.99 and choice.recall > 0.99


def test_a_precision_target_gives_the_lowest_threshold_reaching_it():
    scores = two_bumps(100, 900)
    loose, strict = auto_threshold(scores, 0.9), auto_threshold(scores, 0.999)
    assert loose.threshold <= strict.threshold and strict.precision >= 0.999


def test_too_few_scores_give_no_threshold():
    assert auto_threshold(np.array([1.2, 1.3, np.inf, -np.inf])) is None


def test_histograms_add_up_like_the_scores_they_count():
    """What Beam adds up per block is what the in-memory choice counts at once."""
    a, b = two_bumps(60, 400, seed=1), two_bumps(40, 500, seed=2)
    total = histogram(a) + histogram(b)
    assert total.shape == (N_BINS,) and total.sum() == len(a) + len(b)
    assert np.array_equal(total, histogram(np.concatenate([a, b])))
    assert choose(total) == auto_threshold(np.concatenate([a, b]))
    assert np.array_equal(dense(sparse(total)), total)


def test_non_positive_and_infinite_scores_are_not_counted():
    assert histogram(np.array([-1.0, 0.0, np.inf, -np.inf, np.nan, 1.2])).sum() == 1


def test_estimated_precision_at_a_fixed_threshold():
    counts = histogram(two_bumps(100, 900))
    assert precision_at(counts, 1.3) > 0.99 > precision_at(counts, 1.05)
    assert precision_at(counts, -1e9) is None and precision_at(histogram(np.array([1.2])), 1.3) is None


def test_the_default_auto_threshold_trusts_a_dense_distinct_bump_and_otherwise_only_raises_the_default():
    dense = choose_guarded(histogram(two_bumps(500, 500)), 1.4)
    assert trusted(dense.mixture) and dense.threshold < 1.4 and dense.precision > 0.99
    sparse_pair = choose_guarded(histogram(two_bumps(30, 1500)), 1.4)
    assert not trusted(sparse_pair.mixture) and sparse_pair.threshold >= 1.4
    assert choose_guarded(histogram(two_bumps(10, 100)), 1.4) is None   # too few: the caller's default


def test_the_cosine_floor_is_the_median_less_three_and_a_half_robust_deviations():
    """Cosines 0.70 +- 0.05 (uniform: MAD 0.025) and two outliers: the floor is 0.70 - 3.5 x 1.4826 x 0.025
    = 0.570, a bin edge at or below it; only the outliers fall below it, and the count of them is exact."""
    cosines = np.concatenate([np.linspace(0.65, 0.75, 201), [0.30, 0.52]])
    floor = cosine_floor(cosine_histogram(cosines))
    assert 0.568 <= floor <= 0.5703
    assert below_floor(cosine_histogram(cosines), floor) == int((cosines < floor).sum()) == 2


def test_no_cosine_floor_from_too_few_candidates():
    few = np.linspace(0.6, 0.8, MIN_FLOOR_PAIRS - 1)
    assert cosine_floor(cosine_histogram(few)) is None and below_floor(cosine_histogram(few), None) == 0
    assert cosine_floor(cosine_histogram(np.append(few, 0.1))) is not None
