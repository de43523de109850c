"""`parabeam calibrate`: choose an encoder's margin threshold on sentences whose translations are known.

One run of the real pipeline at a threshold below every score gives the whole precision/recall curve:
every retrieval mode keeps a pair or not on its own score, and `max` retrieval's one-to-one selection is
greedy by score, so the pairs mined at threshold t are exactly the low-threshold run's pairs scoring
above t. The chosen threshold (best F1, or the most recall at a precision target) can be saved as an
encoder profile that `parabeam mine --encoder-profile` reads.

The right threshold depends on how many sentences have a translation at all: calibrate on data as dense
as the crawl you will mine (a few percent parallel on web crawls), by adding distractor sentences.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import random
from typing import Iterable, NamedTuple

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline.options import add_embedding_options, add_run_options, add_selection_options, mining_settings
from parabeam.pipeline.run import execute, prepare_output
from parabeam.pipeline.build import build_mine
from parabeam.pipeline.config import MineConfig, parse_pairs
from parabeam.pipeline.encoder_profiles import save_profile
from parabeam.pipeline.export import dataset_parts
from parabeam.transforms.dedup import normalise
from parabeam.transforms.encoders import get_encoder
from parabeam.transforms.sentence_files import is_bucc, parse_line

# Below every margin score (ratio margins are positive, distance and absolute ones lie in [-2, 2]).
FLOOR = -1e9
SEED = 0
# Rows of the printed curve: where the run mines this many pairs per gold pair.
TABLE_MINED_PER_GOLD = (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)

Pair = tuple[str, str]


class Point(NamedTuple):
    """One cut of the curve: keeping pairs scoring above `threshold` mines `mined` pairs."""
    threshold: float
    mined: int
    precision: float
    recall: float
    f1: float


def f1_of(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def sweep(scored: Iterable[tuple[str, str, float]], gold: set[Pair]) -> list[Point]:
    """The curve over every distinct cut of the (src_id, tgt_id, score) pairs, highest threshold first.

    A cut's threshold lies midway between the lowest score kept and the highest dropped; the cut that keeps
    every pair has nothing dropped below it, so its threshold is the largest 4-decimal number (as printed)
    below the lowest score, never the threshold the pairs were mined at (FLOOR, a sentinel).
    """
    ranked = sorted(scored, key=lambda row: -row[2])
    curve, hits = [], 0
    for i, (src, tgt, value) in enumerate(ranked):
        hits += (src, tgt) in gold
        if i + 1 < len(ranked):
            following = ranked[i + 1][2]
            if following == value:
                continue
            threshold = (value + following) / 2
        else:
            threshold = (math.ceil(value * 1e4) - 1) / 1e4
        precision, recall = hits / (i + 1), hits / len(gold) if gold else 0.0
        curve.append(Point(threshold, i + 1, precision, recall, f1_of(precision, recall)))
    return curve


def choose(curve: list[Point], target_precision: float | None = None) -> Point | None:
    """Best F1 (the highest threshold on ties), or with a target: the most recall among the cuts reaching
    that precision (again the highest threshold on ties); None when no cut qualifies."""
    if target_precision is None:
        return max(curve, key=lambda point: (point.f1, point.threshold), default=None)
    reaching = [point for point in curve if point.precision >= target_precision]
    return max(reaching, key=lambda point: (point.recall, point.threshold), default=None)


def table(curve: list[Point], n_gold: int, marked: dict[str, Point | None]) -> str:
    """A compact view of the curve: the cuts mining TABLE_MINED_PER_GOLD times the gold count, plus the
    `marked` points (label -> point), in threshold order."""
    rows: dict[Point, list[str]] = {}
    for ratio in TABLE_MINED_PER_GOLD:
        below = [point for point in curve if point.mined <= ratio * n_gold]
        if below:
            rows.setdefault(below[-1], [])
    for label, point in marked.items():
        if point is not None:
            rows.setdefault(point, []).append(label)
    lines = [f"{'threshold':>10} {'mined':>7} {'precision':>9} {'recall':>7} {'F1':>6}"]
    for point in sorted(rows, key=lambda p: -p.threshold):
        lines.append(f"{point.threshold:>10.4f} {point.mined:>7} {point.precision:>9.3f} {point.recall:>7.3f} "
                     f"{point.f1:>6.3f}  {', '.join(rows[point])}".rstrip())
    return "\n".join(lines)


def plot_curve(curve: list[Point], marked: dict[str, Point | None], path: str, title: str) -> str:
    """A PNG of the curve: precision against recall, and precision, recall and F1 against the threshold, with
    the `marked` points (label -> point); written to `path`, which is returned."""
    from matplotlib.figure import Figure   # only when a curve is drawn

    fig = Figure(figsize=(11, 4))
    pr, by_threshold = fig.subplots(1, 2)
    recall = [point.recall for point in curve]
    precision = [point.precision for point in curve]
    pr.step(recall, precision, where="post", color="#1f77b4", linewidth=1.5)
    pr.set_xlabel("recall")
    pr.set_ylabel("precision")
    pr.set_xlim(-0.02, 1.02)
    pr.set_ylim(-0.02, 1.05)
    pr.set_title("precision / recall")
    pr.grid(alpha=0.3)
    thresholds = [point.threshold for point in curve]
    for values, label, colour in ((precision, "precision", "#1f77b4"), (recall, "recall", "#2ca02c"),
                                  ([point.f1 for point in curve], "F1", "#ff7f0e")):
        by_threshold.plot(thresholds, values, label=label, color=colour, linewidth=1.5)
    by_threshold.set_xlabel("margin threshold")
    by_threshold.set_ylim(-0.02, 1.05)
    by_threshold.set_title("against the threshold")
    by_threshold.grid(alpha=0.3)
    markers = iter(("o", "s", "^", "D"))
    seen: dict[Point, str] = {}
    for label, point in marked.items():
        if point is None:
            continue
        if point in seen:   # the same cut chosen twice: one marker, both labels
            continue
        labels = ", ".join(name for name, other in marked.items() if other == point)
        seen[point] = labels
        text = f"{labels}: t={point.threshold:.4f} P={point.precision:.3f} R={point.recall:.3f}"
        marker = next(markers, "o")
        pr.plot([point.recall], [point.precision], marker=marker, color="#d62728", markersize=8,
                linestyle="none", label=text)
        by_threshold.axvline(point.threshold, color="#d62728", linestyle="--", linewidth=1)
    if seen:
        pr.legend(fontsize=8, loc="lower left")
    by_threshold.legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with FileSystems.create(path, mime_type="image/png") as handle:
        fig.savefig(handle, format="png", dpi=100)
    return path


# --- files ----------------------------------------------------------------------------------------------

def _lines(path: str) -> list[str]:
    with FileSystems.open(path) as handle:
        return handle.read().decode("utf-8").splitlines()


def read_ids(path: str) -> list[str]:
    """The ids of a BUCC-format sentence file (id<TAB>sentence), which a gold file needs."""
    lines = [line for line in _lines(path) if line.strip()]
    if not is_bucc(lines[:100]):
        raise ValueError(f"{path}: --gold needs sentence files in BUCC format (id<TAB>sentence)")
    return [parse_line(line, bucc=True)[0] for line in lines]


def read_gold(path: str, src_ids: set[str], tgt_ids: set[str]) -> set[Pair]:
    gold = set()
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        src, sep, tgt = line.strip().partition("\t")
        if not sep or src not in src_ids or tgt not in tgt_ids:
            raise ValueError(f"{path}:{number}: expected src_id<TAB>tgt_id of ids in the sentence files, "
                             f"got {line!r}")
        gold.add((src, tgt))
    if not gold:
        raise ValueError(f"{path}: no gold pairs")
    return gold


def bucc_set(src_lang: str, tgt_lang: str, parallel: list[Pair], src_distractors: list[str],
             tgt_distractors: list[str], seed: int = SEED) -> tuple[list[Pair], list[Pair], set[Pair]]:
    """(source (id, text) rows, target rows, gold id pairs) from parallel lines and distractors.

    Empty lines and repeats (same normalised text on one side, whether parallel or distractor) are
    dropped, so every gold sentence is unique on its side; rows are shuffled so ids say nothing about gold.
    """
    seen: tuple[set[str], set[str]] = (set(), set())

    def fresh(side: int, text: str) -> str | None:
        text = " ".join(text.split())
        key = normalise(text)
        if not key or key in seen[side]:
            return None
        seen[side].add(key)
        return text

    pairs = []
    for src, tgt in parallel:
        src_key, tgt_key = normalise(src), normalise(tgt)
        if src_key and tgt_key and src_key not in seen[0] and tgt_key not in seen[1]:
            pairs.append((fresh(0, src), fresh(1, tgt)))
    rng = random.Random(seed)
    sides = []
    for side, (lang, distractors) in enumerate(((src_lang, src_distractors), (tgt_lang, tgt_distractors))):
        items = [(pair[side], i) for i, pair in enumerate(pairs)]
        items += [(text, None) for text in filter(None, (fresh(side, text) for text in distractors))]
        rng.shuffle(items)
        sides.append([(f"{lang}-{n:06d}", text, gold) for n, (text, gold) in enumerate(items, start=1)])
    ids = [{gold: ident for ident, _text, gold in side if gold is not None} for side in sides]
    return ([(ident, text) for ident, text, _ in sides[0]], [(ident, text) for ident, text, _ in sides[1]],
            {(ids[0][i], ids[1][i]) for i in range(len(pairs))})


def write_rows(path: str, rows: Iterable[Pair]) -> None:
    with FileSystems.create(path, mime_type="text/plain") as handle:
        handle.write("".join(f"{a}\t{b}\n" for a, b in rows).encode("utf-8"))


def mined_pairs(output: str, pair: str) -> list[tuple[str, str, float]]:
    """(src_id, tgt_id, score) of every pair a run mined for `pair`."""
    rows = []
    for path in dataset_parts(output, "bitext").get(pair, []):
        with FileSystems.open(path) as handle:
            table_ = pq.read_table(handle, columns=["src_id", "tgt_id", "score"])
        rows += zip(*(table_.column(name).to_pylist() for name in ("src_id", "tgt_id", "score")))
    return rows


# --- the command ----------------------------------------------------------------------------------------

def add_calibrate_parser(sub) -> None:
    parser = sub.add_parser(
        "calibrate", help="choose the margin threshold on sentences with known translations",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="run directory: the pipeline's output, "
                        "calibration.json, calibration.png (the precision/recall curve) and, for "
                        "--src-parallel, the BUCC files written from it")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    parser.add_argument("--src-lang", required=True)
    parser.add_argument("--tgt-lang", required=True)
    gold = parser.add_argument_group("known pairs in BUCC format")
    gold.add_argument("--src-sentences", help="id<TAB>sentence")
    gold.add_argument("--tgt-sentences", help="id<TAB>sentence")
    gold.add_argument("--gold", help="src_id<TAB>tgt_id, one known translation pair per line")
    parallel = parser.add_argument_group("known pairs as parallel files")
    parallel.add_argument("--src-parallel", help="one sentence per line; line i translates --tgt-parallel's")
    parallel.add_argument("--tgt-parallel")
    parallel.add_argument("--src-distractors", help="sentences without a translation on the other side")
    parallel.add_argument("--tgt-distractors")
    choice = parser.add_argument_group("choosing")
    choice.add_argument("--target-precision", type=float,
                        help="the threshold of most recall at this precision (default: best F1)")
    choice.add_argument("--save", metavar="NAME_OR_PATH",
                        help="write an encoder profile (YAML; a bare NAME means NAME.yaml) for "
                             "`parabeam mine --encoder-profile`")
    add_embedding_options(parser, "parabeam-embedding-cache beside --output")
    add_selection_options(parser, threshold=False)
    add_run_options(parser)


def _inputs(args: argparse.Namespace, data_dir: str, pair: str) -> tuple[str, str, set[Pair], dict]:
    """(source file, target file, gold pairs, data description), writing BUCC files for parallel input."""
    gold_mode = (args.src_sentences, args.tgt_sentences, args.gold)
    parallel_mode = (args.src_parallel, args.tgt_parallel)
    if any(gold_mode) == any(parallel_mode + (args.src_distractors, args.tgt_distractors)):
        raise ValueError("give either --src-sentences/--tgt-sentences/--gold or --src-parallel/--tgt-parallel "
                         "(with --src-distractors/--tgt-distractors)")
    if any(gold_mode):
        if not all(gold_mode):
            raise ValueError("--gold needs --src-sentences and --tgt-sentences")
        src_ids, tgt_ids = read_ids(args.src_sentences), read_ids(args.tgt_sentences)
        gold = read_gold(args.gold, set(src_ids), set(tgt_ids))
        return args.src_sentences, args.tgt_sentences, gold, {
            "src_sentences": args.src_sentences, "tgt_sentences": args.tgt_sentences, "gold": args.gold,
            "src_count": len(src_ids), "tgt_count": len(tgt_ids), "gold_pairs": len(gold)}
    if not all(parallel_mode):
        raise ValueError("--src-parallel needs --tgt-parallel")
    src_lines, tgt_lines = _lines(args.src_parallel), _lines(args.tgt_parallel)
    if len(src_lines) != len(tgt_lines):
        raise ValueError(f"{args.src_parallel} has {len(src_lines)} lines, {args.tgt_parallel} {len(tgt_lines)}")
    distractors = [_lines(path) if path else [] for path in (args.src_distractors, args.tgt_distractors)]
    src, tgt, gold = bucc_set(args.src_lang, args.tgt_lang, list(zip(src_lines, tgt_lines)), *distractors)
    paths = [FileSystems.join(data_dir, f"{pair}.{key}") for key in (args.src_lang, args.tgt_lang, "gold")]
    for path, rows in zip(paths, (src, tgt, sorted(gold))):
        write_rows(path, rows)
    return paths[0], paths[1], gold, {
        "src_parallel": args.src_parallel, "tgt_parallel": args.tgt_parallel,
        "src_distractors": args.src_distractors, "tgt_distractors": args.tgt_distractors,
        "src_count": len(src), "tgt_count": len(tgt), "gold_pairs": len(gold)}


def run_calibrate(args: argparse.Namespace, beam_args: list[str]) -> dict:
    """Mine at FLOOR with the real pipeline, sweep the curve, print it, write DIR/calibration.json and,
    with --save, the encoder profile."""
    (src_lang, tgt_lang), = parse_pairs(f"{args.src_lang}-{args.tgt_lang}")
    pair = f"{src_lang}-{tgt_lang}"
    langs = tuple(sorted({src_lang, tgt_lang}))
    settings = mining_settings(args, langs)
    options = pipeline_options(args.runner, beam_args, args.profiles)
    prepare_output(args.output, args.overwrite)
    src_file, tgt_file, gold, data = _inputs(args, FileSystems.join(args.output, "calibration"), pair)
    data["parallel_share"] = round(data["gold_pairs"] / max(data["src_count"], data["tgt_count"]), 4)
    cfg = MineConfig(output=args.output, langs=langs, pairs=((src_lang, tgt_lang),),
                     sentence_files=((src_file, src_lang), (tgt_file, tgt_lang)), **{**settings, "threshold": FLOOR})
    execute(cfg, options, lambda p: build_mine(p, cfg), {"command": "calibrate", "runner": args.runner},
            quiet=args.quiet)

    curve = sweep(mined_pairs(args.output, pair), gold)
    best = choose(curve)
    chosen = choose(curve, args.target_precision)
    wanted = "best F1" if args.target_precision is None else f"precision >= {args.target_precision}"
    print(f"{pair}: {data['gold_pairs']} gold pairs among {data['src_count']} + {data['tgt_count']} sentences "
          f"({data['parallel_share']:.1%} parallel)")
    print(table(curve, data["gold_pairs"], {"best F1": best, "chosen": chosen}))
    result = {"pair": pair, "data": data, "chosen_by": wanted, "chosen": chosen and chosen._asdict(),
              "best_f1": best and best._asdict(), "curve": [point._asdict() for point in curve]}
    if curve:
        result["plot"] = plot_curve(
            curve, {"best F1": best, "chosen": chosen}, FileSystems.join(args.output, "calibration.png"),
            f"{pair}: {data['gold_pairs']} gold pairs, {len(curve)} cuts ({wanted})")
        print(f"curve: {result['plot']}")
    with FileSystems.create(FileSystems.join(args.output, "calibration.json")) as handle:
        handle.write(json.dumps(result, indent=1).encode())
    if chosen is None:
        raise ValueError(f"no threshold reaches {wanted} on this data (see the curve above)")
    print(f"chosen ({wanted}): threshold {chosen.threshold:.4f}: precision {chosen.precision:.3f}, "
          f"recall {chosen.recall:.3f}, F1 {chosen.f1:.3f}")
    if args.save:
        spec = get_encoder(cfg.encoder)
        profile = {"encoder": spec.name, "encoder_version": spec.version, "threshold": chosen.threshold,
                   "margin": cfg.margin, "k": cfg.k, "retrieval": cfg.retrieval, "chosen_by": wanted,
                   "precision": chosen.precision, "recall": chosen.recall, "f1": chosen.f1,
                   "data": {"pair": pair, **data}, "date": datetime.date.today().isoformat()}
        print(f"profile: {save_profile(args.save, profile)}")
    return result
