"""The whole `mine` job on real Common Crawl text (the shared WET excerpt, 170 pages in many languages)."""
import json

import pyarrow.parquet as pq
import pytest

from parabeam.pipeline.cli import main
from tests.helpers import SHARED_DATA

EXCERPT = SHARED_DATA / "web" / "CC-MAIN-2017-30_excerpt.warc.wet.gz"
LANGS = ["de", "es", "fr", "ja", "ru"]   # English and Chinese, the largest, would only add encoding time


@pytest.mark.skipif(not EXCERPT.exists(), reason="needs ../shared/data")
def test_mining_the_real_wet_excerpt_finishes_with_a_store_per_language(tmp_path):
    output = tmp_path / "out"
    assert main(["mine", "--input", str(EXCERPT), "--langs", ",".join(LANGS), "--pairs", "de-fr,es-fr",
                 "--output", str(output), "--skip-reject-reasons", "unwanted_lang,too_short", "--quiet"]) == 0
    stages = json.loads((output / "run.json").read_text())["stages"]
    assert stages["read"]["out"] == 170 and stages["read"]["skipped"] == {"warcinfo": 1}
    for lang in LANGS:
        rows = [r for part in (output / "sentences" / lang).glob("*.parquet") for r in pq.read_table(part).to_pylist()]
        assert rows and all(row["lang"] == lang and row["urls"] for row in rows), lang
        assert stages["lid"]["by_lang"][lang]["out"] > 0
    # Counted, not written: the reasons asked to be skipped leave no rows, the others do.
    written = {r["reason"] for part in (output / "rejects" / "lid").glob("*.parquet")
               for r in pq.read_table(part, columns=["reason"]).to_pylist()}
    assert stages["lid"]["reject"]["unwanted_lang"] > 0 and stages["lid"]["reject"]["too_short"] > 0
    assert written == {"low_confidence"}
    assert all((output / "bitext" / pair).is_dir() for pair in ("de-fr", "es-fr"))
