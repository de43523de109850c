"""Shared pieces of the end-to-end reliability, runner and refresh tests: fake Common Crawl trees built from the
demo texts, running and killing the CLI, reading a run's datasets (local or gs://), comparing bitext, and one
reference mining run of the demo crawl that several test modules compare against.

Test modules load it with `pytest_plugins = ["tests.crawl_fixtures"]`, so the session fixture below runs once
per pytest session however many modules use it.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from demo.texts import BOILERPLATE, SINGLE, TOPICS
from parabeam.pipeline.cli import main
from parabeam.pipeline.export import dataset_parts
from tests.faults.make_faults import WARCINFO, members, warc_record
from tests.helpers import REPO

DEMO = str(REPO / "demo" / "*.wet")
# One language pair keeps each real pipeline run short; tests/test_mine_e2e.py covers three.
LANGS = "de,en"
PAIR = "de-en"
# The reference run: the local profile (FnApiRunner, multi_processing) with one worker process.
ONE_WORKER = ["--direct_num_workers", "1"]
# Scores of the same pair from two runs agree to ~1e-5, not bit for bit: the encoder's output for a sentence
# depends slightly on the batch it is encoded in (see test_reliability's exact-score test). Wrong pairs or
# neighbours move a score by far more than this.
SCORE_TOLERANCE = 1e-4
SCORE_FIELDS = ("score", "cosine")
KILL_SIGN_TIMEOUT_S = 600
# A killed job (and its Beam workers) is gone within seconds; a minute means it hangs.
KILL_EXIT_TIMEOUT_S = 60


def mine_args(inputs: list[str], output: str | Path, langs: str = LANGS, *extra: str) -> list[str]:
    return ["mine", *[arg for pattern in inputs for arg in ("--input", pattern)], "--langs", langs,
            "--output", str(output), *extra]


def mine(inputs: list[str], output: str | Path, langs: str = LANGS, *extra: str) -> None:
    """`parabeam mine` in this process; fails the test unless it exits 0."""
    assert main(mine_args(inputs, output, langs, *extra)) == 0


@pytest.fixture(scope="session")
def demo_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo crawl mined for LANGS on the local profile with one worker (its own embedding cache)."""
    output = tmp_path_factory.mktemp("reference") / "out"
    mine([DEMO], output, LANGS, *ONE_WORKER)
    return output


# --- reading a run's datasets (local paths or gs://) --------------------------------------------------------

def dataset_rows(output: str | Path, dataset: str, key: str) -> list[dict]:
    """Rows of one key (pair, language, stage) of a run's dataset, sorted; only finished part files count."""
    rows = []
    for path in dataset_parts(str(output), dataset).get(key, []):
        with FileSystems.open(path) as handle:
            rows += pq.read_table(pa.BufferReader(handle.read())).to_pylist()
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def bitext(output: str | Path, pair: str = PAIR) -> list[dict]:
    return sorted(dataset_rows(output, "bitext", pair), key=lambda row: (row["src_id"], row["tgt_id"]))


def run_json(output: str | Path) -> dict:
    with FileSystems.open(FileSystems.join(str(output), "run.json")) as handle:
        return json.loads(handle.read())


def assert_same_bitext(left: list[dict], right: list[dict]) -> None:
    """Same pairs with the same texts, urls and directions, and scores within SCORE_TOLERANCE."""
    assert left, "no bitext to compare"
    without_scores = [[{k: v for k, v in row.items() if k not in SCORE_FIELDS} for row in rows]
                      for rows in (left, right)]
    assert without_scores[0] == without_scores[1]
    scores = [[row[field] for row in rows for field in SCORE_FIELDS] for rows in (left, right)]
    assert scores[0] == pytest.approx(scores[1], abs=SCORE_TOLERANCE)


# --- running the CLI in a subprocess and killing it midway ----------------------------------------------------

