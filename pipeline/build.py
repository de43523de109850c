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
from parabeam.transforms.margin import MarginMine
from parabeam.transforms.read import ReadDocuments
from parabeam.transforms.sentence_files import ReadSentenceFiles
from parabeam.transforms.split import SplitSentences
from parabeam.transforms.write import WriteByKey

# Every stage that can reject, in pipeline order; rejects land in DIR/rejects/<stage>/.
STAGES = ("read", "lid", "split", "dedup", "sentence_files", "embed", "bitext")


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


def mine_store(store: beam.PCollection, rejects: list[beam.PCollection], cfg: MineConfig) -> None:
    """Sentence store -> DIR/sentences, DIR/bitext and DIR/rejects (with the earlier stages' rejects)."""
    out = cfg.output
    store |= "KeepLangs" >> beam.Filter(lambda row, langs: row["lang"] in langs, set(cfg.langs))
    store | "WriteStore" >> WriteByKey(FileSystems.join(out, "sentences"), cfg.langs,
                                       lambda row: row["lang"], schemas.SENTENCES)
    encoder = get_encoder(cfg.encoder)
    slug = encoder_slug(encoder.name, encoder.version)
    vectors, embed_rejects = store | "Embed" >> CachedEmbed(
        cfg.encoder, cache_location(cfg), batch_chars=cfg.batch_chars)
    rejects.append(embed_rejects)

    texts = by_lang(store, cfg.langs, "StoreByLang")
    shards, indexes = {}, {}
    for lang, part in by_lang(vectors, cfg.langs, "VectorsByLang").items():
        shards[lang] = part | f"Shard[{lang}]" >> ShardEmbeddings(
            FileSystems.join(out, "embeddings", slug, lang), encoder.dim, cfg.memory_budget)
        indexes[lang] = shards[lang] | f"Index[{lang}]" >> BuildIndex(
            FileSystems.join(out, "index", slug, lang), cfg.index)
    threshold = threshold_of(cfg)
    bitexts = []
    for src, tgt in cfg.pairs:
        pair = f"{src}-{tgt}"
        knn = NearestNeighbours(k=cfg.k, nprobe=cfg.nprobe)
        fwd = (shards[src], indexes[tgt]) | f"KNN[{src}->{tgt}]" >> knn
        bwd = (shards[tgt], indexes[src]) | f"KNN[{tgt}->{src}]" >> knn
        mined = (fwd, bwd) | f"Margin[{pair}]" >> MarginMine(cfg.margin, cfg.retrieval, threshold)
        rows, bitext_rejects = (mined, texts[src], texts[tgt]) | f"Bitext[{pair}]" >> ToBitext(
            src, tgt, slug, max_score=cfg.max_score, max_length_ratio=cfg.max_length_ratio,
            drop_identical=cfg.drop_identical)
        bitexts.append(rows)
        rejects.append(bitext_rejects)
    if bitexts:
        pair_names = [f"{src}-{tgt}" for src, tgt in cfg.pairs]
        (bitexts | "AllBitext" >> beam.Flatten()
         | "WriteBitext" >> WriteByKey(FileSystems.join(out, "bitext"), pair_names,
                                       lambda row: f"{row['src_lang']}-{row['tgt_lang']}", schemas.BITEXT))
    (rejects | "AllRejects" >> beam.Flatten()
     | "KeepRejectRows" >> beam.Filter(lambda row, skip: row["reason"] not in skip, set(cfg.skip_reject_reasons))
     | "WriteRejects" >> WriteByKey(FileSystems.join(out, "rejects"), STAGES, lambda row: row["stage"],
                                    schemas.REJECTS))
