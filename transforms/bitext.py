"""Mined pairs -> bitext rows (schemas.BITEXT): attach texts and provenance, then the optional filters
users of LASER and stopes apply after scoring (identical sides, too-high margin, length ratio)."""
from __future__ import annotations

from typing import Iterator, NamedTuple

import apache_beam as beam

from parabeam.transforms import stages
from parabeam.transforms.accounting import Filter, Staged
from parabeam.transforms.margin import MinedPair

STAGE = stages.BITEXT.name


def filter_reason(src_text: str, tgt_text: str, score: float, *, drop_identical: bool,
                  max_score: float | None, max_length_ratio: float | None) -> str | None:
    """Why a scored pair should not be kept, or None to keep it."""
    if drop_identical and src_text.strip().casefold() == tgt_text.strip().casefold():
        return "identical"
    if max_score is not None and score > max_score:
        return "score_too_high"
    if max_length_ratio is not None:
        longer, shorter = sorted((len(src_text), len(tgt_text)), reverse=True)
        if longer > max_length_ratio * max(shorter, 1):
            return "length_ratio"
    return None


class BitextRow(NamedTuple):
    """One mined pair with its texts and provenance (schemas.BITEXT)."""
    src_lang: str
    tgt_lang: str
    src_text: str
    tgt_text: str
    score: float
    cosine: float
    src_id: str
    tgt_id: str
    src_urls: list[str]
    tgt_urls: list[str]
    direction: str
    encoder: str

    @property
    def pair(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"


def _attach(side: str):
    """Join one side's sentence rows onto the pairs that name them (keyed by (lang, id) of that side)."""
    def attach(_key, grouped) -> Iterator:
        sentence = next(iter(grouped["sentence"]), None)
        for pair in grouped["pair"]:
            yield pair._replace(**{f"{side}_text": sentence["text"], f"{side}_urls": list(sentence["urls"])})
    return attach


def _row(pair: MinedPair, encoder: str) -> BitextRow:
    return BitextRow(pair.src_lang, pair.tgt_lang, "", "", pair.score, pair.cosine, pair.src_id, pair.tgt_id,
                     [], [], pair.direction, encoder)


class AttachTexts(beam.PTransform):
    """(mined pairs of every language pair, sentence-store rows of every language) -> BitextRow with both
    sides' texts and URLs, looked up by (language, id)."""

    def __init__(self, encoder: str):
        super().__init__()
        self.encoder = encoder

    def expand(self, pcolls):
        pairs, sentences = pcolls
        rows = pairs | "Row" >> beam.Map(_row, self.encoder)
        sentences = sentences | "KeySentences" >> beam.Map(lambda row: ((row["lang"], row["id"]), row))
        for side in ("src", "tgt"):
            rows = ({"pair": rows | f"KeyBy[{side}]" >> beam.Map(
                        lambda row, s=side: ((getattr(row, f"{s}_lang"), getattr(row, f"{s}_id")), row)),
                     "sentence": sentences}
                    | f"Join[{side}]" >> beam.CoGroupByKey()
                    | f"Attach[{side}]" >> beam.FlatMapTuple(_attach(side)))
        return rows


class ToBitext(beam.PTransform):
    """(mined pairs of every language pair, sentence-store rows of every language) -> Staged(bitext rows,
    rejects, counts): AttachTexts, then the post-filters; counts and rejects per language pair (`de-en`)."""

    def __init__(self, encoder: str, *, max_score: float | None = None, max_length_ratio: float | None = None,
                 drop_identical: bool = True):
        super().__init__()
        self.encoder = encoder
        self.limits = dict(max_score=max_score, max_length_ratio=max_length_ratio, drop_identical=drop_identical)

    def expand(self, pcolls) -> Staged:
        limits = self.limits
        return pcolls | "Texts" >> AttachTexts(self.encoder) | "Filter" >> Filter(
            STAGE, lambda row: filter_reason(row.src_text, row.tgt_text, row.score, **limits),
            lang_of=lambda row: row.pair,
            describe=lambda row: {"url": (row.src_urls or [""])[0], "excerpt": f"{row.src_text}\t{row.tgt_text}"})
