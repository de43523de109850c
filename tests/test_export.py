"""Export of a run's bitext to TSV, Moses and JSONL: exact file contents, order, and the merge sort."""
from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parabeam import schemas
from parabeam.pipeline.export import dataset_parts, export, one_line, sorted_rows


def bitext_row(src: str, tgt: str, score: float, src_id: str, tgt_id: str, src_text: str, tgt_text: str) -> dict:
    return {"src_lang": src, "tgt_lang": tgt, "src_text": src_text, "tgt_text": tgt_text, "score": score,
            "cosine": round(score / 2, 3), "src_id": src_id, "tgt_id": tgt_id,
            "src_urls": [f"https://{src}.example/{src_id}"], "tgt_urls": [], "direction": "fwd",
            "encoder": "muse-3"}


def write_parts(root, pair: str, parts: list[list[dict]]) -> None:
    directory = root / "bitext" / pair
    directory.mkdir(parents=True)
    for i, rows in enumerate(parts):
        table = pa.Table.from_pylist(rows, schema=schemas.BITEXT)
        pq.write_table(table, directory / f"part-{i:05d}-of-{len(parts):05d}.parquet")


@pytest.fixture
def run_dir(tmp_path):
    """en-de split over two part files with a score tie and texts holding tabs and line breaks; an empty
    en-fr; and a killed job's temp file that must be ignored."""
    run = tmp_path / "run"
    write_parts(run, "en-de", [
        [bitext_row("en", "de", 1.1, "e2", "d2", "Two\tdogs.", "Zwei\nHunde."),
         bitext_row("en", "de", 1.3, "e9", "d1", "Best one.", "Das Beste.")],
        [bitext_row("en", "de", 1.1, "e1", "d5", "A cat.", "Eine Katze."),
         bitext_row("en", "de", 1.2, "e3", "d3", "Ünïcode “quotes”", "Ü\u2028ber")],
    ])
    write_parts(run, "en-fr", [[]])
    leftover = run / "bitext" / "en-de" / "beam-temp-part-123"
    leftover.mkdir()
    pq.write_table(pa.Table.from_pylist([], schema=schemas.BITEXT), leftover / "part-x.parquet")
    return run


def test_dataset_parts_lists_pairs_and_skips_temp_dirs(run_dir):
    parts = dataset_parts(str(run_dir), "bitext")
    assert list(parts) == ["en-de", "en-fr"]
    assert [p.rsplit("/", 1)[1] for p in parts["en-de"]] == ["part-00000-of-00002.parquet",
                                                             "part-00001-of-00002.parquet"]


def test_tsv(run_dir, tmp_path):
    counts = export(str(run_dir), "tsv", str(tmp_path / "out"))
    assert counts == {"en-de": 4, "en-fr": 0}
    assert (tmp_path / "out" / "en-de.tsv").read_text(encoding="utf-8") == (
        "1.300000\tBest one.\tDas Beste.\n"
        "1.200000\tÜnïcode “quotes”\tÜ ber\n"
        "1.100000\tA cat.\tEine Katze.\n"
        "1.100000\tTwo dogs.\tZwei Hunde.\n")
    assert (tmp_path / "out" / "en-fr.tsv").read_text() == ""


def test_moses(run_dir, tmp_path):
    counts = export(str(run_dir), "moses", str(tmp_path / "out"))
    assert counts == {"en-de": 4, "en-fr": 0}
    assert (tmp_path / "out" / "en-de.en").read_text(encoding="utf-8") == (
        "Best one.\nÜnïcode “quotes”\nA cat.\nTwo dogs.\n")
    assert (tmp_path / "out" / "en-de.de").read_text(encoding="utf-8") == (
        "Das Beste.\nÜ ber\nEine Katze.\nZwei Hunde.\n")
    assert (tmp_path / "out" / "en-fr.fr").read_text() == ""


