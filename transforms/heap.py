"""What a worker process keeps until it exits, kept out of the cyclic garbage collector's walks.

A worker holds Beam's own objects (~160k-590k) and what the stages load, pythainlp's Thai dictionary trie above all
(~420k objects), until it exits. CPython's cyclic collector walks all of them on every full collection and once
more when the process exits. Measured on the ingest benchmark's workers (README.md, Results, Ingest): the first
Thai text cost 0.8 CPU s, most of it four full collections set off while the trie was built (0.3 s with the
collector paused and the trie frozen), and a worker's exit took 0.3 s, 1.3 s once it held the trie (0.04 s with
the heap frozen at exit); the FnApiRunner shuts its workers down one after the other, so a run paid that once per
worker on its wall clock.

Frozen objects (gc.freeze) are still freed by reference counting; only reference cycles among them are never
collected, which for data kept until the process ends is no loss.
"""
from __future__ import annotations

import atexit
import functools
import gc
from typing import Callable, TypeVar

T = TypeVar("T")


def load_for_process(load: Callable[[], T]) -> T:
    """`load()` with the cyclic collector paused, then everything alive frozen: for data (a dictionary, a model's
    Python objects) that the process keeps until it exits."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return load()
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@functools.cache
def freeze_at_exit() -> None:
    """Freeze the heap when the process exits, so the interpreter's last collection walks nothing: the operating
    system takes the memory back whole. Registered once per process (`functools.cache`)."""
    atexit.register(gc.freeze)
