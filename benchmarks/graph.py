"""Graph size and end-to-end wall time as the number of languages grows.

    python -m benchmarks.graph [--langs-counts 2,3,8,15] [--demo] [--excerpt PATH] [--out FILE]

Graph: `build_mine` for a crawl job over the first N default-encoder languages (all pairs), on an empty
pipeline: its leaf transforms and how long building took. Runs: the README demo (en,de,fr) and the real WET
excerpt with en,de,fr,ru,zh,ja,es,it (28 pairs) through `parabeam mine`, wall time and exit status. Nothing
is asserted; the machine may be shared.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from parabeam.pipeline.build import build_mine
from parabeam.pipeline.config import MineConfig, all_pairs

REPO = Path(__file__).resolve().parents[1]
EXCERPT = REPO.parent / "shared" / "data" / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"
MUSE_LANGS = ("en", "de", "fr", "ru", "zh", "ja", "es", "it", "ar", "ko", "nl", "pl", "pt", "th", "tr")
EXCERPT_LANGS = "en,de,fr,ru,zh,ja,es,it"


def leaf_count(pipeline: beam.Pipeline) -> int:
    """Transforms without parts: what a runner executes."""
    leaves = 0

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node) -> None:
            nonlocal leaves
            leaves += 1

    pipeline.visit(Visitor())
    return leaves


def graph(n_langs: int, output: str) -> tuple[int, float]:
    langs = tuple(sorted(MUSE_LANGS[:n_langs]))
    cfg = MineConfig(output=output, langs=langs, pairs=tuple(all_pairs(list(langs))), inputs=(str(REPO / "demo" / "*.wet"),))
    started = time.monotonic()
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    build_mine(pipeline, cfg)
    return leaf_count(pipeline), time.monotonic() - started


def run(args: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "parabeam.pipeline.cli", *args], capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return time.monotonic() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--langs-counts", default="2,3,8,15")
    parser.add_argument("--demo", action="store_true", help="also time the README demo")
    parser.add_argument("--excerpt", default=None, help="also time the 8-language job on this WET file")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = [f"# python -m benchmarks.graph {' '.join(sys.argv[1:])}",
             f"# {platform.node()} {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}"]
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.langs_counts.split(",")):
            leaves, seconds = graph(n, f"{tmp}/g{n}")
            lines.append(f"graph: {n} languages, {n * (n - 1) // 2} pairs: {leaves} leaf transforms, built in {seconds:.1f} s")
            print(lines[-1], flush=True)
        if args.demo:
            seconds, code = run(["mine", "--input", str(REPO / "demo" / "*.wet"), "--langs", "en,de,fr",
                                 "--output", f"{tmp}/demo", "--quiet"])
            lines.append(f"run: README demo (3 languages): {seconds:.1f} s, exit {code}")
            print(lines[-1], flush=True)
        if args.excerpt:
            seconds, code = run(["mine", "--input", args.excerpt, "--langs", EXCERPT_LANGS,
                                 "--output", f"{tmp}/excerpt", "--quiet"])
            lines.append(f"run: WET excerpt, 8 languages, 28 pairs: {seconds:.1f} s, exit {code}")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
