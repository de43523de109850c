"""Shared fixtures: a GCS emulator, a Beam job service, and running any pipeline builder on a runner profile.

scripts/ci_services.sh starts the services once for CI and exports their addresses; when those
variables are absent (a developer's `pytest`), the session fixtures start private copies on loopback.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Iterator, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineResult

from parabeam.launchers.profiles import pipeline_options

# google-auth finds no credentials here, and Beam's gcsio then retries google.auth.default() with
# backoff for ~20-37 s before going anonymous. This authorized_user file carries a static token that
# never expires, so credentials resolve instantly and nothing is refreshed; the emulator ignores it.
EMULATOR_ADC = Path(__file__).with_name("emulator_adc.json")
SERVICE_START_TIMEOUT_S = 60
LINE_SCHEMA = pa.schema([("line", pa.string())])

PipelineBuilder = Callable[[beam.Pipeline], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(cmd: list[str], log: Path, ready: Callable[[], bool]) -> subprocess.Popen:
    """Start a helper service and wait until `ready()`; on failure show its log."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"{' '.join(cmd)} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a GCS emulator that Beam's gcsio talks to (via STORAGE_EMULATOR_HOST) without credentials."""
    url = os.environ.get("STORAGE_EMULATOR_HOST")
    proc = None
    if not url:
        url = f"http://127.0.0.1:{_free_port()}"
        proc = _start(["gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1],
                       "--in-memory"],
                      tmp_path_factory.mktemp("gcs") / "emulator.log", lambda: _answers(f"{url}/storage/v1/b"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STORAGE_EMULATOR_HOST", url)
        env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(EMULATOR_ADC))
        env.setenv("GOOGLE_CLOUD_PROJECT", "parabeam-test")
        yield url
    if proc:
        _stop(proc)


@pytest.fixture(scope="session")
def gcs_bucket(gcs_emulator: str) -> str:
    """`gs://NAME` of a fresh bucket on the emulator."""
    from google.cloud import storage

    name = f"parabeam-test-{uuid.uuid4().hex[:8]}"
    storage.Client.create_anonymous_client().create_bucket(name)
    return f"gs://{name}"


@pytest.fixture
def gcs_dir(gcs_bucket: str, request: pytest.FixtureRequest) -> str:
    """A gs:// prefix of the session bucket that no other test writes to."""
    return f"{gcs_bucket}/{request.node.name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def job_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HOST:PORT of a Beam portable Job API service (Python's local job service, loopback only)."""
    if os.environ.get("PARABEAM_JOB_ENDPOINT"):
        yield os.environ["PARABEAM_JOB_ENDPOINT"]
        return
    workdir = tmp_path_factory.mktemp("job_service")
    port_file = workdir / "port"  # written (atomically) only once the gRPC server listens
    proc = _start([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                   "--port", "0", "--port_file", str(port_file), "--staging_dir", str(workdir / "staging")],
                  workdir / "job_service.log", port_file.exists)
    yield f"localhost:{port_file.read_text()}"
    _stop(proc)


def run_builder(build: PipelineBuilder, runner: str = "local", argv: Sequence[str] = ()) -> PipelineResult:
    """Build with `build(p)` on runner profile `runner` (+ Beam flags `argv`), run, wait; return the result."""
    pipeline = beam.Pipeline(options=pipeline_options(runner, list(argv)))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return result


@pytest.fixture(scope="session")
def run_pipeline() -> Callable[..., PipelineResult]:
    """`run_pipeline(build, runner="local", argv=())`: see run_builder; the real build_pipeline fits via a lambda."""
    return run_builder


def uppercase_to_parquet(input_glob: str, output_prefix: str) -> PipelineBuilder:
    """A small real pipeline (text glob -> upper-case -> Parquet) standing in for the mining pipeline."""
    def build(p: beam.Pipeline) -> None:
        def upper(line: str) -> dict:
            Metrics.counter("parabeam", "upper/in").inc()
            Metrics.counter("parabeam", "upper/out").inc()
            return {"line": line.upper()}

        (p
         | "ReadText" >> beam.io.ReadFromText(input_glob)
         | "Upper" >> beam.Map(upper)
         | "WriteParquet" >> beam.io.WriteToParquet(output_prefix, LINE_SCHEMA, file_name_suffix=".parquet"))
    return build


@pytest.fixture(scope="session")
def toy_pipeline() -> Callable[[str, str], PipelineBuilder]:
    """`toy_pipeline(input_glob, output_prefix)` -> builder; see uppercase_to_parquet."""
    return uppercase_to_parquet


def read_parquet_rows(glob: str) -> list[dict]:
    """All rows of the Parquet files matching `glob` (local or gs://), sorted for comparison."""
    rows = []
    for meta in FileSystems.match([glob])[0].metadata_list:
        with FileSystems.open(meta.path) as handle:
            rows += pq.read_table(pa.BufferReader(handle.read())).to_pylist()
    return sorted(rows, key=lambda row: sorted(row.items()))


@pytest.fixture(scope="session")
def read_parquet() -> Callable[[str], list[dict]]:
    """`read_parquet(glob)` -> sorted rows; see read_parquet_rows."""
    return read_parquet_rows
