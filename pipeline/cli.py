"""The `parabeam` command: `mine` bitext from crawl shards or sentence files, `score` existing pairs,
`refresh` a corpus from new crawl shards, `calibrate` the margin threshold, `report` and `export` a run.

Options parabeam does not take must be Beam pipeline options (--direct_num_workers, --temp_location, ...):
Beam's own parser checks them and they go to Beam unchanged; anything else is an error.
"""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys

# Importing Beam can log (e.g. "apitools not found" without the gcp extra); what is shown is decided by
# setup_logging once --log-level is known.
logging.getLogger().setLevel(logging.ERROR)

from apache_beam.io.filesystems import FileSystems  # noqa: E402

from parabeam.launchers.profiles import beam_option_names, pipeline_options, unknown_beam_args  # noqa: E402
from parabeam.pipeline import accounts, refresh  # noqa: E402
from parabeam.pipeline.build import build_mine, build_score  # noqa: E402
from parabeam.pipeline.calibrate import add_calibrate_parser as calibrate_parser, run_calibrate  # noqa: E402
from parabeam.pipeline.config import MineConfig, parse_pairs  # noqa: E402
from parabeam.pipeline.export import FORMATS, export  # noqa: E402
from parabeam.pipeline.layout import StateLayout  # noqa: E402
from parabeam.pipeline.inputs import require_files, require_matches, require_read  # noqa: E402
from parabeam.pipeline.options import (add_crawl_options, add_embedding_options, add_run_options,  # noqa: E402
                                       add_selection_options, crawl_settings, mining_settings)
from parabeam.pipeline.report import write_report  # noqa: E402
from parabeam.pipeline.run import execute, is_dry_run, prepare_output, remove_folders  # noqa: E402
from parabeam.pipeline.scores import summary as score_summary  # noqa: E402

INTERRUPTED = "interrupted; rerun the same command to resume (it clears this run's partial output and redoes it)"
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class UsageError(ValueError):
    """A command line parabeam cannot run."""


class Parser(argparse.ArgumentParser):
    """argparse that raises its errors (main prints each as one line) and takes no abbreviated options,
    which could otherwise swallow a Beam option that starts like one of ours."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


class OwnLines(logging.Handler):
    """parabeam's log records as `parabeam: warning: ...`, on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"parabeam: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def setup_logging(level: str) -> None:
    """parabeam's own records at `level`; other libraries' (Beam's) only at info or debug, where they
    replace the progress line."""
    numeric = getattr(logging, level.upper())
    own = logging.getLogger("parabeam")
    own.setLevel(numeric)
    own.propagate = False
    if not any(isinstance(handler, OwnLines) for handler in own.handlers):
        own.addHandler(OwnLines())
    verbose = numeric <= logging.INFO
    for name in ("", "apache_beam"):
        logging.getLogger(name).setLevel(numeric if verbose else logging.ERROR)
    if verbose:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")


def check_beam_args(command: str, parsers: dict[str, Parser], extra: list[str]) -> None:
    """Arguments the command does not take must be Beam pipeline options; say which other command takes an
    option, or suggest what a misspelt one meant."""
    unknown = unknown_beam_args(extra)
    if not unknown:
        return
    if not unknown[0].startswith("-"):
        raise UsageError(f"unexpected argument {unknown[0]!r}")
    name = unknown[0].split("=", 1)[0]
    elsewhere = [other for other, parser in parsers.items() if name in parser._option_string_actions]
    if elsewhere:
        raise UsageError(f"parabeam {command} does not take {name} (`parabeam {elsewhere[0]}` does)")
    ours = [option for action in parsers[command]._actions for option in action.option_strings
            if option.startswith("--")]
    close = difflib.get_close_matches(name, ours + beam_option_names(), n=1)
    raise UsageError(f"unknown option {name}" + (f": did you mean {close[0]}?" if close else
                                                  " (neither a parabeam option nor a Beam pipeline option)"))


