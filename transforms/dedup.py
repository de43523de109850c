"""Sentence cleaning and exact deduplication into the sentence store (schemas.SENTENCES).

Web sentences repeat massively (boilerplate, menus, mirrors); embedding each once and keeping
how often and where it was seen is what makes the later stages affordable.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Iterable, Iterator

import apache_beam as beam

from parabeam.transforms import stages
from parabeam.transforms.langs import letters_or_marks
from parabeam.transforms.accounting import REJECT_SAMPLE, StageFn, Staged, apply_stage, merge_staged
from parabeam.transforms.lid import DocTexts

STAGE = stages.DEDUP.name
JUNK_SHARE = 0.5
_URL_OR_EMAIL = re.compile(r"(?:https?://|ftp://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)


# NFKC decomposes Thai SARA AM (and Lao AM) into NIKHAHIT + SARA AA, a form Thai text never uses: recompose.
_AM = {"\u0e4d\u0e32": "\u0e33", "\u0ecd\u0eb2": "\u0eb3"}


def normalise(text: str) -> str:
    """NFKC (full-width and compatibility forms folded; Thai and Lao AM kept whole), whitespace collapsed,
    stripped."""
    if not text.isascii():   # ASCII is NFKC already
        text = unicodedata.normalize("NFKC", text)
        for decomposed, am in _AM.items():   # str.replace: next to nothing where there is none
            text = text.replace(decomposed, am)
    return " ".join(text.split())


def _may_hold_url(text: str) -> bool:
    """Whether _URL_OR_EMAIL can match at all (every match has "@", "://" or "www." in any case): most
    sentences have none of them, and the pattern's e-mail branch tries every word."""
    return "@" in text or "://" in text or "www." in text.lower()


def junk_reason(text: str) -> str | None:
    """`junk` if most of a normalised text (`normalise`: its only whitespace is single spaces) is not words:
    digits, punctuation, symbols, URLs or e-mail addresses.

    Letters and combining marks (Thai vowels, Devanagari signs) both count as word characters.
    """
    visible = len(text) - text.count(" ")
    if not visible:
        return "junk"
    if _may_hold_url(text) and sum(len(match) for match in _URL_OR_EMAIL.findall(text)) > JUNK_SHARE * visible:
        return "junk"
    return "junk" if letters_or_marks(text) <= JUNK_SHARE * visible else None


def sentence_id(text: str) -> str:
    """A stable id of the normalised sentence, so that variants of one sentence share it."""
    return text_id(normalise(text))


def text_id(text: str) -> str:
    """The id of exactly `text`, not normalised: 16 hex characters (64 bits) of BLAKE2b. The embedding cache's
    key, since texts that normalise alike can still embed differently."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


class MergeSentences(beam.CombineFn):
    """(text, url) pairs of one sentence -> (text, count, up to `max_urls` distinct URLs).

    The smallest URLs (and text, should two texts share an id) are kept, so the result does not
    depend on how the runner bundles the inputs.
    """

    def __init__(self, max_urls: int):
        self._max_urls = max_urls

    def create_accumulator(self) -> tuple[str | None, int, tuple[str, ...]]:
        return None, 0, ()

    def _smallest(self, urls: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted({url for url in urls if url}))[:self._max_urls]

    def add_input(self, accumulator, element):
        text, total, urls = accumulator
        new_text, url = element
        if url and url not in urls and (len(urls) < self._max_urls or url < urls[-1]):   # else urls stay as they are
            urls = self._smallest((*urls, url))
        return min(filter(None, (text, new_text))), total + 1, urls

    def merge_accumulators(self, accumulators):
        texts, totals, urls = zip(self.create_accumulator(), *accumulators)
        present = [text for text in texts if text is not None]
        return (min(present) if present else None, sum(totals),
                self._smallest(url for group in urls for url in group))

    def extract_output(self, accumulator):
        return accumulator


class _CleanFn(StageFn):
    stage = STAGE

    def __init__(self, reject_sample: int | None = REJECT_SAMPLE):
        self.reject_sample = reject_sample

    def process(self, doc: DocTexts) -> Iterator[Any]:
        self.count_each("in", (lang for lang, _ in doc.texts))
        for lang, sentence in doc.texts:
            text = normalise(sentence)
            reason = junk_reason(text)
            if reason:
                yield from self.reject(reason, lang=lang, shard=doc.shard, record=doc.record, url=doc.url, excerpt=text)
                continue
            yield (lang, text_id(text)), (text, doc.url)


class _StoreRowFn(StageFn):
    stage = STAGE

    def process(self, keyed: tuple[tuple[str, str], tuple[str, int, tuple[str, ...]]]) -> Iterator[dict]:
        (lang, sentence_id_), (text, total, urls) = keyed
        self.count("out", lang)
        if total > 1:
            self.count("merged:duplicate", lang, total - 1)
        yield {"id": sentence_id_, "lang": lang, "text": text, "count": total, "urls": list(urls)}


class Deduplicate(beam.PTransform):
    """DocTexts of sentences -> Staged(store rows schemas.SENTENCES, rejects, counts).

    Exact dedup per (lang, id) of the normalised text. Counters per language: dedup/in = sentences
    in, dedup/out = unique sentences, dedup/reject:junk = junk refused, and the duplicates folded
    into a kept sentence are counted as dedup/merged:duplicate (they are merged, not rejected), so
    in = out + rejects + merged. Junk reject rows are sampled (`reject_sample`, see accounting.StageFn.reject).
    """

    def __init__(self, max_urls: int = 5, reject_sample: int | None = REJECT_SAMPLE):
        super().__init__()
        self._max_urls = max_urls
        self._reject_sample = reject_sample

    def expand(self, sentences) -> Staged:
        cleaned = apply_stage(sentences, "Clean", _CleanFn(self._reject_sample))
        merged = cleaned.main | "MergeDuplicates" >> beam.CombinePerKey(MergeSentences(self._max_urls))
        store = apply_stage(merged, "ToStoreRow", _StoreRowFn())
        return merge_staged("Dedup", store.main, [cleaned, store])
