"""Retention: what share of known sentences reaches the sentence store, per language.

`python -m benchmarks.retention --out benchmarks/results/retention.txt`
`python -m benchmarks.retention --conllu th=th_pud-ud-test.conllu ... --out benchmarks/results/retention.txt`

FLORES-200 devtest sentences (every language of the shared data) are packed, in order, 1-4 per line
as a real page's paragraphs are, into pages of 3-12 lines; the pages go through the pipeline's pure
functions: LID per line (lid.lid_decision with the page's language wanted), splitting, the length
rule, the sentence checks (checks.sentence_reason with lid.176) and dedup's junk rule and normalisation.
A known sentence (a FLORES line) is retained when the pieces the splitter makes of it alone all reach
the store: about one FLORES line in eight holds two sentences ("... nominations. It also ..."), which
the store rightly keeps apart. `--conllu LANG=PATH` (repeatable) measures a language from a Universal
Dependencies treebank instead of FLORES: its `# text = ` sentences, in file order (the PUD treebanks are
1,000 news and Wikipedia sentences in document order), packed the same way; the treebanks are not in the
shared data, so they are named on the command line and not kept in the repository. Each loss is charged to
the first stage that lost it: a line LID refused, a sentence the splitter cut or merged differently inside its
paragraph, or the reason a rule refused it.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from benchmarks.bucc import DATA, FLORES, flores_path, read_lines
from parabeam.transforms.checks import sentence_reason
from parabeam.transforms.dedup import junk_reason, normalise
from parabeam.transforms.lid import identify, lid_decision, load_lid_model
from parabeam.transforms.split import length_reason, split_sentences

SEED = 0
MAX_PER_LINE = 4
LINES_PER_PAGE = (3, 12)
UNSPACED = ("zh", "ja")   # scripts written without spaces between sentences
UNPUNCTUATED = ("th",)
# A sentence's closing punctuation, quotes after it. Stricter than checks._SENTENCE_END, which also takes a
# closing bracket or quote alone as an end: a list item "Senaat (74 leden)" is a line of its own on a page.
CLOSED = re.compile(r"[.!?…:;。！？]['\"’”»)」』]*$")


def pack(sentences: list[str], lang: str, rng: random.Random) -> Iterator[list[str]]:
    """Lines of 1-MAX_PER_LINE consecutive sentences each, in order (documents stay together).

    A heading or list item (no closing punctuation) ends its line, as each block of a real page is a
    line of its own; Thai writes no sentence punctuation, so its sentences are packed regardless."""
    joiner = "" if lang in UNSPACED else " "
    i = 0
    while i < len(sentences):
        n = rng.randint(1, MAX_PER_LINE)
        if lang not in UNPUNCTUATED:
            n = next((j - i + 1 for j in range(i, min(i + n, len(sentences)))
                      if not CLOSED.search(sentences[j])), n)
        yield [joiner.join(sentences[i:i + n]), *sentences[i:i + n]]
        i += n


def pages(sentences: list[str], lang: str, seed: int = SEED) -> list[list[list[str]]]:
    """Pages of [line, its sentences...] rows."""
    rng = random.Random(f"{seed}-{lang}")
    lines = list(pack(sentences, lang, rng))
    result, i = [], 0
    while i < len(lines):
        n = rng.randint(*LINES_PER_PAGE)
        result.append(lines[i:i + n])
        i += n
    return result


def line_fate(lang: str, line: str, known: list[str], model: Any,
              lid_thresholds: dict[str, float] | None = None) -> dict[str, str]:
    """Each known sentence of one line -> "kept" or the stage/reason that lost it."""
    found, prob = identify(model, line)
    refused = lid_decision(found, prob, line, langs={lang}, thresholds=lid_thresholds)
    if refused:
        return {sentence: f"lid:{refused}" for sentence in known}
    pieces = {normalise(piece) for piece in split_sentences(lang, line)}
    fate = {}
    for sentence in known:
        own = split_sentences(lang, sentence)
        if not {normalise(piece) for piece in own} <= pieces:
            fate[sentence] = "split:cut_or_merged"
            continue
        reasons = [length_reason(lang, piece) or sentence_reason(lang, piece, model)
                   or junk_reason(normalise(piece)) for piece in own]
        fate[sentence] = next((f"rule:{reason}" for reason in reasons if reason), "kept")
    return fate


def conllu_sentences(path: Path) -> list[str]:
    """A CoNLL-U file's sentence texts (`# text = ` comments), in file order."""
    prefix = "# text = "
    with open(path, encoding="utf-8") as lines:
        return [line[len(prefix):].strip() for line in lines if line.startswith(prefix)]


def retention(lang: str, sentences: list[str], model: Any, seed: int = SEED,
              lid_thresholds: dict[str, float] | None = None) -> Counter:
    """Counts of kept and of each loss over a language's known sentences."""
    fates: Counter = Counter()
    for page in pages(sentences, lang, seed):
        for line, *known in page:
            fates.update(line_fate(lang, line, known, model, lid_thresholds).values())
    return fates


def report(results: dict[str, Counter]) -> str:
    rows = [f"{'lang':<5} {'known':>6} {'kept':>6} {'share':>7}  losses"]
    for lang, fates in results.items():
        total = sum(fates.values())
        losses = ", ".join(f"{name} {n}" for name, n in fates.most_common() if name != "kept")
        rows.append(f"{lang:<5} {total:>6} {fates['kept']:>6} {fates['kept'] / total:>7.1%}  {losses}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table here")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--conllu", action="append", default=[], metavar="LANG=PATH",
                        help="measure LANG on a UD treebank's sentences instead of FLORES (repeatable)")
    parser.add_argument("--lid-threshold-for", default="", help="per-language LID thresholds, as `parabeam mine`'s: sw=0.1")
    args = parser.parse_args(argv)
    thresholds = {lang: float(value) for lang, _, value in
                  (item.partition("=") for item in args.lid_threshold_for.split(",") if item)}
    treebanks = {lang: Path(path) for lang, _, path in (item.partition("=") for item in args.conllu)}
    known = ({lang: conllu_sentences(path) for lang, path in treebanks.items()} if treebanks
             else {lang: read_lines(flores_path(DATA, lang)) for lang in FLORES})
    model = load_lid_model()
    text = report({lang: retention(lang, sentences, model, seed=args.seed, lid_thresholds=thresholds)
                   for lang, sentences in known.items()})
    print(text)
    if args.out:
        command = " ".join(["python -m benchmarks.retention", *(argv if argv is not None else sys.argv[1:])])
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(f"$ {command}\n{text}\n\n")


if __name__ == "__main__":
    main()
