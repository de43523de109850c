"""Comparable-corpus (BUCC-style) mining sets built from the shared evaluation data (scored with
parabeam.pipeline.calibrate's sweep).

A few known translation pairs (FLORES-200 devtest, Tatoeba) are hidden among sentences that have no
translation on the other side (other FLORES lines, other Tatoeba sides, sentences of the Common Crawl
WET excerpt found by LID + splitting), so that precision is measured against realistic distractors:
on real crawls only a few percent of the sentences have a translation at all.

Non-parallelism is guaranteed through meaning classes: every sentence is a node (language, normalised
text), and a FLORES line (all nine files) or a Tatoeba line pair links its nodes. The connected
classes are what can translate each other: FLORES being n-way parallel, and Tatoeba sides sharing
English sentences, a class may hold texts of many languages. A gold pair is a pair of lines the data
aligns directly, and its class is given to both sides; every other class is given to one side only,
so no distractor has a known translation, direct or through a third language, on the other side.
Web sentences join a class only when their text equals a known one; that two distinct web
sentences translate each other cannot be ruled out (the excerpt has 170 unrelated pages).
"""
from __future__ import annotations

import argparse
import random
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Iterable, NamedTuple
from urllib.parse import urlparse

from parabeam.transforms.dedup import junk_reason, normalise
from parabeam.transforms.lid import identify, lid_decision, load_lid_model, paragraphs
from parabeam.transforms.read import read_warc
from parabeam.transforms.split import length_reason, split_sentences

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WET = Path("web") / "CC-MAIN-2017-30_excerpt.warc.wet.gz"
FLORES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "ru": "rus_Cyrl", "zh": "zho_Hans",
          "ja": "jpn_Jpan", "ar": "arb_Arab", "sw": "swh_Latn", "wo": "wol_Latn"}
TATOEBA = {"de": "deu", "fr": "fra", "ru": "rus", "zh": "cmn", "ja": "jpn", "ar": "ara", "af": "afr", "sw": "swh"}
LANGS = frozenset(FLORES) | frozenset(TATOEBA)


class Preset(NamedTuple):
    """The parallel share of each side, and the side size wanted (shrunk when the data runs short)."""
    share: float
    side: int


PRESETS = {"dense": Preset(0.5, 1000), "web": Preset(0.03, 3300)}
SIDE_STEP = 50

Node = tuple[str, str]   # (lang, normalised text)


class Group(NamedTuple):
    """One meaning class: its source and target texts, and the (source, target) text pairs that the
    data aligns directly (a FLORES line, a Tatoeba line); only those can be gold pairs, since two
    texts linked through a third language are translations of a translation."""
    src: tuple[str, ...]
    tgt: tuple[str, ...]
    aligned: tuple[tuple[str, str], ...]


def flores_path(data: Path, lang: str) -> Path:
    return data / "flores200_devtest" / f"{FLORES[lang]}.devtest"


def tatoeba_paths(data: Path, lang: str) -> tuple[Path, Path]:
    """(the `lang` side, its English side)."""
    code = TATOEBA[lang]
    return (data / "tatoeba" / f"tatoeba.{code}-eng.{code}", data / "tatoeba" / f"tatoeba.{code}-eng.eng")


def read_lines(path: Path) -> list[str]:
    """One segment per line, whitespace collapsed (tabs would break the BUCC format)."""
    return [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]


def parse_pair(pair: str) -> tuple[str, str]:
    src, sep, tgt = pair.partition("-")
    if not sep or src == tgt or not {src, tgt} <= LANGS:
        raise ValueError(f"pair {pair!r}: expected two different languages of {', '.join(sorted(LANGS))}")
    return src, tgt


