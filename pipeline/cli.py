"""The `parabeam` command: `mine` bitext from crawl shards or sentence files, `score` existing pairs,
`refresh` a corpus from new crawl shards, `calibrate` the margin threshold, `report` and `export` a run.

Options parabeam does not know are handed to Beam, so any pipeline option (--direct_num_workers,
--temp_location, ...) passes through unchanged.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from apache_beam.io.filesystems import FileSystems

from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline import accounts, refresh
from parabeam.pipeline.build import build_mine, build_score
from parabeam.pipeline.calibrate import add_calibrate_parser as calibrate_parser, run_calibrate
from parabeam.pipeline.config import MineConfig, parse_pairs
from parabeam.pipeline.export import FORMATS, export
from parabeam.pipeline.options import (add_crawl_options, add_mining_options, add_run_options, crawl_settings,
                                       mining_settings)
from parabeam.pipeline.report import write_report
from parabeam.pipeline.run import execute, prepare_output, remove_folders


def mine_parser(sub) -> None:
    parser = sub.add_parser("mine", help="mine bitext from crawl shards or sentence files",
                            description="Mine parallel sentences. Crawl mode: --input (WET/WARC, gzipped or "
                            "not; JSONL; Parquet; plain text) with --langs/--pairs. Sentence-file mode: "
                            "--src-sentences/--tgt-sentences with their languages (one sentence per line, "
                            "or id<TAB>sentence as in BUCC).")
    parser.add_argument("--output", required=True, help="output directory (any Beam filesystem: local, gs://)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run in --output (without it, parabeam refuses to touch one)")
    crawl = add_crawl_options(parser)
    crawl.add_argument("--input", action="append", default=[], help="glob pattern of input files (repeatable)")
    files = parser.add_argument_group("sentence-file mode")
    files.add_argument("--src-sentences")
    files.add_argument("--src-lang")
    files.add_argument("--tgt-sentences")
    files.add_argument("--tgt-lang")
    add_mining_options(parser)
    add_run_options(parser)


def mine_config(args: argparse.Namespace) -> MineConfig:
    """Validate the command line into a MineConfig; errors name the offending option."""
    if args.src_sentences or args.tgt_sentences:
        if args.input:
            raise ValueError("use either --input or --src-sentences/--tgt-sentences, not both")
        if not (args.src_sentences and args.tgt_sentences and args.src_lang and args.tgt_lang):
            raise ValueError("sentence-file mode needs --src-sentences, --src-lang, --tgt-sentences, --tgt-lang")
        src, tgt = parse_pairs(f"{args.src_lang}-{args.tgt_lang}")[0]
        return MineConfig(output=args.output, langs=tuple(sorted({src, tgt})), pairs=((src, tgt),),
                          sentence_files=((args.src_sentences, src), (args.tgt_sentences, tgt)),
                          **mining_settings(args))
    if not args.input:
        raise ValueError("give --input PATTERN (crawl mode) or --src-sentences/--tgt-sentences")
    return MineConfig(output=args.output, inputs=tuple(args.input), **crawl_settings(args), **mining_settings(args))


def run_mine(args: argparse.Namespace, beam_args: list[str]) -> dict:
    cfg = mine_config(args)
    options = pipeline_options(args.runner, beam_args, args.profiles)
    prepare_output(cfg.output, args.overwrite)
    return execute(cfg, options, lambda p: build_mine(p, cfg), {"command": "mine", "runner": args.runner},
                   args.quiet)


def refresh_parser(sub) -> None:
    parser = sub.add_parser("refresh", help="process new crawl shards and write a new bitext release",
                            description=refresh.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--crawl", help="Common Crawl id, e.g. CC-MAIN-2026-40 (reads its wet.paths.gz)")
    source.add_argument("--listing", help="file listing shard paths, one per line (wet.paths.gz format)")
    parser.add_argument("--crawl-root", default=refresh.COMMON_CRAWL_ROOT,
                        help="prefix of relative shard paths and of --crawl listings (default: %(default)s)")
    parser.add_argument("--state", required=True, help="state location: ledger, sentence store, cache, releases")
    add_crawl_options(parser)
    add_mining_options(parser)
    add_run_options(parser)


def run_refresh(args: argparse.Namespace, beam_args: list[str]) -> dict | None:
    listing = args.listing or refresh.crawl_listing(args.crawl, args.crawl_root)
    ledger = refresh.load_ledger(args.state)
    new = sorted(set(refresh.read_listing(listing, args.crawl_root)) - refresh.processed_shards(ledger))
    if not new:
        print(f"nothing to do: every shard of {listing} is in {args.state}'s ledger")
        return None
    release = refresh.next_release(ledger)
    parents = [entry["release"] for entry in ledger["releases"]]
    output = FileSystems.join(args.state, "releases", release)
    # A killed refresh's leftovers: not in the ledger, so nothing refers to them.
    remove_folders([output, FileSystems.join(args.state, "store", release)])
    cfg = MineConfig(output=output, inputs=tuple(new), **crawl_settings(args),
                     **{**mining_settings(args), "embedding_cache": args.embedding_cache
                        or FileSystems.join(args.state, "embedding-cache")})
    options = pipeline_options(args.runner, beam_args, args.profiles)
    run = execute(cfg, options, lambda p: refresh.build_refresh(p, cfg, args.state, release, parents, cfg.max_urls),
                  {"command": "refresh", "runner": args.runner, "release": release,
                   "parent": parents[-1] if parents else None, "listing": listing, "new_shards": new}, args.quiet)
    with FileSystems.create(FileSystems.join(output, "manifest.json")) as handle:
        handle.write(json.dumps({key: run[key] for key in ("release", "parent", "listing", "new_shards",
                                                           "parameters", "stages")}, indent=2).encode())
    ledger["releases"].append({"release": release, "shards": new, "parent": run["parent"]})
    refresh.commit_ledger(args.state, ledger)
    print(f"release {release}: {len(new)} new shards -> {output}")
    return run


def score_parser(sub) -> None:
    parser = sub.add_parser("score", help="margin and cosine for existing sentence pairs",
                            description="Score pairs you already have (TSV or Parquet). Each side's neighbourhood "
                            "for the margin is the file's own other side. Output: DIR/scores/*.parquet.")
    parser.add_argument("--bitext", required=True, help="TSV or Parquet file of pairs")
    parser.add_argument("--src-lang", required=True)
    parser.add_argument("--tgt-lang", required=True)
    parser.add_argument("--src-column", default=None,
                        help="source column: 1-based number in TSV (default 1), name in Parquet (default src_text)")
    parser.add_argument("--tgt-column", default=None,
                        help="target column: 1-based number in TSV (default 2), name in Parquet (default tgt_text)")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    add_mining_options(parser)
    add_run_options(parser)


def run_score(args: argparse.Namespace, beam_args: list[str]) -> dict:
    (src, tgt), = parse_pairs(f"{args.src_lang}-{args.tgt_lang}")
    parquet = args.bitext.endswith(".parquet")
    columns = (args.src_column or ("src_text" if parquet else "1"), args.tgt_column or ("tgt_text" if parquet else "2"))
    cfg = MineConfig(output=args.output, langs=tuple(sorted({src, tgt})), pairs=((src, tgt),),
                     score_input=args.bitext, score_columns=columns, **mining_settings(args))
    options = pipeline_options(args.runner, beam_args, args.profiles)
    prepare_output(cfg.output, args.overwrite)
    return execute(cfg, options, lambda p: build_score(p, cfg), {"command": "score", "runner": args.runner},
                   args.quiet)


def report_parser(sub) -> None:
    parser = sub.add_parser("report", help="(re)build DIR/report.html from a finished run")
    parser.add_argument("output", metavar="DIR")


def run_report(args: argparse.Namespace, _beam_args: list[str]) -> None:
    print(write_report(args.output))


def export_parser(sub) -> None:
    parser = sub.add_parser("export", help="write a run's bitext as text files, best pairs first")
    parser.add_argument("output", metavar="DIR")
    parser.add_argument("--format", choices=FORMATS, default="tsv",
                        help="tsv (score, source, target), moses (two line-aligned files) or jsonl")
    parser.add_argument("--dest", required=True, help="folder for the exported files")


def run_export(args: argparse.Namespace, _beam_args: list[str]) -> None:
    for pair, rows in export(args.output, args.format, args.dest).items():
        print(f"{pair}: {rows} pairs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parabeam", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser in (mine_parser, score_parser, refresh_parser, calibrate_parser, report_parser, export_parser):
        add_parser(sub)
    args, beam_args = parser.parse_known_args(argv)
    level = getattr(args, "log_level", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if logging.getLevelName(level) >= logging.WARNING:
        # Worker processes relay their own start-up warnings through the job service; they are noise here.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    commands = {"mine": run_mine, "score": run_score, "refresh": run_refresh, "calibrate": run_calibrate,
                "report": run_report, "export": run_export}
    try:
        commands[args.command](args, beam_args)
    except (ValueError, FileNotFoundError, accounts.AccountingError) as error:
        print(f"parabeam: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