def test_jsonl_keeps_every_column_and_the_raw_text(run_dir, tmp_path):
    """One object a line even for texts holding U+2028, which JSON leaves raw but splitlines() splits on."""
    export(str(run_dir), "jsonl", str(tmp_path / "out"))
    lines = (tmp_path / "out" / "en-de.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == json.dumps(bitext_row("en", "de", 1.3, "e9", "d1", "Best one.", "Das Beste."),
                                  ensure_ascii=False)
    rows = [json.loads(line) for line in lines]
    assert [(r["src_id"], r["tgt_id"]) for r in rows] == [("e9", "d1"), ("e3", "d3"), ("e1", "d5"), ("e2", "d2")]
    assert rows[3]["src_text"] == "Two\tdogs." and rows[3]["tgt_text"] == "Zwei\nHunde."
    assert rows[1]["tgt_text"] == "Ü\u2028ber"
    assert list(rows[0]) == schemas.BITEXT.names


def test_unknown_format_and_nothing_to_export(run_dir, tmp_path):
    with pytest.raises(ValueError, match="csv"):
        export(str(run_dir), "csv", str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError):
        export(str(tmp_path / "nothing"), "tsv", str(tmp_path / "out"))


def test_a_score_run_is_exported_in_input_order(tmp_path):
    """Score part files hold rows in whatever order the workers finished; export restores the input's."""
    run = tmp_path / "run"
    (run / "scores").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"command": "score", "parameters": {"pairs": [["de", "en"]]}}))

    def score_row(row: int) -> dict:
        return {"row": row, "src_text": f"Satz {row}", "tgt_text": f"Sentence\t{row}", "score": 1 + row / 100,
                "cosine": row / 100, "src_id": f"s{row}", "tgt_id": f"t{row}", "fields": []}

    for i, rows in enumerate([[7, 2, 12], [1, 9], [3]]):
        pq.write_table(pa.Table.from_pylist([score_row(n) for n in rows], schema=schemas.SCORES),
                       run / "scores" / f"part-{i:05d}-of-00003.parquet")
    assert export(str(run), "tsv", str(tmp_path / "tsv")) == {"de-en": 6}
    assert (tmp_path / "tsv" / "de-en.tsv").read_text().splitlines()[:2] == [
        "1\t1.010000\t0.010000\tSatz 1\tSentence 1", "2\t1.020000\t0.020000\tSatz 2\tSentence 2"]
    export(str(run), "jsonl", str(tmp_path / "jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "jsonl" / "de-en.jsonl").read_text().splitlines()]
    assert [row["row"] for row in rows] == [1, 2, 3, 7, 9, 12] and list(rows[0]) == schemas.SCORES.names


def test_one_line_replaces_every_line_break_and_tab():
    assert one_line("a\tb\nc\r\nd\x0be\x0cf\x1cg\x85h\u2028i\u2029j") == "a b c  d e f g h i j"
    assert len(one_line("x\r\ny").splitlines()) == 1


def test_merge_of_many_small_runs_equals_a_full_sort(tmp_path):
    """Runs of 3 rows over 5 files force a many-way merge; ties in score are broken by the ids."""
    rand = random.Random(7)
    parts = [[bitext_row("en", "de", rand.choice([1.05, 1.1, 1.2, 1.25]), f"s{rand.randrange(50):02d}",
                         f"t{i}-{j}", "x", "y") for j in range(rand.randrange(0, 8))] for i in range(5)]
    write_parts(tmp_path, "en-de", parts)
    paths = dataset_parts(str(tmp_path), "bitext")["en-de"]
    merged = list(sorted_rows(paths, ["score", "src_id", "tgt_id"], run_rows=3))
    expected = sorted(({"score": r["score"], "src_id": r["src_id"], "tgt_id": r["tgt_id"]}
                       for rows in parts for r in rows), key=lambda r: (-r["score"], r["src_id"], r["tgt_id"]))
    assert merged == expected and len(merged) == sum(map(len, parts)) > 10
