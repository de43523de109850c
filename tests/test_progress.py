import io
import logging

import apache_beam as beam

from parabeam.pipeline.progress import BUNDLE_LOGGER, ProgressLine, progress, stage_label


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_labels_are_readable():
    assert stage_label("((ref_AppliedPTransform_Embed-Encode-BatchElements_41)+(ref_AppliedPTransform_X_2))") \
        == "Embed/Encode/BatchElements"
    assert stage_label("ref_AppliedPTransform_KNN[de->en]-Search_7") == "KNN[de->en]/Search"


def test_progress_follows_a_real_local_run_on_a_terminal_and_is_quiet_otherwise():
    terminal, pipe = Terminal(), io.StringIO()
    with progress(True, terminal):
        with beam.Pipeline(runner="FnApiRunner") as p:
            _ = p | "Numbers" >> beam.Create(range(10)) | "Double" >> beam.Map(lambda n: 2 * n)
    with progress(True, pipe):
        logging.getLogger(BUNDLE_LOGGER).debug("Running bundle for stage %s", "x")
    assert "bundles" in terminal.getvalue() and "Numbers" in terminal.getvalue()
    assert pipe.getvalue() == ""
    assert not any(isinstance(h, ProgressLine) for h in logging.getLogger(BUNDLE_LOGGER).handlers)
