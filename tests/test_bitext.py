import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.bitext import ToBitext, filter_reason

LIMITS = dict(drop_identical=True, max_score=1.25, max_length_ratio=2.0)


def test_filter_reasons():
    assert filter_reason("Hallo Welt", "Hello world", 1.1, **LIMITS) is None
    assert filter_reason("Paris", "paris ", 1.1, **LIMITS) == "identical"
    assert filter_reason("Hallo Welt", "Hello world", 1.3, **LIMITS) == "score_too_high"
    assert filter_reason("Hallo", "Hello to the whole wide world", 1.1, **LIMITS) == "length_ratio"
    assert filter_reason("Paris", "Paris", 9.0, drop_identical=False, max_score=None, max_length_ratio=None) is None


def test_to_bitext_attaches_text_and_urls_and_rejects_filtered_pairs():
    src = [{"id": "s1", "lang": "de", "text": "Guten Morgen.", "count": 1, "urls": ["http://a/de"]},
           {"id": "s2", "lang": "de", "text": "Berlin", "count": 2, "urls": []}]
    tgt = [{"id": "t1", "lang": "en", "text": "Good morning.", "count": 1, "urls": ["http://a/en"]},
           {"id": "t2", "lang": "en", "text": "Berlin", "count": 1, "urls": []}]
    mined = [{"src_id": "s1", "tgt_id": "t1", "score": 1.2, "cosine": 0.9, "direction": "both"},
             {"src_id": "s2", "tgt_id": "t2", "score": 1.1, "cosine": 0.99, "direction": "fwd"}]
    with TestPipeline(runner="FnApiRunner") as p:
        rows, rejects = ((p | "M" >> beam.Create(mined), p | "S" >> beam.Create(src), p | "T" >> beam.Create(tgt))
                         | ToBitext("de", "en", "muse-0.2.1"))
        assert_that(rows, equal_to([{
            "src_lang": "de", "tgt_lang": "en", "encoder": "muse-0.2.1", "src_id": "s1", "tgt_id": "t1",
            "score": 1.2, "cosine": 0.9, "direction": "both", "src_text": "Guten Morgen.",
            "tgt_text": "Good morning.", "src_urls": ["http://a/de"], "tgt_urls": ["http://a/en"]}]))
        assert_that(rejects | beam.Map(lambda r: (r["stage"], r["reason"], r["lang"])),
                    equal_to([("bitext", "identical", "de-en")]), label="rejects")
