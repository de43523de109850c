"""Benchmark inputs from the shared data: every real sentence of a language, padded with spliced variants
when a benchmark needs more; mUSE embeddings of them cached on disk; the machine and its load.

The shared data holds about 12k English and 3k German sentences (FLORES devtest, Tatoeba, the WET
excerpt, the ParaCrawl human-evaluation pairs). A spliced variant is the first part of one real sentence
joined to the last part of another of the same language: about as long as a real one and as varied in
vocabulary, so encoding costs the same per sentence, and no two variants are equal. Larger vector sets
than the data gives are sampled around the real vectors (synthetic).
"""
from __future__ import annotations

import hashlib
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bucc import DATA, FLORES, TATOEBA, flores_path, read_lines, tatoeba_paths, web_sentences

PARACRAWL = {"de": "sorted.en-de", "fr": "sorted.en-fr"}
EMBEDDING_CACHE = Path(tempfile.gettempdir()) / "parabeam-bench-embeddings"
# Noise scale for `synthetic`: synthetic sides of the real sides' sizes then have about their mean 4th-neighbour cosine (0.42 and 0.51
# against 0.40 and 0.49); the mean top-1 cosine is lower (0.55, 0.60 against 0.64, 0.69) since the real
# sides are full of translations (FLORES in nine languages, Tatoeba).
DEFAULT_NOISE = 0.3


def real_sentences(lang: str, data: Path = DATA) -> list[str]:
    """Every distinct sentence of `lang` in the shared data, in a fixed order."""
    texts: list[str] = []
    if lang in FLORES:
        texts += read_lines(flores_path(data, lang))
    for code in TATOEBA:
        side, english = tatoeba_paths(data, code)
        if lang == code:
            texts += read_lines(side)
        elif lang == "en":
            texts += read_lines(english)
    for other, name in PARACRAWL.items():
        if lang in ("en", other):
            for line in (data / "paracrawl_human_eval" / name).read_text(encoding="utf-8").splitlines():
                src, tgt = line.split("\t")[2:4]
                texts.append(" ".join((src if lang == "en" else tgt).split()))
    texts += web_sentences(data).get(lang, ())
    return list(dict.fromkeys(text for text in texts if text))


def splice(first: str, second: str, rng: random.Random) -> str:
    """The first part of one sentence (cut in its middle third, by words) + the last part of another."""
    a, b = first.split(), second.split()
    i = rng.randint(len(a) // 3, max(len(a) // 3, 2 * len(a) // 3))
    j = rng.randint(len(b) // 3, max(len(b) // 3, 2 * len(b) // 3))
    return " ".join(a[:max(i, 1)] + b[j:])


def sentences(lang: str, n: int, seed: int = 0, data: Path = DATA) -> list[str]:
    """`n` distinct sentences of `lang`: the real ones (a seeded sample when there are more than `n`),
    then spliced variants of them."""
    rng = random.Random(seed)
    real = real_sentences(lang, data)
    rng.shuffle(real)
    chosen = dict.fromkeys(real[:n])
    while len(chosen) < n:
        chosen.setdefault(splice(rng.choice(real), rng.choice(real), rng))
    return list(chosen)


def muse_vectors(texts: list[str]) -> np.ndarray:
    """mUSE embeddings [n, 512] float32 of `texts`, kept in a temp .npy keyed by the texts so reruns skip
    the encoding."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = EMBEDDING_CACHE / f"muse-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    from parabeam.transforms.encoders import load_encoder

    encoder = load_encoder("muse")
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    print(f"encoded {len(texts):,} sentences in {time.perf_counter() - started:.0f} s -> {path}", flush=True)
    EMBEDDING_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """One line on the machine: shared cores make every timing here noisy, so the load goes with it."""
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.0f} GB; "
            f"load average now {load()} (1, 5, 15 min)")


def real_side(langs: list[str], data: Path = DATA) -> list[str]:
    """Every real sentence of the languages, language by language (a multilingual side for mining)."""
    return [text for lang in sorted(langs) for text in real_sentences(lang, data)]


def synthetic(base: np.ndarray, n: int, noise: float, seed: int = 0, neighbours: int = 10,
              block: int = 65_536) -> np.ndarray:
    """`n` unit vectors [n, dim] float32 shaped like `base`: a random point on the segment from a random row
    of `base` to one of its `neighbours` nearest rows (SMOTE), plus Gaussian noise with `base`'s own
    covariance times noise**2, renormalised. New points follow the real vectors' local structure and
    anisotropy and are all distinct, so the space gets denser with n as a real corpus does."""
    from parabeam.transforms.knn import knn

    rng = np.random.default_rng(seed)
    _sims, near = knn(base, base, neighbours + 1)
    centred = base - base.mean(axis=0)
    _u, s, vt = np.linalg.svd(centred / np.sqrt(len(base)), full_matrices=False)
    mix = (noise * s[:, None] * vt).astype(np.float32)   # z @ mix has covariance noise**2 * cov(base)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, block):
        rows = min(block, n - start)
        first = rng.integers(0, len(base), rows)
        second = near[first, rng.integers(1, neighbours + 1, rows)]
        along = rng.random((rows, 1), dtype=np.float32)
        part = base[first] + along * (base[second] - base[first])
        part += rng.standard_normal((rows, len(s)), dtype=np.float32) @ mix
        out[start:start + rows] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out
