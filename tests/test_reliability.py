"""Reliability of whole `parabeam mine` runs: damaged input, a killed run, worker count, reruns.

Each fixture is one real pipeline run through the CLI, shared by the tests that look at it; to keep the
module short, the clean-copy run is also the --overwrite run, and the rerun after a kill is also the
two-worker run compared with the one-worker reference.
"""
from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.crawl_fixtures")  # it is imported here before pytest_plugins loads it

from parabeam.pipeline.cli import main
from tests.crawl_fixtures import (DEMO, LANGS, ONE_WORKER, any_file_under, assert_same_bitext, bitext, dataset_rows,
                                  kill_when, mine, mine_args, run_json, start_cli)
from tests.faults.make_faults import make_fault_corpus

pytest_plugins = ["tests.crawl_fixtures"]

# The fault corpus's surviving records in these languages translate each other.
FAULT_LANGS = "de,en,fr"
FAULT_PAIRS = ["de-en", "de-fr", "en-fr"]
# Which file of tests/faults/make_faults.py carries each fault.
FAULT_FILES = {
    "truncated_gzip": "truncated.warc.wet.gz", "gzip_garbage": "gzip_garbage.warc.wet.gz",
    "garbage_bytes": "garbage.warc.wet", "bad_content_length": "bad_length.warc.wet.gz",
    "undecodable_text": "payloads.warc.wet.gz", "line_too_long": "payloads.warc.wet.gz",
    "empty_record": "payloads.warc.wet.gz", "binary_payload": "payloads.warc.wet.gz",
    "empty_file": "empty.warc.wet.gz", "bad_json": "lines.jsonl", "no_text": "lines.jsonl",
    "missing_file": "missing.warc.wet.gz",
}


@pytest.fixture(scope="module")
def fault_corpus(tmp_path_factory) -> dict:
    return make_fault_corpus(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def fault_run(fault_corpus, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("fault_run") / "out"
    mine(fault_corpus["patterns"], output, FAULT_LANGS, *ONE_WORKER)
    return output


@pytest.fixture(scope="module")
def clean_run(fault_corpus, fault_run, tmp_path_factory) -> tuple[Path, float]:
    """The clean copy mined with --overwrite into a copy of the finished fault run (files and mtimes kept);
    returns the folder and the time just before the overwriting run started."""
    output = tmp_path_factory.mktemp("clean_run") / "out"
    shutil.copytree(fault_run, output)
    started = time.time()
    mine(fault_corpus["clean_patterns"], output, FAULT_LANGS, *ONE_WORKER, "--overwrite")
    return output, started


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """A demo run on the local profile, SIGKILLed as soon as it writes its first file, then rerun into the same
    folder with two worker processes. Returns the folder and what the killed run had left in it."""
    parent = tmp_path_factory.mktemp("killed")
    output, log = parent / "out", parent / "killed.log"
    kill_when(start_cli(mine_args([DEMO], output), log), any_file_under(output), log)
    leftovers = sorted(str(path.relative_to(output)) for path in output.rglob("*") if path.is_file())
    mine([DEMO], output, LANGS, "--direct_num_workers", "2")
    return output, leftovers


def test_damaged_corpus_reports_each_fault_once_with_its_file(fault_corpus, fault_run):
    read = run_json(fault_run)["stages"]["read"]
    assert read["reject"] == fault_corpus["rejects"]
    assert read["skipped"] == {"warcinfo": fault_corpus["skipped"]}
    assert read["out"] == len(fault_corpus["urls"])

    rows = dataset_rows(fault_run, "rejects", "read")
    assert Counter(row["reason"] for row in rows) == fault_corpus["rejects"]
    assert {(row["reason"], Path(row["shard"]).name) for row in rows} == set(FAULT_FILES.items())


@pytest.mark.parametrize("pair", FAULT_PAIRS)
def test_damaged_corpus_mines_what_its_clean_copy_mines(fault_run, clean_run, pair):
    assert_same_bitext(bitext(fault_run, pair), bitext(clean_run[0], pair))


def test_damaged_corpus_keeps_the_same_sentences_as_its_clean_copy(fault_run, clean_run):
    for lang in FAULT_LANGS.split(","):
        rows = dataset_rows(fault_run, "sentences", lang)
        assert rows and rows == dataset_rows(clean_run[0], "sentences", lang)


def test_a_finished_run_is_refused_without_overwrite(fault_run, capsys):
    before = (fault_run / "run.json").read_bytes()
    assert main(mine_args([DEMO], fault_run)) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert (fault_run / "run.json").read_bytes() == before


def test_overwrite_replaces_every_file_of_the_finished_run(fault_corpus, clean_run):
    output, started = clean_run
    assert run_json(output)["parameters"]["inputs"] == fault_corpus["clean_patterns"]
    assert dataset_rows(output, "rejects", "read") == []
    assert [path for path in output.rglob("*") if path.is_file() and path.stat().st_mtime < started] == []


def test_a_killed_run_leaves_no_run_json_and_its_rerun_is_not_refused(killed_run):
    output, leftovers = killed_run
    assert leftovers and "run.json" not in leftovers
    assert (output / "run.json").exists()
    assert list(output.rglob("beam-temp-*")) == []


def test_a_killed_run_rerun_on_two_workers_mines_what_one_uninterrupted_worker_mines(killed_run, demo_reference):
    assert_same_bitext(bitext(killed_run[0]), bitext(demo_reference))


def test_worker_count_does_not_change_the_scores_exactly(killed_run, demo_reference):
    assert bitext(killed_run[0]) == bitext(demo_reference)
