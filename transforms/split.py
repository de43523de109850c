"""Sentence splitting of LID paragraphs, and the length filter on the sentences.

sentencex covers most languages (with its own fallback chain for languages it has no rules for);
Chinese and Japanese get a small bracket-aware splitter of our own (see `_split_cjk`), and Thai,
which writes no sentence punctuation, pythainlp's CRF model (crfcut, shipped in the pythainlp
wheel: nothing is downloaded).
"""
from __future__ import annotations

import functools
import re
from typing import Any, Iterator

import apache_beam as beam
from pythainlp.tokenize import sent_tokenize, word_dict_trie
from sentencex import segment

from parabeam.transforms import heap, stages
from parabeam.transforms.accounting import REJECT_SAMPLE, StageFn, Staged, apply_stage
from parabeam.transforms.checks import sentence_reason
from parabeam.transforms.langs import SCRIPT_DENSITY, script_of
from parabeam.transforms.lid import DocTexts, load_lid_model

STAGE = stages.SPLIT.name
# In English characters, scaled per script (langs.SCRIPT_DENSITY): 15 keeps "Thank you very much."
# and drops menu items; over 500 is an unsplit list, not a sentence (FLORES' longest is 408).
# Chinese gets 5..165, Japanese 6..215, Korean 8..250, Thai 14..450.
MIN_CHARS = 15
MAX_CHARS = 500

# Closing quotes, and what follows one inside a sentence: Korean (이)라고/고/며 ("…"라고 말했다).
_QUOTE_CLOSERS = ("”", "’", '"', "'")
_QUOTATIVE = re.compile(r"(?:이?라|하)?고\b|(?:하)?며\b")
_INITIAL = re.compile(r"(?:^|\s)[^\W\d_]\.$")   # an upper-case one (see _rejoin)
# Dutch newspapers open quotes with two commas (,,Juist als...''); sentencex sees no boundary there.
_COMMA_QUOTE = re.compile(r"(?<=[.!?'’”])\s+(?=,,)")
_CJK_ENDS = "。！？!?｡"
_CJK_OPEN = "「『“‘（(【〔"
_CJK_CLOSE = "」』”’）)】〕"
_CJK_RUN = _CJK_ENDS + _CJK_CLOSE + '"'   # a straight quote right after 。 closes the sentence
_CJK_QUOTATIVE = re.compile("と|って")  # 「…。」と言った: the quote goes on


def _abbreviated(text: str) -> bool:
    """`text` ends in an ellipsis or in a period after a word of at most three letters, a number or a word
    with a period inside: an abbreviation or an ordinal sentencex does not know (r., tys., 5., o.o.)."""
    if text.endswith(("..", "…")):
        return True
    words = text[:-1].split() if text.endswith(".") else []
    return bool(words) and (len(words[-1]) <= 3 or words[-1].isdigit() or "." in words[-1])


def _rejoin(pieces: list[str]) -> list[str]:
    """Undo sentencex's splits after an initial (M. Dupont, Линдона Б. Джонсона), after quoted
    speech in Korean ("…"라고 말했다), and after an abbreviation, an ordinal or an ellipsis when a
    lower-case letter follows ("W 2010 r. fundacja", "16. yüzyılda", "było... но"). After a full word
    a lower-case start is a careless new sentence on the web ("neat and tidy. because he"): it stands,
    as does the split after a lower-case abbreviation before a capital ("400 г. н. э. Подобно")."""
    sentences: list[str] = []
    for piece in pieces:
        previous = sentences[-1].strip() if sentences else ""
        if previous and ((_INITIAL.search(previous) and previous[-2].isupper())
                         or (_abbreviated(previous) and piece.lstrip()[:1].islower())
                         or (previous.endswith(_QUOTE_CLOSERS) and _QUOTATIVE.match(piece))):
            sentences[-1] += piece
        else:
            sentences.append(piece)
    return sentences


