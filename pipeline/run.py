"""Running a built job: output-directory policy, the run itself, accounting checks, run.json and report."""
from __future__ import annotations

import json
import logging
import time
from typing import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from parabeam.pipeline import accounts
from parabeam.pipeline.build import threshold_of
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.progress import progress
from parabeam.pipeline.report import write_report

log = logging.getLogger("parabeam")


def prepare_output(output: str, overwrite: bool) -> None:
    """A finished run (run.json present) is kept unless --overwrite; a killed run's leftovers are cleared."""
    finished = FileSystems.exists(FileSystems.join(output, "run.json"))
    if finished and not overwrite:
        raise ValueError(f"{output} already holds a finished run (run.json); pass --overwrite to replace it")
    if FileSystems.exists(output):
        log.warning("clearing %s (%s)", output, "--overwrite" if finished else "left by an unfinished run")
        FileSystems.delete([output])


def execute(cfg: MineConfig, options, build: Callable[[beam.Pipeline], None], run: dict,
            quiet: bool = False) -> dict:
    """Run the pipeline, check that every stage's records add up, then write DIR/run.json (last: its
    presence marks a finished run) and the report."""
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    with progress(not quiet):
        result = pipeline.run()
        result.wait_until_finish()
    stages = accounts.stage_accounts(accounts.counters(result))
    run = {**run, "parameters": {**cfg.as_json(), "threshold": threshold_of(cfg)}, "stages": stages,
           "timings": {"pipeline": round(time.monotonic() - started, 3)}}
    problems = accounts.imbalances(stages)
    if problems:
        raise accounts.AccountingError("records do not add up:\n  " + "\n  ".join(problems))
    with FileSystems.create(FileSystems.join(cfg.output, "run.json")) as handle:
        handle.write(json.dumps(run, indent=2, sort_keys=True).encode())
    report = write_report(cfg.output)
    if not quiet:
        print("\n".join(accounts.summary_lines(stages)) + f"\nreport: {report}")
    return run
