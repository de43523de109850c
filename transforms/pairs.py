"""Score-mode input: existing sentence pairs from TSV (any columns) or Parquet, to be scored by margin."""
from __future__ import annotations

from typing import BinaryIO, Iterator

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from parabeam.transforms import stages
from parabeam.transforms.accounting import StageFn, Staged, apply_stage
from parabeam.transforms.dedup import normalise, sentence_id

STAGE = stages.PAIRS.name


def read_pairs(path: str, handle: BinaryIO, src_column: str, tgt_column: str) -> Iterator[tuple[int, list[str], str | None]]:
    """(row number, all fields as strings, problem or None). Row numbers count from 1, as TSV column numbers
    and line numbers do; Parquet columns are names. The fields are kept so scores can be joined back to
    labels or anything else."""
    if path.endswith(".parquet"):
        table = pq.read_table(handle)
        names = table.column_names
        for number, row in enumerate(table.to_pylist(), start=1):
            yield number, [row[name] for name in (src_column, tgt_column)] + [
                "" if row[name] is None else str(row[name]) for name in names], None
        return
    src, tgt = int(src_column) - 1, int(tgt_column) - 1
    for number, raw in enumerate(handle, start=1):
        fields = raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")
        if len(fields) <= max(src, tgt):
            yield number, fields, "missing_column"
        else:
            yield number, [fields[src], fields[tgt]] + fields, None


class _Read(StageFn):
    stage = STAGE

    def __init__(self, src_column: str, tgt_column: str):
        self.columns = (src_column, tgt_column)

    def process(self, path: str) -> Iterator:
        with FileSystems.open(path) as handle:
            for number, fields, problem in read_pairs(path, handle, *self.columns):
                self.count("in")
                texts = [normalise(text or "") for text in fields[:2]] if not problem else []
                if problem or not all(texts):
                    yield from self.reject(problem or "empty_side", shard=path, record=number,
                                           excerpt="\t".join(fields))
                    continue
                self.count("out")
                yield {"row": number, "src_id": sentence_id(texts[0]), "tgt_id": sentence_id(texts[1]),
                       "src_text": texts[0], "tgt_text": texts[1], "fields": fields[2:]}


def side_sentences(pairs: beam.PCollection, side: str, lang: str) -> beam.PCollection:
    """The unique sentences of one side, as sentence-store rows: each side is its own neighbourhood."""
    return (pairs
            | f"{side}Texts" >> beam.Map(lambda pair: (pair[f"{side}_id"], pair[f"{side}_text"]))
            | f"{side}Unique" >> beam.CombinePerKey(min)
            | f"{side}Rows" >> beam.MapTuple(
                lambda ident, text: {"id": ident, "lang": lang, "text": text, "count": 1, "urls": []}))


class ReadPairs(beam.PTransform):
    """Bitext file -> (pairs {'row', 'src_id', 'tgt_id', 'src_text', 'tgt_text', 'fields'}, rejects, counts)."""

    def __init__(self, path: str, src_column: str = "1", tgt_column: str = "2"):
        super().__init__()
        self.path, self.read = path, _Read(src_column, tgt_column)

    def expand(self, pbegin) -> Staged:
        return apply_stage(pbegin | beam.Create([self.path]), "Read", self.read)
