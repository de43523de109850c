"""`parabeam refresh`: process only the crawl shards a state's ledger has not seen, add their sentences to
the store, and mine incrementally: only sentences that are not in the last release's embedding shards are
embedded (through the cache) and go into new shards of the same trained index; new queries are searched
against every index shard, old queries against the new shards only, and their stored top-k lists are merged
with what that finds (transforms/incremental.py). Margins, thresholds and bitext are recomputed from all the
merged lists, so the release is what mining everything from scratch gives (exactly, with a flat index; with
IVF, with the release's trained index). A language whose index is trained for too small a corpus
(knn.needs_retrain), whose sentences left the corpus, or that has no stored state is mined in full; run.json's
`refresh` says which and why.

State layout (any Beam filesystem):
  STATE/ledger.json                  releases so far, each with the shards it added (the commit point)
  STATE/store/<release>/<lang>/      sentence-store part added by that release's shards
  STATE/embedding-cache/             content-addressed vectors shared by all releases
  STATE/knn/<release>/               embedding and index shards it added, every query shard's neighbour
                                     block, knn.json (the kNN state the next refresh starts from)
  STATE/releases/<release>/          bitext, sentences, rejects, run.json, manifest.json, report.html

The ledger is rewritten only after a release is complete, so a failed or killed refresh leaves the ledger as
it was; rerunning clears that release's leftovers and produces it again.
"""
from __future__ import annotations

import gzip
import json
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet

from parabeam import schemas
from parabeam.pipeline.build import cache_location, mine_store, sentence_store
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.layout import StateLayout
from parabeam.transforms import stages
from parabeam.transforms.accounting import StageFn, apply_stage
from parabeam.transforms.dedup import MergeSentences
from parabeam.transforms.embedding_store import encoder_slug
from parabeam.transforms.encoders import get_encoder
from parabeam.transforms.incremental import IncrementalNeighbours, KnnState, read_state
from parabeam.transforms.write import WriteByKey

COMMON_CRAWL_ROOT = "s3://commoncrawl/"
STAGE = stages.STORE_MERGE.name


def read_listing(path: str, root: str) -> list[str]:
    """Shard paths of a `wet.paths(.gz)` listing: one path per line, relative to the crawl root or absolute."""
    with FileSystems.open(path) as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    return [line if "://" in line or line.startswith("/") else FileSystems.join(root, line) for line in lines]


def crawl_listing(crawl: str, root: str) -> str:
    """Where Common Crawl keeps a crawl's WET listing."""
    return FileSystems.join(root, "crawl-data", crawl, "wet.paths.gz")


def load_ledger(state: str) -> dict:
    path = StateLayout(state).ledger
    if not FileSystems.exists(path):
        return {"releases": []}
    with FileSystems.open(path) as handle:
        return json.loads(handle.read())


def commit_ledger(state: str, ledger: dict) -> None:
    """Write the ledger beside the old one, then rename it over the old one: readers, and a refresh killed at
    any moment, see the old ledger or the new one, whole, never none."""
    path = StateLayout(state).ledger
    pending = path + ".pending"
    with FileSystems.create(pending) as handle:
        handle.write(json.dumps(ledger, indent=2, sort_keys=True).encode())
    FileSystems.rename([pending], [path])


def processed_shards(ledger: dict) -> set[str]:
    return {shard for release in ledger["releases"] for shard in release["shards"]}


def next_release(ledger: dict) -> str:
    return f"r{len(ledger['releases']) + 1:04d}"


class MergeStoreRows(beam.CombineFn):
    """Store rows of one sentence from several releases -> (merged, how many rows): counts add up and the
    smallest URLs are kept, exactly as if every shard had been deduplicated in one run."""

    def __init__(self, max_urls: int):
        self.sentences = MergeSentences(max_urls)

    def create_accumulator(self):
        return self.sentences.create_accumulator(), 0

    def add_input(self, accumulator, row):
        return self.merge_accumulators([accumulator, ((row["text"], row["count"], tuple(row["urls"])), 1)])

    def merge_accumulators(self, accumulators):
        merged, rows = zip(*accumulators)
        return self.sentences.merge_accumulators(merged), sum(rows)

    def extract_output(self, accumulator):
        return accumulator


class _MergedRowFn(StageFn):
    stage = STAGE

    def process(self, item) -> Iterator[dict]:
        (lang, ident), ((text, total, urls), rows) = item
        self.count("out", lang)
        if rows > 1:
            self.count("merged:duplicate", lang, rows - 1)
        yield {"id": ident, "lang": lang, "text": text, "count": total, "urls": list(urls)}


class _CountInFn(StageFn):
    stage = STAGE

    def process(self, row: dict) -> Iterator[tuple[tuple[str, str], dict]]:
        self.count("in", row["lang"])
        yield (row["lang"], row["id"]), row


def parent_state(state: str, parents: list[str]) -> KnnState | None:
    """The kNN state of the last release, None before the first (or when it kept none)."""
    return read_state(StateLayout(state).knn(parents[-1]).manifest) if parents else None


def incremental_neighbours(state: str, release: str, parents: list[str]):
    """mine_store's neighbours_of for a refresh: IncrementalNeighbours on the last release's kNN state."""
    parent = parent_state(state, parents)

    def neighbours_of(store: beam.PCollection, staged: list, cfg: MineConfig):
        encoder = get_encoder(cfg.encoder)
        slug = encoder_slug(encoder.name, encoder.version)
        refreshed = store | "Refresh" >> IncrementalNeighbours(
            parent, StateLayout(state).knn(release), slug, pairs=cfg.pairs, k=cfg.k, nprobe=cfg.nprobe,
            index=cfg.index, encoder=cfg.encoder, cache=cache_location(cfg), batch_chars=cfg.batch_chars,
            dim=encoder.dim, memory_budget=cfg.memory_budget, accelerator=cfg.accelerator,
            torch_accelerator=cfg.accelerator if encoder.uses_torch else None)
        staged.append(refreshed.embedded)
        return refreshed.blocks, slug
    return neighbours_of


def refresh_record(state: str, release: str) -> dict:
    """run.json's `refresh`: per language, how the release mined it (incremental, or full and why), its
    sentences, new and removed ones, and the corpus size its index is built for."""
    knn = read_state(StateLayout(state).knn(release).manifest)
    return {lang: {key: value for key, value in mode._asdict().items() if key != "lang"}
            for lang, mode in sorted(knn.modes.items())} if knn else {}


def build_refresh(p: beam.Pipeline, cfg: MineConfig, state: str, release: str, parents: list[str],
                  max_urls: int) -> None:
    """New shards -> store part of `release`; all parts -> merged store -> release mined incrementally on the
    last release's kNN state."""
    layout = StateLayout(state)
    new_store, staged = sentence_store(p, cfg)
    new_store | "WriteStorePart" >> WriteByKey(layout.store(release), lambda row: row["lang"], schemas.SENTENCES,
                                               spread=lambda row: row["id"])
    old_parts = (p | "Parents" >> beam.Create([FileSystems.join(layout.store(parent), "*", "*.parquet")
                                               for parent in parents])
                 | "ReadStore" >> ReadAllFromParquet())
    keyed = apply_stage((new_store, old_parts) | "AllParts" >> beam.Flatten(), "KeyById", _CountInFn())
    merged = apply_stage(keyed.main | "Merge" >> beam.CombinePerKey(MergeStoreRows(max_urls)), "StoreRow",
                         _MergedRowFn())
    mine_store(merged.main, staged + [keyed, merged], cfg, incremental_neighbours(state, release, parents))
