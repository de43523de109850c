import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam.transforms.dedup import sentence_id
from parabeam.transforms.sentence_files import ReadSentenceFiles, is_bucc, parse_line


def test_format_detection_and_parsing():
    assert is_bucc(["de-000001\tDas ist gut.\n", "de-000002\tJa.\n"])
    assert not is_bucc(["Das ist gut.\n", "de-1\tJa.\n"])
    assert parse_line("de-000001\t Das ist gut. ", bucc=True) == ("de-000001", "Das ist gut.")
    assert parse_line("  Das  ist gut. ", bucc=False) == (sentence_id("Das ist gut."), "Das ist gut.")


def test_bucc_ids_come_through_and_conflicts_are_rejected(tmp_path):
    path = tmp_path / "de.tsv"
    path.write_text("de-1\tEins.\nde-2\tZwei.\nde-2\tZwo.\nde-3\t   \n", encoding="utf-8")
    with TestPipeline(runner="FnApiRunner") as p:
        rows, rejects, counts = p | ReadSentenceFiles([(str(path), "de")])
        assert_that(rows | beam.Map(lambda r: (r["id"], r["text"], r["count"])),
                    equal_to([("de-1", "Eins.", 1), ("de-2", "Zwei.", 1)]))
        assert_that(rejects | beam.Map(lambda r: (r.reason, r.record)),
                    equal_to([("duplicate_id", 2), ("empty_line", 3)]), label="rejects")
