"""The retention benchmark's packing and per-line accounting (benchmarks/retention.py), on written text."""
from __future__ import annotations

import random

from benchmarks.retention import conllu_sentences, line_fate, pack, pages
from parabeam.transforms.lid import load_lid_model
from test_split import WRITTEN


def test_pack_keeps_order_and_joins_by_script():
    sentences = [f"Sentence number {n}." for n in range(20)]
    lines = list(pack(sentences, "en", random.Random(0)))
    assert [s for _line, *known in lines for s in known] == sentences
    assert all(1 <= len(known) <= 4 and line == " ".join(known) for line, *known in lines)
    assert all(line == "".join(known) for line, *known in pack(["你好。", "谢谢。", "好的。"] * 3, "zh", random.Random(1)))
    assert [s for page in pages(sentences, "en") for _line, *known in page for s in known] == sentences


def test_pack_puts_a_heading_at_the_end_of_its_line():
    """An unpunctuated heading or list item would merge with the next sentence; on a page it is its own line."""
    sentences = ["Geschiedenis", "Het begon in 1830.", "Zie ook:", "Senaat (74 leden)", "Kamer (150 leden)"] * 4
    lines = list(pack(sentences, "nl", random.Random(0)))
    assert [s for _line, *known in lines for s in known] == sentences
    assert all(known[-1] == s for _line, *known in lines for s in known if s in ("Geschiedenis", "Senaat (74 leden)"))
    # Thai has no closing punctuation: its lines are packed as drawn
    thai = ["สวัสดีครับ ยินดีต้อนรับ", "ขอบคุณมากครับ"] * 10
    assert max(len(known) for _line, *known in pack(thai, "th", random.Random(0))) > 1


def test_conllu_sentences_reads_text_comments_in_order(tmp_path):
    path = tmp_path / "t.conllu"
    path.write_text("# sent_id = 1\n# text = Eerste zin.\n1\tEerste\n\n# sent_id = 2\n# text = Tweede zin. \n1\tTweede\n",
                    encoding="utf-8")
    assert conllu_sentences(path) == ["Eerste zin.", "Tweede zin."]


def test_line_fate_keeps_real_sentences_and_names_losses():
    model = load_lid_model()
    line = " ".join(WRITTEN["es"])
    assert set(line_fate("es", line, WRITTEN["es"], model).values()) == {"kept"}
    assert line_fate("de", line, WRITTEN["es"], model) == dict.fromkeys(WRITTEN["es"], "lid:unwanted_lang")
    junk = "Home > Software > Utilities > Editors > Web Buttons Creator"
    assert line_fate("en", junk, [junk], model) == {junk: "rule:menu"}
