"""Incremental kNN for refreshes: a release keeps, per language, its index shards (one trained index each) and
every query shard's top-k neighbour block in both directions; the next release adds the new sentences as new
shards of the same trained index and searches only what is new:

  new query shards  x  every index shard of the target language
  old query shards  x  the target's new index shards only, merged into their stored blocks (knn.TopK)

With an exact (flat) index the merged blocks equal a search of everything; with IVF they equal what the same
trained index, filled with every vector, returns (every shard probes the same lists). Margins, thresholds and
the bitext are then recomputed from all blocks, as a from-scratch mine does.

A language is mined in full instead (new shards of all its sentences, its index trained again, no stored
block towards or from it reused) when it has no stored state, when the kNN parameters changed, when
sentences left its corpus (a stored neighbour may be gone), or when knn.needs_retrain says its index is
trained for too small a corpus (RETRAIN_LIST_GROWTH: stopes' table asks for twice the lists it has, or a flat
index must become IVF). A direction without a stored block (a new pair) is searched in full on its own.

Pure functions above the marker; Beam wiring below it.
"""
from __future__ import annotations

import json
import zlib
from typing import Any, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from parabeam.transforms.embedding_store import CachedEmbed, Shard, ShardEmbeddings, read_npz
from parabeam.transforms.knn import (BuildIndex, IndexShard, NearestNeighbours, Neighbours, Plan, directions_of,
                                     needs_retrain, read_block, write_block)

Key = tuple[str, str, str]   # (query lang, target lang, query shard path)


class LangState(NamedTuple):
    """One language's kNN state in a release: the index kind, its trained empty index (None for flat), the
    corpus size it was built for (trained, or for flat last rebuilt from scratch), every index shard and
    every embedding shard (the query shards; flat index shards are the same files)."""
    kind: str
    trained: str | None
    trained_for: int
    shards: tuple[IndexShard, ...]
    embedded: tuple[Shard, ...]


class KnnState(NamedTuple):
    """What a release keeps for the next refresh (STATE/knn/<release>/knn.json)."""
    params: dict                     # the kNN parameters the state is valid for (compatible())
    langs: dict[str, LangState]
    blocks: dict[Key, str]           # (query lang, target lang, query shard path) -> block file
    modes: dict[str, "Mode"] = {}    # how the release mined each language (for run.json; not read back)


class Mode(NamedTuple):
    """How a refresh mines one language: incrementally, or in full (and why)."""
    lang: str
    full: bool
    reason: str
    sentences: int     # in its corpus now
    new: int           # not in the stored shards
    removed: int       # in the stored shards, no longer in the corpus
    trained_for: int   # what this release's index of the language is built for


def knn_params(encoder_slug: str, k: int, nprobe: int, index: str) -> dict:
    return {"encoder": encoder_slug, "k": k, "nprobe": nprobe, "index": index}


def language_mode(lang: str, stored: LangState | None, sentences: int, new: int, removed: int, kind: str,
                  compatible: bool) -> Mode:
    """The rule, per language: incremental unless one of the reasons in the module docstring holds."""
    if stored is None:
        reason = "no stored index"
    elif not compatible:
        reason = "kNN parameters changed"
    elif removed:
        reason = "sentences left the corpus"
    elif needs_retrain(stored.trained_for, sentences, kind):
        reason = f"retrain: trained for {stored.trained_for} sentences, now {sentences}"
    else:
        return Mode(lang, False, "incremental", sentences, new, removed, stored.trained_for)
    return Mode(lang, True, reason, sentences, new, removed, sentences)


def usable_block(key: Key, modes: dict[str, Mode], directions: Iterable[tuple[str, str]]) -> bool:
    """A stored block is merged into only when both its languages are refreshed incrementally and the
    direction is still mined."""
    query, target, _shard = key
    return (query, target) in set(directions) and all(
        lang in modes and not modes[lang].full for lang in (query, target))


def block_path(root: str, key: Key) -> str:
    """Where a release writes one query shard's merged block: shard file names repeat across releases, so
    the name carries a hash of the shard's path."""
    query, target, shard = key
    name = shard.rsplit("/", 1)[-1].replace(".npz", f".{zlib.crc32(shard.encode()):08x}.npz")
    return FileSystems.join(root, f"{query}-{target}", name)


