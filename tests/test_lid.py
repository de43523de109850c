"""Language codes (transforms/langs.py) and paragraph LID (transforms/lid.py)."""
from __future__ import annotations

import gzip
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.helpers import counted
from parabeam.transforms.langs import (ENCODER_LANGS, letters_or_marks, normalise_lang, parse_langs,
                                       scaled_chars, script_of, validate_lang)
from parabeam.transforms.lid import (DocTexts, IdentifyLanguage, default_model_path, identify, lid_decision,
                                     load_lid_model, paragraphs, top_languages)

SAMPLE = Path(__file__).parent / "data" / "lid_sample.tsv"
WET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"


@pytest.fixture(scope="module")
def model():
    return load_lid_model()


def _sample() -> list[tuple[str, str]]:
    rows = [line.rstrip("\n").split("\t", 1) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [(lang, text) for lang, text in rows]


# --- language codes -------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("de", "de"), ("EN", "en"), ("en-US", "en"), ("cmn", "zh"), ("arb", "ar"), ("swh", "sw"),
    ("pes", "fa"), ("zho_Hans", "zh"), ("zh-Hant", "zh"), ("__label__en", "en"),
    ("__label__eng_Latn", "en"), ("deu", "de"), ("sr-Latn", "sr"), ("yue", "yue"), ("iw", "he"),
])
def test_normalise_lang(given, expected):
    assert normalise_lang(given) == expected


@pytest.mark.parametrize("glotlid, lid176", [
    ("__label__deu_Latn", "__label__de"), ("__label__cmn_Hani", "__label__zh"),
    ("__label__zho_Hans", "__label__zh"), ("__label__arb_Arab", "__label__ar"),
    ("__label__pes_Arab", "__label__fa"), ("__label__swh_Latn", "__label__sw"),
    ("__label__rus_Cyrl", "__label__ru"), ("__label__jpn_Jpan", "__label__ja"),
    ("__label__kor_Hang", "__label__ko"), ("__label__tha_Thai", "__label__th"),
    ("__label__ekk_Latn", "__label__et"), ("__label__zsm_Latn", "__label__ms"),
])
def test_lid218_and_glotlid_labels_normalise_like_lid176(glotlid, lid176):
    assert normalise_lang(glotlid) == normalise_lang(lid176) == lid176.removeprefix("__label__")


def test_parse_langs_normalises_and_dedups_in_order():
    assert parse_langs(" de,en , cmn,DE,zho_Hans") == ["de", "en", "zh"]


@pytest.mark.parametrize("bad", ["", " , ", "xx", "english", "e1", "und", "mul", "qaa", "../x", "de/en",
                                 "de,zz"])
def test_parse_langs_refuses_what_is_not_a_language(bad):
    with pytest.raises(ValueError, match="language code"):
        parse_langs(bad)


def test_validate_lang_gives_path_safe_codes():
    assert validate_lang("fil") == "fil" and validate_lang("nds") == "nds"


def test_encoder_langs():
    assert ENCODER_LANGS == set("ar de en es fr it ja ko nl pl pt ru th tr zh".split())
    assert all(validate_lang(lang) == lang for lang in ENCODER_LANGS)


@pytest.mark.parametrize("text, script", [
    ("Hello, world", "other"), ("Привет, мир", "other"), ("今天天气很好", "han"),
    ("今日は晴れです", "kana"), ("オンライン 2017", "kana"), ("오늘은 날씨가 좋다", "hangul"),
    ("วันนี้อากาศดีมาก", "thai"), ("12345 !!", "other"), ("", "other"),
    ("iPhone 8 发布会 in Cupertino", "other"),
])
def test_script_of(text, script):
    assert script_of(text) == script


@pytest.mark.parametrize("text, count", [
    ("Hello, world 42!", 10), ("", 0), ("ขอบคุณมากครับ", 13),   # Thai vowel and tone signs are marks
    ("e\u0301te\u0301", 5), ("Ⅻ ² ½ ①", 0),                 # combining accent: a mark; numbers: neither
    ("中文，かな。", 4), ("ʻōlelo", 6),                          # modifier letter (Lm) counts
])
def test_letters_or_marks(text, count):
    assert letters_or_marks(text) == count


def test_scaled_chars_follows_script_density():
    assert [scaled_chars(20, text) for text in ("abc", "中文", "かな", "한국", "ไทย")] == [20, 7, 9, 10, 18]


# --- pure LID functions --------------------------------------------------------------------

def test_paragraphs_are_non_empty_stripped_lines():
    assert paragraphs("  first line \n\n\t\nsecond\r\nthird  ") == ["first line", "second", "third"]
    assert paragraphs("") == [] and paragraphs("\n \n") == []
    # U+0085 (a mis-decoded "…" on the web) stays in its line for the sentence checks to see.
    assert paragraphs("Audio Editor\x85Family Cyber Alert\u2028next") == ["Audio Editor\x85Family Cyber Alert", "next"]


def test_identify_every_hand_checked_wet_paragraph(model):
    sample = _sample()
    assert len(sample) >= 40 and len({lang for lang, _ in sample}) >= 10
    wrong = [(lang, identify(model, text), text) for lang, text in sample if identify(model, text)[0] != lang]
    assert wrong == []


def test_sample_is_verbatim_from_the_wet_excerpt():
    if not WET.exists():
        pytest.skip(f"shared data absent: {WET}")
    with gzip.open(WET, "rt", encoding="utf-8", errors="replace") as wet:  # multi-member gzip
        lines = {line.strip() for line in wet}
    assert [text for _, text in _sample() if text not in lines] == []


def test_identify_returns_normalised_code_and_probability(model):
    lang, prob = identify(model, "Das Wetter in Berlin ist heute sonnig und warm.")
    assert lang == "de" and 0.9 < prob <= 1.0


