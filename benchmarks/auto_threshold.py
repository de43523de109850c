"""The default per-pair threshold (`auto`) through the real pipeline on benchmarks/bucc.py's sets:
`python -m benchmarks.auto_threshold --out benchmarks/results/auto_threshold.txt`

Each set is mined once at a threshold below every score (as benchmarks/quality.py does); the job writes
every best candidate's score histogram to DIR/thresholds.jsonl, from which the automatic threshold is
chosen exactly as `parabeam mine` chooses it by default (threshold.choose_guarded; the pairs kept at a
threshold are the low-threshold run's pairs above it, see pipeline/calibrate.py). P/R/F1 at the fixed 1.40,
at auto, and at each set's best threshold (an oracle). Caveat: the presets' gold is suspected incomplete
(issue item 5: Tatoeba distractors may hold untracked translations), so precision is a lower bound.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import bucc
from benchmarks.publish import publish
from benchmarks.quality import MINE_PAIRS, PRESETS, mine_set
from parabeam.pipeline.calibrate import choose
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD
from parabeam.transforms.threshold import choose_guarded, dense


def auto_of(output: Path, pair: str):
    rows = [json.loads(line) for line in (output / "thresholds.jsonl").read_text().splitlines() if line.strip()]
    row, = [row for row in rows if row["pair"] == pair]
    return choose_guarded(dense(row["histogram"]), MUSE_DEFAULT_THRESHOLD)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--pairs", default=",".join(MINE_PAIRS))
    args = parser.parse_args(argv)
    lines = [f"{'preset':>6} {'pair':>5} {'gold':>4} | {'P@1.4':>5} {'R':>5} {'F1':>5} | {'auto t':>6} {'est P':>5} "
             f"{'P':>5} {'R':>5} {'F1':>5} | {'best t':>6} {'F1':>5}"]
    with tempfile.TemporaryDirectory(prefix="parabeam-auto-") as work:
        for preset in PRESETS:
            f1s = {"fixed": [], "auto": [], "best": []}
            for pair in args.pairs.split(","):
                run = mine_set(Path(work), pair, preset)
                choice = auto_of(Path(work) / "runs" / preset / pair, pair)
                best = choose(run.curve)
                fixed, auto = (run.at([t]) for t in (MUSE_DEFAULT_THRESHOLD, choice.threshold))
                row = [fixed[k].item() for k in ("precision", "recall", "f1")]
                row += [choice.threshold, choice.precision] + [auto[k].item() for k in ("precision", "recall", "f1")]
                lines.append(f"{preset:>6} {pair:>5} {run.gold:>4} | {row[0]:>5.3f} {row[1]:>5.3f} {row[2]:>5.3f} | "
                             f"{row[3]:>6.3f} {row[4]:>5.3f} {row[5]:>5.3f} {row[6]:>5.3f} {row[7]:>5.3f} | "
                             f"{best.threshold:>6.3f} {best.f1:>5.3f}")
                if pair != "sw-en":   # muse was not trained on Swahili
                    f1s["fixed"].append(row[2]), f1s["auto"].append(row[7]), f1s["best"].append(best.f1)
                print(lines[-1], flush=True)
            lines.append(f"{preset:>6} mean F1 without sw-en: fixed 1.40 {np.mean(f1s['fixed']):.3f}, auto "
                         f"{np.mean(f1s['auto']):.3f}, best {np.mean(f1s['best']):.3f}")
    publish("auto_threshold", "\n".join(lines), args.out)


if __name__ == "__main__":
    main()
