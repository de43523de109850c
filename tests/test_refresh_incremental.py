"""Incremental refresh with an IVF index (`--index ivf --nprobe 1`, so a search probes one of several lists and
is not exact), over four crawls of generated German/English sentences, each listing the last one's shards:

  r0001  crawl A, 160 sentences a side: no stored state, so mined in full (IVF4)
  r0002  + 20 a side: incremental (stopes' table still asks for 4 lists); its lists equal the r0001 trained
         index filled with every vector
  r0003  + 180 a side: the corpus passed what the index was trained for (8 lists >= 2 x 4): retrained, full
  r0004  + 4 pages of one new site repeating an English sentence, which becomes boilerplate and leaves the
         corpus: English in full, German incremental; lists of both directions still equal a full search

Tests that do not need the Beam graph (the mode rule, the state's JSON) are at the end.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.crawl_fixtures")

from benchmarks.template_text import pages, sentence_pairs
from parabeam.pipeline.cli import main
from tests.crawl_fixtures import (ONE_WORKER, assert_lists_equal_a_full_search, run_json, write_crawl,
                                  write_wet_shard)

pytest_plugins = ["tests.crawl_fixtures"]

LANGS = "de,en"
IVF = ["--index", "ivf", "--nprobe", "1"]


def shard(crawl: str, n: int) -> str:
    return f"crawl-data/{crawl}/segments/0000/wet/{crawl}-{n:05d}.warc.wet.gz"


CRAWLS = ["GEN-A", "GEN-B", "GEN-C", "GEN-D"]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen_crawls")
    pairs = sentence_pairs()
    parts = {shard("GEN-A", 0): pages(pairs[:81], 0), shard("GEN-A", 1): pages(pairs[81:160], 81),
             shard("GEN-B", 0): pages(pairs[160:180], 160),
             shard("GEN-C", 0): pages(pairs[180:270], 180), shard("GEN-C", 1): pages(pairs[270:360], 270),
             # one English sentence of crawl A on four pages of one site: boilerplate from now on
             shard("GEN-D", 0): [(f"https://copy.example.com/{n}", pairs[5][0]) for n in range(4)]
             + pages(pairs[360:372], 360)}
    for path, shard_pages in parts.items():
        write_wet_shard(root / path, shard_pages)
    listed: list[str] = []
    for crawl in CRAWLS:
        listed += [path for path in parts if f"/{crawl}/" in path]
        write_crawl(root, crawl, list(listed))
    return root


@pytest.fixture(scope="module")
def state(crawls, tmp_path_factory) -> Path:
    """The state after the four refreshes."""
    state = tmp_path_factory.mktemp("gen_state") / "state"
    for crawl in CRAWLS:
        assert main(["refresh", "--crawl", crawl, "--crawl-root", str(crawls), "--state", str(state),
                     "--langs", LANGS, *IVF, *ONE_WORKER]) == 0
    return state


def knn(state: Path, release: str) -> dict:
    return json.loads((state / "knn" / release / "knn.json").read_text())


def modes(state: Path, release: str) -> dict:
    return run_json(state / "releases" / release)["refresh"]


def test_first_release_is_mined_in_full_with_an_ivf_index(state):
    assert {lang: (mode["full"], mode["reason"]) for lang, mode in modes(state, "r0001").items()} == {
        "de": (True, "no stored index"), "en": (True, "no stored index")}
    for lang, kept in knn(state, "r0001")["langs"].items():
        assert kept["kind"] == "ivf" and kept["trained"].startswith("r0001/")
        assert kept["trained_for"] == modes(state, "r0001")[lang]["sentences"] >= 156   # 4 lists
    assert_lists_equal_a_full_search(state, "r0001", nprobe=1)


def test_a_small_growth_is_refreshed_incrementally_with_the_same_trained_index(state):
    found = modes(state, "r0002")
    assert {lang: (mode["full"], mode["new"], mode["removed"]) for lang, mode in found.items()} == {
        "de": (False, 20, 0), "en": (False, 20, 0)}
    first, second = knn(state, "r0001"), knn(state, "r0002")
    for lang in ("de", "en"):
        assert second["langs"][lang]["trained"] == first["langs"][lang]["trained"]
        assert second["langs"][lang]["trained_for"] == first["langs"][lang]["trained_for"]
        old = {shard["path"] for shard in first["langs"][lang]["shards"]}
        now = {shard["path"] for shard in second["langs"][lang]["shards"]}
        assert old < now and all(path.startswith("r0002/") for path in now - old)
    stages = run_json(state / "releases" / "r0002")["stages"]
    assert stages["embed"]["in"] == 40
    # an IVF search probing 1 list of 4: equal to the r0001 trained index filled with every vector
    assert assert_lists_equal_a_full_search(state, "r0002", nprobe=1) == sum(mode["sentences"]
                                                                               for mode in found.values())


def test_growth_past_the_retrain_rule_retrains_and_mines_in_full(state):
    found = modes(state, "r0003")
    for lang, mode in found.items():
        assert mode["full"] and mode["reason"].startswith("retrain: trained for ")
        assert mode["trained_for"] == mode["sentences"] >= 2 * 156
    kept = knn(state, "r0003")["langs"]
    assert all(kept[lang]["trained"].startswith("r0003/") for lang in kept)
    assert all(shard["path"].startswith("r0003/") for lang in kept for shard in kept[lang]["shards"])
    assert assert_lists_equal_a_full_search(state, "r0003", nprobe=1) == sum(mode["sentences"]
                                                                               for mode in found.values())


def test_a_sentence_leaving_the_corpus_mines_its_language_in_full_and_the_other_incrementally(state):
    found = modes(state, "r0004")
    assert (found["en"]["full"], found["en"]["reason"], found["en"]["removed"]) == (
        True, "sentences left the corpus", 1)
    assert (found["de"]["full"], found["de"]["new"]) == (False, 12)
    before, after = knn(state, "r0003")["langs"], knn(state, "r0004")["langs"]
    assert after["de"]["trained"] == before["de"]["trained"]
    assert after["en"]["trained"] != before["en"]["trained"]
    assert assert_lists_equal_a_full_search(state, "r0004", nprobe=1) == sum(mode["sentences"]
                                                                               for mode in found.values())


# ---- pure parts -------------------------------------------------------------------------------------------

def test_the_mode_rule():
    from parabeam.transforms.incremental import LangState, language_mode
    flat, ivf = LangState("flat", None, 5_000, (), ()), LangState("ivf", "t.faiss", 400_000, (), ())
    assert language_mode("de", None, 10, 10, 0, "auto", True).reason == "no stored index"
    assert language_mode("de", flat, 5_500, 500, 0, "auto", False).reason == "kNN parameters changed"
    assert language_mode("de", flat, 5_500, 500, 1, "auto", True).reason == "sentences left the corpus"
    assert not language_mode("de", flat, 9_000, 4_000, 0, "auto", True).full
    assert language_mode("de", flat, 11_000, 6_000, 0, "auto", True).full          # flat -> IVF
    kept = language_mode("de", ivf, 440_000, 40_000, 0, "auto", True)
    assert (kept.full, kept.trained_for) == (False, 400_000)
    retrain = language_mode("de", ivf, 800_000, 400_000, 0, "auto", True)         # stopes: 8,192 -> 16,384 lists
    assert (retrain.full, retrain.trained_for) == (True, 800_000)


def test_state_round_trips_through_json():
    from parabeam.transforms.incremental import Mode, collect_state, state_from_json, state_to_json
    from parabeam.transforms.embedding_store import Shard
    from parabeam.transforms.knn import IndexShard
    shards = [IndexShard("de", "/s/knn/r1/de/lists-000000-000512.npz", 3, "ivf",
                         "/s/knn/r1/de/lists-000000-000512.faiss", "/s/knn/r1/de.faiss", (0, 512)),
              IndexShard("en", "/s/knn/r2/en/a.npz", 2, "flat", None, None)]
    embedded = [Shard("de", "/s/knn/r1/de/a.npz", 3), Shard("en", "/s/knn/r2/en/a.npz", 2)]
    items = [("shard", shard) for shard in shards] + [("embedded", shard) for shard in embedded] + [
        ("mode", Mode("de", False, "incremental", 3, 1, 0, 2)), ("mode", Mode("en", True, "no stored index", 2, 2, 0, 2)),
        ("block", ("de", "en", "/s/knn/r1/de/a.npz"), "/s/knn/r2/b/1.npz"),
        ("block", ("en", "de", "/s/knn/r2/en/a.npz"), "/elsewhere/b/2.npz")]
    state = collect_state({"k": 4}, items)
    assert state.langs["de"].trained_for == 2 and state.langs["en"].kind == "flat"
    written = json.loads(json.dumps(state_to_json(state, "/s/knn")))
    assert written["langs"]["de"]["shards"][0]["index"] == "r1/de/lists-000000-000512.faiss"   # relative
    assert written["langs"]["de"]["embedded"][0]["path"] == "r1/de/a.npz"
    assert written["blocks"][1]["block"] == "/elsewhere/b/2.npz"                     # outside it: kept as is
    assert state_from_json(written, "/s/knn") == state
    assert state.langs["de"].embedded == (embedded[0],) and state.langs["de"].shards[0].lists == (0, 512)
    older = {**written, "langs": {lang: {key: value for key, value in ls.items() if key != "embedded"}
                                  for lang, ls in written["langs"].items()}}
    # a state written before list ranges: its index shards were the embedding shards
    assert state_from_json(older, "/s/knn").langs["en"].embedded == (embedded[1],)
    moved = state_from_json(written, "/t/knn")
    assert moved.langs["de"].trained == "/t/knn/r1/de.faiss" and ("de", "en", "/t/knn/r1/de/a.npz") in moved.blocks


# ---- the Beam transform on real embeddings, without the CLI -----------------------------------------------

@pytest.mark.parametrize("kind, nprobe", [("flat", 1), ("ivf", 1024)])
def test_incremental_neighbours_mine_what_mining_everything_does(kind, nprobe, tmp_path):
    """IncrementalNeighbours twice (a release of 128 FLORES sentences a side, then 32 more a side, a quarter
    of them translations) mines, at every margin score, the pairs the in-memory LASER mining of all 160 a side
    gives. With IVF every list is probed, which makes it exact (the lists-equal-the-same-index property
    for a partial probe is checked end to end above)."""
    import numpy as np
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that

    from parabeam.pipeline.layout import StateLayout
    from parabeam.transforms.embedding_store import encoder_slug, stored_vector
    from parabeam.transforms.encoders import get_encoder, load_encoder
    from parabeam.transforms.incremental import IncrementalNeighbours, read_state
    from parabeam.transforms.margin import MarginMine
    from tests.helpers import SHARED_DATA
    from tests.test_mining_beam import BUDGET, expected, same_pairs
    import apache_beam as beam

    flores = SHARED_DATA / "flores200_devtest"
    if not flores.is_dir():
        pytest.skip("needs ../shared/data")
    texts = {lang: (flores / f"{name}.devtest").read_text(encoding="utf-8").splitlines()
             for lang, name in (("de", "deu_Latn"), ("en", "eng_Latn"))}
    texts = {"de": texts["de"][:120] + texts["de"][500:540], "en": texts["en"][:120] + texts["en"][700:740]}
    rows = {lang: [{"id": f"{lang}{i:04d}", "lang": lang, "text": text, "count": 1, "urls": []}
                   for i, text in enumerate(lang_texts)] for lang, lang_texts in texts.items()}
    encoder = load_encoder("muse")
    vectors = {lang: [{"id": row["id"], "vector": stored_vector(v)} for row, v in
                      zip(rows[lang], encoder.encode(texts[lang]))] for lang in rows}
    spec = get_encoder("muse")
    slug = encoder_slug(spec.name, spec.version)
    def release(name: str, keep, parent, layout: StateLayout):
        with TestPipeline(runner="FnApiRunner") as p:
            store = p | "Rows" >> beam.Create([row for lang in rows for i, row in enumerate(rows[lang]) if keep(i)])
            refreshed = store | "Refresh" >> IncrementalNeighbours(
                parent, layout.knn(name), slug, pairs=[("de", "en")], k=4, nprobe=nprobe, index=kind,
                encoder="muse", cache=str(tmp_path / "cache"), batch_chars=20_000, dim=512, memory_budget=BUDGET)
            mined = refreshed.blocks | "Mine" >> MarginMine([("de", "en")], "ratio", "max", threshold=-np.inf)
            side = {lang: [v for i, v in enumerate(vectors[lang]) if keep(i)] for lang in vectors}
            assert_that(mined.pairs, same_pairs(expected(side["de"], side["en"], 4, "ratio", "max")))
        return read_state(layout.knn(name).manifest)

    release("r0001", lambda i: i % 5, None, StateLayout(str(tmp_path / "state")))
    # the state folder moved whole between releases: its manifest's paths are relative, so it still refreshes
    (tmp_path / "state").rename(tmp_path / "moved")
    layout = StateLayout(str(tmp_path / "moved"))
    first = read_state(layout.knn("r0001").manifest)
    second = release("r0002", lambda i: True, first, layout)
    assert {lang: (mode.full, mode.new) for lang, mode in second.modes.items()} == {
        "de": (False, 32), "en": (False, 32)}
    for lang in ("de", "en"):
        assert set(first.langs[lang].shards) < set(second.langs[lang].shards)
        assert second.langs[lang].trained == first.langs[lang].trained
