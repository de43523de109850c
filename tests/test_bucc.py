"""The BUCC-style mining sets: gold really parallel, distractors really not, preset densities, files
the sentence-file mode reads back, and the scoring on hand-made examples."""
from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from benchmarks import bucc
from parabeam.transforms.dedup import normalise
from parabeam.transforms.sentence_files import ReadSentenceFiles

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data absent")


def lines(path: Path) -> list[str]:
    """A data file's lines with whitespace collapsed, as the mining sets write them."""
    return [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]


def english_meanings() -> dict[tuple[str, str], set[str]]:
    """(lang, normalised text) -> the English sentences it is known to translate, straight from the files:
    FLORES line i's English line, a Tatoeba line's English side; an English sentence means itself."""
    meanings: dict[tuple[str, str], set[str]] = defaultdict(set)
    flores = DATA / "flores200_devtest"
    english = lines(flores / "eng_Latn.devtest")
    for path in flores.glob("*.devtest"):
        lang = {"eng": "en", "deu": "de", "fra": "fr", "rus": "ru", "zho": "zh", "jpn": "ja", "arb": "ar",
                "swh": "sw", "wol": "wo"}[path.name[:3]]
        for text, eng in zip(lines(path), english):
            meanings[(lang, normalise(text))].add(normalise(eng))
    for path in (DATA / "tatoeba").glob("tatoeba.*-eng.eng"):
        code = path.name.split(".")[1].split("-")[0]
        lang = {"deu": "de", "fra": "fr", "rus": "ru", "cmn": "zh", "jpn": "ja", "ara": "ar", "afr": "af",
                "swh": "sw"}[code]
        for text, eng in zip(lines(path.with_suffix(f".{code}")), lines(path)):
            meanings[(lang, normalise(text))].add(normalise(eng))
    return meanings


@pytest.fixture(scope="module")
def meanings():
    return english_meanings()


def known_translations(src_lang, src, tgt_lang, tgt, meanings) -> set[tuple[str, str]]:
    """Every (src_id, tgt_id) whose sentences share an English meaning (English means itself)."""
    def of(lang, text):
        text = normalise(text)
        return meanings.get((lang, text), set()) | ({text} if lang == "en" else set())

    by_meaning = defaultdict(set)
    for ident, text in tgt:
        for meaning in of(tgt_lang, text):
            by_meaning[meaning].add(ident)
    return {(s_id, t_id) for s_id, text in src for meaning in of(src_lang, text) for t_id in by_meaning[meaning]}


@needs_data
@pytest.mark.parametrize("pair", ["de-en", "de-fr", "en-zh"])
def test_gold_is_parallel_and_nothing_else_is(pair, meanings):
    src_lang, tgt_lang = pair.split("-")
    src, tgt, gold = bucc.build(pair, 60, 600, seed=3, data=DATA)
    assert len(src) == len(tgt) == 660 and len(gold) == 60
    for side, lang in ((src, src_lang), (tgt, tgt_lang)):
        assert all(re.fullmatch(rf"{lang}-\d{{6}}", ident) for ident, _ in side)
        assert len({ident for ident, _ in side}) == len(side)
        assert len({normalise(text) for _, text in side}) == len(side), "a sentence repeats on one side"
    # Gold: the same line of a FLORES pair of files or of one Tatoeba file pair.
    files = [(bucc.flores_path(DATA, src_lang), bucc.flores_path(DATA, tgt_lang))]
    for lang, other in ((src_lang, tgt_lang), (tgt_lang, src_lang)):
        if other == "en" and lang in bucc.TATOEBA:
            paths = bucc.tatoeba_paths(DATA, lang)
            files.append(paths if lang == src_lang else paths[::-1])
    aligned = {(s, t) for s_path, t_path in files for s, t in zip(lines(s_path), lines(t_path))}
    src_text, tgt_text = dict(src), dict(tgt)
    assert all((src_text[s], tgt_text[t]) in aligned for s, t in gold)
    # No distractor has a known translation on the other side: the only translations are the gold pairs.
    assert known_translations(src_lang, src, tgt_lang, tgt, meanings) == gold


