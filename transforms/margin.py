"""Margin-based scoring and pair selection, as LASER's source/mine_bitexts.py (Artetxe & Schwenk 2019).

A candidate pair (x, y) with cosine c scores margin(c, (mean_x + mean_y) / 2), where mean_x is the mean
cosine of x's k nearest neighbours on the other side. Each sentence's best candidate is the argmax of the
scores of its k nearest neighbours (first on equal scores, as numpy's argmax).

Deterministic ties throughout: kNN ties go to the lower index (see knn.py); in `max` retrieval the pooled
candidates are sorted by score descending, then lower source index, then lower target index. The Beam
wiring (ids in place of indices: shards hold rows in id order) follows the same rules.

Pure functions only (numpy, plus knn.knn for the search), above the marker at the end; Beam wiring goes below it.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Hashable, Iterable, Iterator, NamedTuple

import apache_beam as beam
import numpy as np

from parabeam.transforms import threshold as auto
from parabeam.transforms.embedding_store import stored_vector

from parabeam.transforms.knn import Neighbours, knn

MARGINS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "ratio": lambda a, b: a / b,
    "distance": lambda a, b: a - b,
    "absolute": lambda a, b: a,
}
RETRIEVALS = ("fwd", "bwd", "max", "intersect")
AUTO = "auto"   # the threshold chosen per language pair from its own best candidates (transforms/threshold.py)


class Pair(NamedTuple):
    src: int
    tgt: int
    score: float
    cosine: float
    direction: str   # "fwd", "bwd" or "both": which sides' best candidate this pair is


class Best(NamedTuple):
    """Each query's best-scoring candidate: its index on the other side, margin score and cosine."""
    idx: np.ndarray
    score: np.ndarray
    cosine: np.ndarray