def mine_parser(sub) -> None:
    parser = sub.add_parser("mine", help="mine bitext from crawl shards or sentence files",
                            description="Mine parallel sentences. Crawl mode: --input (WET/WARC, gzipped or "
                            "not; JSONL; Parquet; plain text) with --langs/--pairs. Sentence-file mode: "
                            "--src-sentences/--tgt-sentences with their languages (one sentence per line, "
                            "or id<TAB>sentence as in BUCC).")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="output directory (any Beam filesystem: local, gs://)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run in --output (without it, parabeam refuses to touch one)")
    crawl = add_crawl_options(parser)
    crawl.add_argument("--input", action="extend", nargs="+", default=[], metavar="PATTERN",
                       help="input files or glob patterns: several after one --input (a glob the shell "
                            "expanded works), and --input repeatable")
    files = parser.add_argument_group("sentence-file mode")
    files.add_argument("--src-sentences", metavar="FILE")
    files.add_argument("--src-lang")
    files.add_argument("--tgt-sentences", metavar="FILE")
    files.add_argument("--tgt-lang")
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        help="a quick trial: read at most N documents (crawl mode) or lines (sentence files) of each "
                             "input file (default: all)")
    add_embedding_options(parser, "parabeam-embedding-cache beside DIR")
    add_selection_options(parser)
    add_run_options(parser)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def mine_config(args: argparse.Namespace) -> MineConfig:
    """Validate the command line into a MineConfig; errors name the offending option."""
    if args.src_sentences or args.tgt_sentences:
        if args.input:
            raise ValueError("use either --input or --src-sentences/--tgt-sentences, not both")
        if not (args.src_sentences and args.tgt_sentences and args.src_lang and args.tgt_lang):
            raise ValueError("sentence-file mode needs --src-sentences, --src-lang, --tgt-sentences, --tgt-lang")
        src, tgt = parse_pairs(f"{args.src_lang}-{args.tgt_lang}")[0]
        langs = tuple(sorted({src, tgt}))
        return MineConfig(output=args.output, langs=langs, pairs=((src, tgt),), limit=args.limit,
                          sentence_files=((args.src_sentences, src), (args.tgt_sentences, tgt)),
                          **mining_settings(args, langs))
    if not args.input:
        raise ValueError("give --input PATTERN (crawl mode) or --src-sentences/--tgt-sentences")
    crawl = crawl_settings(args)
    return MineConfig(output=args.output, inputs=tuple(args.input), limit=args.limit, **crawl,
                      **mining_settings(args, crawl["langs"]))


def run_mine(args: argparse.Namespace, beam_args: list[str]) -> dict:
    cfg = mine_config(args)
    options = pipeline_options(args.runner, beam_args, args.profiles)
    if cfg.sentence_files:
        require_files({"--src-sentences": args.src_sentences, "--tgt-sentences": args.tgt_sentences})
    else:
        require_matches(cfg.inputs)
    if not is_dry_run(options):
        prepare_output(cfg.output, args.overwrite)
    run = execute(cfg, options, lambda p: build_mine(p, cfg), {"command": "mine", "runner": args.runner},
                  args.quiet)
    if "dry_run" not in run:
        require_read(run, "sentence_files" if cfg.sentence_files else "read")
    return run


