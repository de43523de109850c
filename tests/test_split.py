"""Sentence splitting and the sentence length filter (transforms/split.py)."""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.helpers import counted
from parabeam.transforms.langs import ENCODER_LANGS
from parabeam.transforms.lid import DocTexts
from parabeam.transforms.split import SplitSentences, length_reason, split_sentences

FLORES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flores200_devtest"
FLORES_FILES = {"ar": "arb_Arab", "de": "deu_Latn", "en": "eng_Latn", "fr": "fra_Latn", "ja": "jpn_Jpan",
                "ru": "rus_Cyrl", "zh": "zho_Hans", "sw": "swh_Latn", "wo": "wol_Latn"}
# Lines 7-9 of devtest: a sentence of reported speech, a long one, and one opening with "2017"
# (which sentencex alone does not split from a preceding 。) and, in French, "M. Siminoff".
FLORES_LINES = slice(6, 9)

# Written for this test, for the encoder languages FLORES does not have here, and Swahili for a
# language outside the encoder's.
WRITTEN = {
    "es": ["¿Dónde está la estación de tren?", "La Sra. García me dijo que está a dos calles de aquí.",
           "¡Muchas gracias por la ayuda!"],
    "it": ["Il museo apre alle nove del mattino.", "Il biglietto costa dieci euro, ma gli studenti entrano gratis.",
           "Vuoi venire con noi sabato?"],
    "ko": ["서울은 한국의 수도입니다.", "매년 수많은 관광객이 이곳을 찾습니다!", '그는 "내일 다시 올게요."라고 말했다.'],
    "nl": ["Het regent al de hele dag in Amsterdam.", "Toch fietsen veel mensen gewoon naar hun werk.",
           "Heb jij vandaag ook een regenjas aan?"],
    "pl": ["W sobotę pojechaliśmy nad morze.", "Woda była zimna, ale dzieci i tak pływały przez godzinę!",
           "Kiedy znowu tam pojedziemy?"],
    "pt": ["O Sr. Silva chegou a Lisboa ontem à noite.", "Ele vai ficar na cidade durante uma semana.",
           "Você já visitou o Museu do Azulejo?"],
    "th": ["เมื่อวานนี้ฉันไปตลาดกับแม่", "เราซื้อผลไม้และผักมากมาย", "ตอนเย็นพ่อทำอาหารอร่อยให้ทุกคนกิน"],
    "tr": ["Bugün hava çok güzel.", "Öğleden sonra sahilde yürüyüş yapacağız.", "Sen de gelmek ister misin?"],
    "sw": ["Habari za asubuhi.", "Leo ni siku nzuri sana kwa kutembea.", "Tutaenda sokoni kesho?"],
}


def _paragraph(lang: str, sentences: list[str]) -> str:
    return ("" if lang in ("zh", "ja") else " ").join(sentences)


def test_every_encoder_language_has_a_paragraph_test():
    assert ENCODER_LANGS <= set(WRITTEN) | set(FLORES_FILES)


@pytest.mark.parametrize("lang", sorted(FLORES_FILES))
def test_split_flores_paragraph(lang):
    path = FLORES / f"{FLORES_FILES[lang]}.devtest"
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    sentences = path.read_text(encoding="utf-8").splitlines()[FLORES_LINES]
    assert split_sentences(lang, _paragraph(lang, sentences)) == sentences


@pytest.mark.parametrize("lang", sorted(WRITTEN))
def test_split_written_paragraph(lang):
    assert split_sentences(lang, _paragraph(lang, WRITTEN[lang])) == WRITTEN[lang]


