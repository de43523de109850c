"""Wire the stages into one Beam graph: documents -> paragraphs -> sentences -> sentence store ->
embeddings -> neighbours -> margin-scored pairs -> bitext. Stage logic lives in transforms/."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from parabeam import schemas
from parabeam.pipeline.config import MineConfig
from parabeam.transforms.bitext import ToBitext
from parabeam.transforms.dedup import Deduplicate
from parabeam.transforms.embedding_store import CachedEmbed, ShardEmbeddings, encoder_slug
from parabeam.transforms.encoders import get_encoder
from parabeam.transforms.knn import BuildIndex, NearestNeighbours
from parabeam.transforms.lid import IdentifyLanguage
from parabeam.transforms.margin import MarginMine, ScorePairs
from parabeam.transforms.pairs import ReadPairs, side_sentences
from parabeam.transforms.read import ReadDocuments
from parabeam.transforms.sentence_files import ReadSentenceFiles
from parabeam.transforms.split import SplitSentences
from parabeam.transforms.write import WriteByKey, write_parquet

# Every stage that can reject, in pipeline order; rejects land in DIR/rejects/<stage>/.
STAGES = ("read", "lid", "split", "dedup", "sentence_files", "pairs", "embed", "bitext")


def threshold_of(cfg: MineConfig) -> float:
    return cfg.threshold if cfg.threshold is not None else get_encoder(cfg.encoder).default_threshold


def sentence_store(p: beam.Pipeline, cfg: MineConfig) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Crawl documents (or pre-split sentence files) -> one row per unique sentence and language."""
    if cfg.sentence_files:
        store, rejects = p | "SentenceFiles" >> ReadSentenceFiles(cfg.sentence_files)
        return store, [rejects]
    docs, read_rejects = p | "Read" >> ReadDocuments(list(cfg.inputs))
    paragraphs, lid_rejects = docs | "LID" >> IdentifyLanguage(
        set(cfg.langs), model_path=cfg.lid_model, threshold=cfg.lid_threshold,
        thresholds=dict(cfg.lid_thresholds))
    sentences, split_rejects = paragraphs | "Split" >> SplitSentences()
    store, dedup_rejects = sentences | "Dedup" >> Deduplicate(max_urls=cfg.max_urls)
    return store, [read_rejects, lid_rejects, split_rejects, dedup_rejects]


def cache_location(cfg: MineConfig) -> str:
    """--embedding-cache, or a folder beside the output so that reruns and refreshes share it."""
    if cfg.embedding_cache:
        return cfg.embedding_cache
    parent, _name = FileSystems.split(cfg.output.rstrip("/"))
    return FileSystems.join(parent, "parabeam-embedding-cache")


def by_lang(pcoll: beam.PCollection, langs: tuple[str, ...], label: str) -> dict[str, beam.PCollection]:
    parts = pcoll | label >> beam.Partition(lambda row, _n: langs.index(row["lang"]), len(langs))
    return dict(zip(langs, parts))


def build_mine(p: beam.Pipeline, cfg: MineConfig) -> None:
    """The whole `parabeam mine` job."""
    store, rejects = sentence_store(p, cfg)
    mine_store(store, rejects, cfg)


def embed_and_index(store: beam.PCollection, rejects: list[beam.PCollection], cfg: MineConfig):
    """Sentence rows -> per language: embedding rows, embedding shards and index shards."""
    encoder = get_encoder(cfg.encoder)
    slug = encoder_slug(encoder.name, encoder.version)
    vectors, embed_rejects = store | "Embed" >> CachedEmbed(
        cfg.encoder, cache_location(cfg), batch_chars=cfg.batch_chars,
        accelerator=cfg.accelerator if encoder.uses_torch else None)
    rejects.append(embed_rejects)
    vectors = by_lang(vectors, cfg.langs, "VectorsByLang")
    shards, indexes = {}, {}
    for lang, part in vectors.items():
        shards[lang] = part | f"Shard[{lang}]" >> ShardEmbeddings(
            FileSystems.join(cfg.output, "embeddings", slug, lang), encoder.dim, cfg.memory_budget)
        indexes[lang] = shards[lang] | f"Index[{lang}]" >> BuildIndex(
            FileSystems.join(cfg.output, "index", slug, lang), cfg.index, cfg.nprobe)
    return vectors, shards, indexes, slug


