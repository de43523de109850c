"""Test oracle: LASER's source/mine_bitexts.py (`--mode mine`) restated in plain numpy, loops and all, sharing
no code with transforms/knn.py or transforms/margin.py.

Where LASER leaves ties to chance it is made deterministic the way parabeam documents it: kNN ties by lower
index (stable argsort), max-mode ties by lower source, then lower target index. Two extensions of LASER, both as parabeam
specifies: the threshold applies in every retrieval mode (LASER applies it in max mode only), and each pair
carries its cosine and direction ("fwd"/"bwd"/"both": which sides' best candidate it is).
"""
from __future__ import annotations

import numpy as np


def knn_bruteforce(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = x @ y.T
    ind = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, ind, axis=1), ind


def laser_margin(kind: str):
    if kind == "absolute":
        return lambda a, b: a
    if kind == "distance":
        return lambda a, b: a - b
    return lambda a, b: a / b


def score(x, y, fwd_mean, bwd_mean, margin):
    return margin(x.dot(y), (fwd_mean + bwd_mean) / 2)


def score_candidates(x, y, candidate_inds, fwd_mean, bwd_mean, margin):
    scores = np.zeros(candidate_inds.shape)
    for i in range(scores.shape[0]):
        for j in range(scores.shape[1]):
            k = candidate_inds[i, j]
            scores[i, j] = score(x[i], y[k], fwd_mean[i], bwd_mean[k], margin)
    return scores


def laser_mine(x: np.ndarray, y: np.ndarray, k: int, margin_kind: str, retrieval: str,
               threshold: float) -> list[tuple[int, int, float, float, str]]:
    x2y_sim, x2y_ind = knn_bruteforce(x, y, min(y.shape[0], k))
    x2y_mean = x2y_sim.mean(axis=1)
    y2x_sim, y2x_ind = knn_bruteforce(y, x, min(x.shape[0], k))
    y2x_mean = y2x_sim.mean(axis=1)
    margin = laser_margin(margin_kind)

    fwd_scores = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean, margin)
    bwd_scores = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean, margin)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd_scores.argmax(axis=1)]

    def pair(s, src_ind, trg_ind):
        direction = {(True, True): "both", (True, False): "fwd", (False, True): "bwd"}[
            (bool(fwd_best[src_ind] == trg_ind), bool(bwd_best[trg_ind] == src_ind))]
        return int(src_ind), int(trg_ind), float(s), float(x[src_ind].dot(y[trg_ind])), direction

    out = []
    if retrieval == "fwd":
        for i, j in enumerate(fwd_best):
            if fwd_scores[i].max() > threshold:
                out.append(pair(fwd_scores[i].max(), i, j))
    if retrieval == "bwd":
        for j, i in enumerate(bwd_best):
            if bwd_scores[j].max() > threshold:
                out.append(pair(bwd_scores[j].max(), i, j))
    if retrieval == "intersect":
        for i, j in enumerate(fwd_best):
            if bwd_best[j] == i and fwd_scores[i].max() > threshold:
                out.append(pair(fwd_scores[i].max(), i, j))
    if retrieval == "max":
        indices = np.stack((np.concatenate((np.arange(x.shape[0]), bwd_best)),
                            np.concatenate((fwd_best, np.arange(y.shape[0])))), axis=1)
        scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
        seen_src, seen_trg = set(), set()
        for i in np.lexsort((indices[:, 1], indices[:, 0], -scores)):
            src_ind, trg_ind = indices[i]
            if src_ind not in seen_src and trg_ind not in seen_trg:
                seen_src.add(src_ind)
                seen_trg.add(trg_ind)
                if scores[i] > threshold:
                    out.append(pair(scores[i], src_ind, trg_ind))
    return out
