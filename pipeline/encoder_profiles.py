"""Encoder profiles: an encoder with its calibrated threshold and mining settings, saved by `parabeam
calibrate --save` and read by `--encoder-profile` (YAML, any Beam filesystem)."""
from __future__ import annotations

from pathlib import PurePosixPath

import yaml
from apache_beam.io.filesystems import FileSystems

from parabeam.transforms.encoders import get_encoder
from parabeam.transforms.margin import MARGINS, RETRIEVALS

PROFILE_KEYS = {"encoder": str, "threshold": (int, float), "margin": str, "k": int, "retrieval": str}


def profile_path(name_or_path: str) -> str:
    """A bare name (no folder, no .yaml/.yml) means NAME.yaml in the working directory."""
    if "/" in name_or_path or PurePosixPath(name_or_path).suffix in (".yaml", ".yml"):
        return name_or_path
    return f"{name_or_path}.yaml"


def save_profile(name_or_path: str, profile: dict) -> str:
    path = profile_path(name_or_path)
    with FileSystems.create(path, mime_type="text/yaml") as handle:
        handle.write(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True).encode("utf-8"))
    return path


def load_profile(path: str) -> dict:
    """An encoder profile written by `parabeam calibrate --save`: at least encoder, threshold, margin, k
    and retrieval, checked here so that a bad file fails before a pipeline starts."""
    path = profile_path(path)
    try:
        with FileSystems.open(path) as handle:
            profile = yaml.safe_load(handle.read())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read encoder profile {path}: {error}") from error
    if not isinstance(profile, dict):
        raise ValueError(f"{path}: an encoder profile is a YAML mapping")
    for key, kind in PROFILE_KEYS.items():
        if not isinstance(profile.get(key), kind) or isinstance(profile.get(key), bool):
            raise ValueError(f"{path}: {key!r} is missing or not a {getattr(kind, '__name__', 'number')}")
    if profile["margin"] not in MARGINS or profile["retrieval"] not in RETRIEVALS or profile["k"] < 1:
        raise ValueError(f"{path}: unknown margin {profile['margin']!r}, retrieval {profile['retrieval']!r} "
                         f"or k {profile['k']!r}")
    get_encoder(profile["encoder"])
    return profile
