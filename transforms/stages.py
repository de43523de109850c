"""The one registry of stages: names, pipeline order and what their counts are in. Build, accounting, the
summary and the report all take the stage list and its order from here; each transform names its stage
from here."""
from __future__ import annotations

from typing import NamedTuple


class Stage(NamedTuple):
    name: str
    unit_in: str    # what `in` counts
    unit_out: str   # what `out` counts (and `produced`, for a stage that fans out)


READ = Stage("read", "records", "documents")
LID = Stage("lid", "paragraphs", "paragraphs")
SPLIT = Stage("split", "paragraphs", "sentences")
DEDUP = Stage("dedup", "sentences", "sentences")
SENTENCE_FILES = Stage("sentence_files", "lines", "sentences")
PAIRS = Stage("pairs", "lines", "pairs")
STORE_MERGE = Stage("store_merge", "store rows", "sentences")
BOILERPLATE = Stage("boilerplate", "sentences", "sentences")
EMBED_CACHE = Stage("embed_cache", "sentences", "sentences")
EMBED = Stage("embed", "sentences", "vectors")
BITEXT = Stage("bitext", "pairs", "pairs")

STAGES = (READ, LID, SPLIT, DEDUP, SENTENCE_FILES, PAIRS, STORE_MERGE, BOILERPLATE, EMBED_CACHE, EMBED, BITEXT)
BY_NAME = {stage.name: stage for stage in STAGES}
# A stage's records either leave it (`out`) or are accounted for by one of these kinds of drop.
DROP_KINDS = ("reject", "merged", "skipped")


def order(name: str) -> tuple[int, str]:
    """Sort key: pipeline order, unknown names last."""
    names = [stage.name for stage in STAGES]
    return (names.index(name) if name in names else len(names), name)
