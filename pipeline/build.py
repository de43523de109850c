"""Wire the stages into one Beam graph: documents -> paragraphs -> sentences -> sentence store ->
embeddings -> neighbours -> margin-scored pairs -> bitext. Stage logic lives in transforms/.

Languages, pairs and shards are keys in the data: one chain of transforms serves every language and pair, so
the graph is the same size for 2 languages or 100. Every stage's rejects and counts (accounting.Staged) are
collected here and written with the run: DIR/rejects/<stage>/ and DIR/accounts/.
"""
from __future__ import annotations

from typing import Callable

import apache_beam as beam

from parabeam import schemas
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.layout import RunLayout
from parabeam.transforms.accounting import REJECT_SAMPLE, Staged, SumCounts
from parabeam.transforms.bitext import AttachTexts, ToBitext
from parabeam.transforms.boilerplate import DropBoilerplate
from parabeam.transforms.dedup import Deduplicate
from parabeam.transforms.embedding_store import CachedEmbed, ShardEmbeddings, encoder_slug
from parabeam.transforms.encoders import get_encoder
from parabeam.transforms.knn import BuildIndex, NearestNeighbours
from parabeam.transforms.lid import IdentifyLanguage
from parabeam.transforms.margin import AUTO, MarginMine, ScorePairs
from parabeam.transforms.pairs import ReadPairs, side_sentences
from parabeam.transforms.read import ReadDocuments
from parabeam.transforms.sentence_files import ReadSentenceFiles
from parabeam.transforms.split import SplitSentences
from parabeam.transforms.write import WriteByKey


def threshold_of(cfg: MineConfig) -> float | str:
    """--threshold (a number, or "auto"), else "auto" (chosen per language pair, never below the encoder's
    default where the pair looks like a web crawl: threshold.choose_guarded) for the ratio margin, else the
    encoder's default."""
    if cfg.threshold is not None:
        return cfg.threshold
    return AUTO if cfg.margin == "ratio" else get_encoder(cfg.encoder).default_threshold


def sentence_store(p: beam.Pipeline, cfg: MineConfig) -> tuple[beam.PCollection, list[Staged]]:
    """Crawl documents (or pre-split sentence files) -> one row per unique sentence and language, and the
    stages that made it."""
    if cfg.sentence_files:
        files = p | "SentenceFiles" >> ReadSentenceFiles(cfg.sentence_files, cfg.limit)
        return files.main, [files]
    sample = None if cfg.all_rejects else REJECT_SAMPLE
    read = p | "Read" >> ReadDocuments(list(cfg.inputs), cfg.limit)
    lid = read.main | "LID" >> IdentifyLanguage(set(cfg.langs), model_path=cfg.lid_model, threshold=cfg.lid_threshold,
                                                thresholds=dict(cfg.lid_thresholds), reject_sample=sample)
    split = lid.main | "Split" >> SplitSentences(lid_model=cfg.lid_model, reject_sample=sample)
    dedup = split.main | "Dedup" >> Deduplicate(max_urls=cfg.max_urls, reject_sample=sample)
    return dedup.main, [read, lid, split, dedup]


def cache_location(cfg: MineConfig) -> str:
    """--embedding-cache, or a folder beside the output so that reruns and refreshes share it."""
    return cfg.embedding_cache or RunLayout(cfg.output).default_cache()


def build_mine(p: beam.Pipeline, cfg: MineConfig) -> None:
    """The whole `parabeam mine` job."""
    store, staged = sentence_store(p, cfg)
    mine_store(store, staged, cfg)


def embed_and_index(store: beam.PCollection, staged: list[Staged], cfg: MineConfig):
    """Sentence rows of every language -> (embedding rows, embedding shards, index shards, encoder slug)."""
    layout = RunLayout(cfg.output)
    encoder = get_encoder(cfg.encoder)
    slug = encoder_slug(encoder.name, encoder.version)
    embedded = store | "Embed" >> CachedEmbed(cfg.encoder, cache_location(cfg), batch_chars=cfg.batch_chars,
                                              accelerator=cfg.accelerator if encoder.uses_torch else None)
    staged.append(embedded)
    shards = embedded.main | "Shard" >> ShardEmbeddings(layout.embeddings(slug), encoder.dim, cfg.memory_budget)
    indexes = shards | "Index" >> BuildIndex(layout.index(slug), cfg.index, cfg.nprobe)
    return embedded.main, shards, indexes, slug


