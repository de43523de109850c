"""Sentence-file mode input: pre-split sentences, one per line, plain or `id<TAB>text` (BUCC format).

It skips LID and splitting; the user's ids come through to the bitext's src_id/tgt_id.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from parabeam.transforms import stages
from parabeam.transforms.accounting import StageFn, Staged, apply_stage, merge_staged
from parabeam.transforms.dedup import normalise, sentence_id

STAGE = stages.SENTENCE_FILES.name


def is_bucc(lines: Iterable[str]) -> bool:
    """A file is `id<TAB>text` when every one of its first non-empty lines has a tab after a non-empty id."""
    sample = [line for line in lines if line.strip()]
    return bool(sample) and all("\t" in line and line.split("\t", 1)[0].strip() for line in sample)


def parse_line(line: str, bucc: bool) -> tuple[str, str]:
    """(id, text); plain lines get the content id the crawl mode would give the same sentence.

    BUCC lines keep their text as given (stripped, not normalised): the bitext shows it beside the user's ids,
    and NFKC would change it (`m²` to `m2`, `，` to `,`). It is embedded as it is, and cached under that text.
    """
    if bucc:
        ident, text = line.split("\t", 1)
        return ident.strip(), text.strip()
    text = normalise(line)
    return sentence_id(text), text


class _ReadFile(StageFn):
    stage = STAGE

    def __init__(self, limit: int | None = None):
        self.limit = limit

    def process(self, item: tuple[str, str]) -> Iterator:
        path, lang = item
        with FileSystems.open(path) as handle:
            head = [handle.readline().decode("utf-8", "replace") for _ in range(100)]
        bucc = is_bucc(head)
        with FileSystems.open(path) as handle:
            for number, raw in enumerate(handle):
                if number == self.limit:
                    break   # --limit: the rest of the file is not read
                self.count("in", lang)
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                ident, text = parse_line(line, bucc) if line.strip() else ("", "")
                if not text:
                    yield from self.reject("empty_line", lang=lang, shard=path, record=number)
                    continue
                yield (lang, ident), (text, path, number)


class _Unique(StageFn):
    """One row per (lang, id): repeated lines merge; an id given to two different texts is rejected."""
    stage = STAGE

    def process(self, item) -> Iterator:
        (lang, ident), lines = item
        lines = sorted(lines)
        text = lines[0][0]
        for other_text, path, number in lines[1:]:
            if other_text == text:
                self.count("merged:duplicate", lang)
            else:
                yield from self.reject("duplicate_id", lang=lang, shard=path, record=number,
                                       excerpt=f"{ident}\t{other_text}")
        self.count("out", lang)
        yield {"id": ident, "lang": lang, "text": text, "count": sum(1 for line in lines if line[0] == text),
               "urls": []}


class ReadSentenceFiles(beam.PTransform):
    """[(path, lang), ...] -> Staged(sentence-store rows, rejects, counts); at most `limit` lines of each file."""

    def __init__(self, files: Iterable[tuple[str, str]], limit: int | None = None):
        super().__init__()
        self.files, self.limit = list(files), limit

    def expand(self, pbegin) -> Staged:
        lines = apply_stage(pbegin | beam.Create(self.files), "Read", _ReadFile(self.limit))
        unique = apply_stage(lines.main | beam.GroupByKey(), "Unique", _Unique())
        return merge_staged("SentenceFiles", unique.main, [lines, unique])
