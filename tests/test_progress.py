import io
import logging
import re
import sys
from pathlib import Path

import apache_beam as beam
import pytest

from parabeam.launchers.profiles import pipeline_options
from parabeam.pipeline.progress import BUNDLE_LOGGER, ProgressLine, progress, stage_label


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_labels_are_readable():
    assert stage_label("((ref_AppliedPTransform_Embed-Encode-BatchElements_41)+(ref_AppliedPTransform_X_2))") \
        == "Embed/Encode/BatchElements"
    assert stage_label("ref_AppliedPTransform_KNN[de->en]-Search_7") == "KNN[de->en]/Search"


def double_numbers() -> None:
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = p | "Numbers" >> beam.Create(range(10)) | "Double" >> beam.Map(lambda n: 2 * n)


def test_progress_follows_a_real_local_run_on_a_terminal():
    terminal = Terminal()
    with progress(True, terminal):
        double_numbers()
    assert "bundles" in terminal.getvalue() and "Numbers" in terminal.getvalue()
    assert not any(isinstance(h, ProgressLine) for h in logging.getLogger(BUNDLE_LOGGER).handlers)


def test_elsewhere_progress_is_whole_lines_at_most_once_a_period():
    every_bundle, every_minute = io.StringIO(), io.StringIO()
    with progress(True, every_bundle, period=0):
        double_numbers()
    with progress(True, every_minute, period=60):
        double_numbers()
    lines = every_bundle.getvalue().splitlines()
    assert lines and all(re.fullmatch(r"parabeam: \[00:\d\d\] \d+ bundles  \S.*", line) for line in lines)
    assert "\r" not in every_bundle.getvalue() and "Numbers" in every_bundle.getvalue()
    assert every_minute.getvalue() == ""


def run_noisy(numbers: list[int]) -> None:
    def noisy(n: int) -> int:  # nested, so that cloudpickle ships it to the workers by value
        print(f"worker noise {n}", file=sys.stderr)
        if n < 0:
            raise ValueError("negative")
        return n

    with beam.Pipeline(options=pipeline_options("local", ["--direct_num_workers=1"])) as p:
        _ = p | beam.Create(numbers) | beam.Map(noisy)


def test_worker_output_stays_off_the_terminal_and_is_kept_only_when_the_job_fails(capfd):
    """Real worker processes (the local profile) print to the stderr they inherit."""
    with progress(False):
        run_noisy([1, 2])
    assert "worker noise" not in capfd.readouterr().err
    with pytest.raises(Exception, match="negative"):
        with progress(False):
            run_noisy([-1])
    err = capfd.readouterr().err
    log = Path(re.search(r"workers' output is in (\S+)", err).group(1))
    assert "worker noise -1" in log.read_text() and "worker noise" not in err
    log.unlink()