@pytest.mark.parametrize("lang, text, expected", [
    ("zh", "你好!我很好?谢谢。", ["你好!", "我很好?", "谢谢。"]),
    ("zh", "他说了。2017年很好！", ["他说了。", "2017年很好！"]),
    ("zh", "他说：“我很好。你呢？”然后走了。", ["他说：“我很好。你呢？”", "然后走了。"]),
    ("zh", "真的吗？！当然。", ["真的吗？！", "当然。"]),
    ("ja", "「行きます。」と彼は言った。彼は帰った！", ["「行きます。」と彼は言った。", "彼は帰った！"]),
    ("ja", "すごい!!本当に?そうです", ["すごい!!", "本当に?", "そうです"]),
    # An unclosed bracket must not glue the rest of the paragraph into one sentence.
    ("ja", "（注意。これは閉じていない。次の文です。", ["（注意。", "これは閉じていない。", "次の文です。"]),
    ("ko", "그는 \"안녕하세요.\"라고 말했다. 정말? 네.", ["그는 \"안녕하세요.\"라고 말했다.", "정말?", "네."]),
    ("fr", "M. Dupont est arrivé. Il est parti.", ["M. Dupont est arrivé.", "Il est parti."]),
    ("ru", "Он работал при Линдоне Б. Джонсоне. Потом ушёл.",
     ["Он работал при Линдоне Б. Джонсоне.", "Потом ушёл."]),
    ("en", "It began in 400 A.D. It ended later.", ["It began in 400 A.D.", "It ended later."]),
    ("en", "  ", []),
    # A straight quote after 。 closes the sentence; two in a row close one and open the next.
    ("zh", '他说："我很好。"然后走了。', ['他说："我很好。"', "然后走了。"]),
    ("zh", '"我很好。""你好。"', ['"我很好。"', '"你好。"']),
    # A lower-case abbreviation is no initial: the sentence after "н. э." is its own.
    ("ru", "Слава пошла около 400 г. н. э. Подобно тому, как Париж.",
     ["Слава пошла около 400 г. н. э.", "Подобно тому, как Париж."]),
    # Lower case after an abbreviation, an ordinal or an ellipsis goes on; after a full word it is a new sentence.
    ("pl", "W 2010 r. fundacja wydała 5 tys. egzemplarzy. Kim oni są?",
     ["W 2010 r. fundacja wydała 5 tys. egzemplarzy.", "Kim oni są?"]),
    ("tr", "16. yüzyılda Atina büyüdü. Sonra küçüldü.", ["16. yüzyılda Atina büyüdü.", "Sonra küçüldü."]),
    ("ru", "У меня много таких было... но все потерялись.", ["У меня много таких было... но все потерялись."]),
    ("en", "I keep the bathroom neat and tidy. because he doesn't like cleaning.",
     ["I keep the bathroom neat and tidy.", "because he doesn't like cleaning."]),
    # Dutch newspapers open a quote with two commas.
    ("nl", "Toch waarschuwt Lode. ,,Juist als het goed gaat, moet je waakzaam blijven.'' Dat zei hij.",
     ["Toch waarschuwt Lode.", ",,Juist als het goed gaat, moet je waakzaam blijven.''", "Dat zei hij."]),
])
def test_split_edge_cases(lang, text, expected):
    assert split_sentences(lang, text) == expected


@pytest.mark.parametrize("lang, text, expected", [
    ("en", "Thanks a lot!!", "too_short"),              # 14 < 15
    ("en", "Thank you so much.", None),
    ("en", "a" * 500, None),
    ("en", "a" * 501, "too_long"),
    ("zh", "谢谢你", "too_short"),                        # Chinese needs 5
    ("zh", "谢谢你们。", None),
    ("zh", "好" * 166, "too_long"),                      # over 165
    ("ja", "ありがとう", "too_short"),                    # Japanese needs 6
    ("ja", "ありがとう。", None),
    ("ko", "감사합니다.", "too_short"),                   # Korean needs 8
    ("ko", "정말 감사합니다.", None),
    ("th", "ขอบคุณมากครับ", "too_short"),                 # Thai needs 14
    ("th", "ขอบคุณมากครับผม", None),
])
def test_length_reason(lang, text, expected):
    assert length_reason(lang, text) == expected


def test_split_sentences_composite_outputs_rejects_and_counters():
    paragraphs = [
        DocTexts("http://a.example/1", "s0", 3, (
            ("en", "The museum opens at nine. Fine. Tickets cost ten euros for adults."), ("en", "Fine."))),
        DocTexts("http://b.example/2", "s1", 0, (("zh", "他称，他制作了一个门铃。好。"),)),
        DocTexts("http://c.example/3", "s1", 1, (("en", "Too short."),)),   # nothing kept: no element
    ]
    pipeline = beam.Pipeline(runner="FnApiRunner")
    sentences, rejects, counts = pipeline | beam.Create(paragraphs) | SplitSentences()
    assert_that(sentences, equal_to([
        DocTexts("http://a.example/1", "s0", 3, (("en", "The museum opens at nine."),
                                                 ("en", "Tickets cost ten euros for adults."))),
        DocTexts("http://b.example/2", "s1", 0, (("zh", "他称，他制作了一个门铃。"),)),
    ]), label="Sentences")
    assert_that(rejects | "RejectRows" >> beam.Map(lambda r: r._asdict()), equal_to([
        {"stage": "split", "reason": "too_short", "lang": "en", "shard": "s0", "record": 3,
         "url": "http://a.example/1", "excerpt": "Fine."},
        {"stage": "split", "reason": "too_short", "lang": "en", "shard": "s0", "record": 3,
         "url": "http://a.example/1", "excerpt": "Fine."},
        {"stage": "split", "reason": "too_short", "lang": "zh", "shard": "s1", "record": 0,
         "url": "http://b.example/2", "excerpt": "好。"},
        {"stage": "split", "reason": "too_short", "lang": "en", "shard": "s1", "record": 1,
         "url": "http://c.example/3", "excerpt": "Too short."},
    ]), label="Rejects")
    assert_that(counted(counts), equal_to(list({
        "split/in/en": 3, "split/produced/en": 5, "split/out/en": 2, "split/reject:too_short/en": 3,
        "split/in/zh": 1, "split/produced/zh": 2, "split/out/zh": 1, "split/reject:too_short/zh": 1,
    }.items())), label="Counts")
    pipeline.run().wait_until_finish()
