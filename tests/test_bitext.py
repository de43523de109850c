import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.bitext import ToBitext, filter_reason
from parabeam.transforms.margin import MinedPair
from tests.helpers import counted

LIMITS = dict(drop_identical=True, max_score=1.25, max_length_ratio=2.0)


def test_filter_reasons():
    assert filter_reason("Hallo Welt", "Hello world", 1.1, **LIMITS) is None
    assert filter_reason("Paris", "paris ", 1.1, **LIMITS) == "identical"
    assert filter_reason("Hallo Welt", "Hello world", 1.3, **LIMITS) == "score_too_high"
    assert filter_reason("Hallo", "Hello to the whole wide world", 1.1, **LIMITS) == "length_ratio"
    assert filter_reason("Paris", "Paris", 9.0, drop_identical=False, max_score=None, max_length_ratio=None) is None


def test_to_bitext_attaches_text_and_urls_and_rejects_filtered_pairs():
    """Pairs of two language pairs through one transform; texts are looked up by (language, id), so the same id in
    two languages never mixes."""
    store = [{"id": "s1", "lang": "de", "text": "Guten Morgen.", "count": 1, "urls": ["http://a/de"]},
             {"id": "s2", "lang": "de", "text": "Berlin", "count": 2, "urls": []},
             {"id": "t1", "lang": "en", "text": "Good morning.", "count": 1, "urls": ["http://a/en"]},
             {"id": "t2", "lang": "en", "text": "Berlin", "count": 1, "urls": []},
             {"id": "s1", "lang": "fr", "text": "Bonjour.", "count": 1, "urls": []}]
    mined = [MinedPair("de", "en", "s1", "t1", 1.2, 0.9, "both"), MinedPair("de", "en", "s2", "t2", 1.1, 0.99, "fwd"),
             MinedPair("fr", "en", "s1", "t1", 1.3, 0.8, "bwd")]
    with TestPipeline(runner="FnApiRunner") as p:
        rows, rejects, counts = (p | "M" >> beam.Create(mined), p | "S" >> beam.Create(store)) | ToBitext("muse-0.2.1")
        assert_that(rows | beam.Map(lambda row: row._asdict()), equal_to([{
            "src_lang": "de", "tgt_lang": "en", "encoder": "muse-0.2.1", "src_id": "s1", "tgt_id": "t1",
            "score": 1.2, "cosine": 0.9, "direction": "both", "src_text": "Guten Morgen.",
            "tgt_text": "Good morning.", "src_urls": ["http://a/de"], "tgt_urls": ["http://a/en"]}, {
            "src_lang": "fr", "tgt_lang": "en", "encoder": "muse-0.2.1", "src_id": "s1", "tgt_id": "t1",
            "score": 1.3, "cosine": 0.8, "direction": "bwd", "src_text": "Bonjour.",
            "tgt_text": "Good morning.", "src_urls": [], "tgt_urls": ["http://a/en"]}]))
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason, r.lang)),
                    equal_to([("bitext", "identical", "de-en")]), label="rejects")
        assert_that(counted(counts), equal_to([("bitext/in/de-en", 2), ("bitext/out/de-en", 1),
                                               ("bitext/reject:identical/de-en", 1), ("bitext/in/fr-en", 1),
                                               ("bitext/out/fr-en", 1)]), label="counts")
