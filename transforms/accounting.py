"""Counters and reject records shared by every stage, so that in = out + rejects can be checked."""
from __future__ import annotations

import functools
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

REJECTS_TAG = "rejects"
EXCERPT_CHARS = 200
NAMESPACE = "parabeam"


def count(stage: str, what: str, lang: str | None = None, n: int = 1) -> None:
    """Increment the counter `stage/what[/lang]`; `what` is `in`, `out` or `reject:<reason>`."""
    _counter(f"{stage}/{what}" if lang is None else f"{stage}/{what}/{lang}").inc(n)


@functools.lru_cache(maxsize=4096)
def _counter(name: str):
    """Counters are looked up per call site; making one per record cost more than the record's LID."""
    return Metrics.counter(NAMESPACE, name)


def reject(stage: str, reason: str, *, lang: str = "", shard: str = "", record: int = -1,
           url: str = "", excerpt: Any = "") -> beam.pvalue.TaggedOutput:
    """Count a rejected record and return it as a tagged output row (schemas.REJECTS)."""
    count(stage, f"reject:{reason}", lang or None)
    if isinstance(excerpt, bytes):
        excerpt = excerpt[:EXCERPT_CHARS].decode("utf-8", "replace")
    return beam.pvalue.TaggedOutput(REJECTS_TAG, {
        "stage": stage, "reason": reason, "lang": lang, "shard": shard, "record": record,
        "url": url, "excerpt": str(excerpt)[:EXCERPT_CHARS],
    })
