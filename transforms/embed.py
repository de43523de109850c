"""Embedding stage: sentence-store rows -> embedding rows {'id', 'lang', 'vector': float32 [dim]}, via Beam's
RunInference so the model is loaded once per worker process and shared by its threads.

Batches are bounded by characters, not sentences, so one batch costs about the same whatever the sentence
lengths, and they are made deterministically (hash buckets of sentence ids, sorted, cut by characters):
an encoder's floating point result for a sentence varies in its last bits with the batch around it (BLAS
kernels depend on the batch's shape), so batches that followed bundling would make vectors, and mined
scores, depend on the runner and worker count. A batch that fails to encode is retried sentence by
sentence; only the sentences that still fail are rejected (`embed_failed`), so one bad sentence never
costs its batch or the job.
"""
from __future__ import annotations

import logging
import math
import zlib
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, RunInference

from parabeam.transforms import stages
from parabeam.transforms.accounting import StageFn, Staged, apply_stage
from parabeam.transforms.encoders import Encoder, get_encoder, l2_normalise, load_encoder

STAGE = stages.EMBED.name
DEFAULT_BATCH_CHARS = 20_000


class Failed(NamedTuple):
    """A store row whose sentence could not be encoded even on its own."""
    row: dict
    error: str


def text_chars(row: dict) -> int:
    return len(row["text"])


def _embedding_row(row: dict, vector: np.ndarray) -> dict:
    """The embedding row of a store row; a cache `key` on it is kept, so the cache needs no join later."""
    return {"id": row["id"], "lang": row["lang"], "vector": vector, **({"key": row["key"]} if "key" in row else {})}


def encode_rows(encoder: Encoder, rows: Sequence[dict]) -> Iterator[dict | Failed]:
    """One embedding row or `Failed` per input row, in order: the whole batch in one call, and only if that
    raises, each sentence alone."""
    if not rows:
        return
    try:
        vectors = encoder.encode([row["text"] for row in rows])
        if len(vectors) != len(rows):
            raise ValueError(f"encoder returned {len(vectors)} vectors for {len(rows)} sentences")
    except Exception as error:  # a model failure must not take the job down; fall back per sentence
        logging.warning("embedding a batch of %d sentences failed (%r); retrying one by one", len(rows), error)
    else:
        yield from map(_embedding_row, rows, vectors)
        return
    for row in rows:
        try:
            yield _embedding_row(row, encoder.encode([row["text"]])[0])
        except Exception as error:
            yield Failed(row, repr(error))


def to_float16_row(row: dict) -> dict:
    """Embedding row as stored (schemas.EMBEDDINGS): float16 halves the store at ~1e-3 relative error."""
    return {**row, "vector": np.asarray(row["vector"], dtype=np.float16)}


def from_float16_row(row: dict) -> dict:
    """Stored row back to float32, renormalised to unit length (float16 rounding perturbs the norm)."""
    return {**row, "vector": l2_normalise(np.asarray(row["vector"], dtype=np.float32)[None])[0]}


class EncoderModelHandler(ModelHandler[dict, Any, Encoder]):
    """RunInference handler for an encoder spec, fed the batches DeterministicBatches makes (RunInference's
    own batching would follow bundling). On a GPU the model is shared across the worker's processes
    (Beam's MultiProcessShared) so the accelerator holds one copy, not one per process; CPU models stay
    per process, where calls through a proxy process would only add copying."""

    def __init__(self, encoder: str, accelerator: str | None = None):
        super().__init__()
        self._encoder = encoder
        self._accelerator = accelerator

    def load_model(self) -> Encoder:
        return load_encoder(self._encoder)

    def run_inference(self, batch: Sequence[dict], model: Encoder,
                      inference_args: dict | None = None) -> Iterable[dict | Failed]:
        return list(encode_rows(model, batch))

    def share_model_across_processes(self) -> bool:
        return self._accelerator is not None

    def get_resource_hints(self) -> dict:
        return {"accelerator": self._accelerator} if self._accelerator else {}


def cut_by_chars(rows: Sequence[dict], budget: int) -> Iterator[list[dict]]:
    """Consecutive runs of rows holding at most `budget` characters each (a longer sentence goes alone)."""
    batch, chars = [], 0
    for row in rows:
        if batch and chars + text_chars(row) > budget:
            yield batch
            batch, chars = [], 0
        batch.append(row)
        chars += text_chars(row)
    if batch:
        yield batch


class DeterministicBatches(beam.PTransform):
    """Rows -> lists of rows whose make-up depends only on the set of sentences, never on bundling: rows go
    to one of ceil(total characters / budget) buckets by a hash of their id, and each bucket is sorted and cut
    into batches of at most `budget` characters."""

    def __init__(self, batch_chars: int):
        super().__init__()
        self.batch_chars = batch_chars

    def expand(self, rows):
        buckets = (rows | "Chars" >> beam.Map(text_chars) | "Total" >> beam.CombineGlobally(sum)
                   | "Buckets" >> beam.Map(lambda chars, budget: max(1, math.ceil(chars / budget)),
                                           self.batch_chars))
        return (rows
                | "Bucket" >> beam.Map(lambda row, n: (zlib.crc32(row["id"].encode()) % n, row),
                                       beam.pvalue.AsSingleton(buckets))
                | "Group" >> beam.GroupByKey()
                | "Cut" >> beam.FlatMapTuple(lambda _bucket, found, budget=self.batch_chars: cut_by_chars(
                    sorted(found, key=lambda row: (row["lang"], row["id"])), budget)))


class _Route(StageFn):
    """Counts the stage (one `in` per store row) and sends failures to the rejects output."""
    stage = STAGE

    def process(self, result: dict | Failed) -> Iterator[Any]:
        if isinstance(result, Failed):
            row = result.row
            self.count("in", row["lang"])
            urls = row.get("urls") or [""]
            yield from self.reject("embed_failed", lang=row["lang"], url=urls[0], excerpt=row["text"])
        else:
            self.count("in", result["lang"])
            self.count("out", result["lang"])
            yield result


class Embed(beam.PTransform):
    """Store rows -> (embedding rows, rejects). `accelerator` is a Beam accelerator resource hint (e.g.
    'type:nvidia-l4;count:1;install-nvidia-driver') for the encoding step; only torch encoders use one."""

    def __init__(self, encoder: str = "muse", batch_chars: int = DEFAULT_BATCH_CHARS,
                 accelerator: str | None = None):
        super().__init__()
        spec = get_encoder(encoder)
        if accelerator and not spec.uses_torch:
            raise ValueError(f"encoder {spec.name!r} runs on CPU only; accelerator={accelerator!r} needs hf: or st:")
        self._handler = EncoderModelHandler(spec.name, accelerator)
        self._batch_chars = batch_chars

    def expand(self, rows: beam.PCollection) -> Staged:
        batches = rows | "Batch" >> DeterministicBatches(self._batch_chars)
        results = batches | "Encode" >> RunInference(self._handler.with_no_batching())
        return apply_stage(results, "Route", _Route())
