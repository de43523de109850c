"""Runner profiles: merged values, clear errors, and a Dataflow job built offline (DataflowRunner --dry_run)."""
from __future__ import annotations

import os
import re

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.internal import apiclient
from apache_beam.testing.util import BeamAssertException, assert_that

from parabeam.launchers.profiles import SETUP_PY, ProfileError, load_profiles, pipeline_options
from parabeam.pipeline.build import build_mine
from parabeam.pipeline.cli import main
from parabeam.pipeline.config import MineConfig
from tests.helpers import REPO
from tests.multilingual import LANGS as LANGS15

GPU_SERVICE = "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"
IMAGE = "us-docker.pkg.dev/my-proj/parabeam/gpu-worker:1"


def dataflow_argv(temp_location: str = "gs://parabeam-test/tmp") -> list[str]:
    return ["--project=my-proj", "--region=europe-west4", f"--temp_location={temp_location}"]


def test_shipped_profiles():
    assert set(load_profiles()) == {"local", "dataflow", "flink", "portable"}


def test_local_profile_defaults():
    options = pipeline_options("local", [])
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    direct = options.view_as(DirectOptions)
    assert direct.direct_running_mode == "multi_processing"
    assert direct.direct_num_workers == 0  # FnApiRunner: 0 = one worker per CPU


def test_local_profile_runs_in_worker_processes():
    """multi_processing is honoured: elements are processed outside this (the submitting) process."""
    parent = os.getpid()

    def in_other_processes(pids):
        if not pids or parent in pids:
            raise BeamAssertException(f"expected worker pids other than {parent}, got {pids}")

    with beam.Pipeline(options=pipeline_options("local", ["--direct_num_workers=1"])) as p:
        pids = p | beam.Create(range(20)) | beam.Map(lambda _: os.getpid())
        assert_that(pids, in_other_processes)


def test_command_line_wins_over_yaml_and_yaml_over_shipped(tmp_path):
    profiles = tmp_path / "site.yaml"
    profiles.write_text(
        "local:\n  direct_num_workers: 3\n  experiments: [from_yaml]\n"
        "dataflow:\n  project: yaml-proj\n  region: us-east1\n  temp_location: gs://site-bucket/tmp\n"
        "dataflow_eu:\n  runner: DataflowRunner\n  project: eu-proj\n  region: europe-west4\n"
        "  temp_location: gs://eu-bucket/tmp\n  no_use_public_ips: true\n")

    local = pipeline_options("local", [], str(profiles))
    assert local.view_as(DirectOptions).direct_num_workers == 3
    assert local.view_as(DirectOptions).direct_running_mode == "multi_processing"  # shipped default kept

    # in_memory equals Beam's own default: it must still beat the profile, as must a repeated flag.
    local = pipeline_options("local", ["--direct_running_mode=in_memory", "--experiments=from_cli"], str(profiles))
    assert local.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert local.view_as(DebugOptions).experiments == ["from_cli"]

    cloud = pipeline_options("dataflow", ["--project=cli-proj"], str(profiles)).view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region, cloud.temp_location) == ("cli-proj", "us-east1", "gs://site-bucket/tmp")

    eu = pipeline_options("dataflow_eu", [], str(profiles))
    assert eu.view_as(WorkerOptions).use_public_ips is False
    assert "dataflow_eu" in load_profiles(str(profiles))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match="'gpu'.*dataflow, flink, local, portable"):
        pipeline_options("gpu", [])


def test_profile_key_typo_is_an_error(tmp_path):
    (tmp_path / "p.yaml").write_text("flink:\n  flink_mastr: jobmanager:8081\n")
    with pytest.raises(ProfileError, match="flink_mastr"):
        pipeline_options("flink", [], str(tmp_path / "p.yaml"))


def test_dataflow_needs_project_region_temp_location():
    with pytest.raises(ProfileError, match="--project, --region, --temp_location"):
        pipeline_options("dataflow", [])
    with pytest.raises(ProfileError, match="--temp_location"):
        pipeline_options("dataflow", ["--project=p", "--region=r"])
    with pytest.raises(ProfileError, match="gs://"):
        pipeline_options("dataflow", dataflow_argv("/tmp/local"))


def test_dataflow_gpu_needs_worker_image():
    with pytest.raises(ProfileError, match="sdk_container_image"):
        pipeline_options("dataflow", dataflow_argv() + ["--gpu=nvidia-tesla-t4"])


def test_dataflow_profile_values():
    options = pipeline_options("dataflow", dataflow_argv() + [
        "--gpu=nvidia-tesla-t4", f"--sdk_container_image={IMAGE}", "--max_num_workers=3",
        "--dataflow_service_options=enable_prime"])
    cloud = options.view_as(GoogleCloudOptions)
    assert cloud.dataflow_service_options == ["enable_prime", GPU_SERVICE]
    workers = options.view_as(WorkerOptions)
    assert (workers.machine_type, workers.max_num_workers, workers.sdk_container_image) == \
        ("n1-standard-4", 3, IMAGE)
    assert options.view_as(SetupOptions).setup_file == str(SETUP_PY)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"