def _as_from_a_terminal() -> None:
    """Ctrl-C's default action, which a shell's background job (this pytest, perhaps) does not pass on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m parabeam.pipeline.cli ARGS` in its own process group (with its Beam worker processes)."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "parabeam.pipeline.cli", *args], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_as_from_a_terminal)


def any_file_under(directory: Path) -> Callable[[], bool]:
    """True once the job has written anything (a sink's temporary part file is the first) under `directory`."""
    return lambda: directory.exists() and any(path.is_file() for path in directory.rglob("*"))


def kill_when(proc: subprocess.Popen, started: Callable[[], bool], log: Path, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the whole process group (as Ctrl-C does SIGINT) as soon as `started()`; fails if the job
    ended first, or if it is still alive a minute after the signal (then the whole group is killed)."""
    deadline = time.monotonic() + KILL_SIGN_TIMEOUT_S
    while not started():
        assert proc.poll() is None, f"the job ended before it could be killed:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no sign that the job started:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed"
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=KILL_EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"the job outlived signal {sig} by a minute:\n{log.read_text()[-3000:]}") from None


# --- fake Common Crawl trees -----------------------------------------------------------------------------------

def page(lang: str, text: str) -> str:
    """A page body as crawled: the text and the site's cookie banner (the same on every page)."""
    return f"{text}\n{BOILERPLATE[lang]}"


def topic_pages(topic: str, site: str = "www.example.org") -> list[tuple[str, str]]:
    """(url, body) of one demo topic in every language: pages that translate each other."""
    return [(f"https://{site}/{lang}/{topic}", page(lang, text)) for lang, text in TOPICS[topic].items()]


def single_page(lang: str, i: int) -> tuple[str, str]:
    return f"https://news.example.net/{lang}/{i}", page(lang, SINGLE[lang][i])


def write_wet_shard(path: Path, pages: list[tuple[str, str]]) -> None:
    """A gzipped WET shard as Common Crawl writes it: warcinfo, then one gzip member per record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(members(WARCINFO, *(warc_record(url, body.encode()) for url, body in pages)))


def write_crawl(root: Path, crawl: str, shards: list[str]) -> Path:
    """root/crawl-data/CRAWL/wet.paths.gz listing `shards` (paths relative to root), as Common Crawl has it."""
    listing = root / "crawl-data" / crawl / "wet.paths.gz"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_bytes(gzip.compress("".join(f"{shard}\n" for shard in shards).encode(), mtime=0))
    return listing


def shard_path(crawl: str, segment: int, n: int) -> str:
    return f"crawl-data/{crawl}/segments/{segment:04d}/wet/{crawl}-{segment:04d}-{n:05d}.warc.wet.gz"


CRAWL_1, CRAWL_2 = "CC-MAIN-2026-01", "CC-MAIN-2026-05"


def build_two_crawls(root: Path) -> dict:
    """Two crawls of the demo texts. Crawl 1: three topics in three shards. Crawl 2 lists crawl 1's shards plus
    two new ones: two new topics, and pages on new sites that repeat crawl 1's texts (old sentences, new urls).

    Returns {"root", "crawl_1", "crawl_2": shard paths relative to root, "new": crawl 2's new shards,
    "records": {shard: records incl. warcinfo}}.
    """
    shards_1 = [shard_path(CRAWL_1, 0, n) for n in range(3)]
    new = [shard_path(CRAWL_2, 1, n) for n in range(2)]
    pages = {
        shards_1[0]: topic_pages("river") + [single_page("en", 0)],
        shards_1[1]: topic_pages("bakery") + [single_page("de", 0)],
        shards_1[2]: topic_pages("museum") + [single_page("fr", 0)],
        new[0]: topic_pages("train") + [single_page("en", 1)] + topic_pages("river", "mirror.example.com"),
        new[1]: topic_pages("garden") + [single_page("de", 1), single_page("fr", 1)]
        + topic_pages("bakery", "mirror.example.com")[:2],
    }
    for shard, shard_pages in pages.items():
        write_wet_shard(root / shard, shard_pages)
    write_crawl(root, CRAWL_1, shards_1)
    write_crawl(root, CRAWL_2, shards_1 + new)
    return {"root": root, "crawl_1": shards_1, "crawl_2": shards_1 + new, "new": new,
            "records": {shard: len(shard_pages) + 1 for shard, shard_pages in pages.items()}}


# --- a refresh state's kNN lists against a full search ------------------------------------------------------

def assert_lists_equal_a_full_search(state: Path, release: str, k: int = 4, nprobe: int = 128) -> int:
    """Every query shard's merged neighbour block of `release` (STATE/knn/<release>) equals one search of
    its queries over all of the target language's vectors in that release's index: exact for flat, and for
    IVF the release's trained index filled with every vector (ties by lower id). Also: every current query
    shard has a block in each direction. Returns how many query sentences were checked."""
    import numpy as np

    from parabeam.pipeline.layout import StateLayout
    from parabeam.transforms.embedding_store import read_shard
    from parabeam.transforms.incremental import knn_root, read_kept_block, read_state
    from parabeam.transforms.knn import _load_index, build_index, search, set_nprobe

    manifest = StateLayout(str(state)).knn(release).manifest
    knn = read_state(manifest)
    assert knn is not None and knn.blocks
    targets = {}
    for lang, ls in knn.langs.items():
        ids, vectors = zip(*(read_shard(shard.path) for shard in ls.embedded))
        ids, vectors = np.concatenate(ids), np.concatenate(vectors)
        order = np.argsort(ids)                      # positions in id order: ties by lower position = lower id
        ids, vectors = ids[order], vectors[order]
        if ls.kind == "flat":
            index = build_index(vectors, "flat")
        else:
            index = _load_index(ls.trained)
            set_nprobe(index, nprobe)
            index.add(vectors)
        targets[lang] = (np.char.encode(ids), index)
    directions = {(q, t) for q, t, _shard in knn.blocks}
    assert {(q, t, shard.path) for q, t in directions for shard in knn.langs[q].embedded} == set(knn.blocks)
    checked = 0
    for (query, target, shard), path in sorted(knn.blocks.items()):
        block = read_kept_block(path, knn_root(manifest))
        query_ids, queries = read_shard(shard)
        assert np.char.decode(block.ids).tolist() == query_ids.tolist()
        target_ids, index = targets[target]
        sims, positions = search(index, queries, k)
        np.testing.assert_array_equal(block.targets, np.where(positions >= 0, target_ids[positions], b""))
        np.testing.assert_allclose(block.sims, np.where(positions >= 0, sims, np.nan), atol=1e-5)
        assert set(block.shards) == {s.path for s in knn.langs[target].embedded}
        checked += len(query_ids)
    return checked