@lru_cache(maxsize=2)
def web_sentences_by_host(data: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """The WET excerpt's sentences in LANGS, as the pipeline would keep them (LID, split, length, junk), per
    language and page host ({lang: {host: sentences}}; a sentence is listed under the first host it is on)."""
    model = load_lid_model()
    found: dict[str, dict[str, dict[str, None]]] = defaultdict(lambda: defaultdict(dict))
    seen: set[tuple[str, str]] = set()
    with open(data / WET, "rb") as f:
        for doc in read_warc(str(data / WET), f):
            if not isinstance(doc, dict):
                continue
            host = urlparse(doc["url"]).netloc
            for text in paragraphs(doc["text"]):
                lang, prob = identify(model, text)
                if lid_decision(lang, prob, text, langs=LANGS):
                    continue
                for sentence in split_sentences(lang, text):
                    sentence = " ".join(sentence.split())
                    if (lang, sentence) not in seen and not (length_reason(lang, sentence) or junk_reason(sentence)):
                        seen.add((lang, sentence))
                        found[lang][host][sentence] = None
    return {lang: {host: tuple(texts) for host, texts in hosts.items()} for lang, hosts in found.items()}


def web_sentences(data: Path) -> dict[str, tuple[str, ...]]:
    """The WET excerpt's sentences in LANGS, as the pipeline would keep them (LID, split, length, junk)."""
    return {lang: tuple(text for texts in hosts.values() for text in texts)
            for lang, hosts in web_sentences_by_host(data).items()}


class _Classes:
    """Union-find over nodes; the first text seen for a node is the one written out."""

    def __init__(self) -> None:
        self.parent: dict[Node, Node] = {}
        self.text: dict[Node, str] = {}

    def add(self, lang: str, text: str) -> Node:
        node = (lang, normalise(text))
        if node not in self.parent:
            self.parent[node] = node
            self.text[node] = text
        return node

    def find(self, node: Node) -> Node:
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def link(self, nodes: list[Node]) -> None:
        for node in nodes[1:]:
            self.parent[self.find(node)] = self.find(nodes[0])


@lru_cache(maxsize=8)
def groups(data: Path, src: str, tgt: str) -> tuple[Group, ...]:
    """Every meaning class with a text in `src` or `tgt`, in a stable order."""
    classes = _Classes()
    aligned: list[tuple[Node, str, str]] = []

    def link(texts: dict[str, str]) -> None:
        nodes = [classes.add(lang, text) for lang, text in texts.items() if text]
        classes.link(nodes)
        if texts.get(src) and texts.get(tgt):   # then nodes[0] is in their class
            aligned.append((nodes[0], texts[src], texts[tgt]))

    flores = {lang: read_lines(flores_path(data, lang)) for lang in FLORES}
    for line in zip(*flores.values(), strict=True):
        link(dict(zip(flores, line)))
    for lang in TATOEBA:
        side, english = (read_lines(path) for path in tatoeba_paths(data, lang))
        for text, eng in zip(side, english, strict=True):
            link({lang: text, "en": eng})
    web = web_sentences(data)
    for lang in (src, tgt):
        for text in web.get(lang, ()):
            classes.add(lang, text)
    members: dict[Node, tuple[list[str], list[str], list[tuple[str, str]]]] = defaultdict(lambda: ([], [], []))
    for node in classes.parent:
        if node[0] in (src, tgt):
            members[classes.find(node)][node[0] == tgt].append(classes.text[node])
    for node, src_text, tgt_text in aligned:
        members[classes.find(node)][2].append((src_text, tgt_text))
    return tuple(sorted(Group(*(tuple(sorted(set(part))) for part in parts)) for parts in members.values()))


class _Split(NamedTuple):
    alignable: list[Group]   # classes with a directly aligned pair: gold candidates
    shared: list[Group]      # other classes with texts on both sides
    only_src: list[Group]
    only_tgt: list[Group]


def _split(all_groups: Iterable[Group]) -> _Split:
    split = _Split([], [], [], [])
    for group in all_groups:
        kind = (split.alignable if group.aligned else split.shared if group.src and group.tgt
                else split.only_src if group.src else split.only_tgt)
        kind.append(group)
    return split


def _needs(split: _Split, n_distractors: int) -> tuple[int, int]:
    """Two-sided classes each side must take as distractors, beyond its own-language-only ones."""
    return (max(0, n_distractors - len(split.only_src)), max(0, n_distractors - len(split.only_tgt)))


def _fits(split: _Split, n_parallel: int, n_distractors: int) -> bool:
    return (n_parallel <= len(split.alignable) and
            n_parallel + sum(_needs(split, n_distractors)) <= len(split.alignable) + len(split.shared))


def build(pair: str, n_parallel: int, n_distractors: int, seed: int = 0,
          data: Path = DATA) -> tuple[list[tuple[str, str]], list[tuple[str, str]], set[tuple[str, str]]]:
    """(source sentences, target sentences, gold pairs): `n_parallel` translation pairs and
    `n_distractors` untranslated sentences per side, shuffled, with ids like "de-000123".

    Raises ValueError when the data has too few sentences for the sizes asked.
    """
    src_lang, tgt_lang = parse_pair(pair)
    split = _split(groups(data, src_lang, tgt_lang))
    if not _fits(split, n_parallel, n_distractors):
        raise ValueError(f"{pair}: the data cannot hide {n_parallel} pairs among {n_distractors} "
                         f"distractors per side (see preset_sizes)")
    rng = random.Random(seed)
    alignable = list(split.alignable)
    rng.shuffle(alignable)
    gold, rest = alignable[:n_parallel], alignable[n_parallel:] + split.shared
    rng.shuffle(rest)
    need_src, need_tgt = _needs(split, n_distractors)
    spare = rest[need_src + need_tgt:]
    src_pool = [group.src for group in split.only_src + rest[:need_src] + spare[::2]]
    tgt_pool = [group.tgt for group in split.only_tgt + rest[need_src:need_src + need_tgt] + spare[1::2]]
    pairs = [rng.choice(group.aligned) for group in gold]
    src_items = [(text, i) for i, (text, _) in enumerate(pairs)]
    tgt_items = [(text, i) for i, (_, text) in enumerate(pairs)]
    src_items += [(rng.choice(texts), None) for texts in rng.sample(src_pool, n_distractors)]
    tgt_items += [(rng.choice(texts), None) for texts in rng.sample(tgt_pool, n_distractors)]
    src_sentences, src_ids = _number(src_lang, src_items, rng)
    tgt_sentences, tgt_ids = _number(tgt_lang, tgt_items, rng)
    return src_sentences, tgt_sentences, {(src_ids[i], tgt_ids[i]) for i in range(n_parallel)}


def _number(lang: str, items: list[tuple[str, int | None]], rng: random.Random
            ) -> tuple[list[tuple[str, str]], dict[int, str]]:
    """Shuffle so that ids say nothing about gold; -> ([(id, text)], {gold index: id})."""
    rng.shuffle(items)
    sentences, gold_ids = [], {}
    for number, (text, gold) in enumerate(items, start=1):
        ident = f"{lang}-{number:06d}"
        sentences.append((ident, text))
        if gold is not None:
            gold_ids[gold] = ident
    return sentences, gold_ids


def preset_sizes(pair: str, preset: str, data: Path = DATA) -> tuple[int, int]:
    """(n_parallel, n_distractors) for a preset: its share at its side size, or at the largest side
    size (in steps of SIDE_STEP) the pair's data can fill."""
    share, side = PRESETS[preset]
    split = _split(groups(data, *parse_pair(pair)))
    for size in range(side, 0, -SIDE_STEP):
        n_parallel = max(1, round(share * size))
        if _fits(split, n_parallel, size - n_parallel):
            return n_parallel, size - n_parallel
    raise ValueError(f"{pair}: too little data for the {preset} preset")


def write_bucc(directory: str | Path, pair: str, preset: str = "web", seed: int = 0,
               data: Path = DATA) -> dict[str, Path]:
    """Write `<pair>.<src>`, `<pair>.<tgt>` (id<TAB>sentence) and `<pair>.gold` (src_id<TAB>tgt_id)."""
    src_lang, tgt_lang = parse_pair(pair)
    src, tgt, gold = build(pair, *preset_sizes(pair, preset, data), seed=seed, data=data)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {key: directory / f"{pair}.{key}" for key in (src_lang, tgt_lang, "gold")}
    for key, rows in ((src_lang, src), (tgt_lang, tgt), ("gold", sorted(gold))):
        paths[key].write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return paths


def read_bucc(path: str | Path) -> list[tuple[str, str]]:
    """The (id, sentence) or (src_id, tgt_id) rows of a BUCC-format file."""
    return [tuple(line.split("\t", 1)) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a BUCC-style mining set built from the shared data.")
    parser.add_argument("directory")
    parser.add_argument("pair", help="e.g. de-en")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="web")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in write_bucc(args.directory, args.pair, args.preset, args.seed).values():
        print(path)


if __name__ == "__main__":
    main()