@pytest.fixture(scope="module")
def dataflow_input(gcs_bucket) -> str:
    """The demo crawl on the GCS emulator, where Dataflow workers could read it."""
    path = f"{gcs_bucket}/dataflow-in/demo.warc.wet"
    with FileSystems.create(path) as handle:
        handle.write((REPO / "demo" / "demo.warc.wet").read_bytes())
    return path


@pytest.mark.parametrize("langs", [("de", "en"), LANGS15])
def test_the_real_mining_job_is_built_for_dataflow_offline(gcs_bucket, dataflow_input, langs, capsys):
    """`parabeam mine --runner dataflow --dry_run=True`: DataflowRunner translates parabeam's own graph and
    builds the Job request (the next test checks its environment); nothing is submitted or written, and the
    command says what was built."""
    output = f"{gcs_bucket}/dataflow-out-{len(langs)}"
    with_gpu = ["--gpu=nvidia-tesla-t4", f"--sdk_container_image={IMAGE}", "--dry_run=True"]
    assert main(["mine", "--input", dataflow_input, "--langs", ",".join(langs), "--output", output,
                 "--runner", "dataflow",
                 *dataflow_argv(f"{gcs_bucket}/tmp"), *with_gpu]) == 0
    printed = capsys.readouterr().out
    match = re.search(r"dry run: Dataflow job built, nothing submitted: (\d+) transforms \((\d+) leaf\), "
                      r"job request ([\d,]+) bytes", printed)
    assert match, printed
    transforms, leaves, request = int(match[1]), int(match[2]), int(match[3].replace(",", ""))
    assert 100 < leaves < transforms < 600 and request > 1000
    assert not FileSystems.match([f"{output}/**"])[0].metadata_list   # nothing ran, nothing written


def test_dataflow_job_environment_asks_for_gpus_and_the_worker_image(gcs_bucket, dataflow_input):
    """The real mining graph through DataflowRunner: the job's environment and worker pool carry the GPU profile."""
    with_gpu = ["--gpu=nvidia-tesla-t4", f"--sdk_container_image={IMAGE}", "--dry_run=True"]
    options = pipeline_options("dataflow", dataflow_argv(f"{gcs_bucket}/tmp") + with_gpu)
    pipeline = beam.Pipeline(options=options)
    build_mine(pipeline, MineConfig(output=f"{gcs_bucket}/dataflow-gpu", langs=("de", "en"), pairs=(("de", "en"),),
                                    inputs=(dataflow_input,)))

    result = pipeline.run()

    assert result.job.proto.type_ == apiclient.dataflow.JobType.JOB_TYPE_BATCH
    proto = pipeline.runner.proto_pipeline
    names = {transform.unique_name for transform in proto.components.transforms.values()}
    assert {"Read", "LID", "Split", "Dedup", "Embed", "KNN", "Margin", "Bitext", "WriteBitext"} <= names
    (environment,) = proto.components.environments.values()
    docker = beam_runner_api_pb2.DockerPayload.FromString(environment.payload)
    assert docker.container_image == IMAGE
    staged = [beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(d.role_payload).staged_name
              for d in environment.dependencies]
    assert "workflow.tar.gz" in staged  # the sdist built from setup.py

    job_environment = apiclient.Environment(
        [], options, apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION, f"{gcs_bucket}/tmp/pipeline.pb",
        proto_pipeline=proto)
    assert list(job_environment.proto.service_options) == [GPU_SERVICE]
    (pool,) = job_environment.proto.worker_pools
    assert pool.machine_type == "n1-standard-4"
    assert [image.container_image for image in pool.sdk_harness_container_images] == [IMAGE]


def test_flink_profile():
    options = pipeline_options("flink", ["--parallelism=4"])
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    flink = options.view_as(FlinkRunnerOptions)
    assert (flink.flink_master, flink.flink_version, flink.parallelism) == ("localhost:8081", "1.20", 4)
    assert options.view_as(PortableOptions).environment_type == "LOOPBACK"
    with pytest.raises(ProfileError, match="flink_version"):
        pipeline_options("flink", ["--flink_version=0.9"])
    with pytest.raises(ProfileError, match="environment_config"):
        pipeline_options("flink", ["--environment_type=EXTERNAL"])
    with pytest.raises(ProfileError, match="DOKCER"):
        pipeline_options("flink", ["--environment_type=DOKCER"])


def test_portable_profile():
    options = pipeline_options("portable", ["--job_endpoint=localhost:12345"])
    portable = options.view_as(PortableOptions)
    assert (portable.job_endpoint, portable.environment_type) == ("localhost:12345", "LOOPBACK")
