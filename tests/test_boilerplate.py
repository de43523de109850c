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
