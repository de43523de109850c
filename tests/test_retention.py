"""The retention benchmark's packing and per-line accounting (benchmarks/retention.py), on written text."""
from __future__ import annotations

import random

from benchmarks.retention import line_fate, pack, pages
from parabeam.transforms.lid import load_lid_model
from test_split import WRITTEN


def test_pack_keeps_order_and_joins_by_script():
    sentences = [f"Sentence number {n}." for n in range(20)]
    lines = list(pack(sentences, "en", random.Random(0)))
    assert [s for _line, *known in lines for s in known] == sentences
    assert all(1 <= len(known) <= 4 and line == " ".join(known) for line, *known in lines)
    assert all(line == "".join(known) for line, *known in pack(["你好。", "谢谢。", "好的。"] * 3, "zh", random.Random(1)))
    assert [s for page in pages(sentences, "en") for _line, *known in page for s in known] == sentences


def test_line_fate_keeps_real_sentences_and_names_losses():
    model = load_lid_model()
    line = " ".join(WRITTEN["es"])
    assert set(line_fate("es", line, WRITTEN["es"], model).values()) == {"kept"}
    assert line_fate("de", line, WRITTEN["es"], model) == dict.fromkeys(WRITTEN["es"], "lid:unwanted_lang")
    junk = "Home > Software > Utilities > Editors > Web Buttons Creator"
    assert line_fate("en", junk, [junk], model) == {junk: "rule:menu"}
