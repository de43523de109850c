"""Cleaning and exact deduplication into the sentence store (transforms/dedup.py)."""
from __future__ import annotations

import itertools

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import counted
from parabeam.schemas import SENTENCES
from parabeam.transforms.lid import DocTexts
from parabeam.transforms.dedup import (Deduplicate, MergeSentences, junk_reason, normalise, sentence_id,
                                       text_id)


@pytest.mark.parametrize("text, expected", [
    ("  Hello   world. ", "Hello world."),
    ("Ｈｅｌｌｏ　ｗｏｒｌｄ！", "Hello world!"),          # full-width forms fold under NFKC
    ("line\none\t\ttwo\u00a0three", "line one two three"),
    ("ﬁne ①", "fine 1"),
    ("ทำความสะอาด", "ทำความสะอาด"),                      # Thai SARA AM stays one character
    ("", ""),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("The museum opens at nine.", None),
    ("2011 Citroen DS3 1.6 THP 156 HP", None),
    ("ขอบคุณมากครับผม", None),                               # Thai vowel signs are marks, not symbols
    ("他称，他制作了一个门铃。", None),
    ("12:30 - 14:45 | 3.99", "junk"),
    ("!!! ??? ...", "junk"),
    ("+38 (067) 134 79 93", "junk"),
    ("see http://example.com/a/very/long/path/here ok", "junk"),
    ("Contact: someone.long@example.com", "junk"),
    ("Visit www.example.com for our full product range today", None),
    ("", "junk"),
])
def test_junk_reason(text, expected):
    assert junk_reason(text) == expected


def test_sentence_id_is_stable_and_of_the_normalised_text():
    assert sentence_id("Hello world.") == "470f2bb037a5ad30"
    assert sentence_id("  Hello   world. ") == sentence_id("Ｈｅｌｌｏ world.") == sentence_id("Hello world.")
    assert sentence_id("Hello world!") != sentence_id("Hello world.")
    assert text_id("Hello world.") == sentence_id("Hello world.") != text_id("  Hello   world. ")


# Whitespace, compatibility forms, combining marks, Thai and Lao AM: what normalise rewrites.
_REWRITTEN = st.sampled_from(list(" \t\x1c\x85\u3000\u00a0ａ１²ﬁⅫe\u0301\u0e33\u0e4d\u0e32\u0e48\u0eb3\u1100\u1161"))


@given(st.text(_REWRITTEN | st.characters(blacklist_categories=("Cs",))))   # decoded text has no lone surrogates
def test_a_normalised_text_is_its_own_normal_form(text):
    """So a store row's embedding cache key (text_id of its text) is its sentence id, as it was before the
    cache was keyed by exact text: caches from crawl, plain-file and score runs keep their hits."""
    assert normalise(normalise(text)) == normalise(text)
    assert text_id(normalise(text)) == sentence_id(text)


def _combine(fn: MergeSentences, groups: list[list[tuple[str, str]]]):
    accumulators = []
    for group in groups:
        accumulator = fn.create_accumulator()
        for element in group:
            accumulator = fn.add_input(accumulator, element)
        accumulators.append(accumulator)
    return fn.extract_output(fn.merge_accumulators(accumulators))


def test_merge_sentences_is_independent_of_bundling():
    elements = [("Hi there.", f"http://{name}.example/") for name in "edcbaf"] + [("Hi there.", "")]
    expected = ("Hi there.", 7, ("http://a.example/", "http://b.example/", "http://c.example/"))
    fn = MergeSentences(max_urls=3)
    for order in itertools.islice(itertools.permutations(elements), 0, 5040, 97):
        for cut in (0, 2, 5):
            assert _combine(fn, [list(order[:cut]), list(order[cut:])]) == expected


def test_merge_sentences_keeps_distinct_urls_and_empty_groups():
    fn = MergeSentences(max_urls=5)
    assert _combine(fn, [[("x y", "http://a/"), ("x y", "http://a/")], []]) == ("x y", 2, ("http://a/",))
    assert _combine(fn, [[], []]) == (None, 0, ())


def test_deduplicate_composite_outputs_rejects_and_counters():
    def row(lang, text, url, record=0):
        return DocTexts(url, "s0", record, ((lang, text),))

    sentences = [
        row("en", "The museum opens at nine.", "http://b.example/"),
        row("en", "The  museum opens at nine. ", "http://a.example/"),
        row("en", "The museum opens at nine.", "http://c.example/"),
        row("en", "The museum opens at nine.", "http://a.example/"),
        row("en", "Tickets cost ten euros.", "http://a.example/"),
        row("de", "The museum opens at nine.", "http://d.example/"),   # same text, other language: kept apart
        row("en", "12:30 - 14:45 | 3.99", "http://a.example/", record=7),
    ]
    pipeline = beam.Pipeline(runner="FnApiRunner")
    store, rejects, counts = pipeline | beam.Create(sentences) | Deduplicate(max_urls=2)
    museum = sentence_id("The museum opens at nine.")
    assert_that(store, equal_to([
        {"id": museum, "lang": "en", "text": "The museum opens at nine.", "count": 4,
         "urls": ["http://a.example/", "http://b.example/"]},
        {"id": sentence_id("Tickets cost ten euros."), "lang": "en", "text": "Tickets cost ten euros.",
         "count": 1, "urls": ["http://a.example/"]},
        {"id": museum, "lang": "de", "text": "The museum opens at nine.", "count": 1,
         "urls": ["http://d.example/"]},
    ]), label="Store")
    assert_that(store | beam.Map(lambda stored: pa.Table.from_pylist([stored], schema=SENTENCES).num_rows),
                equal_to([1, 1, 1]), label="FitsSchema")
    assert_that(rejects | "RejectRows" >> beam.Map(lambda r: r._asdict()), equal_to([
        {"stage": "dedup", "reason": "junk", "lang": "en", "shard": "s0", "record": 7,
         "url": "http://a.example/", "excerpt": "12:30 - 14:45 | 3.99"},
    ]), label="Rejects")
    assert_that(counted(counts), equal_to(list({"dedup/in/en": 6, "dedup/out/en": 2, "dedup/merged:duplicate/en": 3,
                     "dedup/reject:junk/en": 1, "dedup/in/de": 1, "dedup/out/de": 1}.items())), label="Counts")
    pipeline.run().wait_until_finish()