def margin_fn(kind: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """margin(a, b) for cosine a and neighbourhood mean b: ratio a/b, distance a-b, absolute a."""
    if kind not in MARGINS:
        raise ValueError(f"unknown margin {kind!r}; expected one of {', '.join(MARGINS)}")
    return MARGINS[kind]


def score_candidates(x_mean: np.ndarray, y_mean: np.ndarray, cos: np.ndarray, kind: str) -> np.ndarray:
    """Margin scores [n, k] of n queries' candidates: `x_mean` [n] is each query's neighbourhood mean,
    `y_mean` [n, k] each candidate's own neighbourhood mean, `cos` [n, k] the query-candidate cosines."""
    return margin_fn(kind)(cos, (np.asarray(x_mean)[:, None] + y_mean) / 2)


def best_candidates(sims: np.ndarray, ids: np.ndarray, x_mean: np.ndarray, y_mean: np.ndarray,
                    kind: str) -> Best:
    """Best candidate per query from its kNN (sims, ids), `y_mean` indexed by candidate id."""
    return pick_best(score_candidates(x_mean, y_mean[ids], sims, kind), sims, ids)


def pick_best(scores: np.ndarray, sims: np.ndarray, ids: np.ndarray) -> Best:
    """Each row's highest score (the first of equal ones); a missing neighbour (NaN) is never picked, and a
    row without any has score -inf."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    col = scores.argmax(axis=1)
    rows = np.arange(len(ids))
    return Best(ids[rows, col], scores[rows, col], sims[rows, col])


def neighbourhood_means(sims: np.ndarray) -> np.ndarray:
    """Mean similarity of each row's neighbours [n], float32, skipping missing (NaN) ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a row with no neighbour at all: NaN
        return np.nanmean(sims, axis=1)


def check_retrieval(retrieval: str) -> None:
    if retrieval not in RETRIEVALS:
        raise ValueError(f"unknown retrieval {retrieval!r}; expected one of {', '.join(RETRIEVALS)}")


# The candidates each retrieval may keep, by the directions that found them.
KEEP = {"fwd": ("fwd", "both"), "bwd": ("bwd", "both"), "intersect": ("both",), "max": ("fwd", "bwd", "both")}


def directions(src: np.ndarray, tgt: np.ndarray, fwd_idx: np.ndarray, bwd_idx: np.ndarray) -> list[str]:
    is_fwd = fwd_idx[src] == tgt
    is_bwd = bwd_idx[tgt] == src
    return ["both" if f and b else "fwd" if f else "bwd" for f, b in zip(is_fwd, is_bwd)]


def greedy_one_to_one(ranked: Iterable[tuple[Hashable, Hashable]]) -> list[int]:
    """LASER's `max` greedy: positions of the (source, target) pairs it keeps, given them best first; each
    source and each target is used at most once."""
    chosen, seen_src, seen_tgt = [], set(), set()
    for position, (src, tgt) in enumerate(ranked):
        if src not in seen_src and tgt not in seen_tgt:
            seen_src.add(src)
            seen_tgt.add(tgt)
            chosen.append(position)
    return chosen


def above(score: np.ndarray, threshold: float) -> np.ndarray:
    """score > threshold in float64, as LASER compares each float32 score with a Python float. Compared in
    float32 (numpy 2 casts the Python float down), 1.2 rounds up to 1.2000000477, so a score of float32(1.2)
    would be dropped where LASER keeps it."""
    return np.asarray(score, dtype=np.float64) > threshold


def select(fwd: Best, bwd: Best, retrieval: str, threshold: float, min_cosine: float | None = None) -> list[Pair]:
    """LASER's retrieval strategies over both sides' best candidates, keeping scores > threshold in every
    mode (and, with `min_cosine`, cosines >= it: the automatic threshold's cosine floor). Order: by source index
    (fwd, intersect), target index (bwd), score descending (max).

    `max` pools both sides' bests and greedily keeps each source and target at most once, best first.
    LASER thresholds after the greedy; thresholding first is equivalent (everything the greedy would meet
    after the first sub-threshold score is also sub-threshold) and skips the weak tail."""
    check_retrieval(retrieval)
    n_src, n_tgt = len(fwd.idx), len(bwd.idx)

    def passes(score: np.ndarray, cos: np.ndarray) -> np.ndarray:
        keep = above(score, threshold)
        return keep if min_cosine is None else keep & (np.asarray(cos, dtype=np.float64) >= min_cosine)

    if retrieval in ("fwd", "intersect"):
        src, tgt, score, cos = np.arange(n_src), fwd.idx, fwd.score, fwd.cosine
        keep = passes(score, cos)
        if retrieval == "intersect":
            keep &= bwd.idx[tgt] == src
    elif retrieval == "bwd":
        src, tgt, score, cos = bwd.idx, np.arange(n_tgt), bwd.score, bwd.cosine
        keep = passes(score, cos)
    else:  # max
        src, tgt, score, cos = _pooled(fwd, bwd)
        candidates = np.flatnonzero(passes(score, cos))
        ranked = candidates[np.lexsort((tgt[candidates], src[candidates], -score[candidates]))]
        keep = ranked[greedy_one_to_one(zip(src[ranked].tolist(), tgt[ranked].tolist()))]
    src, tgt, score, cos = src[keep], tgt[keep], score[keep], cos[keep]
    return [Pair(int(s), int(t), float(sc), float(c), d)
            for s, t, sc, c, d in zip(src, tgt, score, cos, directions(src, tgt, fwd.idx, bwd.idx))]


def _pooled(fwd: Best, bwd: Best) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source, target, score, cosine) of both sides' best candidates, forward ones first."""
    return (np.concatenate([np.arange(len(fwd.idx)), bwd.idx]), np.concatenate([fwd.idx, np.arange(len(bwd.idx))]),
            np.concatenate([fwd.score, bwd.score]), np.concatenate([fwd.cosine, bwd.cosine]))


def candidate_cosines(fwd: Best, bwd: Best, retrieval: str, threshold: float) -> np.ndarray:
    """Cosines of the distinct pairs `retrieval` may keep above `threshold`, each once (a pair both sides
    found counts once, as MarginMine pools them), before the one-to-one selection: what the cosine floor is
    taken from."""
    src, tgt, score, cos = _pooled(fwd, bwd)
    keep = above(score, threshold) & np.isin(directions(src, tgt, fwd.idx, bwd.idx), KEEP[retrieval])
    _pairs, first = np.unique(np.stack([src[keep], tgt[keep]]), axis=1, return_index=True)
    return cos[keep][first]


