"""The mining job's parameters: one dataclass shared by the CLI, the pipeline builder and run.json."""
from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import re

from parabeam.transforms.boilerplate import SITE_PAGES, check_max_urls
from parabeam.transforms.langs import parse_langs, validate_lang

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'8GB' -> bytes. Decimal units, as cloud machine types are sold."""
    match = SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (expected e.g. 512MB, 8GB)")
    number, unit = match.groups()
    power = "KMGT".index(unit.upper()) + 1 if unit else 0
    return int(float(number) * 1000 ** power)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'en-de,en-fr' -> [('en', 'de'), ('en', 'fr')], codes validated before they become paths."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        src, sep, tgt = item.partition("-")
        if not sep or not src or not tgt:
            raise ValueError(f"not a language pair: {item!r} (expected e.g. en-de)")
        src, tgt = validate_lang(src), validate_lang(tgt)
        if src == tgt:
            raise ValueError(f"a pair needs two different languages: {item!r}")
        pairs.append((src, tgt))
    return pairs


def all_pairs(langs: list[str]) -> list[tuple[str, str]]:
    """Every unordered pair of the languages, in a fixed (sorted) orientation."""
    return list(itertools.combinations(sorted(langs), 2))


@dataclasses.dataclass(frozen=True)
class MineConfig:
    output: str
    langs: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...] = ()
    sentence_files: tuple[tuple[str, str], ...] = ()   # (path, lang) in sentence-file mode
    score_input: str | None = None                     # the bitext file `parabeam score` scores
    score_columns: tuple[str, str] = ("1", "2")        # its source and target columns
    lid_model: str | None = None
    lid_threshold: float = 0.5
    lid_thresholds: tuple[tuple[str, float], ...] = ()
    max_urls: int = 5
    encoder: str = "muse"
    batch_chars: int = 20000
    k: int = 4
    margin: str = "ratio"
    retrieval: str = "max"
    threshold: float | str | None = None   # None: the encoder's calibrated default; "auto": chosen per pair
    max_score: float | None = None
    max_length_ratio: float | None = None
    drop_identical: bool = True
    index: str = "auto"
    nprobe: int = 128   # knn.NPROBE, stopes' mining value
    memory_budget: int = 8 * 1000 ** 3
    embedding_cache: str | None = None
    accelerator: str | None = None    # Beam resource hint for the GPU stages (torch encoding, FAISS search)
    skip_reject_reasons: tuple[str, ...] = ()
    all_rejects: bool = False   # write every routine reject row, not a sample (accounting.REJECT_SAMPLE)
    untrained_langs: tuple[str, ...] = ()   # languages mined with --allow-untrained-langs
    limit: int | None = None                # --limit: documents (or lines) read per input file, for a trial
    boilerplate_pages: int = SITE_PAGES     # a sentence on this many pages of one site is boilerplate; 0: keep all

    def __post_init__(self) -> None:
        """Local paths made absolute before the graph is built: workers need not share this working directory."""
        set_field = functools.partial(object.__setattr__, self)
        set_field("output", absolute(self.output))
        set_field("inputs", tuple(map(absolute, self.inputs)))
        set_field("sentence_files", tuple((absolute(path), lang) for path, lang in self.sentence_files))
        for name in ("score_input", "lid_model", "embedding_cache"):
            if getattr(self, name):
                set_field(name, absolute(getattr(self, name)))
        kind, sep, path = self.encoder.partition(":")
        if sep and kind in ("st", "hf"):
            set_field("encoder", f"{kind}:{absolute(path)}")
        if self.boilerplate_pages:
            check_max_urls(self.max_urls, self.boilerplate_pages)

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def absolute(path: str) -> str:
    """A local path as an absolute one; URLs of other filesystems (gs://, s3://) as they are."""
    return path if "://" in path else os.path.abspath(path)


def langs_of(langs: str | None, pairs: list[tuple[str, str]]) -> list[str]:
    """Languages to keep: those given, plus every language a requested pair names."""
    chosen = set(parse_langs(langs)) if langs else set()
    chosen.update(lang for pair in pairs for lang in pair)
    return sorted(chosen)
