"""Print a benchmark's result and, with --out, write it headed by the command that made it, so a committed
result file says how to make it again."""
from __future__ import annotations

from pathlib import Path


def publish(module: str, text: str, out: str | Path | None) -> None:
    """Print `text`; with `out`, write `$ python -m benchmarks.<module> --out <out>` and `text` there."""
    print(text)
    if out:
        Path(out).write_text(f"$ python -m benchmarks.{module} --out {out}\n{text}\n", encoding="utf-8")
