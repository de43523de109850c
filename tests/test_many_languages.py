"""Many languages in one job: the graph does not grow with languages or pairs, all 105 pairs of the encoder's 15
languages mine in one job locally with more workers than cores, the 14 en-X pairs through the portable Job API, with
balanced accounts, and each pair's bitext is what mining that pair alone gives."""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

pytest.register_assert_rewrite("tests.crawl_fixtures")

from parabeam.pipeline.accounts import imbalances
from parabeam.pipeline.build import build_mine
from parabeam.pipeline.config import MineConfig, all_pairs
from parabeam.pipeline.run import graph_size
from tests.crawl_fixtures import assert_same_bitext, bitext, mine, run_json
from tests.multilingual import ALL_PAIRS, LANGS, library_pairs, write_crawl

pytest_plugins = ["tests.crawl_fixtures"]

WORKERS = ["--direct_num_workers", "4"]   # more worker processes than this machine's 2 cores
EN_X = ",".join("-".join(sorted(("en", lang))) for lang in LANGS if lang != "en")   # as all_pairs orients them


def leaves(n_langs: int, tmp_path: Path) -> int:
    langs = LANGS[:n_langs]
    cfg = MineConfig(output=str(tmp_path / f"g{n_langs}"), langs=langs, pairs=tuple(all_pairs(list(langs))),
                     inputs=(str(tmp_path / "*.wet"),))
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    build_mine(pipeline, cfg)
    return graph_size(pipeline)[1]


def test_the_graph_is_the_same_size_for_2_8_and_15_languages(tmp_path):
    counts = {n: leaves(n, tmp_path) for n in (2, 8, 15)}
    assert counts[2] == counts[8] == counts[15] < 400, counts


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> str:
    return write_crawl(tmp_path_factory.mktemp("crawl15"))


@pytest.fixture(scope="module")
def all_pairs_run(crawl, tmp_path_factory) -> Path:
    """Every pair of the 15 languages in one local job, 4 worker processes."""
    output = tmp_path_factory.mktemp("all15") / "out"
    mine([crawl], output, ",".join(LANGS), *WORKERS)
    return output


def test_all_105_pairs_finish_with_run_json_report_and_exact_accounts(all_pairs_run):
    """The job shape that crashed at the end before (8 languages: metrics overflowed past ~1,000 bundles;
    tests/test_accounts.py runs 1,600 bundles): accounts, written as data by the job, balance."""
    run = run_json(all_pairs_run)
    assert len(run["parameters"]["pairs"]) == ALL_PAIRS == 105
    assert imbalances(run["stages"]) == []
    assert run["stages"]["read"]["out"] == len(LANGS)
    assert len(run["stages"]["bitext"]["by_lang"]) == ALL_PAIRS
    assert (all_pairs_run / "report.html").stat().st_size > 10_000


def test_every_pair_finds_the_planted_translations_and_nothing_else(all_pairs_run):
    for src, tgt in all_pairs(list(LANGS)):
        found = {(row["src_text"], row["tgt_text"]) for row in bitext(all_pairs_run, f"{src}-{tgt}")}
        planted = library_pairs(src, tgt)
        assert found <= planted and len(found) >= len(planted) - 1, (src, tgt, found ^ planted)


@pytest.mark.parametrize("pair", ["ja-zh"])
def test_a_pair_mined_alone_gives_what_the_15_language_job_gives(crawl, all_pairs_run, tmp_path, pair):
    alone = tmp_path / "alone"
    mine([crawl], alone, pair.replace("-", ","))
    assert_same_bitext(bitext(alone, pair), bitext(all_pairs_run, pair))


def test_the_14_en_x_pairs_through_the_portable_job_api(crawl, all_pairs_run, job_endpoint, tmp_path):
    """The same keyed graph submitted to a Beam Job API service (what Flink and Spark job servers speak)."""
    output = tmp_path / "portable"
    mine([crawl], output, ",".join(LANGS), "--pairs", EN_X, "--runner", "portable",
         f"--job_endpoint={job_endpoint}", "--environment_type=LOOPBACK")
    run = run_json(output)
    assert imbalances(run["stages"]) == []
    assert sorted(run["stages"]["bitext"]["by_lang"]) == sorted(EN_X.split(","))
    assert run["stages"]["read"] == run_json(all_pairs_run)["stages"]["read"]
    for pair in EN_X.split(","):
        assert_same_bitext(bitext(output, pair), bitext(all_pairs_run, pair))
