"""Progress on the terminal for local runs: elapsed time, bundles run, and the stage running now.

The in-process FnApiRunner has no progress API; it logs every bundle it starts (at DEBUG, on its bundle
logger), which is what this listens to. Record counts and rates are only known when the job ends (the
per-stage summary); the runner does not say how many bundles remain, so there is no ETA.
"""
from __future__ import annotations

import contextlib
import logging
import re
import shutil
import sys
import time
from typing import Iterator, TextIO

BUNDLE_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle"
_TRANSFORM = re.compile(r"ref_AppliedPTransform_([A-Za-z0-9\[\]>.-]+?)(?:_\d+)?(?=[_)+]|$)")


def stage_label(stage: str) -> str:
    """'((ref_AppliedPTransform_Embed-Encode-BatchElements_41)+(...))' -> 'Embed/Encode/BatchElements'."""
    found = _TRANSFORM.findall(stage)
    return re.sub(r"-(?!>)", "/", found[0]) if found else stage[:60]


class ProgressLine(logging.Handler):
    """Rewrites one terminal line per bundle: `[01:23] 57 bundles  Embed/Encode`."""

    def __init__(self, stream: TextIO):
        super().__init__(logging.DEBUG)
        self.stream, self.started, self.bundles = stream, time.monotonic(), 0

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Running bundle for stage"):
            return
        self.bundles += 1
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        line = f"[{minutes:02d}:{seconds:02d}] {self.bundles} bundles  {stage_label(str(record.args[0]))}"
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r" + line[:width].ljust(width))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        super().close()


@contextlib.contextmanager
def progress(enabled: bool, stream: TextIO = sys.stderr) -> Iterator[None]:
    """Show progress while the block runs, if enabled and `stream` is a terminal."""
    if not (enabled and stream.isatty()):
        yield
        return
    logger = logging.getLogger(BUNDLE_LOGGER)
    handler, saved = ProgressLine(stream), (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        handler.close()
