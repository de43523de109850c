"""Where a run and a refresh state keep their files: the one place that knows the folder layout.

A run (DIR):                          A refresh state (STATE):
  DIR/sentences/<lang>/                 STATE/ledger.json             releases so far (the commit point)
  DIR/embeddings/<encoder>/<lang>/      STATE/store/<release>/<lang>/ store part added by a release
  DIR/index/<encoder>/<lang>/           STATE/embedding-cache/        vectors shared by all releases
  DIR/bitext/<src>-<tgt>/               STATE/releases/<release>/     a run (DIR) per release
  DIR/below_threshold/<src>-<tgt>/
  DIR/rejects/<stage>/
  DIR/accounts/                         per-(stage, what, lang) counts written by the job
  DIR/thresholds.jsonl                  per-pair threshold and estimated precision, written by the job
  DIR/run.json, DIR/report.html         run.json last: its presence marks a finished run

A refresh state also keeps, per release, what the next refresh mines incrementally (STATE/knn/<release>/):
  embeddings/<encoder>/<lang>/          embedding shards this release added (earlier ones stay where they are)
  index/<encoder>/<lang>/               index shards this release added; a trained index when it (re)trained
  neighbours/<encoder>/<q>-<t>/         every query shard's merged top-k block (ids, sims) per direction
  knn.json                              the release's kNN state: per language its kind, trained index, size
                                        trained for and every shard (old and new); per direction its blocks
"""
from __future__ import annotations

from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems


class RunLayout(NamedTuple):
    root: str

    def join(self, *parts: str) -> str:
        return FileSystems.join(self.root, *parts)

    @property
    def sentences(self) -> str:
        return self.join("sentences")

    def embeddings(self, encoder_slug: str) -> str:
        return self.join("embeddings", encoder_slug)

    def index(self, encoder_slug: str) -> str:
        return self.join("index", encoder_slug)

    @property
    def bitext(self) -> str:
        return self.join("bitext")

    @property
    def below_threshold(self) -> str:
        """A sample of the candidates just below each pair's threshold (margin.NEAR), bitext schema."""
        return self.join("below_threshold")

    @property
    def scores(self) -> str:
        return self.join("scores")

    @property
    def rejects(self) -> str:
        return self.join("rejects")

    @property
    def accounts(self) -> str:
        return self.join("accounts")

    @property
    def thresholds(self) -> str:
        """One JSON line per language pair: its threshold, estimated precision and score histogram."""
        return self.join("thresholds.jsonl")

    @property
    def run_json(self) -> str:
        return self.join("run.json")

    @property
    def manifest(self) -> str:
        return self.join("manifest.json")

    @property
    def report(self) -> str:
        return self.join("report.html")

    def default_cache(self) -> str:
        """The embedding cache beside the run, so that reruns share it."""
        parent, _name = FileSystems.split(self.root.rstrip("/"))
        return FileSystems.join(parent, "parabeam-embedding-cache")


class StateLayout(NamedTuple):
    root: str

    @property
    def ledger(self) -> str:
        return FileSystems.join(self.root, "ledger.json")

    def store(self, release: str) -> str:
        return FileSystems.join(self.root, "store", release)

    @property
    def cache(self) -> str:
        return FileSystems.join(self.root, "embedding-cache")

    def release(self, release: str) -> RunLayout:
        return RunLayout(FileSystems.join(self.root, "releases", release))

    def knn(self, release: str) -> "KnnLayout":
        """The kNN state a release keeps for the next refresh."""
        return KnnLayout(FileSystems.join(self.root, "knn", release))


class KnnLayout(NamedTuple):
    root: str

    def embeddings(self, encoder_slug: str) -> str:
        return FileSystems.join(self.root, "embeddings", encoder_slug)

    def index(self, encoder_slug: str) -> str:
        return FileSystems.join(self.root, "index", encoder_slug)

    def neighbours(self, encoder_slug: str) -> str:
        return FileSystems.join(self.root, "neighbours", encoder_slug)

    @property
    def manifest(self) -> str:
        return FileSystems.join(self.root, "knn.json")
