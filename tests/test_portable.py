"""The `portable` profile submits through a real Beam Job API service and matches FnApiRunner's output."""
from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineState

LINES = ["één", "two", "Drei", "quatre", "ห้า", "two"]


def _counter(result, name: str) -> int:
    counters = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(c.committed if c.committed is not None else c.attempted for c in counters)


def test_portable_runner_matches_fnapi_runner(tmp_path, job_endpoint, run_pipeline, toy_pipeline, read_parquet):
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    build = lambda out: toy_pipeline(str(tmp_path / "in.txt"), str(tmp_path / out / "lines"))  # noqa: E731

    portable = run_pipeline(build("portable"), "portable", [f"--job_endpoint={job_endpoint}"])
    fnapi = run_pipeline(build("fnapi"), "local", ["--direct_running_mode=in_memory", "--direct_num_workers=1"])

    assert portable.state == PipelineState.DONE
    rows = read_parquet(str(tmp_path / "portable" / "lines*"))
    assert [row["line"] for row in rows] == sorted(line.upper() for line in LINES)
    assert rows == read_parquet(str(tmp_path / "fnapi" / "lines*"))
    assert _counter(portable, "upper/in") == _counter(fnapi, "upper/in") == len(LINES)