def test_identify_accepts_newlines(model):
    text = "Das Wetter in Berlin\nist heute sonnig und warm."
    assert identify(model, text) == identify(model, text.replace("\n", " "))


def test_model_path_option_loads_a_given_model():
    assert identify(load_lid_model(default_model_path()), "Добро пожаловать на наш сайт.")[0] == "ru"


@pytest.mark.parametrize("lang, prob, text, options, expected", [
    ("en", 0.99, "A sentence long enough.", {}, None),
    ("en", 0.99, "Short line here", {}, "too_short"),                 # 15 < 20 characters
    ("zh", 0.99, "今天天气很好呀", {}, None),                             # 7 Han characters suffice
    ("zh", 0.99, "今天天气很好", {}, "too_short"),
    ("en", 0.49, "A sentence long enough.", {}, "low_confidence"),
    ("en", 0.2, "Short", {}, "too_short"),                             # too short is said first
    ("de", 0.99, "Ein Satz, lang genug dafür.", {"langs": {"en"}}, "unwanted_lang"),
    ("de", 0.3, "Ein Satz, lang genug dafür.", {"langs": {"en"}}, "low_confidence"),
    ("de", 0.99, "Ein Satz, lang genug dafür.", {"langs": None}, None),
    ("en", 0.7, "A sentence long enough.", {"threshold": 0.8}, "low_confidence"),
    ("en", 0.7, "A sentence long enough.", {"threshold": 0.8, "thresholds": {"en": 0.6}}, None),
    ("fr", 0.7, "Une phrase assez longue.", {"threshold": 0.8, "thresholds": {"en": 0.6}}, "low_confidence"),
    ("en", 0.99, "Short line here", {"min_chars": 10}, None),
])
def test_lid_decision(lang, prob, text, options, expected):
    assert lid_decision(lang, prob, text, **{"langs": {"en", "de", "fr", "zh"}, **options}) == expected


# --- composite --------------------------------------------------------------------------------

def test_identify_language_composite_outputs_rejects_and_counters():
    docs = [
        {"url": "http://a.example/1", "shard": "s0", "record": 0, "text":
            "Das Wetter in Berlin ist heute sonnig und warm.\n\nImpressum\n"
            "The weather in London is rainy again today.\n2010/05/23 (Sun) 16:26:03 *.example.jp"},
        {"url": "http://b.example/2", "shard": "s0", "record": 1, "text": "今天北京的天气很好，我们去公园散步吧。"},
        {"url": "http://c.example/3", "shard": "s1", "record": 0, "text": "\n  \n"},
    ]
    pipeline = beam.Pipeline(runner="FnApiRunner")
    kept, rejects, counts = pipeline | beam.Create(docs) | IdentifyLanguage({"de", "cmn"})
    assert_that(kept, equal_to([
        DocTexts("http://a.example/1", "s0", 0, (("de", "Das Wetter in Berlin ist heute sonnig und warm."),)),
        DocTexts("http://b.example/2", "s0", 1, (("zh", "今天北京的天气很好，我们去公园散步吧。"),)),
    ]), label="Kept")
    assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason, r.lang, r.url, r.excerpt)),
                equal_to([
                    ("lid", "too_short", "", "http://a.example/1", "Impressum"),   # not identified
                    ("lid", "unwanted_lang", "en", "http://a.example/1",
                     "The weather in London is rainy again today."),
                    ("lid", "low_confidence", "en", "http://a.example/1",
                     "2010/05/23 (Sun) 16:26:03 *.example.jp"),
                ]), label="Rejects")
    assert_that(counted(counts), equal_to(list({
        "lid/in/de": 1, "lid/out/de": 1, "lid/in/zh": 1, "lid/out/zh": 1, "lid/in/en": 2, "lid/in": 1,
        "lid/reject:too_short": 1, "lid/reject:unwanted_lang/en": 1, "lid/reject:low_confidence/en": 1,
    }.items())), label="Counts")
    pipeline.run().wait_until_finish()


def test_identify_language_refuses_bad_codes_up_front():
    with pytest.raises(ValueError, match="language code"):
        IdentifyLanguage({"de", "xx"})


MIXED_TEXTS = ["Plain ASCII, with digits 123 and_underscores.", "Überweisung für Müller-Lüdenscheidt", "ʻOkina ˈstress",
               "河水缓缓流过老城。", "川は旧市街をゆっくりと流れています。ＡＢＣ", "강은 구시가지를 천천히 흐른다.",
               "แม่น้ำไหลผ่านเมืองเก่าอย่างช้าๆ", "नदी पुराने शहर से धीरे-धीरे बहती है।", "Река и river 河", "", "   ", "12 34"]


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_script_counts_match_their_per_character_definitions(text):
    import unicodedata
    from parabeam.transforms.langs import letter_script, letter_scripts, script_of
    slow: dict = {}
    for char in text:
        if unicodedata.category(char) in ("Lu", "Ll", "Lt", "Lo"):
            slow[letter_script(char)] = slow.get(letter_script(char), 0) + 1
    assert letter_scripts(text) == slow
    assert script_of(text) == script_of.__wrapped__(text)


def test_top_languages_memo_gives_what_the_model_gives(model):
    text = "Der Fluss fließt langsam durch die Altstadt, und im Sommer spielen die Kinder am Ufer."
    first = top_languages(model, text, 1)
    five = top_languages(model, text, 5)   # served from the memo
    labels, probs = model.predict(text, k=5)
    assert five == [(normalise_lang(label), min(float(prob), 1.0)) for label, prob in zip(labels, probs)]
    assert first == five[:1] and identify(model, text) == five[0]
