"""Mined pairs -> bitext rows (schemas.BITEXT): attach texts and provenance, then the optional filters
users of LASER and stopes apply after scoring (identical sides, too-high margin, length ratio)."""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from parabeam.transforms import accounting

STAGE = "bitext"


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


def _attach(side: str):
    """Join one side's sentence rows onto the pairs that name them (pairs keyed by that side's id)."""
    def attach(_ident, grouped) -> Iterator[dict]:
        sentence = next(iter(grouped["sentence"]))
        for pair in grouped["pair"]:
            yield {**pair, f"{side}_text": sentence["text"], f"{side}_urls": list(sentence["urls"])}
    return attach


class _Filter(beam.DoFn):
    def __init__(self, src: str, tgt: str, encoder: str, **limits):
        self.src, self.tgt, self.encoder, self.limits = src, tgt, encoder, limits

    def process(self, pair: dict) -> Iterator:
        lang = f"{self.src}-{self.tgt}"
        accounting.count(STAGE, "in", lang)
        reason = filter_reason(pair["src_text"], pair["tgt_text"], pair["score"], **self.limits)
        if reason:
            yield accounting.reject(STAGE, reason, lang=lang, record=-1, url=(pair["src_urls"] or [""])[0],
                                    excerpt=f"{pair['src_text']}\t{pair['tgt_text']}")
            return
        accounting.count(STAGE, "out", lang)
        yield {"src_lang": self.src, "tgt_lang": self.tgt, "encoder": self.encoder, **pair}


class ToBitext(beam.PTransform):
    """(mined pairs, source sentence rows, target sentence rows) -> (bitext rows, rejects)."""

    def __init__(self, src: str, tgt: str, encoder: str, *, max_score: float | None = None,
                 max_length_ratio: float | None = None, drop_identical: bool = True):
        super().__init__()
        self.src, self.tgt, self.encoder = src, tgt, encoder
        self.limits = dict(max_score=max_score, max_length_ratio=max_length_ratio, drop_identical=drop_identical)

    def expand(self, pcolls):
        pairs, src_sentences, tgt_sentences = pcolls
        for side, sentences in (("src", src_sentences), ("tgt", tgt_sentences)):
            pairs = ({"pair": pairs | f"KeyBy[{side}]" >> beam.Map(lambda p, s=side: (p[f"{s}_id"], p)),
                      "sentence": sentences | f"Sentences[{side}]" >> beam.Map(lambda row: (row["id"], row))}
                     | f"Join[{side}]" >> beam.CoGroupByKey()
                     | f"Attach[{side}]" >> beam.FlatMapTuple(_attach(side)))
        result = pairs | "Filter" >> beam.ParDo(_Filter(self.src, self.tgt, self.encoder, **self.limits)
                                                ).with_outputs(accounting.REJECTS_TAG, main="main")
        return result.main, result[accounting.REJECTS_TAG]
