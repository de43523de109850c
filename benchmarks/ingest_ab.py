"""Raw LID+split (sentence checks on) of two code trees, alternately, as CPU seconds per document.

    python -m benchmarks.ingest_ab --base DIR [--wet PATH] [--rounds 3] [--repeat 2]

DIR holds an older tree laid out as an importable `parabeam` (DIR/parabeam/{transforms,...}), e.g. made with
`git archive <commit> | tar -x -C DIR` and links DIR/parabeam/<part> -> DIR/<part>. Each round runs the older
and then this tree in a fresh subprocess over the excerpt (`--repeat` times, after an untimed warm-up pass),
document by document as a worker does (LID, then split with length and sentence checks, sentence LID
included). CPU time, not wall time, so that the ratio holds on a shared machine; both are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_WET = HERE.parent / "shared" / "data" / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"

WORKER = r"""
import json, resource, sys, time
from parabeam.transforms import lid as L
from parabeam.transforms.checks import sentence_reason
from parabeam.transforms.read import read_records
from parabeam.transforms.split import length_reason, split_sentences
path, repeat = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    docs = [d for d in read_records(path, f) if isinstance(d, dict)]
model = L.load_lid_model()
decide = {"langs": None}
def kept_paragraphs(text):
    if hasattr(L, "identify_paragraphs"):
        for p, lang, prob, reason in L.identify_paragraphs(model, text, {**decide, "min_chars": L.DEFAULT_MIN_CHARS,
                                                                         "threshold": L.DEFAULT_THRESHOLD, "thresholds": {}}):
            if not reason:
                yield lang, p
    else:
        for p in L.paragraphs(text):
            lang, prob = L.identify(model, p)
            if not L.lid_decision(lang, prob, p, **decide):
                yield lang, p
def run():
    n = 0
    for d in docs:
        for lang, p in kept_paragraphs(d["text"]):
            n += sum(1 for s in split_sentences(lang, p)
                     if not (length_reason(lang, s) or sentence_reason(lang, s, model)))
    return n
run()
cpu0 = resource.getrusage(resource.RUSAGE_SELF); wall0 = time.perf_counter()
n = sum(run() for _ in range(repeat))
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
print(json.dumps({"docs": len(docs) * repeat, "sentences": n, "cpu": cpu, "wall": time.perf_counter() - wall0}))
"""


def measure(tree: Path | None, wet: Path, repeat: int) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = subprocess.run([sys.executable, "-c", WORKER, str(wet), str(repeat)], env=env, check=True,
                         capture_output=True, text=True, cwd=tree or HERE).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--wet", type=Path, default=DEFAULT_WET)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    totals = {"base": [], "this": []}
    for round_ in range(args.rounds):
        for name, tree in (("base", args.base), ("this", None)):
            result = measure(tree, args.wet, args.repeat)
            totals[name].append(result)
            print(f"round {round_ + 1} {name}: {result['docs']} docs, {result['sentences']} sentences, "
                  f"{result['cpu']:.2f} CPU s ({result['docs'] / result['cpu']:.0f} docs per CPU s), "
                  f"{result['wall']:.2f} s wall ({result['docs'] / result['wall']:.0f} docs/s)")
    rate = {name: sum(r["docs"] for r in rs) / sum(r["cpu"] for r in rs) for name, rs in totals.items()}
    wall = {name: sum(r["docs"] for r in rs) / sum(r["wall"] for r in rs) for name, rs in totals.items()}
    print(f"docs per CPU second: base {rate['base']:.0f}, this {rate['this']:.0f}, ratio {rate['this'] / rate['base']:.2f}")
    print(f"docs per wall second: base {wall['base']:.0f}, this {wall['this']:.0f}, ratio {wall['this'] / wall['base']:.2f}")
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