def neighbours(shards: dict, indexes: dict, src: str, tgt: str, cfg: MineConfig):
    """k nearest neighbours both ways between two languages' shards."""
    knn = NearestNeighbours(k=cfg.k, nprobe=cfg.nprobe, accelerator=cfg.accelerator)
    return ((shards[src], indexes[tgt]) | f"KNN[{src}->{tgt}]" >> knn,
            (shards[tgt], indexes[src]) | f"KNN[{tgt}->{src}]" >> knn)


def write_rejects(rejects: list[beam.PCollection], cfg: MineConfig) -> None:
    (rejects | "AllRejects" >> beam.Flatten()
     | "KeepRejectRows" >> beam.Filter(lambda row, skip: row["reason"] not in skip, set(cfg.skip_reject_reasons))
     | "WriteRejects" >> WriteByKey(FileSystems.join(cfg.output, "rejects"), STAGES, lambda row: row["stage"],
                                    schemas.REJECTS))


def mine_store(store: beam.PCollection, rejects: list[beam.PCollection], cfg: MineConfig) -> None:
    """Sentence store -> DIR/sentences, DIR/bitext and DIR/rejects (with the earlier stages' rejects)."""
    store |= "KeepLangs" >> beam.Filter(lambda row, langs: row["lang"] in langs, set(cfg.langs))
    store | "WriteStore" >> WriteByKey(FileSystems.join(cfg.output, "sentences"), cfg.langs,
                                       lambda row: row["lang"], schemas.SENTENCES)
    _vectors, shards, indexes, slug = embed_and_index(store, rejects, cfg)
    texts = by_lang(store, cfg.langs, "StoreByLang")
    threshold = threshold_of(cfg)
    bitexts = []
    for src, tgt in cfg.pairs:
        pair = f"{src}-{tgt}"
        mined = (neighbours(shards, indexes, src, tgt, cfg)
                 | f"Margin[{pair}]" >> MarginMine(cfg.margin, cfg.retrieval, threshold))
        rows, bitext_rejects = (mined, texts[src], texts[tgt]) | f"Bitext[{pair}]" >> ToBitext(
            src, tgt, slug, max_score=cfg.max_score, max_length_ratio=cfg.max_length_ratio,
            drop_identical=cfg.drop_identical)
        bitexts.append(rows)
        rejects.append(bitext_rejects)
    pair_names = [f"{src}-{tgt}" for src, tgt in cfg.pairs]
    (bitexts | "AllBitext" >> beam.Flatten()
     | "WriteBitext" >> WriteByKey(FileSystems.join(cfg.output, "bitext"), pair_names,
                                   lambda row: f"{row['src_lang']}-{row['tgt_lang']}", schemas.BITEXT))
    write_rejects(rejects, cfg)


def build_score(p: beam.Pipeline, cfg: MineConfig) -> None:
    """`parabeam score`: margin and cosine of existing pairs, neighbourhoods from the file's own two sides."""
    (src, tgt), = cfg.pairs
    pairs, pair_rejects = p | "ReadPairs" >> ReadPairs(cfg.score_input, *cfg.score_columns)
    sides = [side_sentences(pairs, "src", src), side_sentences(pairs, "tgt", tgt)]
    rejects = [pair_rejects]
    vectors, shards, indexes, _slug = embed_and_index(sides | "Sides" >> beam.Flatten(), rejects, cfg)
    fwd, bwd = neighbours(shards, indexes, src, tgt, cfg)
    scored = (pairs, vectors[src], vectors[tgt], fwd, bwd) | "Score" >> ScorePairs(cfg.margin)
    write_parquet(scored, FileSystems.join(cfg.output, "scores"), schemas.SCORES, "WriteScores")
    write_rejects(rejects, cfg)