def knn_root(manifest: str) -> str:
    """The folder that holds every release's kNN state (STATE/knn) for a release's knn.json: the paths in a
    manifest are written relative to it, so a state folder can be moved or copied whole."""
    return FileSystems.split(FileSystems.split(manifest)[0])[0]


def _relative(path: str | None, root: str) -> str | None:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path and path.startswith(prefix) else path


def _resolved(path: str | None, root: str) -> str | None:
    """A manifest path as a usable one: relative ones under `root`; absolute ones (states written before
    paths were relative, or files kept outside the state folder) as they are."""
    return path if not path or path.startswith("/") or "://" in path else FileSystems.join(root, path)


def _shard_paths(shard: IndexShard, convert) -> IndexShard:
    return shard._replace(path=convert(shard.path), index=convert(shard.index), trained=convert(shard.trained),
                          sources=tuple(convert(source) for source in shard.sources))


def _index_shard(data: dict) -> IndexShard:
    return IndexShard(**{**data, "lists": tuple(data["lists"]) if data.get("lists") else None,
                         "sources": tuple(data.get("sources", ()))})


def _embedded(ls: dict, res) -> tuple[Shard, ...]:
    """A language's embedding shards from knn.json; states written before list-range index shards kept none
    apart, their index shards being the embedding shards."""
    if "embedded" in ls:
        return tuple(Shard(shard["lang"], res(shard["path"]), shard["rows"]) for shard in ls["embedded"])
    return tuple(Shard(shard["lang"], res(shard["path"]), shard["rows"]) for shard in ls["shards"])


def state_to_json(state: KnnState, root: str) -> dict:
    def rel(path):
        return _relative(path, root)
    return {"params": state.params,
            "langs": {lang: {"kind": ls.kind, "trained": rel(ls.trained), "trained_for": ls.trained_for,
                             "shards": [_shard_paths(shard, rel)._asdict() for shard in sorted(ls.shards)],
                             "embedded": [shard._replace(path=rel(shard.path))._asdict()
                                          for shard in sorted(ls.embedded)]}
                      for lang, ls in sorted(state.langs.items())},
            "modes": {lang: mode._asdict() for lang, mode in sorted(state.modes.items())},
            "blocks": [{"query": q, "target": t, "shard": rel(shard), "block": rel(path)}
                       for (q, t, shard), path in sorted(state.blocks.items())]}


def state_from_json(data: dict, root: str) -> KnnState:
    def res(path):
        return _resolved(path, root)
    return KnnState(data["params"],
                    {lang: LangState(ls["kind"], res(ls["trained"]), ls["trained_for"],
                                     tuple(_shard_paths(_index_shard(shard), res) for shard in ls["shards"]),
                                     _embedded(ls, res))
                     for lang, ls in data["langs"].items()},
                    {(b["query"], b["target"], res(b["shard"])): res(b["block"]) for b in data["blocks"]},
                    {lang: Mode(**mode) for lang, mode in data.get("modes", {}).items()})


