"""What the terminal shows while a local job runs: a progress line, and nothing from Beam's workers.

The in-process FnApiRunner has no progress API; it logs every bundle it starts (at DEBUG, on its bundle
logger), which is what this listens to. Record counts and rates are only known when the job ends (the
per-stage summary); the runner does not say how many bundles remain, so there is no ETA.

Worker processes inherit the job's stderr and print Beam's start-up chatter there, and on Ctrl-C every one of
them prints a traceback. Unless Beam's logs were asked for (`--log-level info`), the job's stderr therefore
points at a temporary log file while it runs; parabeam's own lines go to the real stderr, and the log is
kept (and named) only when the job fails and something was written to it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Iterator, TextIO

BUNDLE_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle"
# How often a progress line is written where stderr is not a terminal (a log file, CI).
PERIOD_S = 30.0
_TRANSFORM = re.compile(r"ref_AppliedPTransform_([A-Za-z0-9\[\]>.-]+?)(?:_\d+)?(?=[_)+]|$)")


def stage_label(stage: str) -> str:
    """'((ref_AppliedPTransform_Embed-Encode-BatchElements_41)+(...))' -> 'Embed/Encode/BatchElements'."""
    found = _TRANSFORM.findall(stage)
    return re.sub(r"-(?!>)", "/", found[0]) if found else stage[:60]


class ProgressLine(logging.Handler):
    """`[01:23] 57 bundles  Embed/Encode`: rewritten in place on a terminal; elsewhere one such line at most
    every `period` seconds, so that a log shows the job is alive and where it is."""

    def __init__(self, stream: TextIO, period: float = PERIOD_S):
        super().__init__(logging.DEBUG)
        self.stream, self.period, self.tty = stream, period, stream.isatty()
        self.started = self.written = time.monotonic()
        self.bundles = 0

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Running bundle for stage"):
            return
        self.bundles += 1
        now = time.monotonic()
        minutes, seconds = divmod(int(now - self.started), 60)
        line = f"[{minutes:02d}:{seconds:02d}] {self.bundles} bundles  {stage_label(str(record.args[0]))}"
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + line[:width].ljust(width))
        elif now - self.written >= self.period:
            self.stream.write(f"parabeam: {line}\n")
            self.written = now
        else:
            return
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        super().close()


def beam_logs_wanted() -> bool:
    """Whether the user asked for Beam's logs (`--log-level info` or debug): then they are the progress."""
    return logging.getLogger("apache_beam").isEnabledFor(logging.INFO)


@contextlib.contextmanager
def _stderr_to_log() -> Iterator[TextIO]:
    """Point file descriptor 2 (inherited by the worker processes started in the block) at a temporary log;
    yields a stream on the real stderr."""
    sys.stderr.flush()
    real = os.dup(2)
    handle, log = tempfile.mkstemp(prefix="parabeam-workers-", suffix=".log")
    os.dup2(handle, 2)
    os.close(handle)
    terminal = os.fdopen(os.dup(real), "w", buffering=1)
    failed = False
    try:
        yield terminal
    except Exception:
        failed = True
        raise
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)
        os.close(real)
        if failed and os.path.getsize(log):
            terminal.write(f"parabeam: the job failed; Beam's and its workers' output is in {log}\n")
        else:
            os.unlink(log)
        terminal.close()


@contextlib.contextmanager
def progress(enabled: bool, stream: TextIO | None = None, period: float = PERIOD_S) -> Iterator[None]:
    """Run the block (the job) with Beam's output out of the way and, if enabled, progress on `stream`
    (default: the real stderr; a line every `period` seconds unless it is a terminal). With Beam's logs asked
    for, they are shown instead of both."""
    if beam_logs_wanted():
        yield
        return
    with _stderr_to_log() as terminal:
        if not enabled:
            yield
            return
        logger = logging.getLogger(BUNDLE_LOGGER)
        handler, saved = ProgressLine(stream or terminal, period), (logger.level, logger.propagate)
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
