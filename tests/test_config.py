import pytest

from parabeam.pipeline.config import MineConfig, all_pairs, langs_of, parse_pairs, parse_size


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


def test_local_paths_are_made_absolute_before_the_graph_is_built(tmp_path, monkeypatch):
    """SDK workers need not share the client's working directory: relative paths would not be found there."""
    monkeypatch.chdir(tmp_path)
    cfg = MineConfig(output="out", langs=("de", "en"), pairs=(("de", "en"),), inputs=("crawl/*.wet", "gs://b/x.wet"),
                     embedding_cache="cache", lid_model="lid.ftz", encoder="st:models/labse")
    assert cfg.output == str(tmp_path / "out") and cfg.embedding_cache == str(tmp_path / "cache")
    assert cfg.inputs == (str(tmp_path / "crawl" / "*.wet"), "gs://b/x.wet")
    assert cfg.lid_model == str(tmp_path / "lid.ftz") and cfg.encoder == f"st:{tmp_path / 'models' / 'labse'}"
    files = MineConfig(output="o", langs=("de", "en"), pairs=(("de", "en"),), sentence_files=(("de.txt", "de"),))
    assert files.sentence_files == ((str(tmp_path / "de.txt"), "de"),)
    assert MineConfig(output="o", langs=("en",), pairs=(), encoder="muse").encoder == "muse"