def chosen_threshold(fwd: Best, bwd: Best, threshold, fallback: float | None = None) -> float:
    """`threshold` itself, or for AUTO the one threshold.choose() picks from both sides' best scores
    (`fallback` when there are too few), as MarginMine does per language pair."""
    if threshold != AUTO:
        return threshold
    choice = auto.choose_guarded(auto.histogram(np.concatenate([fwd.score, bwd.score])), fallback)
    if choice is None and fallback is None:
        raise ValueError("too few best candidates to choose a threshold, and no fallback")
    return fallback if choice is None else choice.threshold


def mine(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", retrieval: str = "max",
         threshold: float | str = 0.0, fallback: float | None = None) -> list[Pair]:
    """Mine pairs between unit-vector sets x [n, d] and y [m, d] in memory (LASER's `--mode mine`).
    `threshold` AUTO: chosen from the pair's own best candidates (chosen_threshold), with the cosine floor
    of the candidates above it (threshold.cosine_floor)."""
    margin_fn(margin)
    check_retrieval(retrieval)
    if len(x) == 0 or len(y) == 0:
        return []
    x2y_sim, x2y_ind = knn(x, y, k)
    y2x_sim, y2x_ind = knn(y, x, k)
    x_mean, y_mean = neighbourhood_means(x2y_sim), neighbourhood_means(y2x_sim)
    fwd = best_candidates(x2y_sim, x2y_ind, x_mean, y_mean, margin)
    bwd = best_candidates(y2x_sim, y2x_ind, y_mean, x_mean, margin)
    chosen = chosen_threshold(fwd, bwd, threshold, fallback)
    floor = None
    if threshold == AUTO:
        floor = auto.cosine_floor(auto.cosine_histogram(candidate_cosines(fwd, bwd, retrieval, chosen)))
    return select(fwd, bwd, retrieval, chosen, floor)


# ---- end of pure functions; Beam wiring below ----
# The same rules as mine() on neighbour lists keyed by sentence id. Shards hold rows in id order, so "lower
# index" above is "lower id" here; arithmetic stays in float32, as in the in-memory version. Neighbour blocks
# are keyed by (query lang, target lang, query shard path); pairs are data, so one chain serves every pair.

Direction = tuple[str, str, str]   # (query lang, target lang, query shard path)


