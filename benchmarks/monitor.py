"""Peak memory of a whole process tree (the Beam workers are child processes) and the machine's load while
a benchmark runs, sampled from /proc in a thread; and where a Beam job spent its time."""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from pathlib import Path

from apache_beam.metrics.metric import MetricsFilter

PAGE = os.sysconf("SC_PAGE_SIZE")
EXECUTION_TIME = "metric:ptransform_execution_time:total_msecs:v1"   # Beam system metric, namespace "beam"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:   # the process ended while we looked
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        tree[ppid].append(int(stat.parent.name))
    return tree


def rss(pid: int) -> int:
    """Resident set of one process in bytes (0 once it has ended)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def tree_rss(root: int) -> int:
    """Summed resident set of `root` and all its descendants, in bytes (shared pages count once per process)."""
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        total += rss(pid)
    return total


class Monitor:
    """`with Monitor() as m: ...` then m.peak_rss (bytes, this process and its descendants), m.peak_root_rss
    (this process alone: the FnApiRunner keeps shuffled data there), m.mean_load and m.max_load (1-minute
    load average while it ran)."""

    def __init__(self, interval: float = 0.2, root: int | None = None):
        self.interval, self.root = interval, root or os.getpid()
        self.peak_rss, self.peak_root_rss, self.loads = 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        last_load = 0.0
        while True:
            self.peak_rss = max(self.peak_rss, tree_rss(self.root))
            self.peak_root_rss = max(self.peak_root_rss, rss(self.root))
            if time.monotonic() - last_load >= 5:
                self.loads.append(os.getloadavg()[0])
                last_load = time.monotonic()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "Monitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.loads.append(os.getloadavg()[0])

    @property
    def mean_load(self) -> float:
        return sum(self.loads) / len(self.loads)

    @property
    def max_load(self) -> float:
        return max(self.loads)


def stage_seconds(result, depth: int = 1) -> dict[str, float]:
    """Worker-seconds per transform, summed up to `depth` levels of nesting (1: Embed, Shard[de], ...)."""
    totals: dict[str, float] = defaultdict(float)
    for counter in result.monitoring_metrics().query(MetricsFilter())["counters"]:
        if counter.key.metric.name == EXECUTION_TIME and counter.key.step:
            totals["/".join(counter.key.step.split("/")[:depth])] += (counter.committed or 0) / 1000
    return dict(totals)