@needs_data
def test_distractors_mix_sources():
    """Distractors come from FLORES, Tatoeba and the web excerpt, not from one source only."""
    src, _, gold = bucc.build("ru-en", 50, 1500, seed=0, data=DATA)
    gold_src = {s for s, _ in gold}
    texts = {text for ident, text in src if ident not in gold_src}
    flores = set(lines(bucc.flores_path(DATA, "ru")))
    tatoeba = set(lines(bucc.tatoeba_paths(DATA, "ru")[0]))
    web = set(bucc.web_sentences(DATA)["ru"])
    assert texts & flores and texts & tatoeba and texts & web
    assert texts <= flores | tatoeba | web


@needs_data
@pytest.mark.parametrize("preset, low, high, min_side", [("web", 0.02, 0.05, 1900), ("dense", 0.45, 0.55, 1000)])
def test_preset_density(tmp_path, preset, low, high, min_side):
    paths = bucc.write_bucc(tmp_path, "de-en", preset, seed=1, data=DATA)
    src, tgt, gold = (bucc.read_bucc(paths[key]) for key in ("de", "en", "gold"))
    assert len(src) == len(tgt) >= min_side
    assert low <= len(gold) / len(src) <= high


@needs_data
def test_web_preset_reaches_its_size_where_the_data_allows():
    n_parallel, n_distractors = bucc.preset_sizes("zh-en", "web", data=DATA)
    assert n_parallel + n_distractors == bucc.PRESETS["web"].side
    assert n_parallel == round(bucc.PRESETS["web"].share * bucc.PRESETS["web"].side)
    with pytest.raises(ValueError, match="cannot hide"):
        bucc.build("wo-en", 500, 600, data=DATA)


@needs_data
def test_files_round_trip_through_sentence_file_mode(tmp_path):
    paths = bucc.write_bucc(tmp_path, "fr-en", "dense", seed=2, data=DATA)
    src, tgt, gold = bucc.build("fr-en", *bucc.preset_sizes("fr-en", "dense", data=DATA), seed=2, data=DATA)
    assert bucc.read_bucc(paths["fr"]) == src and bucc.read_bucc(paths["en"]) == tgt
    assert set(bucc.read_bucc(paths["gold"])) == gold
    assert bucc.build("fr-en", 500, 500, seed=3, data=DATA)[0] != src
    expected = [{"id": ident, "lang": lang, "text": text, "count": 1, "urls": []}
                for lang, side in (("fr", src), ("en", tgt)) for ident, text in side]
    with beam.Pipeline(runner="FnApiRunner") as p:
        rows, rejects, counts = p | ReadSentenceFiles([(str(paths["fr"]), "fr"), (str(paths["en"]), "en")])
        assert_that(rows, equal_to(expected), label="rows")
        assert_that(rejects, equal_to([]), label="no rejects")




@pytest.mark.parametrize("density", [0.03, 0.10])
def test_pooled_threshold_sets_hold_gold_only_where_both_sides_hold_it(density):
    """benchmarks.threshold.pooled_set: equal ids on both sides are the gold, FLORES blocks off the gold go to
    one side only, one-sided distractor ids never meet, and gold is `density` of the mean side size."""
    from benchmarks.threshold import pooled_set
    src, tgt, gold = pooled_set(1012, 1500, 3000, density, seed=1)
    shared = set(src) & set(tgt)
    assert len(shared) == gold and shared <= set(range(1012))
    assert len(src) == len(set(src)) and len(tgt) == len(set(tgt))
    assert all(1012 <= i < 1012 + 1500 for i in src if i >= 1012)
    assert all(1012 + 1500 <= i < 1012 + 4500 for i in tgt if i >= 1012)
    assert gold / ((len(src) + len(tgt)) / 2) == pytest.approx(density, abs=0.002)


@needs_data
def test_threshold_one_sided_distractors_have_no_known_translation_across():
    """benchmarks.threshold.one_sided: no English distractor is a Tatoeba or ParaCrawl translation of a German
    one."""
    from benchmarks.threshold import one_sided
    german, english = one_sided(DATA, "de")
    known = {normalise(en) for en in lines(DATA / "tatoeba" / "tatoeba.deu-eng.eng")}
    rows = [row.split("\t") for row in (DATA / "paracrawl_human_eval" / "sorted.en-de").read_text(
        encoding="utf-8").splitlines()]
    known |= {normalise(" ".join(row[2].split())) for row in rows if row[5] != "L"}   # L: not German
    assert len(german) > 1000 and len(english) > 2000
    assert not {normalise(text) for text in english} & known
