import logging

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter

from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline.accounts import imbalances, read_counts, stage_accounts, stage_seconds, summary_lines
from parabeam.pipeline.build import write_accounts
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.progress import BUNDLE_LOGGER
from parabeam.transforms.accounting import BUSY, Filter
from tests.helpers import OnePerBundle


def test_accounts_balance_and_report_by_reason_and_language():
    stages = stage_accounts({
        "lid/in": 10, "lid/out/de": 4, "lid/out/en": 3, "lid/reject:too_short": 2, "lid/reject:low_confidence/de": 1,
        "split/in": 7, "split/produced": 12, "split/out/de": 9, "split/reject:too_long/de": 3,
        "dedup/in": 9, "dedup/out": 6, "dedup/merged:duplicate": 3,
    })
    assert stages["lid"]["out"] == 7 and stages["lid"]["by_lang"]["de"] == {"out": 4, "reject": {"low_confidence": 1}}
    assert stages["lid"]["reject"] == {"too_short": 2, "low_confidence": 1}
    assert imbalances(stages) == []
    assert any("too_short 2" in line for line in summary_lines(stages))
    assert any("hit 5" in line for line in summary_lines(stage_accounts({"embed_cache/hit/de": 5})))


def test_stage_busy_time_is_timing_not_a_count():
    values = {"lid/in": 3, "lid/out": 3, "lid/busy_ms": 1500, "read/busy_ms": 250, "read/in": 1, "read/out": 1}
    assert stage_seconds(values) == {"read": 0.25, "lid": 1.5}
    assert "busy_ms" not in stage_accounts(values)["lid"] and imbalances(stage_accounts(values)) == []


def test_a_lost_record_is_an_imbalance():
    problems = imbalances(stage_accounts({"dedup/in": 10, "dedup/out": 6, "dedup/merged:duplicate": 3}))
    assert len(problems) == 1 and problems[0].startswith("dedup: 10 records entered but 9")


def _rejecting(reject_sample):
    """A StageFn rejecting 50 routine (too_short) and 50 error (bad_json) records of two shards, in one bundle."""
    from parabeam.transforms.accounting import StageFn

    class _Fn(StageFn):
        stage = "lid"

    fn = _Fn()
    fn.reject_sample = reject_sample
    fn.start_bundle()
    rows = [row for i in range(50) for reason in ("too_short", "bad_json")
            for row in fn.reject(reason, shard=f"s{i % 2}", record=i)]
    tallies = [out.value.value for out in fn.finish_bundle()]
    counts = {tally.what: tally.n for tally in tallies if tally.what != BUSY}
    return [row.value for row in rows], counts


def test_routine_rejects_are_counted_exactly_but_written_up_to_a_sample_per_reason_and_shard():
    rows, counts = _rejecting(reject_sample=3)
    assert counts == {"reject:too_short": 50, "reject:bad_json": 50}
    written = [(row.reason, row.shard) for row in rows]
    assert written.count(("too_short", "s0")) == written.count(("too_short", "s1")) == 3
    assert written.count(("bad_json", "s0")) == written.count(("bad_json", "s1")) == 25   # errors: all


def test_reject_sample_none_writes_every_reject_row():
    rows, counts = _rejecting(reject_sample=None)
    assert len(rows) == 100 and counts == {"reject:too_short": 50, "reject:bad_json": 50}


def test_accounts_are_exact_past_1500_bundles_where_beam_metrics_overflow(tmp_path):
    """The FnApiRunner nests one metrics generator per bundle, so `result.metrics()` overflows the recursion
    limit past ~1,000 bundles (what crashed an 8-language job at its end). Accounts travel as data instead: a
    filtering stage run over 1,600 bundles on the local runner writes exact counts, while the same job's Beam
    metrics cannot even be read."""
    bundles = 1600
    cfg = MineConfig(output=str(tmp_path / "out"), langs=("en",), pairs=())
    pipeline = beam.Pipeline(options=pipeline_options("local", ["--direct_num_workers", "1"]))
    numbers = pipeline | beam.Create([bundles]) | "OnePerBundle" >> beam.ParDo(OnePerBundle())
    write_accounts([numbers | Filter("step", lambda n: "odd" if n % 2 else None, lang_of=lambda n: "",
                                     describe=lambda n: {"excerpt": n})], cfg)
    run = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: run.append(1) if str(record.msg).startswith("Running bundle") else None
    logger = logging.getLogger(BUNDLE_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert len(run) > bundles
    with pytest.raises(RecursionError):
        result.metrics().query(MetricsFilter())
    stages = stage_accounts(read_counts(cfg.output))
    assert stages["step"]["in"] == bundles and stages["step"]["out"] == bundles // 2
    assert stages["step"]["reject"] == {"odd": bundles // 2}
    assert imbalances(stages) == []
