"""The README's main job, run through the CLI on the demo crawl in the repository."""
import json
import re

import pytest

from parabeam.pipeline.cli import main
from tests.helpers import REPO, bitext_rows, text_pairs

DEMO = str(REPO / "demo" / "*.wet")


def demo_translations(src: str, tgt: str) -> set[tuple[str, str]]:
    """The sentence pairs planted in the demo: each topic's page in one language translates the other's. The
    cookie banner every page carries translates too, but it is a menu, not a sentence: never mined."""
    from demo.texts import TOPICS
    split = re.compile(r"(?<=[.!?])\s+")
    return {(s, t) for pages in TOPICS.values() for s, t in zip(split.split(pages[src]), split.split(pages[tgt]))}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo") / "out"
    assert main(["mine", "--input", DEMO, "--langs", "en,de,fr", "--output", str(output)]) == 0
    return output


@pytest.mark.parametrize("pair", ["de-en", "de-fr", "en-fr"])
def test_demo_finds_the_planted_translations_and_nothing_else(demo_run, pair):
    src, tgt = pair.split("-")
    assert text_pairs(demo_run, pair) == demo_translations(src, tgt)


def test_demo_keeps_a_sample_of_the_candidates_just_below_the_threshold(demo_run):
    """DIR/below_threshold: what the threshold dropped, for the report; here no planted translation is among them."""
    below = bitext_rows(demo_run, "de-en", dataset="below_threshold")
    threshold = json.loads((demo_run / "run.json").read_text())["thresholds"]["de-en"]["threshold"]
    assert below and all(threshold - 0.1 <= row["score"] <= threshold for row in below)
    assert not {(row["src_text"], row["tgt_text"]) for row in below} & demo_translations("de", "en")


def test_demo_run_accounts_for_every_record(demo_run):
    run = json.loads((demo_run / "run.json").read_text())
    stages = run["stages"]
    assert stages["read"]["out"] == 33 and stages["read"]["skipped"] == {"warcinfo": 1}
    assert stages["split"]["reject"]["menu"] == 33              # the cookie banner of every page
    assert stages["bitext"]["out"] == 3 * 20
    assert (demo_run / "report.html").stat().st_size > 10_000
    assert {"pipeline", "read", "lid", "split", "dedup", "embed", "bitext"} <= set(run["timings"])
    assert sorted(p.name for p in (demo_run / "sentences").iterdir()) == ["de", "en", "fr"]


def test_a_finished_run_is_not_overwritten_without_asking(demo_run, capsys):
    assert main(["mine", "--input", DEMO, "--langs", "en,de", "--output", str(demo_run)]) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_bad_options_are_clear_errors(tmp_path, capsys):
    assert main(["mine", "--input", DEMO, "--langs", "en,../x", "--output", str(tmp_path / "o")]) == 2
    assert main(["mine", "--output", str(tmp_path / "o"), "--langs", "en"]) == 2
    assert "--input" in capsys.readouterr().err


def test_a_second_run_embeds_nothing_and_mines_the_same(demo_run):
    """The embedding cache beside the first run's output holds every sentence: all hits, no encoding."""
    again = demo_run.parent / "again"
    assert main(["mine", "--input", DEMO, "--langs", "en,de,fr", "--output", str(again)]) == 0
    first = json.loads((demo_run / "run.json").read_text())["stages"]
    second = json.loads((again / "run.json").read_text())["stages"]
    assert first["embed_cache"]["miss"] == first["embed"]["out"] > 0 and "hit" not in first["embed_cache"]
    assert second["embed_cache"] == {**second["embed_cache"], "hit": first["embed"]["out"]}
    assert "miss" not in second["embed_cache"] and second.get("embed", {}).get("in", 0) == 0
    for pair in ("de-en", "de-fr", "en-fr"):
        assert bitext_rows(again, pair) == bitext_rows(demo_run, pair)
