from parabeam.pipeline.accounts import imbalances, stage_accounts, summary_lines


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


def test_a_lost_record_is_an_imbalance():
    problems = imbalances(stage_accounts({"dedup/in": 10, "dedup/out": 6, "dedup/merged:duplicate": 3}))
    assert len(problems) == 1 and problems[0].startswith("dedup: 10 records entered but 9")
