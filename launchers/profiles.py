"""Named runner profiles, so a run is `--runner dataflow` plus a few site flags, not 20 Beam flags.

Precedence, lowest first: launchers/profiles.yaml (shipped) < `--profiles FILE` (merged per profile,
key by key) < Beam flags on the command line. Profile keys are Beam flag names without "--" and go
through Beam's own flag parser, so a typo or a bad value fails here rather than on a worker.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
    _BeamArgumentParser,
)

DEFAULT_PROFILES = Path(__file__).with_name("profiles.yaml")
SETUP_PY = Path(__file__).resolve().parents[1] / "setup.py"
DATAFLOW_REQUIRED = ("project", "region", "temp_location")
ENVIRONMENT_CONFIG_NEEDED = {"EXTERNAL": "the worker pool's HOST:PORT",
                             "PROCESS": 'JSON such as {"command": "/opt/apache/beam/boot"}'}


class ProfileError(ValueError):
    """The selected profile cannot make a runnable job; the message says what to set."""


class GpuOptions(PipelineOptions):
    """`--gpu TYPE [--gpu_count N]`: GPUs on Dataflow workers, as a worker_accelerator service option."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--gpu", default=None,
                            help="Dataflow worker accelerator type, e.g. nvidia-tesla-t4")
        parser.add_argument("--gpu_count", type=int, default=1, help="GPUs per Dataflow worker")


class _GivenFlagsParser(_BeamArgumentParser):
    """Beam's flag parser that keeps only the flags actually given and raises instead of exiting."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return super().add_argument(*args, **{**kwargs, "default": argparse.SUPPRESS})

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ProfileError(message)


def _beam_flag_parser() -> _GivenFlagsParser:
    parser = _GivenFlagsParser(allow_abbrev=False)
    # The same discovery PipelineOptions.get_all_options uses: every imported options class.
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


def unknown_beam_args(argv: list[str]) -> list[str]:
    """The arguments in `argv` that no Beam pipeline option takes (a bad value for one raises ProfileError)."""
    return _beam_flag_parser().parse_known_args(argv)[1]


def beam_option_names() -> list[str]:
    """Every option string of Beam's pipeline options, for suggesting the one a misspelt flag meant."""
    return sorted(_beam_flag_parser()._option_string_actions)


def load_profiles(profiles_file: str | None = None) -> dict[str, dict[str, Any]]:
    """The shipped profiles, with `profiles_file` (if any) merged over them key by key."""
    profiles = _read_yaml(DEFAULT_PROFILES)
    if profiles_file:
        for name, overrides in _read_yaml(Path(profiles_file)).items():
            profiles[name] = {**profiles.get(name, {}), **overrides}
    for name, profile in profiles.items():
        if "runner" not in profile:
            raise ProfileError(f"profile {name!r} has no 'runner' key")
    return profiles


def _read_yaml(path: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ProfileError(f"{path}: expected a mapping of profile name -> mapping of Beam flags")
    return data


def _profile_flags(parser: _GivenFlagsParser, key: str, value: Any, given: set[str]) -> list[str]:
    """Beam flags for one profile key; none when the command line already sets that option."""
    action = parser._option_string_actions.get(f"--{key}")
    if action is None:
        raise ProfileError(f"profile key {key!r} is not a Beam pipeline option")
    if action.dest in given or value is None:
        return []
    if action.nargs == 0:  # a switch such as save_main_session: present or absent
        return [f"--{key}"] if value else []
    values = value if isinstance(value, list) else [value]
    return [f"--{key}={v}" for v in values]


def pipeline_options(runner: str, argv: list[str], profiles_file: str | None = None) -> PipelineOptions:
    """PipelineOptions for profile `runner`, overridden by the Beam flags in `argv`, validated."""
    profiles = load_profiles(profiles_file)
    if runner not in profiles:
        raise ProfileError(f"unknown runner profile {runner!r}; known profiles: {', '.join(sorted(profiles))}")
    parser = _beam_flag_parser()
    given = set(vars(parser.parse_known_args(argv)[0]))
    flags = [flag for key, value in profiles[runner].items()
             for flag in _profile_flags(parser, key, value, given)]
    flags += argv
    parser.parse_known_args(flags)  # surfaces bad values (choices, types) as ProfileError
    options = PipelineOptions(flags)
    kind = _runner_kind(options)
    if kind == "dataflow":
        _complete_dataflow(runner, options)
    elif kind in ("flink", "portable"):
        _check_portable(runner, options)
    return options


def _runner_kind(options: PipelineOptions) -> str:
    """The runner family ('dataflow', 'flink', 'portable', 'fnapi', ...), however --runner was spelled."""
    return str(options.view_as(StandardOptions).runner).lower().removesuffix("runner")


def _complete_dataflow(profile: str, options: PipelineOptions) -> None:
    cloud = options.view_as(GoogleCloudOptions)
    missing = [f"--{name}" for name in DATAFLOW_REQUIRED if not getattr(cloud, name)]
    if missing:
        raise ProfileError(f"profile {profile!r} runs on Dataflow and needs {', '.join(missing)} "
                           "(on the command line or in a --profiles file)")
    if not cloud.temp_location.startswith("gs://"):
        raise ProfileError(f"--temp_location must be a gs:// path for Dataflow, got {cloud.temp_location!r}")
    setup = options.view_as(SetupOptions)
    if setup.setup_file is None and SETUP_PY.exists():
        setup.setup_file = str(SETUP_PY)
    gpu = options.view_as(GpuOptions)
    if gpu.gpu:
        if not options.view_as(WorkerOptions).sdk_container_image:
            raise ProfileError("--gpu needs --sdk_container_image (an image built from the Dockerfile): "
                               "Beam's stock worker image has no CUDA torch/faiss")
        services = list(cloud.dataflow_service_options or [])
        if any(s.startswith("worker_accelerator=") for s in services):
            raise ProfileError("give either --gpu or a worker_accelerator dataflow_service_option, not both")
        services.append(f"worker_accelerator=type:{gpu.gpu};count:{gpu.gpu_count};install-nvidia-driver")
        cloud.dataflow_service_options = services


def _check_portable(profile: str, options: PipelineOptions) -> None:
    portable = options.view_as(PortableOptions)
    if _runner_kind(options) == "portable" and not portable.job_endpoint:
        raise ProfileError(f"profile {profile!r} needs --job_endpoint=HOST:PORT of a Beam job service")
    kind = portable.environment_type
    if kind and kind not in ENVIRONMENT_CONFIG_NEEDED and kind not in ("DOCKER", "LOOPBACK") \
            and not kind.startswith("beam:env:"):
        raise ProfileError(f"profile {profile!r}: unknown --environment_type {kind!r}; use DOCKER, LOOPBACK, "
                           f"{', '.join(ENVIRONMENT_CONFIG_NEEDED)} or a beam:env: URN")
    if kind in ENVIRONMENT_CONFIG_NEEDED and not portable.environment_config:
        raise ProfileError(f"profile {profile!r}: --environment_type={kind} needs --environment_config "
                           f"({ENVIRONMENT_CONFIG_NEEDED[kind]})")
