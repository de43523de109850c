"""Running a built job: output-directory policy, the run itself, accounting checks, run.json and report."""
from __future__ import annotations

import json
import logging
import time
from typing import Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions
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


def is_dry_run(options: PipelineOptions) -> bool:
    """`--dry_run=True` asks DataflowRunner to build the job and submit nothing; other runners would run it."""
    if not options.view_as(TestOptions).dry_run:
        return False
    if "Dataflow" not in str(options.view_as(StandardOptions).runner):
        raise ValueError("--dry_run=True builds a Dataflow job without submitting it; use it with --runner dataflow")
    return True


def graph_size(pipeline: beam.Pipeline) -> tuple[int, int]:
    """(transforms, leaf transforms) of the pipeline as a runner receives it."""
    transforms = pipeline.to_runner_api().components.transforms.values()
    return len(transforms), sum(not transform.subtransforms for transform in transforms)


def dry_run(pipeline: beam.Pipeline, run: dict) -> dict:
    """Build the real job as DataflowRunner would submit it (graph translated, setup.py staged), submit nothing,
    and say what was built, so a job can be checked before it costs anything."""
    from apache_beam.runners.dataflow.internal import apiclient   # only with the gcp extra

    transforms, leaves = graph_size(pipeline)
    result = pipeline.run()
    proto = pipeline.runner.proto_pipeline
    staged = FileSystems.join(pipeline.options.view_as(GoogleCloudOptions).staging_location or "", "pipeline.pb")
    # The request DataflowRunner would send: the job with its environment (workers, images, options).
    result.job.proto.environment = apiclient.Environment(
        [], pipeline.options, apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION, staged, proto_pipeline=proto).proto
    request = len(result.job.json().encode())
    graph = len(proto.SerializeToString())
    print(f"dry run: Dataflow job built, nothing submitted: {transforms} transforms ({leaves} leaf), "
          f"job request {request:,} bytes, pipeline graph {graph:,} bytes")
    return {**run, "dry_run": {"transforms": transforms, "leaf_transforms": leaves, "job_request_bytes": request,
                               "pipeline_graph_bytes": graph}}


def execute(cfg: MineConfig, options, build: Callable[[beam.Pipeline], None], run: dict,
            quiet: bool = False, finish: Callable[[dict], dict] | None = None) -> dict:
    """Run the pipeline, check that every stage's records add up, then write DIR/run.json (last: its
    presence marks a finished run) and the report. `finish(run)` may add what only the finished job knows."""
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    if is_dry_run(options):
        return dry_run(pipeline, run)
    with progress(not quiet):
        result = pipeline.run()
        result.wait_until_finish()
    counts = accounts.read_counts(cfg.output)
    stages = accounts.stage_accounts(counts)
    run = {**run, "parameters": {**cfg.as_json(), "threshold": threshold_of(cfg)}, "stages": stages,
           "thresholds": read_thresholds(cfg.output),
           "timings": {"pipeline": round(time.monotonic() - started, 3), **accounts.stage_seconds(counts)}}
    if finish is not None:
        run = finish(run)
    problems = accounts.imbalances(stages)
    if problems:
        raise accounts.AccountingError("records do not add up:\n  " + "\n  ".join(problems))
    with FileSystems.create(RunLayout(cfg.output).run_json) as handle:
        handle.write(json.dumps(run, indent=2, sort_keys=True).encode())
    report = write_report(cfg.output)
    if not quiet:
        print("\n".join(accounts.summary_lines(stages)) + f"\nreport: {report}")
    return run
