"""A job's inputs, checked before it starts (nothing to read is an error, not an empty run) and after it
(nothing could be read is a failed job, not exit 0). Partial damage stays a reject row, as in the job."""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems


class NothingRead(ValueError):
    """The job found no input at all, or could not read a single record of it."""


def require_matches(patterns: tuple[str, ...]) -> None:
    """Fail before any worker starts when not one of the patterns matches a file; a pattern that matches
    nothing beside others that do is left to the job, which records it as a `missing_file` reject."""
    if not any(result.metadata_list for result in FileSystems.match(list(patterns))):
        raise NothingRead(f"--input matches no file: {', '.join(patterns)}")


def require_files(files: dict[str, str]) -> None:
    """Fail before any worker starts when a named input file (option -> path) does not exist."""
    for option, path in files.items():
        if not FileSystems.exists(path):
            raise NothingRead(f"{option}: no such file: {path}")


def require_read(run: dict, stage: str) -> None:
    """Fail a finished job whose first `stage` let no record through (e.g. only a gzipped PNG as input)."""
    account = run["stages"].get(stage, {})
    if account.get("out", 0):
        return
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(account.get("reject", {}).items()))
    output = run["parameters"]["output"]
    raise NothingRead(f"nothing could be read from the input ({reasons or 'no records'}); see "
                      f"{FileSystems.join(output, 'rejects', stage)} and {FileSystems.join(output, 'report.html')}, "
                      "then rerun with --overwrite")
