"""`parabeam refresh`: process only the crawl shards a state's ledger has not seen, add their sentences to
the store, embed only texts the cache has not seen, re-mine the whole corpus and write a new release.

State layout (any Beam filesystem):
  STATE/ledger.json                  releases so far, each with the shards it added (the commit point)
  STATE/store/<release>/<lang>/      sentence-store part added by that release's shards
  STATE/embedding-cache/             content-addressed vectors shared by all releases
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
from parabeam.pipeline.build import mine_store, sentence_store
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.layout import StateLayout
from parabeam.transforms import stages
from parabeam.transforms.accounting import StageFn, apply_stage
from parabeam.transforms.dedup import MergeSentences
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


def build_refresh(p: beam.Pipeline, cfg: MineConfig, state: str, release: str, parents: list[str],
                  max_urls: int) -> None:
    """New shards -> store part of `release`; all parts -> merged store -> mined release."""
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
    mine_store(merged.main, staged + [keyed, merged], cfg)
