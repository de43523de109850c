"""The real mining pipeline on other runners and filesystems gives what the local runner gives: submitted
through a Beam Job API service (`--runner portable`), and reading and writing gs:// (GCS emulator)."""
from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.crawl_fixtures")  # it is imported here before pytest_plugins loads it

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from parabeam.pipeline.cli import main
from tests.crawl_fixtures import (DEMO, LANGS, ONE_WORKER, PAIR, assert_same_bitext, bitext, mine, run_json)
from tests.helpers import REPO

pytest_plugins = ["tests.crawl_fixtures"]

DEMO_FILE = REPO / "demo" / "demo.warc.wet"
INGEST_STAGES = ("read", "lid", "split", "dedup")
# What an earlier, killed run (no run.json) of more languages left in the output prefix.
LEFTOVERS = ("sentences/fr/part-00000-of-00001.parquet", "bitext/de-en/beam-temp-part-0123/0456.part.parquet")


def write_gcs(path: str, data: bytes) -> None:
    # UNCOMPRESSED: by default Beam would gzip a .gz file's bytes once more
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)


@pytest.fixture(scope="module")
def portable_run(job_endpoint, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("portable") / "out"
    mine([DEMO], output, LANGS, "--runner", "portable", f"--job_endpoint={job_endpoint}",
         "--environment_type=LOOPBACK")
    return output


@pytest.fixture(scope="module")
def gcs_run(gcs_bucket) -> str:
    """The demo crawl uploaded twice (plain, and gzipped as Common Crawl ships it) and mined gs:// to gs://,
    into an output prefix holding a killed run's LEFTOVERS."""
    prefix = f"{gcs_bucket}/runners-{uuid.uuid4().hex[:8]}"
    data = DEMO_FILE.read_bytes()
    write_gcs(f"{prefix}/in/demo.warc.wet", data)
    write_gcs(f"{prefix}/in/copy.warc.wet.gz", gzip.compress(data, mtime=0))
    for leftover in LEFTOVERS:
        write_gcs(f"{prefix}/out/{leftover}", b"left by a killed run")
    mine([f"{prefix}/in/*.wet", f"{prefix}/in/*.wet.gz"], f"{prefix}/out", LANGS, *ONE_WORKER)
    return f"{prefix}/out"


def test_portable_runner_mines_what_the_local_runner_mines(portable_run, demo_reference):
    assert_same_bitext(bitext(portable_run), bitext(demo_reference))


def test_portable_runner_reports_the_same_accounts(portable_run, demo_reference):
    portable, local = run_json(portable_run), run_json(demo_reference)
    assert portable["runner"] == "portable"
    for stage in INGEST_STAGES + ("bitext",):
        assert portable["stages"][stage] == local["stages"][stage], stage


def test_gcs_run_reads_both_copies_whole(gcs_run, demo_reference):
    read, local = run_json(gcs_run)["stages"]["read"], run_json(demo_reference)["stages"]["read"]
    assert (read["in"], read["out"], read["reject"]) == (2 * local["in"], 2 * local["out"], {})


def test_gcs_run_mines_what_the_local_run_mines(gcs_run, demo_reference):
    assert_same_bitext(bitext(gcs_run), bitext(demo_reference))


def test_gcs_run_clears_what_a_killed_run_left(gcs_run):
    assert [leftover for leftover in LEFTOVERS if FileSystems.exists(f"{gcs_run}/{leftover}")] == []


def test_report_and_export_read_a_gcs_run(gcs_run, tmp_path):
    report = f"{gcs_run}/report.html"
    FileSystems.delete([report])
    assert main(["report", gcs_run]) == 0
    with FileSystems.open(report) as handle:
        assert b"parabeam report" in handle.read()

    assert main(["export", gcs_run, "--format", "jsonl", "--dest", str(tmp_path)]) == 0
    exported = [json.loads(line) for line in (tmp_path / f"{PAIR}.jsonl").read_text().splitlines()]
    assert [row["score"] for row in exported] == sorted((row["score"] for row in exported), reverse=True)
    assert sorted(exported, key=lambda row: (row["src_id"], row["tgt_id"])) == bitext(gcs_run)
