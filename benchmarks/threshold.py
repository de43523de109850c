"""Automatic per-pair thresholds (transforms/threshold.py) against each set's best threshold and the fixed 1.40.

Columns: best F1 (each set's own best threshold, an oracle), F1 at the fixed 1.40, the mixture's estimated
translation share (est w), the mixture alone (choose: threshold, F1, estimated and true precision), and the
default `auto` (choose_guarded: the mixture where trusted, else never below 1.40).

`python -m benchmarks.threshold --out benchmarks/results/threshold.txt`

Sets with complete gold from FLORES devtest alone (n-way parallel, in document order): lines are cut into
blocks of BLOCK consecutive lines (stand-ins for documents, whose boundaries the shared data does not
carry), shuffled; the gold blocks go to both sides, the others to one side each, so no distractor has a
translation on the other side. muse vectors, k=4, ratio margin, max retrieval, in memory (margin.py).
"""
from __future__ import annotations

import argparse
import random

import numpy as np

from benchmarks.bucc import DATA, flores_path, read_lines
from benchmarks.publish import publish
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, load_encoder
from parabeam.transforms.knn import knn
from parabeam.transforms.margin import best_candidates, neighbourhood_means, select
from parabeam.transforms.threshold import choose, choose_guarded, histogram

BLOCK = 10
K = 4
LANGS = ("de", "fr", "ru", "zh", "ja", "ar")
DENSITIES = (0.03, 0.10, 0.25, 0.50)
SEEDS = (0, 1, 2)


def flores_set(n_lines: int, density: float, seed: int) -> tuple[list[int], list[int]]:
    """(source line numbers, target line numbers): a `density` share of each side is gold."""
    blocks = [list(range(i, min(i + BLOCK, n_lines))) for i in range(0, n_lines, BLOCK)]
    random.Random(seed).shuffle(blocks)
    lines = [i for block in blocks for i in block]
    side = int(n_lines / (2 - density))
    gold, distractors = round(density * side), side - round(density * side)
    rest = lines[gold:]
    return lines[:gold] + rest[:distractors], lines[:gold] + rest[distractors:2 * distractors]


def evaluate(x: np.ndarray, y: np.ndarray, src: list[int], tgt: list[int]) -> dict[str, float]:
    x2y_sim, x2y_ind = knn(x, y, K)
    y2x_sim, y2x_ind = knn(y, x, K)
    x_mean, y_mean = neighbourhood_means(x2y_sim), neighbourhood_means(y2x_sim)
    fwd = best_candidates(x2y_sim, x2y_ind, x_mean, y_mean, "ratio")
    bwd = best_candidates(y2x_sim, y2x_ind, y_mean, x_mean, "ratio")
    pairs = select(fwd, bwd, "max", -np.inf)
    scores = np.array([pair.score for pair in pairs])
    hit = np.array([src[pair.src] == tgt[pair.tgt] for pair in pairs])
    n_gold = len(set(src) & set(tgt))

    def at(threshold: float) -> tuple[float, float]:
        kept = scores > threshold
        return 2 * (hit & kept).sum() / (kept.sum() + n_gold), (hit & kept).sum() / max(kept.sum(), 1)

    distinct = np.unique(scores)
    best = max(at(t)[0] for t in np.concatenate([(distinct[1:] + distinct[:-1]) / 2, [distinct[0] - 1]]))
    counts = histogram(np.concatenate([fwd.score, bwd.score]))
    choice = choose(counts)
    guarded = choose_guarded(counts, MUSE_DEFAULT_THRESHOLD)
    f1, precision = at(choice.threshold)
    g_f1, g_precision = at(guarded.threshold)
    return {"best_f1": best, "weight": choice.mixture.weight, "auto_t": choice.threshold, "auto_f1": f1,
            "est_p": choice.precision, "true_p": precision, "fixed_f1": at(MUSE_DEFAULT_THRESHOLD)[0],
            "g_t": guarded.threshold, "g_f1": g_f1, "g_est_p": guarded.precision, "g_true_p": g_precision}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    encoder = load_encoder("muse")
    vectors = {lang: encoder.encode(read_lines(flores_path(DATA, lang))) for lang in ("en", *LANGS)}
    lines = [f"{'density':>7} {'pair':>5} {'seed':>4} {'best F1':>7} {'F1@' + str(MUSE_DEFAULT_THRESHOLD):>7} "
             f"{'est w':>5} {'mix t':>6} {'mix F1':>6} {'est P':>5} {'true P':>6} "
             f"{'auto t':>6} {'auto F1':>7} {'est P':>5} {'true P':>6}"]
    for density in DENSITIES:
        rows = []
        for lang in LANGS:
            for seed in SEEDS:
                src, tgt = flores_set(len(vectors["en"]), density, seed)
                row = evaluate(vectors[lang][src], vectors["en"][tgt], src, tgt)
                rows.append(row)
                lines.append(f"{density:>7.2f} {lang + '-en':>5} {seed:>4} {row['best_f1']:>7.3f} "
                             f"{row['fixed_f1']:>7.3f} {row['weight']:>5.3f} {row['auto_t']:>6.3f} "
                             f"{row['auto_f1']:>6.3f} {row['est_p']:>5.3f} {row['true_p']:>6.3f} {row['g_t']:>6.3f} "
                             f"{row['g_f1']:>7.3f} {row['g_est_p']:>5.3f} {row['g_true_p']:>6.3f}")
        mean = {key: np.mean([row[key] for row in rows]) for key in rows[0]}
        gap = {key: max(row["best_f1"] - row[key] for row in rows) for key in ("fixed_f1", "auto_f1", "g_f1")}
        lines.append(f"{density:>7.2f}  mean: best F1 {mean['best_f1']:.3f}; fixed {MUSE_DEFAULT_THRESHOLD}: F1 "
                     f"{mean['fixed_f1']:.3f} (mean gap {mean['best_f1'] - mean['fixed_f1']:.3f}, largest "
                     f"{gap['fixed_f1']:.3f}); mixture alone: F1 {mean['auto_f1']:.3f} (mean gap "
                     f"{mean['best_f1'] - mean['auto_f1']:.3f}, largest {gap['auto_f1']:.3f}); auto (guarded): F1 "
                     f"{mean['g_f1']:.3f} (mean gap {mean['best_f1'] - mean['g_f1']:.3f}, largest {gap['g_f1']:.3f}), "
                     f"est P {mean['g_est_p']:.3f} vs true P {mean['g_true_p']:.3f}; est weight {mean['weight']:.3f}")
    publish("threshold", "\n".join(lines), args.out)


if __name__ == "__main__":
    main()
