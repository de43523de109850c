import pytest

from parabeam.pipeline.config import all_pairs, langs_of, parse_pairs, parse_size


def test_parse_size_units():
    assert parse_size("8GB") == 8 * 10**9
    assert parse_size("512MB") == 512 * 10**6
    assert parse_size("1.5k") == 1500
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_pairs_are_normalised_and_validated():
    assert parse_pairs("en-de, eng-fra") == [("en", "de"), ("en", "fr")]
    for bad in ("ende", "en-", "en-en", "../x-en", "xx-en"):
        with pytest.raises(ValueError):
            parse_pairs(bad)


def test_langs_include_those_of_pairs_and_all_pairs_are_sorted():
    assert langs_of("fr", [("en", "de")]) == ["de", "en", "fr"]
    assert all_pairs(["fr", "en", "de"]) == [("de", "en"), ("de", "fr"), ("en", "fr")]