def read_state(path: str) -> KnnState | None:
    """A release's kNN state, or None when it kept none (a release made before incremental refresh)."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as handle:
        return state_from_json(json.loads(handle.read()), knn_root(path))


def collect_state(params: dict, items: Iterable[tuple]) -> KnnState:
    """This release's state from the pipeline's ("shard", IndexShard), ("embedded", Shard), ("mode", Mode),
    ("block", key, path)."""
    shards: dict[str, list[IndexShard]] = {}
    embedded: dict[str, list[Shard]] = {}
    modes: dict[str, Mode] = {}
    blocks: dict[Key, str] = {}
    for item in items:
        if item[0] == "shard":
            shards.setdefault(item[1].lang, []).append(item[1])
        elif item[0] == "embedded":
            embedded.setdefault(item[1].lang, []).append(item[1])
        elif item[0] == "mode":
            modes[item[1].lang] = item[1]
        else:
            blocks[item[1]] = item[2]
    langs = {}
    for lang, found in shards.items():
        kinds, trained = {shard.kind for shard in found}, {shard.trained for shard in found}
        if len(kinds) != 1 or len(trained) != 1:
            raise ValueError(f"{lang}: index shards of several kinds or trained indexes: {kinds} {trained}")
        langs[lang] = LangState(kinds.pop(), trained.pop(), modes[lang].trained_for, tuple(sorted(found)),
                                tuple(sorted(embedded.get(lang, ()))))
    return KnnState(params, langs, blocks, modes)


# ---- end of pure functions; Beam wiring below ----

def _old_ids(shard: Shard) -> Iterator[tuple[tuple[str, str], str]]:
    for ident in read_npz(shard.path, "ids")["ids"].tolist():
        yield (shard.lang, ident), "old"


def _classify(key: tuple[str, str], grouped: dict) -> Iterator:
    """(lang, id) -> main: (row, stored before?); "stats": (lang, (sentences, new, removed))."""
    lang, _ident = key
    old, rows = bool(list(grouped["old"])), list(grouped["row"])
    for row in rows:
        yield row, old
        yield beam.pvalue.TaggedOutput("stats", (lang, (1, int(not old), 0)))
    if old and not rows:
        yield beam.pvalue.TaggedOutput("stats", (lang, (0, 0, 1)))


def _sum_stats(stats: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
    return tuple(map(sum, zip(*stats))) or (0, 0, 0)


def _incremental(lang: str, modes: dict[str, Mode]) -> bool:
    return lang in modes and not modes[lang].full


def _to_shard(item: tuple[dict, bool], modes: dict[str, Mode]) -> Iterator[dict]:
    """Sentences that go into this release's new shards: the new ones, and every one of a language mined in
    full."""
    row, old = item
    if not old or modes[row["lang"]].full:
        yield row


def _write(key: Key, block: Neighbours, root: str, knn: str) -> tuple:
    """A merged block under `root`, the index shards it covers written relative to the kNN folder `knn`."""
    path = block_path(root, key)
    write_block(path, block._replace(shards=tuple(_relative(shard, knn) for shard in block.shards)))
    return "block", key, path


def read_kept_block(path: str, knn: str) -> Neighbours:
    """A block a release kept, the index shards it covers resolved under the kNN folder `knn`."""
    block = read_block(path)
    return block._replace(shards=tuple(_resolved(shard, knn) for shard in block.shards))


def _write_state(items: list, params: dict, path: str) -> str:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(state_to_json(collect_state(params, items), knn_root(path)), indent=2,
                                sort_keys=True).encode())
    return path


class Refreshed(NamedTuple):
    blocks: Any     # ((query lang, target lang, query shard path), Neighbours): merged, every query shard
    embedded: Any   # accounting.Staged of embedding the sentences that needed it
    modes: Any      # Mode per language


class IncrementalNeighbours(beam.PTransform):
    """Sentence rows of the grown corpus (every language) -> Refreshed: neighbour blocks of both directions of
    every pair, mined incrementally on top of `parent` (the last release's KnnState, or None), and this
    release's state written under `layout` (a KnnLayout) for the next refresh.

    Sentences are told old or new by their ids in the parent's shards (a join by (lang, id)); only new ones
    (and all of a language mined in full) are embedded, through the cache, and sharded into new shards."""

    def __init__(self, parent: KnnState | None, layout, slug: str, *, pairs, k: int, nprobe: int, index: str,
                 encoder: str, cache: str, batch_chars: int, dim: int, memory_budget: int,
                 accelerator: str | None = None, torch_accelerator: str | None = None):
        super().__init__()
        self.parent, self.layout, self.slug = parent, layout, slug
        self.pairs, self.k, self.nprobe, self.index = tuple(pairs), k, nprobe, index
        self.encoder, self.cache, self.batch_chars, self.dim = encoder, cache, batch_chars, dim
        self.memory_budget, self.accelerator, self.torch_accelerator = memory_budget, accelerator, torch_accelerator
        self.params = knn_params(slug, k, nprobe, index)

    def expand(self, rows) -> Refreshed:
        p = rows.pipeline
        parent = self.parent or KnnState(self.params, {}, {})
        mined = {lang for pair in self.pairs for lang in pair}   # a language this release leaves out is let go
        parent = parent._replace(langs={lang: ls for lang, ls in parent.langs.items() if lang in mined})
        compatible = parent.params == self.params
        stored_index = [shard for ls in parent.langs.values() for shard in ls.shards]
        old_shards = p | "OldShards" >> beam.Create([shard for ls in parent.langs.values() for shard in ls.embedded])
        old_index = p | "OldIndexShards" >> beam.Create(stored_index)
        keyed = rows | "ById" >> beam.Map(lambda row: ((row["lang"], row["id"]), row))
        stored_ids = old_shards | "Apart" >> beam.Reshuffle() | "OldIds" >> beam.FlatMap(_old_ids)
        classified = ({"row": keyed, "old": stored_ids} | "OldOrNew" >> beam.CoGroupByKey()
                      | "Classify" >> beam.FlatMapTuple(_classify).with_outputs("stats", main="rows"))
        index, langs = self.index, parent.langs
        modes = (classified.stats | "Stats" >> beam.CombinePerKey(_sum_stats)
                 | "Mode" >> beam.MapTuple(lambda lang, stats: language_mode(
                     lang, langs.get(lang), *stats, index, compatible)))
        by_lang = beam.pvalue.AsDict(modes | "ModeByLang" >> beam.Map(lambda mode: (mode.lang, mode)))

        embedded = (classified.rows | "ToShard" >> beam.FlatMap(_to_shard, by_lang)
                    | "Embed" >> CachedEmbed(self.encoder, self.cache, batch_chars=self.batch_chars,
                                             accelerator=self.torch_accelerator))
        new_shards = embedded.main | "Shard" >> ShardEmbeddings(self.layout.embeddings(self.slug), self.dim,
                                                                self.memory_budget)
        stored_plans = (p | "StoredPlans" >> beam.Create(
            [Plan(lang, ls.kind, ls.trained) for lang, ls in parent.langs.items() if ls.trained])
                        | "KeptPlans" >> beam.Filter(lambda plan, modes: _incremental(plan.lang, modes), by_lang))
        new_index = new_shards | "Index" >> BuildIndex(self.layout.index(self.slug), self.index, self.nprobe,
                                                       stored=stored_plans)
        kept_shards = old_shards | "KeptShards" >> beam.Filter(lambda s, modes: _incremental(s.lang, modes), by_lang)
        kept_index = old_index | "KeptIndex" >> beam.Filter(lambda s, modes: _incremental(s.lang, modes), by_lang)
        query_shards = (kept_shards, new_shards) | "QueryShards" >> beam.Flatten()
        index_shards = (kept_index, new_index) | "IndexShards" >> beam.Flatten()
        directions = directions_of(self.pairs)
        knn = knn_root(self.layout.manifest)   # every release's state folder: stored paths are relative to it
        stored_blocks = (p | "StoredBlocks" >> beam.Create(sorted(parent.blocks.items()))
                         | "Usable" >> beam.Filter(lambda item, modes: usable_block(item[0], modes, directions),
                                                   by_lang)
                         | "ReadBlocks" >> beam.MapTuple(lambda key, path, knn=knn: (key, read_kept_block(path, knn))))
        blocks = (query_shards, index_shards) | "KNN" >> NearestNeighbours(
            self.pairs, k=self.k, nprobe=self.nprobe, accelerator=self.accelerator, stored=stored_blocks,
            coarse_root=self.layout.index(self.slug))

        written = blocks | "WriteBlocks" >> beam.MapTuple(
            lambda key, block, root=self.layout.neighbours(self.slug), knn=knn: _write(key, block, root, knn))
        ((index_shards | "ShardItems" >> beam.Map(lambda shard: ("shard", shard)),
          query_shards | "EmbeddedItems" >> beam.Map(lambda shard: ("embedded", shard)),
          modes | "ModeItems" >> beam.Map(lambda mode: ("mode", mode)), written)
         | "StateItems" >> beam.Flatten()
         | "State" >> beam.combiners.ToList()
         | "WriteState" >> beam.Map(_write_state, self.params, self.layout.manifest))
        return Refreshed(blocks, embedded, modes)