def refresh_parser(sub) -> None:
    parser = sub.add_parser("refresh", help="process new crawl shards and write a new bitext release",
                            description=refresh.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--crawl", help="Common Crawl id, e.g. CC-MAIN-2026-40 (reads its wet.paths.gz)")
    source.add_argument("--listing", metavar="FILE",
                        help="file listing shard paths, one per line (wet.paths.gz format)")
    parser.add_argument("--crawl-root", default=refresh.COMMON_CRAWL_ROOT,
                        help="prefix of relative shard paths and of --crawl listings (default: %(default)s)")
    parser.add_argument("--state", required=True, metavar="DIR",
                        help="state location: ledger, sentence store, cache, releases")
    add_crawl_options(parser)
    add_embedding_options(parser, "DIR/embedding-cache of --state")
    add_selection_options(parser)
    add_run_options(parser)


def run_refresh(args: argparse.Namespace, beam_args: list[str]) -> dict | None:
    crawl = crawl_settings(args)
    mining = mining_settings(args, crawl["langs"])
    options = pipeline_options(args.runner, beam_args, args.profiles)
    listing = args.listing or refresh.crawl_listing(args.crawl, args.crawl_root)
    ledger = refresh.load_ledger(args.state)
    new = sorted(set(refresh.read_listing(listing, args.crawl_root)) - refresh.processed_shards(ledger))
    if not new:
        print(f"nothing to do: every shard of {listing} is in {args.state}'s ledger")
        return None
    release = refresh.next_release(ledger)
    parents = [entry["release"] for entry in ledger["releases"]]
    state = StateLayout(args.state)
    output = state.release(release).root
    # A killed refresh's leftovers: not in the ledger, so nothing refers to them.
    remove_folders([output, state.store(release), state.knn(release).root])
    cfg = MineConfig(output=output, inputs=tuple(new), **crawl,
                     **{**mining, "embedding_cache": args.embedding_cache or state.cache})
    run = execute(cfg, options, lambda p: refresh.build_refresh(p, cfg, args.state, release, parents, cfg.max_urls),
                  {"command": "refresh", "runner": args.runner, "release": release,
                   "parent": parents[-1] if parents else None, "listing": listing, "new_shards": new}, args.quiet,
                  finish=lambda run: {**run, "refresh": refresh.refresh_record(args.state, release)})
    require_read(run, "read")  # before the ledger: shards nothing could be read from are tried again next time
    with FileSystems.create(state.release(release).manifest) as handle:
        handle.write(json.dumps({key: run[key] for key in ("release", "parent", "listing", "new_shards", "refresh",
                                                           "parameters", "stages")}, indent=2).encode())
    ledger["releases"].append({"release": release, "shards": new, "parent": run["parent"]})
    refresh.commit_ledger(args.state, ledger)
    print(f"release {release}: {len(new)} new shards -> {output}")
    return run


def score_parser(sub) -> None:
    parser = sub.add_parser("score", help="margin and cosine for existing sentence pairs",
                            description="Score pairs you already have (TSV or Parquet); every pair is kept. "
                            "Each side's neighbourhood for the margin is the file's own other side. Output: "
                            "DIR/scores/*.parquet, one row per pair with `row`, its 1-based line (TSV) or row "
                            "(Parquet) number; `parabeam export DIR` writes them in input order.")
    parser.add_argument("--bitext", required=True, metavar="FILE", help="TSV or Parquet file of pairs")
    parser.add_argument("--src-lang", required=True)
    parser.add_argument("--tgt-lang", required=True)
    parser.add_argument("--src-column", default=None,
                        help="source column: 1-based number in TSV (default 1), name in Parquet (default src_text)")
    parser.add_argument("--tgt-column", default=None,
                        help="target column: 1-based number in TSV (default 2), name in Parquet (default tgt_text)")
    parser.add_argument("--output", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    add_embedding_options(parser, "parabeam-embedding-cache beside DIR")
    add_run_options(parser)


def run_score(args: argparse.Namespace, beam_args: list[str]) -> dict:
    (src, tgt), = parse_pairs(f"{args.src_lang}-{args.tgt_lang}")
    parquet = args.bitext.endswith(".parquet")
    columns = (args.src_column or ("src_text" if parquet else "1"), args.tgt_column or ("tgt_text" if parquet else "2"))
    langs = tuple(sorted({src, tgt}))
    cfg = MineConfig(output=args.output, langs=langs, pairs=((src, tgt),), score_input=args.bitext,
                     score_columns=columns, **mining_settings(args, langs))
    options = pipeline_options(args.runner, beam_args, args.profiles)
    require_files({"--bitext": args.bitext})
    prepare_output(cfg.output, args.overwrite)
    run = execute(cfg, options, lambda p: build_score(p, cfg), {"command": "score", "runner": args.runner},
                  args.quiet)
    require_read(run, "pairs")
    if not args.quiet:
        print(score_summary(cfg.output))
    return run


def report_parser(sub) -> None:
    parser = sub.add_parser("report", help="(re)build DIR/report.html from a finished run")
    parser.add_argument("output", metavar="DIR")


def run_report(args: argparse.Namespace, _beam_args: list[str]) -> None:
    print(write_report(args.output))


def export_parser(sub) -> None:
    parser = sub.add_parser("export", help="write a run's bitext or scores as text files",
                            description="A mining run's bitext, best pairs first, or a score run's scores in "
                            "the order of its input.")
    parser.add_argument("output", metavar="DIR")
    parser.add_argument("--format", choices=FORMATS, default="tsv",
                        help="tsv (default; bitext: score, source, target; scores: row, score, cosine, source, "
                             "target), moses (two line-aligned files) or jsonl (every column)")
    parser.add_argument("--dest", required=True, metavar="DIR", help="folder for the exported files")


def run_export(args: argparse.Namespace, _beam_args: list[str]) -> None:
    for pair, rows in export(args.output, args.format, args.dest).items():
        print(f"{pair}: {rows} pairs")


def compact_cache_parser(sub) -> None:
    parser = sub.add_parser("compact-cache", help="merge an embedding cache's files into one sorted file per key "
                            "bucket (mine and refresh also do it past a number of files)")
    parser.add_argument("cache", metavar="CACHE", help="the --embedding-cache folder (every encoder in it)")


def run_compact_cache(args: argparse.Namespace, _beam_args: list[str]) -> None:
    from parabeam.transforms.embedding_store import compact_cache
    folders = sorted({path.rsplit("/", 3)[-3] for path in (
        meta.path for meta in FileSystems.match([FileSystems.join(args.cache, "*", "*", "*.parquet")])[0].metadata_list)})
    for folder in folders:
        print(f"{folder}: {compact_cache(FileSystems.join(args.cache, folder))} files merged")


COMMANDS = {"mine": (mine_parser, run_mine), "score": (score_parser, run_score),
            "refresh": (refresh_parser, run_refresh), "calibrate": (calibrate_parser, run_calibrate),
            "report": (report_parser, run_report), "export": (export_parser, run_export),
            "compact-cache": (compact_cache_parser, run_compact_cache)}


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    """The `parabeam` parser and its commands' parsers by name."""
    parser = Parser(prog="parabeam", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser, _run in COMMANDS.values():
        add_parser(sub)
    return parser, sub.choices


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error is one `parabeam: error: ...` line and exit 2, Ctrl-C exit 130.

    Ctrl-C ends the process at once (os._exit): a Beam worker started just after the signal never got it, and the
    runner's thread waiting on that worker would keep a normal exit waiting forever; with this process gone, the
    worker's control channel closes and it ends too."""
    parser, commands = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        setup_logging(getattr(args, "log_level", "warning"))
        check_beam_args(args.command, commands, extra)
        COMMANDS[args.command][1](args, extra)
    except (ValueError, OSError, accounts.AccountingError) as error:
        print(f"parabeam: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"parabeam: {INTERRUPTED}", file=sys.stderr, flush=True)
        os._exit(EXIT_INTERRUPTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
