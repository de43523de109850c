"""The boilerplate rule on sentence-store rows (transforms/boilerplate.py)."""
from __future__ import annotations

import pytest

from parabeam.transforms.boilerplate import boilerplate_reason, check_max_urls, site_of


def test_a_banner_on_many_pages_of_one_site_is_boilerplate():
    urls = [f"https://www.shop.de/p/{n}" for n in range(5)]
    assert boilerplate_reason(37, urls) == "boilerplate"


def test_a_syndicated_sentence_once_per_site_is_kept():
    urls = [f"https://news{n}.example/story" for n in range(5)]
    assert boilerplate_reason(12, urls) is None


def test_an_article_and_its_print_view_are_kept():
    assert boilerplate_reason(3, ["http://a.org/x", "http://a.org/x?print=1", "http://b.org/y"]) is None


def test_hosts_fold_www_and_case():
    assert site_of("HTTPS://WWW.Example.COM/a") == "example.com"
    urls = ["http://www.a.org/1", "http://a.org/2", "http://A.org/3", "http://www.a.org/4"]
    assert boilerplate_reason(4, urls) == "boilerplate"


def test_the_same_url_twice_is_one_page():
    assert boilerplate_reason(8, ["http://a.org/1"] * 4) is None


def test_very_frequent_text_is_boilerplate_without_urls():
    assert boilerplate_reason(100, []) == "boilerplate"
    assert boilerplate_reason(99, []) is None


def test_max_urls_must_let_the_rule_see_a_site():
    check_max_urls(5)
    with pytest.raises(ValueError):
        check_max_urls(3)


def test_drop_boilerplate_stage_rejects_with_the_reason_and_counts_per_language():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from parabeam.transforms.boilerplate import DropBoilerplate
    from tests.helpers import counted

    banner = {"id": "b", "lang": "de", "text": "Alle Rechte vorbehalten.", "count": 40,
              "urls": [f"https://shop.de/{n}" for n in range(5)]}
    real = {"id": "r", "lang": "de", "text": "Der Zug fährt um neun.", "count": 2, "urls": ["https://a.de/x"]}
    wire = {"id": "w", "lang": "en", "text": "Markets fell.", "count": 150, "urls": ["https://a.com/1"]}
    with TestPipeline(runner="FnApiRunner") as p:
        kept, rejects, counts = p | beam.Create([banner, real, wire]) | DropBoilerplate()
        assert_that(kept | beam.Map(lambda row: row["id"]), equal_to(["r"]), label="kept")
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason, r.lang, r.url)),
                    equal_to([("boilerplate", "boilerplate", "de", "https://shop.de/0"),
                              ("boilerplate", "boilerplate", "en", "https://a.com/1")]), label="rejects")
        assert_that(counted(counts), equal_to([
            ("boilerplate/in/de", 2), ("boilerplate/out/de", 1), ("boilerplate/reject:boilerplate/de", 1),
            ("boilerplate/in/en", 1), ("boilerplate/reject:boilerplate/en", 1)]), label="counts")
    with TestPipeline(runner="FnApiRunner") as p:
        kept, _rejects, _counts = p | beam.Create([banner, real]) | DropBoilerplate(site_pages=0)
        assert_that(kept | beam.Map(lambda row: row["id"]), equal_to(["b", "r"]))