class MinedPair(NamedTuple):
    """A pair above the threshold, best candidate of its source ("fwd"), its target ("bwd") or both."""
    src_lang: str
    tgt_lang: str
    src_id: str
    tgt_id: str
    score: float
    cosine: float
    direction: str

    @property
    def pair(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"


def _lookups(key: Direction, block: Neighbours) -> Iterator[tuple[tuple[str, str], tuple[Direction, np.ndarray]]]:
    """Ask every shard the block's neighbours live in for their neighbourhood means toward the query's language."""
    query_lang = key[0]
    found = ~np.isnan(block.sims)
    for number, shard in enumerate(block.shards):
        wanted = np.unique(block.targets[found & (block.origin == number)])
        if len(wanted):
            yield (shard, query_lang), (key, wanted)


def _means(key: Direction, block: Neighbours) -> tuple[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    _query_lang, target_lang, shard = key
    return (shard, target_lang), (block.ids, neighbourhood_means(block.sims))


def _answers(_shard, grouped: dict) -> Iterator[tuple[Direction, tuple[np.ndarray, np.ndarray]]]:
    lookups = list(grouped["lookup"])
    if lookups:
        (ids, means), = grouped["means"]
        for asker, wanted in lookups:
            yield asker, (wanted, means[np.searchsorted(ids, wanted)])


SCORES = "scores"   # _best's tagged output: (pair name, histogram of the block's best-candidate scores)


def _best(item: tuple[Direction, dict], pairs: frozenset, kind: str, threshold: float, summarise: bool = False
          ) -> Iterator[tuple[tuple[str, str, str, str], tuple[str, float, float]]]:
    """A block's best candidates above the threshold -> ((src lang, tgt lang, src id, tgt id), (side, score,
    cosine)) for each pair the direction serves: forward for (query, target), backward for (target, query).
    With `summarise`, also every query's best score, above the threshold or not, as a histogram per pair
    (threshold.histogram) on the SCORES output."""
    (query_lang, target_lang, _shard), grouped = item
    (block,), answers = grouped["block"], list(grouped["means"])
    if answers:   # else no query found any neighbour
        yield from _block_best(query_lang, target_lang, block, answers, pairs, kind, threshold, summarise)


def _block_best(query_lang: str, target_lang: str, block: Neighbours, answers: list, pairs: frozenset, kind: str,
                threshold: float, summarise: bool = False
                ) -> Iterator[tuple[tuple[str, str, str, str], tuple[str, float, float]]]:
    ids = np.concatenate([ids for ids, _means in answers])
    means = np.concatenate([means for _ids, means in answers])
    order = np.argsort(ids)
    ids, means = ids[order], means[order]
    target_means = means[np.searchsorted(ids, block.targets).clip(max=len(ids) - 1)]   # missing: sim NaN
    best = pick_best(score_candidates(neighbourhood_means(block.sims), target_means, block.sims, kind),
                     block.sims, block.targets)
    if summarise:
        counts = auto.histogram(best.score)
        for pair in ((query_lang, target_lang), (target_lang, query_lang)):
            if pair in pairs:
                yield beam.pvalue.TaggedOutput(SCORES, ("-".join(pair), counts))
    keep = np.flatnonzero(above(best.score, threshold))
    found = list(zip(np.char.decode(block.ids[keep]).tolist(), np.char.decode(best.idx[keep]).tolist(),
                     best.score[keep].tolist(), best.cosine[keep].tolist()))
    if (query_lang, target_lang) in pairs:
        for query, target, score, cosine in found:
            yield (query_lang, target_lang, query, target), ("fwd", score, cosine)
    if (target_lang, query_lang) in pairs:
        for query, target, score, cosine in found:
            yield (target_lang, query_lang, target, query), ("bwd", score, cosine)


def _pair(key: tuple[str, str, str, str], sides: Iterable[tuple[str, float, float]]) -> MinedPair:
    """A pair that is a best candidate on one side or both: its score is the same from either side."""
    sides = sorted(sides)
    _side, score, cosine = sides[0]
    return MinedPair(*key, score, cosine, "both" if len(sides) == 2 else sides[0][0])


def _rank(pair: MinedPair) -> tuple:
    """The greedy's order: best score first, then lower source id, then lower target id."""
    return -pair.score, pair.src_id, pair.tgt_id


def _one_to_one(_pair_name: str, pairs: Iterable[MinedPair]) -> list[MinedPair]:
    """`max` retrieval for one language pair in one go (greedy_one_to_one)."""
    ranked = sorted(pairs, key=_rank)
    return [ranked[i] for i in greedy_one_to_one((pair.src_id, pair.tgt_id) for pair in ranked)]


def _by_src(pair: MinedPair) -> tuple[str, str]:
    return pair.pair, pair.src_id


def _by_tgt(pair: MinedPair) -> tuple[str, str]:
    return pair.pair, pair.tgt_id


def _best_of_both(_key, found: Iterable[MinedPair]) -> list[MinedPair]:
    """A pair that came back as the best of its source and of its target."""
    found = list(found)
    return found[:1] if len(found) == 2 else []


class _DominantRound(beam.PTransform):
    """One round of the distributed one-to-one selection: a pair that is the best (by _rank) of every pair
    sharing its source or its target is exactly one the greedy would take, so it is accepted, and every
    other pair touching its sentences is dropped. Returns (accepted, remaining). Keys carry the language pair."""

    def expand(self, pairs):
        def best_by(side: str, sentence):
            return (pairs | f"By{side}" >> beam.Map(lambda p: (sentence(p), p))
                    | f"Best{side}" >> beam.CombinePerKey(lambda found: min(found, key=_rank))
                    | f"Pair{side}" >> beam.MapTuple(lambda _sentence, p: ((p.pair, p.src_id, p.tgt_id), p)))

        accepted = ((best_by("Src", _by_src), best_by("Tgt", _by_tgt)) | "BestOfBoth" >> beam.Flatten()
                    | "Both" >> beam.GroupByKey()
                    | "Dominant" >> beam.FlatMapTuple(_best_of_both))
        remaining = pairs
        for side, sentence in (("Src", _by_src), ("Tgt", _by_tgt)):
            remaining = ({"pair": remaining | f"Key{side}" >> beam.Map(lambda p, f=sentence: (f(p), p)),
                          "taken": accepted | f"Taken{side}" >> beam.Map(lambda p, f=sentence: (f(p), None))}
                         | f"Join{side}" >> beam.CoGroupByKey()
                         | f"Free{side}" >> beam.FlatMapTuple(
                             lambda _id, found: [] if found["taken"] else found["pair"]))
        return accepted, remaining


class OneToOne(beam.PTransform):
    """LASER's `max` selection, per language pair, without gathering the candidates: `rounds` rounds of
    _DominantRound resolve almost every pair in parallel (mutual best pairs go in the first), and only what is
    left, usually nothing or a handful, is settled by the plain greedy in one worker per language pair. The
    result is the greedy's."""

    def __init__(self, rounds: int = 3):
        super().__init__()
        self.rounds = rounds

    def expand(self, pairs):
        accepted = []
        for number in range(self.rounds):
            taken, pairs = pairs | f"Round{number}" >> _DominantRound()
            accepted.append(taken)
        rest = (pairs | "ByPair" >> beam.Map(lambda pair: (pair.pair, pair)) | "Gather" >> beam.GroupByKey()
                | "Greedy" >> beam.FlatMapTuple(_one_to_one))
        return [*accepted, rest] | "Selected" >> beam.Flatten()


class AddHistograms(beam.CombineFn):
    """Histograms (numpy count arrays of one length) added up."""

    def create_accumulator(self):
        return None

    def add_input(self, total, counts):
        return np.array(counts, dtype=np.int64) if total is None else total + counts

    def merge_accumulators(self, totals):
        totals = [total for total in totals if total is not None]
        return sum(totals[1:], totals[0].copy()) if totals else None

    def extract_output(self, total):
        return np.zeros(auto.N_BINS, dtype=np.int64) if total is None else total


class CountCosines(AddHistograms):
    """Cosines counted into threshold.COS_EDGES' bins, per pair: what its cosine floor is taken from."""

    def add_input(self, total, cosine):
        total = np.zeros(len(auto.COS_CENTRES), dtype=np.int64) if total is None else total
        total[auto.cosine_bins(np.array([cosine]))[0]] += 1
        return total

    def extract_output(self, total):
        return np.zeros(len(auto.COS_CENTRES), dtype=np.int64) if total is None else total


def with_floor(choice: dict, cosines: dict[str, np.ndarray]) -> dict:
    """A threshold_choice with the pair's cosine floor (None: a fixed threshold, or too few candidates above
    it) and how many candidates above the margin threshold the floor dropped."""
    counts = cosines.get(choice["pair"])
    floor = None if counts is None else auto.cosine_floor(counts)
    return {**choice, "cosine_floor": floor, "below_cosine_floor": 0 if counts is None else auto.below_floor(counts, floor)}


def threshold_choice(pair: str, counts: np.ndarray, threshold=AUTO, fallback: float | None = None) -> dict:
    """What a pair is mined at, as run.json records it: the threshold, how it was chosen ("auto": from the
    mixture of its best candidates' scores, threshold.choose_guarded; "auto (default)": the mixture is not
    trusted and did not ask for more than the encoder's default; "fixed": --threshold; "default": too few
    scores to choose), the mixture's estimated precision of the best candidates above it (an overestimate
    where the mixture is not trusted: mixture_trusted), and the histogram of every best candidate's score
    (both directions) with the fitted mixture."""
    choice = auto.choose_guarded(counts, fallback) if threshold == AUTO else None
    if choice is not None:
        value, precision, mixture = choice.threshold, choice.precision, choice.mixture
        how = "auto" if auto.trusted(mixture) or value > fallback else "auto (default)"
    else:
        value = fallback if threshold == AUTO else threshold
        how = "default" if threshold == AUTO else "fixed"
        precision = auto.precision_at(counts, value)
        mixture = auto.fit_mixture(counts) if precision is not None else None
    return {"pair": pair, "threshold": float(value), "chosen": how, "estimated_precision": precision,
            "mixture_trusted": mixture is not None and auto.trusted(mixture),
            "best_candidates": int(counts.sum()), "mixture": mixture and mixture._asdict(),
            "histogram": auto.sparse(counts)}


# Candidates up to NEAR below a pair's threshold are kept, the NEAR_SAMPLE closest per pair, to show what the
# threshold dropped (DIR/below_threshold/, the report).
NEAR = 0.1
NEAR_SAMPLE = 100


class Mined(NamedTuple):
    pairs: Any   # MinedPair above the threshold, after the retrieval's selection
    near: Any    # MinedPair candidates just below it: at most NEAR_SAMPLE per pair, within NEAR


def _above_or_near(pair: MinedPair, chosen: dict[str, float], fixed: float | None) -> Iterator:
    threshold = chosen[pair.pair] if fixed is None else fixed
    if above(pair.score, threshold):
        yield pair
    elif pair.score >= threshold - NEAR:
        yield beam.pvalue.TaggedOutput("near", pair)


class MarginMine(beam.PTransform):
    """Neighbour blocks of both directions of every pair -> Mined(pairs scoring above the threshold, a sample of
    the candidates just below it).

    A candidate's margin needs its own neighbourhood mean, which comes from the other direction's blocks:
    each block asks the shards its neighbours live in (a join by shard), so no worker holds a language.
    Thresholding before the one-to-one selection gives LASER's result (see select()), and OneToOne makes
    that selection without gathering a pair's candidates in one worker.

    `threshold` is a number, or AUTO: then each language pair's threshold is chosen from the histogram of
    its own best candidates' scores (transforms/threshold.py; a few KB per block, added up per pair) and
    reaches the keep step as a side input; `fallback` stands where a pair has too few scores to choose. The
    candidates above it then meet the pair's cosine floor (threshold.cosine_floor, from their own cosines,
    counted per pair in bins). With `choices_path`, one JSON line per pair (threshold_choice, with_floor) is
    written there for run.json.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]], margin: str, retrieval: str, threshold,
                 fallback: float | None = None, choices_path: str | None = None):
        super().__init__()
        margin_fn(margin)
        check_retrieval(retrieval)
        if threshold == AUTO and (margin != "ratio" or fallback is None):
            raise ValueError("an automatic threshold needs the ratio margin (positive scores) and a fallback")
        self.pairs, self.margin, self.retrieval, self.threshold = frozenset(pairs), margin, retrieval, threshold
        self.fallback, self.choices_path = fallback, choices_path

    def expand(self, blocks) -> Mined:
        answers = ({"lookup": blocks | "Lookups" >> beam.FlatMapTuple(_lookups),
                    "means": blocks | "Means" >> beam.MapTuple(_means)}
                   | "Ask" >> beam.CoGroupByKey()
                   | "Answer" >> beam.FlatMapTuple(_answers))
        summarise = self.threshold == AUTO or self.choices_path is not None
        first = -np.inf if self.threshold == AUTO else self.threshold - NEAR
        best = ({"block": blocks, "means": answers}
                | "Join" >> beam.CoGroupByKey()
                | "Best" >> beam.FlatMap(_best, self.pairs, self.margin, first, summarise).with_outputs(
                    SCORES, main="pairs"))
        candidates = (best.pairs
                      | "Pool" >> beam.GroupByKey()
                      | "Pairs" >> beam.MapTuple(_pair)
                      | "Keep" >> beam.Filter(lambda pair, keep: pair.direction in keep, KEEP[self.retrieval]))
        chosen: Any = {}
        choices = None
        if summarise:
            choices = (best[SCORES] | "SumScores" >> beam.CombinePerKey(AddHistograms())
                       | "Choose" >> beam.MapTuple(threshold_choice, self.threshold, self.fallback))
            if self.threshold == AUTO:
                chosen = beam.pvalue.AsDict(
                    choices | "Thresholds" >> beam.Map(lambda choice: (choice["pair"], choice["threshold"])))
        split = candidates | "AboveOrNear" >> beam.FlatMap(
            _above_or_near, chosen, None if self.threshold == AUTO else self.threshold).with_outputs(
                "near", main="above")
        above, cosines = split.above, {}
        if self.threshold == AUTO:
            counted = (split.above | "CosineByPair" >> beam.Map(lambda pair: (pair.pair, pair.cosine))
                       | "CountCosines" >> beam.CombinePerKey(CountCosines()))
            cosines = beam.pvalue.AsDict(counted)
            floors = beam.pvalue.AsDict(counted | "Floors" >> beam.MapTuple(
                lambda pair, counts: (pair, auto.cosine_floor(counts))))
            above = split.above | "CosineFloor" >> beam.Filter(
                lambda pair, floors: floors[pair.pair] is None or pair.cosine >= floors[pair.pair], floors)
        if self.choices_path is not None:
            (choices | "WithFloor" >> beam.Map(with_floor, cosines)
             | "ChoiceJson" >> beam.Map(lambda choice: json.dumps(choice, sort_keys=True))
             | "WriteChoices" >> beam.io.WriteToText(self.choices_path, shard_name_template="", num_shards=1))
        near = (split.near | "NearByPair" >> beam.Map(lambda pair: (pair.pair, pair))
                | "Closest" >> beam.combiners.Top.PerKey(NEAR_SAMPLE, key=lambda pair: pair.score)
                | "NearPairs" >> beam.FlatMapTuple(lambda _pair_name, found: found))
        pairs = above | "OneToOne" >> OneToOne() if self.retrieval == "max" else above
        return Mined(pairs, near)


def _sentence_means(key: Direction, block: Neighbours) -> Iterator[tuple[tuple[str, str], np.float32]]:
    """Each query sentence's neighbourhood mean toward the other language, keyed by (its lang, its id)."""
    return (((key[0], ident), mean) for ident, mean in
            zip(np.char.decode(block.ids).tolist(), neighbourhood_means(block.sims)))


def _attach(side: str):
    """Join one side's vector and neighbourhood mean onto the pairs that name its sentence."""
    def attach(_key, grouped: dict) -> Iterator[dict]:
        vector = next(iter(grouped["vector"]))
        mean = next(iter(grouped["mean"]))
        for pair in grouped["pair"]:
            yield {**pair, f"{side}_vector": vector, f"{side}_mean": mean}
    return attach


class ScorePairs(beam.PTransform):
    """(pairs, vectors of both sides, neighbour blocks of both directions) -> the pairs with their margin
    `score` and `cosine`: `parabeam score`, neighbourhoods taken from the file's own two sides."""

    def __init__(self, src: str, tgt: str, margin: str):
        super().__init__()
        self.langs, self.fn = {"src": src, "tgt": tgt}, margin_fn(margin)

    def expand(self, pcolls):
        pairs, vectors, blocks = pcolls
        vectors = vectors | "Vectors" >> beam.Map(lambda v: ((v["lang"], v["id"]), stored_vector(v["vector"])))
        means = blocks | "Means" >> beam.FlatMapTuple(_sentence_means)
        for side in ("src", "tgt"):
            pairs = ({"pair": pairs | f"{side}Key" >> beam.Map(lambda p, s=side, lang=self.langs[side]:
                                                               ((lang, p[f"{s}_id"]), p)),
                      "vector": vectors, "mean": means}
                     | f"{side}Join" >> beam.CoGroupByKey()
                     | f"{side}Attach" >> beam.FlatMapTuple(_attach(side)))
        return pairs | "Score" >> beam.Map(self._score)

    def _score(self, pair: dict) -> dict:
        pair = dict(pair)
        cosine = np.float32(pair.pop("src_vector") @ pair.pop("tgt_vector"))
        score = float(self.fn(cosine, (pair.pop("src_mean") + pair.pop("tgt_mean")) / 2))
        return {**pair, "score": score, "cosine": float(cosine)}