def _split_cjk(text: str, *, nested: bool = True) -> list[str]:
    """Split Chinese/Japanese after 。！？ and the quotes closing after them, never inside quotes.

    sentencex misses a split when the next sentence starts with a digit (。2017年…) and splits
    inside quotes (「行きます。」と言った). Unbalanced brackets (common on the web) would keep the rest
    of the paragraph whole, so then the brackets are ignored.
    """
    if not any(end in text for end in _CJK_ENDS):   # nothing ends a sentence: one piece, brackets or not
        return [text]
    pieces, start, depth, after_end = [], 0, 0, False
    for i, char in enumerate(text):
        if nested and char in _CJK_OPEN:
            depth += 1
        elif nested and char in _CJK_CLOSE:
            depth = max(0, depth - 1)
        after_end = char in _CJK_ENDS or (after_end and char in _CJK_RUN)
        following = text[i + 1:i + 2]
        closes_run = not (following and following in _CJK_RUN) or char == following == '"'   # "" : close, open
        if (after_end and depth == 0 and closes_run
                and not _CJK_QUOTATIVE.match(text, i + 1)):
            pieces.append(text[start:i + 1])
            start, after_end = i + 1, False
    if depth and nested:
        return _split_cjk(text, nested=False)
    return [*pieces, text[start:]]


@functools.cache
def _thai_dictionary() -> None:
    """Build pythainlp's word trie (crfcut's word features; ~420k objects kept until the process exits) with the
    collector paused and frozen after (see heap), on the first Thai text: a run without Thai never loads it."""
    heap.load_for_process(word_dict_trie)


def split_sentences(lang: str, text: str) -> list[str]:
    """The sentences of a paragraph, stripped, empty ones dropped.

    Thai goes to pythainlp, Chinese/Japanese script to `_split_cjk`, everything else to sentencex.
    """
    if lang == "th":
        _thai_dictionary()
        pieces = sent_tokenize(text, engine="crfcut")
    elif script_of(text) in ("han", "kana"):
        pieces = _split_cjk(text)
    else:
        pieces = _rejoin([piece for part in _COMMA_QUOTE.split(text) for piece in segment(lang, part)])
    return [piece.strip() for piece in pieces if piece.strip()]


def length_reason(lang: str, text: str) -> str | None:
    """None if the sentence length suits mining, else too_short or too_long (limits per script)."""
    del lang  # the script of the text decides, so a mislabelled sentence is still measured right
    density = SCRIPT_DENSITY[script_of(text)]
    if len(text) < max(1, round(MIN_CHARS * density)):
        return "too_short"
    if len(text) > max(1, round(MAX_CHARS * density)):
        return "too_long"
    return None


class _SplitFn(StageFn):
    stage = STAGE

    def __init__(self, lid_model: str | None, reject_sample: int | None = REJECT_SAMPLE):
        self._lid_model = lid_model
        self._model = None
        self.reject_sample = reject_sample

    def setup(self) -> None:
        self._model = load_lid_model(self._lid_model)

    def process(self, doc: DocTexts) -> Iterator[Any]:
        produced, kept = [], []
        for lang, paragraph in doc.texts:
            for text in split_sentences(lang, paragraph):
                produced.append(lang)
                reason = length_reason(lang, text) or sentence_reason(lang, text, self._model)
                if reason:
                    yield from self.reject(reason, lang=lang, shard=doc.shard, record=doc.record, url=doc.url,
                                           excerpt=text)
                    continue
                kept.append((lang, text))
        self.count_each("in", (lang for lang, _ in doc.texts))
        self.count_each("produced", produced)
        self.count_each("out", (lang for lang, _ in kept))
        if kept:
            yield doc._replace(texts=tuple(kept))


class SplitSentences(beam.PTransform):
    """DocTexts of paragraphs -> Staged(DocTexts of the kept sentences, one per document that kept any; rejects;
    counts).

    Splitting fans out, so the units differ: split/in/<lang> counts paragraphs, split/produced/<lang>
    the sentences they split into, split/out/<lang> the sentences kept and split/reject:<reason>/<lang>
    the sentences refused (length, then checks.sentence_reason with the LID model `lid_model`, lid.176
    by default); produced = out + rejects. Reject rows are sampled (`reject_sample`, see
    accounting.StageFn.reject; None writes them all).
    """

    def __init__(self, lid_model: str | None = None, reject_sample: int | None = REJECT_SAMPLE):
        super().__init__()
        self._lid_model = lid_model
        self._reject_sample = reject_sample

    def expand(self, paragraphs) -> Staged:
        return apply_stage(paragraphs, "SplitParagraphs", _SplitFn(self._lid_model, self._reject_sample))