def neighbours(shards, indexes, cfg: MineConfig):
    """k nearest neighbours in both directions of every pair, keyed by (query lang, target lang, shard)."""
    return (shards, indexes) | "KNN" >> NearestNeighbours(cfg.pairs, k=cfg.k, nprobe=cfg.nprobe,
                                                           accelerator=cfg.accelerator)


def write_accounts(staged: list[Staged], cfg: MineConfig) -> None:
    """Rejects to DIR/rejects/<stage>/ (less the reasons asked to skip, which are still counted) and every
    stage's counts, summed per (stage, what, lang), to DIR/accounts/."""
    layout = RunLayout(cfg.output)
    (tuple(stage.rejects for stage in staged) | "AllRejects" >> beam.Flatten()
     | "KeepRejectRows" >> beam.Filter(lambda row, skip: row.reason not in skip, set(cfg.skip_reject_reasons))
     | "WriteRejects" >> WriteByKey(layout.rejects, lambda row: row.stage, schemas.REJECTS))
    (tuple(stage.counts for stage in staged) | "AllCounts" >> beam.Flatten()
     | "SumCounts" >> SumCounts()
     | "WriteAccounts" >> WriteByKey(layout.root, lambda _tally: "accounts", schemas.ACCOUNTS))


def scratch_neighbours(store: beam.PCollection, staged: list[Staged], cfg: MineConfig):
    """Sentence rows -> (neighbour blocks of every direction, encoder slug): everything embedded (through
    the cache), sharded, indexed and searched."""
    _vectors, shards, indexes, slug = embed_and_index(store, staged, cfg)
    return neighbours(shards, indexes, cfg), slug


def mine_store(store: beam.PCollection, staged: list[Staged], cfg: MineConfig,
               neighbours_of: Callable = scratch_neighbours) -> None:
    """Sentence store -> DIR/sentences, DIR/bitext, DIR/rejects and DIR/accounts (with the earlier stages').
    `neighbours_of(store, staged, cfg)` gives the neighbour blocks and the encoder slug: from scratch, or a
    refresh's incremental ones (pipeline/refresh.py)."""
    layout = RunLayout(cfg.output)
    store |= "KeepLangs" >> beam.Filter(lambda row, langs: row["lang"] in langs, set(cfg.langs))
    boilerplate = store | "DropBoilerplate" >> DropBoilerplate(
        cfg.boilerplate_pages, reject_sample=None if cfg.all_rejects else REJECT_SAMPLE)
    staged.append(boilerplate)
    store = boilerplate.main
    store | "WriteStore" >> WriteByKey(layout.sentences, lambda row: row["lang"], schemas.SENTENCES,
                                       spread=lambda row: row["id"])
    blocks, slug = neighbours_of(store, staged, cfg)
    mined = blocks | "Margin" >> MarginMine(
        cfg.pairs, cfg.margin, cfg.retrieval, threshold_of(cfg),
        fallback=get_encoder(cfg.encoder).default_threshold, choices_path=layout.thresholds)
    bitext = (mined.pairs, store) | "Bitext" >> ToBitext(slug, max_score=cfg.max_score,
                                                         max_length_ratio=cfg.max_length_ratio,
                                                         drop_identical=cfg.drop_identical)
    staged.append(bitext)
    bitext.main | "WriteBitext" >> WriteByKey(layout.bitext, lambda row: row.pair, schemas.BITEXT,
                                              spread=lambda row: row.src_id + row.tgt_id)
    ((mined.near, store) | "NearTexts" >> AttachTexts(slug)
     | "WriteNear" >> WriteByKey(layout.below_threshold, lambda row: row.pair, schemas.BITEXT,
                                 spread=lambda row: row.src_id + row.tgt_id))
    write_accounts(staged, cfg)


def build_score(p: beam.Pipeline, cfg: MineConfig) -> None:
    """`parabeam score`: margin and cosine of existing pairs, neighbourhoods from the file's own two sides."""
    (src, tgt), = cfg.pairs
    pairs = p | "ReadPairs" >> ReadPairs(cfg.score_input, *cfg.score_columns)
    sides = (side_sentences(pairs.main, "src", src), side_sentences(pairs.main, "tgt", tgt)) | "Sides" >> beam.Flatten()
    staged = [pairs]
    vectors, shards, indexes, _slug = embed_and_index(sides, staged, cfg)
    scored = (pairs.main, vectors, neighbours(shards, indexes, cfg)) | "Score" >> ScorePairs(src, tgt, cfg.margin)
    scored | "WriteScores" >> WriteByKey(RunLayout(cfg.output).root, lambda _row: "scores", schemas.SCORES,
                                         order=lambda row: row["row"])   # input order, file by file
    write_accounts(staged, cfg)
