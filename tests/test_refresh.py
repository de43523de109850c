"""`parabeam refresh` over two fake Common Crawl crawls: the second lists the first's shards plus new ones that
repeat some old sentences. A refresh must process only new shards, embed only new sentences, and release what
mining everything from scratch gives; a killed refresh must commit nothing and rerun cleanly. The first
refresh is the killed and rerun one, so the second release, checked against mining from scratch, is built on
the rerun's state."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.crawl_fixtures")  # it is imported here before pytest_plugins loads it

from parabeam.pipeline.cli import main
from tests.crawl_fixtures import (CRAWL_1, CRAWL_2, LANGS, ONE_WORKER, any_file_under, assert_lists_equal_a_full_search,
                                  assert_same_bitext, bitext,
                                  build_two_crawls, dataset_rows, kill_when, mine, run_json, start_cli)

pytest_plugins = ["tests.crawl_fixtures"]


def refresh_args(crawl: str, crawls: dict, state: Path) -> list[str]:
    return ["refresh", "--crawl", crawl, "--crawl-root", str(crawls["root"]), "--state", str(state),
            "--langs", LANGS, *ONE_WORKER]


def shard_files(crawls: dict, shards: list[str]) -> list[str]:
    return sorted(str(crawls["root"] / shard) for shard in shards)


def ledger(state: Path) -> dict:
    return json.loads((state / "ledger.json").read_text())


def release_dir(state: Path, release: str) -> Path:
    return state / "releases" / release


def sentences(output: Path) -> dict[str, list[dict]]:
    return {lang: dataset_rows(output, "sentences", lang) for lang in LANGS.split(",")}


@pytest.fixture(scope="module")
def crawls(tmp_path_factory) -> dict:
    return build_two_crawls(tmp_path_factory.mktemp("crawl_root"))


@pytest.fixture(scope="module")
def first_refresh(crawls, tmp_path_factory) -> dict:
    """Crawl 1's refresh, SIGKILLed as soon as it writes a file under its release, then rerun.
    Returns {"state": folder, "left": files the killed refresh left, "rerun": time the rerun started}."""
    parent = tmp_path_factory.mktemp("state")
    state, log = parent / "state", parent / "killed.log"
    kill_when(start_cli(refresh_args(CRAWL_1, crawls, state), log), any_file_under(release_dir(state, "r0001")),
              log)
    left = sorted(str(path.relative_to(state)) for path in state.rglob("*") if path.is_file())
    rerun = time.time()
    assert main(refresh_args(CRAWL_1, crawls, state)) == 0
    return {"state": state, "left": left, "rerun": rerun}


@pytest.fixture(scope="module")
def second_refresh(crawls, first_refresh) -> tuple[Path, float]:
    """The state after refreshing from crawl 2 (on top of the rerun first refresh), and its wall time in s."""
    state = first_refresh["state"]
    started = time.monotonic()
    assert main(refresh_args(CRAWL_2, crawls, state)) == 0
    return state, time.monotonic() - started


@pytest.fixture(scope="module")
def from_scratch(crawls, tmp_path_factory) -> tuple[Path, float]:
    """`parabeam mine` over every shard of both crawls, and its wall time in seconds."""
    output = tmp_path_factory.mktemp("scratch") / "out"
    started = time.monotonic()
    mine(shard_files(crawls, crawls["crawl_2"]), output, LANGS, *ONE_WORKER)
    return output, time.monotonic() - started


def test_a_killed_refresh_commits_nothing_and_its_rerun_replaces_what_it_left(first_refresh):
    state, left = first_refresh["state"], first_refresh["left"]
    assert left and "ledger.json" not in left
    redone = [path for folder in ("releases", "store") for path in (state / folder).rglob("*") if path.is_file()]
    assert not [path for path in redone if "beam-temp-" in str(path)]
    assert redone and all(path.stat().st_mtime >= first_refresh["rerun"] for path in redone)


def test_first_refresh_processes_every_shard_of_its_crawl(crawls, first_refresh):
    state = first_refresh["state"]
    run = run_json(release_dir(state, "r0001"))
    assert run["new_shards"] == shard_files(crawls, crawls["crawl_1"])
    assert run["parent"] is None
    assert run["stages"]["read"]["in"] == sum(crawls["records"][shard] for shard in crawls["crawl_1"])
    assert ledger(state)["releases"][0] == {"release": "r0001", "parent": None, "shards": run["new_shards"]}


def test_second_refresh_processes_only_the_new_shards(crawls, second_refresh):
    state, _seconds = second_refresh
    run = run_json(release_dir(state, "r0002"))
    manifest = json.loads((release_dir(state, "r0002") / "manifest.json").read_text())
    assert run["new_shards"] == manifest["new_shards"] == shard_files(crawls, crawls["new"])
    assert run["parent"] == manifest["parent"] == "r0001"
    assert run["stages"]["read"]["in"] == sum(crawls["records"][shard] for shard in crawls["new"])
    assert [entry["shards"] for entry in ledger(state)["releases"]] == [
        shard_files(crawls, crawls["crawl_1"]), shard_files(crawls, crawls["new"])]


def test_second_refresh_merges_the_old_and_new_store_parts(second_refresh):
    state, _seconds = second_refresh
    parts = [sum(len(dataset_rows(state / "store", release, lang)) for lang in LANGS.split(","))
             for release in ("r0001", "r0002")]
    released = sum(map(len, sentences(release_dir(state, "r0002")).values()))
    merge = run_json(release_dir(state, "r0002"))["stages"]["store_merge"]
    assert merge["in"] == sum(parts)
    assert merge["out"] == released
    assert merge["merged"] == {"duplicate": sum(parts) - released}
    assert sum(parts) > released        # crawl 2 repeats crawl 1's sentences


def test_second_refresh_embeds_only_sentences_it_has_not_seen(second_refresh):
    """Old sentences' vectors are in the first release's shards: they are not even looked up in the cache."""
    state, _seconds = second_refresh
    seen = {row["text"] for rows in sentences(release_dir(state, "r0001")).values() for row in rows}
    rows = [row for rows in sentences(release_dir(state, "r0002")).values() for row in rows]
    new = sum(row["text"] not in seen for row in rows)
    assert 0 < new < len(rows)
    run = run_json(release_dir(state, "r0002"))
    stages = run["stages"]
    assert (stages["embed_cache"].get("miss", 0), stages["embed_cache"].get("hit", 0)) == (new, 0)
    assert stages["embed"]["in"] == new
    assert {lang: (mode["full"], mode["new"], mode["removed"]) for lang, mode in run["refresh"].items()} == {
        lang: (False, sum(row["text"] not in seen for row in lang_rows), 0)
        for lang, lang_rows in sentences(release_dir(state, "r0002")).items()}


def test_second_release_is_what_mining_everything_from_scratch_gives(second_refresh, from_scratch):
    (state, refresh_s), (scratch, scratch_s) = second_refresh, from_scratch
    release = release_dir(state, "r0002")
    assert sentences(release) == sentences(scratch)
    assert_same_bitext(bitext(release), bitext(scratch))
    print(f"refresh 2: {refresh_s:.1f} s, from-scratch mine: {scratch_s:.1f} s ({refresh_s / scratch_s:.2f})")


def test_a_refresh_with_nothing_new_does_nothing(crawls, second_refresh, capsys):
    state, _seconds = second_refresh
    files = {path: path.read_bytes() for path in state.rglob("*") if path.is_file()}
    assert main(refresh_args(CRAWL_2, crawls, state)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in state.rglob("*") if path.is_file()} == files


def test_second_release_keeps_neighbour_lists_equal_to_a_full_exact_search(second_refresh):
    """The old queries' stored lists merged with their search over the new shards only, and the new queries'
    lists, equal one exact search over every target vector; the first release's shards are reused."""
    state, _seconds = second_refresh
    assert assert_lists_equal_a_full_search(state, "r0002") == sum(map(len, sentences(release_dir(state, "r0002")).values()))
    first, second = (json.loads((state / "knn" / release / "knn.json").read_text()) for release in ("r0001", "r0002"))
    for lang, kept in first["langs"].items():
        assert kept["kind"] == second["langs"][lang]["kind"] == "flat"
        old = {shard["path"] for shard in kept["shards"]}
        assert old < {shard["path"] for shard in second["langs"][lang]["shards"]}
        assert all(path.startswith("r0001/") for path in old)   # relative to STATE/knn
