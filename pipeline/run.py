"""Running a built job: output-directory policy, the run itself, accounting checks, run.json and report."""
from __future__ import annotations

import json
import logging
import time
from typing import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from parabeam.pipeline import accounts
from parabeam.pipeline.build import threshold_of
from parabeam.pipeline.config import MineConfig
from parabeam.pipeline.layout import RunLayout
from parabeam.pipeline.progress import progress
from parabeam.pipeline.report import write_report

log = logging.getLogger("parabeam")


def holds_files(folder: str) -> bool:
    """Whether anything is stored under `folder`. Object stores have no folders to ask about, only objects
    under a prefix (Beam's `*` stops at `/`, `**` does not)."""
    return FileSystems.exists(folder) or bool(FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list)


def remove_folders(folders: list[str]) -> None:
    """Delete each folder and everything under it, on any Beam filesystem (object stores delete everything
    under a path that ends in `/`; the local filesystem removes a directory tree)."""
    present = [folder.rstrip("/") + ("" if isinstance(FileSystems.get_filesystem(folder), LocalFileSystem) else "/")
               for folder in folders if holds_files(folder)]
    if present:
        FileSystems.delete(present)


def prepare_output(output: str, overwrite: bool) -> None:
    """A finished run (run.json present) is kept unless --overwrite; a killed run's leftovers are cleared."""
    finished = FileSystems.exists(RunLayout(output).run_json)
    if finished and not overwrite:
        raise ValueError(f"{output} already holds a finished run (run.json); pass --overwrite to replace it")
    if holds_files(output):
        log.warning("clearing %s (%s)", output, "--overwrite" if finished else "left by an unfinished run")
        remove_folders([output])


def read_thresholds(output: str) -> dict[str, dict]:
    """Per language pair, what the job wrote to DIR/thresholds.jsonl: threshold, how it was chosen,
    estimated precision, best-candidate count and fitted mixture (the score histogram stays in the file,
    for the report). Empty when the job wrote none (score runs)."""
    path = RunLayout(output).thresholds
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path) as handle:
        rows = [json.loads(line) for line in handle.read().decode("utf-8").splitlines() if line.strip()]
    return {row["pair"]: {key: value for key, value in row.items() if key not in ("pair", "histogram")}
            for row in sorted(rows, key=lambda row: row["pair"])}


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
    stages = accounts.stage_accounts(accounts.read_counts(cfg.output))
    run = {**run, "parameters": {**cfg.as_json(), "threshold": threshold_of(cfg)}, "stages": stages,
           "thresholds": read_thresholds(cfg.output), "timings": {"pipeline": round(time.monotonic() - started, 3)}}
    problems = accounts.imbalances(stages)
    if problems:
        raise accounts.AccountingError("records do not add up:\n  " + "\n  ".join(problems))
    with FileSystems.create(RunLayout(cfg.output).run_json) as handle:
        handle.write(json.dumps(run, indent=2, sort_keys=True).encode())
    report = write_report(cfg.output)
    if not quiet:
        print("\n".join(accounts.summary_lines(stages)) + f"\nreport: {report}")
    return run
